#!/usr/bin/env bash
# Train on one GPU: bash scripts/run_train_gpu.sh DEVICE_ID ACLIMDB_DIR GLOVE_DIR [--key=value ...]
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/common.sh"
require_args 3 $# "bash run_train_gpu.sh DEVICE_ID ACLIMDB_DIR GLOVE_DIR [--key=value ...]"
export CUDA_VISIBLE_DEVICES=$1
aclimdb=$(absolute "$2") glove=$(absolute "$3")
shift 3
exec bash "$here/run_task.sh" train GPU default_config.yaml \
    --aclimdb_path="$aclimdb" --glove_path="$glove" "$@"
