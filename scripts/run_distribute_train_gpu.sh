#!/usr/bin/env bash
# Data-parallel training on WORKER_NUM GPUs of this machine, one msrun worker per GPU:
#   bash scripts/run_distribute_train_gpu.sh WORKER_NUM ACLIMDB_DIR GLOVE_DIR [--key=value ...]
# The same as run_distribute_train_cpu.sh (outputs, logs, MASTER_PORT) on GPUs.
set -euo pipefail
DISTRIBUTE_DEVICE=GPU exec bash "$(dirname "${BASH_SOURCE[0]}")/run_distribute_train_cpu.sh" "$@"
