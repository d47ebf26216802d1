#!/usr/bin/env bash
# Helpers shared by the run_*.sh scripts (sourced, not run).

# require_args COUNT GIVEN USAGE: prints the usage and exits when fewer than COUNT arguments came.
require_args() {
    if [ "$2" -lt "$1" ]; then
        echo "Usage: $3" >&2
        exit 2
    fi
}

# absolute PATH: the path made absolute against the caller's working directory.
absolute() {
    case "$1" in /*) echo "$1" ;; *) echo "$(pwd)/$1" ;; esac
}
