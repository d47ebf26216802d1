#!/usr/bin/env bash
# Data-parallel training on DEVICE_NUM Ascend devices of this machine with a rank table, one
# process per device, with the reference's 8-device settings (config_ascend_8p.yaml):
#   bash scripts/run_distribute_train_ascend.sh RANK_TABLE_FILE DEVICE_NUM ACLIMDB_DIR GLOVE_DIR [--key=value ...]
# e.g. bash scripts/run_distribute_train_ascend.sh /path/hccl_8p.json 8 /path/aclImdb /path/glove
# Rank 0 preprocesses into ./preprocess while the others wait; checkpoints and history (rank 0
# only) go to ./train_parallel/ckpt_lstm/, one log per rank to ./train_parallel/log/rank_<rank>.log.
# When one rank fails the others are stopped: they would wait for it in a collective.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/common.sh"
require_args 4 $# "bash run_distribute_train_ascend.sh RANK_TABLE_FILE DEVICE_NUM ACLIMDB_DIR GLOVE_DIR [--key=value ...]"
if ! [[ $2 =~ ^[1-9][0-9]*$ ]]; then
    echo "DEVICE_NUM must be a positive integer, got '$2'" >&2
    exit 2
fi
if [ ! -f "$1" ]; then
    echo "RANK_TABLE_FILE $1 not found" >&2
    exit 2
fi
export RANK_TABLE_FILE=$(absolute "$1") RANK_SIZE=$2
aclimdb=$(absolute "$3") glove=$(absolute "$4")
shift 4
project=$(cd "$here/.." && pwd)
run_dir="$(pwd)/train_parallel"
mkdir -p "$run_dir/log"
export GLOG_v=${GLOG_v:-3}  # MindSpore's own INFO/WARNING lines would drown the progress lines
set -m  # each rank in its own process group, so stopping a rank stops all of its processes
pids=()
stop_ranks() {
    for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
}
trap 'stop_ranks; exit 130' INT TERM
for ((rank = 0; rank < RANK_SIZE; rank++)); do
    RANK_ID=$rank DEVICE_ID=$rank python "$project/train.py" --config_path="$project/config_ascend_8p.yaml" \
        --device_target=Ascend --distribute=True --device_num="$RANK_SIZE" --device_id="$rank" \
        --aclimdb_path="$aclimdb" --glove_path="$glove" --preprocess_path="$(pwd)/preprocess" \
        --ckpt_path="$run_dir/ckpt_lstm" "$@" > "$run_dir/log/rank_$rank.log" 2>&1 &
    pids+=($!)
done
echo "Training on $RANK_SIZE Ascend devices; logs: $run_dir/log/rank_<rank>.log"
status=0
for _ in "${pids[@]}"; do
    wait -n || { status=$?; break; }
done
if [ "$status" -ne 0 ]; then
    echo "A rank failed (exit code $status); stopping the others" >&2
    stop_ranks
    wait || true
fi
echo "Distributed training finished with exit code $status; logs: $run_dir/log/rank_<rank>.log"
exit "$status"
