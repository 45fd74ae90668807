<?php
echo "contact";
