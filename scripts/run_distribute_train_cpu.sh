#!/usr/bin/env bash
# Data-parallel training with WORKER_NUM processes on this machine, started by msrun:
#   bash scripts/run_distribute_train_cpu.sh WORKER_NUM ACLIMDB_DIR GLOVE_DIR [--key=value ...]
# Rank 0 preprocesses into ./preprocess while the others wait; checkpoints and history (rank 0
# only) go to ./train_parallel/ckpt_lstm/, one log per rank to ./train_parallel/log/worker_<rank>.log
# (rank 0's is also shown here). msrun stops every worker as soon as one fails.
# MASTER_PORT (default 8118) is msrun's rendezvous port; pick another for a second job.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/common.sh"
device=${DISTRIBUTE_DEVICE:-CPU}  # run_distribute_train_gpu.sh runs this script with GPU
require_args 3 $# "bash run_distribute_train_${device,,}.sh WORKER_NUM ACLIMDB_DIR GLOVE_DIR [--key=value ...]"
if ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then
    echo "WORKER_NUM must be a positive integer, got '$1'" >&2
    exit 2
fi
workers=$1 aclimdb=$(absolute "$2") glove=$(absolute "$3")
shift 3
project=$(cd "$here/.." && pwd)
run_dir="$(pwd)/train_parallel"
mkdir -p "$run_dir"
echo "Training on $workers $device workers; logs: $run_dir/log/worker_<rank>.log"
export GLOG_v=${GLOG_v:-3}  # MindSpore's own INFO/WARNING lines would drown the progress lines
set +e
msrun --worker_num="$workers" --local_worker_num="$workers" --master_port="${MASTER_PORT:-8118}" \
    --log_dir="$run_dir/log" --join=True --tail_worker_log=0 \
    "$project/train.py" --config_path="$project/default_config.yaml" --device_target="$device" \
    --distribute=True --device_num="$workers" --aclimdb_path="$aclimdb" --glove_path="$glove" \
    --preprocess_path="$(pwd)/preprocess" --ckpt_path="$run_dir/ckpt_lstm" "$@"
status=$?
set -e
if [ "$status" -ne 0 ]; then
    grep -H "^error: " "$run_dir"/log/worker_*.log >&2 || true  # the one-line reasons, per rank
fi
echo "Distributed training finished with exit code $status; logs: $run_dir/log/worker_<rank>.log"
exit "$status"
