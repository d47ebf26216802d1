#!/usr/bin/env bash
# Train on CPU: bash scripts/run_train_cpu.sh ACLIMDB_DIR GLOVE_DIR [--key=value ...]
# Writes ./preprocess (reused by eval) and ./train/{log.txt,ckpt_lstm/}.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/common.sh"
require_args 2 $# "bash run_train_cpu.sh ACLIMDB_DIR GLOVE_DIR [--key=value ...]"
aclimdb=$(absolute "$1") glove=$(absolute "$2")
shift 2
exec bash "$here/run_task.sh" train CPU default_config.yaml \
    --aclimdb_path="$aclimdb" --glove_path="$glove" "$@"
