#!/usr/bin/env bash
# Evaluate on one Ascend device: bash scripts/run_eval_ascend.sh DEVICE_ID PREPROCESS_DIR CKPT_FILE [--key=value ...]
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/common.sh"
require_args 3 $# "bash run_eval_ascend.sh DEVICE_ID PREPROCESS_DIR CKPT_FILE [--key=value ...]"
export DEVICE_ID=$1
preprocess=$(absolute "$2") checkpoint=$(absolute "$3")
shift 3
exec bash "$here/run_task.sh" eval Ascend config_ascend.yaml \
    --device_id="$DEVICE_ID" --ckpt_file="$checkpoint" --preprocess_path="$preprocess" "$@"
