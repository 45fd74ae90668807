#!/bin/sh
exec busybox httpd -f -p "$2"
