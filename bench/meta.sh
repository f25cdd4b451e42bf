#!/bin/sh
# Runs the metadata benchmark and prints its table; arguments go to it, e.g.
#   bench/meta.sh -images 100000 -backends sqlite,postgres
# Progress goes to stderr, the table to stdout. See bench/meta/main.go.
set -eu
cd "$(dirname "$0")/.."
exec go run ./bench/meta "$@"
