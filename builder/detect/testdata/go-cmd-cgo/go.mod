module github.com/acme/notes/v2

go 1.22

toolchain go1.23.4

require (
	github.com/mattn/go-sqlite3 v1.14.22
)
