#!/usr/bin/env bash
# Shared body of every run_{train,eval}_<device>.sh: runs train.py or eval.py in the foreground,
# logs to <run folder>/log.txt (and the terminal) and keeps the exit status.
#   run_task.sh train|eval DEVICE_TARGET CONFIG_FILE RUN_DIR [--key=value ...]
# RUN_DIR is relative to the caller's working directory; the preprocessed data is shared between
# train and eval in ./preprocess (override with --preprocess_path=...).
set -euo pipefail

task=$1 device=$2 config=$3 run_dir=$4
shift 4
project=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(pwd)
mkdir -p "$run_dir"
run_dir=$(cd "$run_dir" && pwd)
log="$run_dir/log.txt"
echo "Running $task on $device; log: $log"
export GLOG_v=${GLOG_v:-3}  # MindSpore's own INFO/WARNING lines would drown the progress lines
cd "$run_dir"
set +e
python "$project/$task.py" --config_path="$project/$config" --device_target="$device" \
    --preprocess_path="$work/preprocess" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
echo "$task finished with exit code $status; log: $log"
exit "$status"
