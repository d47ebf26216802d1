#!/usr/bin/env bash
# Train on one Ascend device: bash scripts/run_train_ascend.sh DEVICE_ID ACLIMDB_DIR GLOVE_DIR [--key=value ...]
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/common.sh"
require_args 3 $# "bash run_train_ascend.sh DEVICE_ID ACLIMDB_DIR GLOVE_DIR [--key=value ...]"
export DEVICE_ID=$1
aclimdb=$(absolute "$2") glove=$(absolute "$3")
shift 3
exec bash "$here/run_task.sh" train Ascend config_ascend.yaml \
    --device_id="$DEVICE_ID" --aclimdb_path="$aclimdb" --glove_path="$glove" "$@"
