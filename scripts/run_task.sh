#!/usr/bin/env bash
# Shared body of every run_{train,eval}_<device>.sh: runs train.py or eval.py in the foreground,
# logs to <run folder>/log.txt (and the terminal) and keeps the exit status.
#   run_task.sh train|eval DEVICE_TARGET CONFIG_FILE [--key=value ...]
# Everything lands under the caller's working directory: ./preprocess (shared by train and eval),
# ./train/{log.txt,ckpt_lstm/} or ./eval/{log.txt,eval_metrics.json}. Later --key=value
# arguments override earlier ones, so users can still redirect any of these.
set -euo pipefail

task=$1 device=$2 config=$3
shift 3
project=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run_dir="$(pwd)/$task"
mkdir -p "$run_dir"
log="$run_dir/log.txt"
case "$task" in
    train) outputs=(--ckpt_path="$run_dir/ckpt_lstm") ;;
    eval) outputs=(--metrics_file="$run_dir/eval_metrics.json") ;;
esac
echo "Running $task on $device; log: $log"
export GLOG_v=${GLOG_v:-3}  # MindSpore's own INFO/WARNING lines would drown the progress lines
set +e
python "$project/$task.py" --config_path="$project/$config" --device_target="$device" \
    --preprocess_path="$(pwd)/preprocess" "${outputs[@]}" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
echo "$task finished with exit code $status; log: $log"
exit "$status"
