#!/bin/sh
# Runs the OCI benchmark (Silo beside CNCF distribution v3) and prints its
# table; arguments go to it, e.g. bench/oci.sh -sizes 1GiB,4GiB -reps 3.
# Progress goes to stderr, the table to stdout. See bench/oci/main.go.
set -eu
cd "$(dirname "$0")/.."
exec go run ./bench/oci "$@"
