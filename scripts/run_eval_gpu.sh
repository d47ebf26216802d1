#!/usr/bin/env bash
# Evaluate on one GPU: bash scripts/run_eval_gpu.sh DEVICE_ID ACLIMDB_DIR GLOVE_DIR CKPT_FILE [--key=value ...]
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/common.sh"
require_args 4 $# "bash run_eval_gpu.sh DEVICE_ID ACLIMDB_DIR GLOVE_DIR CKPT_FILE [--key=value ...]"
export CUDA_VISIBLE_DEVICES=$1
aclimdb=$(absolute "$2") glove=$(absolute "$3") checkpoint=$(absolute "$4")
shift 4
exec bash "$here/run_task.sh" eval GPU default_config.yaml \
    --aclimdb_path="$aclimdb" --glove_path="$glove" --ckpt_file="$checkpoint" "$@"
