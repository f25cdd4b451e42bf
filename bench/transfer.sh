#!/bin/sh
# Runs the transfer benchmark and prints its table; arguments go to it, e.g.
#   bench/transfer.sh -sizes 1GiB,4GiB -reps 3
# Progress goes to stderr, the table to stdout. See bench/transfer/main.go.
set -eu
cd "$(dirname "$0")/.."
exec go run ./bench/transfer "$@"
