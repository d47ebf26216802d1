#!/usr/bin/env bash
# Evaluate on CPU: bash scripts/run_eval_cpu.sh ACLIMDB_DIR GLOVE_DIR CKPT_FILE [--key=value ...]
# Uses ./preprocess from training (rebuilt from ACLIMDB_DIR and GLOVE_DIR if missing); writes
# ./eval/{log.txt,eval_metrics.json}.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/common.sh"
require_args 3 $# "bash run_eval_cpu.sh ACLIMDB_DIR GLOVE_DIR CKPT_FILE [--key=value ...]"
aclimdb=$(absolute "$1") glove=$(absolute "$2") checkpoint=$(absolute "$3")
shift 3
exec bash "$here/run_task.sh" eval CPU default_config.yaml \
    --aclimdb_path="$aclimdb" --glove_path="$glove" --ckpt_file="$checkpoint" "$@"
