#!/usr/bin/env bash
# Test-set inference with the C++ app (the reference's Ascend 310 flow), from any directory:
#   bash scripts/run_infer_310.sh MODEL_PATH DATASET_PATH NEED_PREPROCESS DEVICE_TARGET [DEVICE_ID]
# MODEL_PATH       an export from export.py: .onnx (CPU, OpenVINO backend) or .mindir (MindSpore Lite
#                  backend: Ascend, or CPU when built with MSLITE_HOME). On CPU a .mindir is replaced
#                  by the .onnx of the same name beside it.
# DATASET_PATH     the preprocess folder train.py wrote (aclImdb_test.mindrecord*)
# NEED_PREPROCESS  y: write the input batches; n: reuse those of the last run
# DEVICE_TARGET    CPU, GPU or Ascend (the app has no GPU backend: GPU runs on CPU); DEVICE_ID default 0
# Writes ./infer_310/: preprocess_Result/, result_Files/, time_Result/, acc.log and one log per step
# (preprocess.log, build.log, infer.log, postprocess.log). Prints the accuracy and the app's latency.
set -euo pipefail

usage="bash run_infer_310.sh MODEL_PATH DATASET_PATH NEED_PREPROCESS DEVICE_TARGET [DEVICE_ID]"
if [ $# -lt 4 ] || [ $# -gt 5 ]; then
    echo "Usage: $usage" >&2
    echo "  e.g. bash run_infer_310.sh ./lstm.onnx ./preprocess y CPU" >&2
    exit 2
fi
project=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-python3}

fail() {
    echo "error: $*" >&2
    exit 1
}

absolute() {
    realpath -m -- "$1"
}

model=$(absolute "$1")
dataset=$(absolute "$2")
need_preprocess=$3
device_target=$4
device_id=${5:-0}
case "$need_preprocess" in y | n) ;; *) fail "NEED_PREPROCESS must be y or n, got '$need_preprocess'" ;; esac
case "$device_target" in
    CPU | GPU | Ascend) ;;
    *) fail "DEVICE_TARGET must be CPU, GPU or Ascend, got '$device_target'" ;;
esac
case "$device_id" in '' | *[!0-9]*) fail "DEVICE_ID must be a non-negative integer, got '$device_id'" ;; esac
[ -f "$model" ] || fail "model file $model not found"
if [ "$need_preprocess" = y ] && [ ! -f "$dataset/aclImdb_test.mindrecord0" ]; then
    fail "$dataset holds no aclImdb_test.mindrecord0: pass the preprocess folder train.py wrote"
fi

app_target=$device_target
if [ "$device_target" = GPU ]; then
    echo "note: the inference app has no GPU backend; running on CPU"
    app_target=CPU
fi
# Without MindSpore Lite the app reads .mindir only on Ascend; on CPU it runs ONNX with OpenVINO.
if [ "$app_target" = CPU ] && [ "${model##*.}" = mindir ] && [ -z "${MSLITE_HOME:-}" ]; then
    onnx_model="${model%.mindir}.onnx"
    [ -f "$onnx_model" ] || fail "on CPU the inference app runs ONNX models (OpenVINO); export one beside" \
        "the MINDIR: python export.py --ckpt_file=CKPT --file_format=ONNX --file_name=${model%.mindir}" \
        "and the settings used for the MINDIR"
    echo "note: on CPU the inference app runs ONNX: using $onnx_model"
    model=$onnx_model
fi

# The batches follow the model's input: export.py's sidecar JSON records its batch size, max_len
# and whether the shape is fixed (then every batch is [batch_size, max_len]; otherwise batches are
# sorted by length and padded to their longest review). Sidecars without the flag are fixed.
shape_args=()
sidecar="${model%.*}.json"
if [ -f "$sidecar" ]; then
    read_shape='import json, sys; d = json.load(open(sys.argv[1]))
print(d["batch_size"], d["max_len"], d.get("static_shape", True))'
    shape=$("$python" -c "$read_shape" "$sidecar") || fail "cannot read the input shape from $sidecar"
    read -r batch_size max_len static_shape <<<"$shape"
    shape_args=("--batch_size=$batch_size" "--max_len=$max_len" "--static_shape=$static_shape")
else
    echo "note: no $sidecar: batches use batch_size and max_len of default_config.yaml"
fi

run_dir="$PWD/infer_310"
mkdir -p "$run_dir"
# run_step NAME COMMAND...: runs COMMAND with its output in $run_dir/NAME.log; stops on failure.
run_step() {
    local name=$1 status=0
    shift
    local log="$run_dir/$name.log"
    echo "[$name] log: $log"
    "$@" >"$log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        echo "error: step '$name' failed (exit $status); see $log" >&2
        tail -n 3 "$log" | sed 's/^/  | /' >&2
        exit 1
    fi
}

if [ "$need_preprocess" = y ]; then
    rm -rf "$run_dir/preprocess_Result"
    run_step preprocess "$python" "$project/preprocess.py" --preprocess_path="$dataset" \
        --result_path="$run_dir/preprocess_Result" "${shape_args[@]}"
elif [ ! -d "$run_dir/preprocess_Result/00_data" ]; then
    fail "no $run_dir/preprocess_Result/00_data from an earlier run: pass NEED_PREPROCESS=y"
fi
run_step build bash "$project/ascend310_infer/build.sh"
rm -rf "$run_dir/result_Files" "$run_dir/time_Result"
run_step infer "$project/ascend310_infer/out/main" --mindir_path="$model" \
    --input0_path="$run_dir/preprocess_Result/00_data" --output_path="$run_dir" \
    --device_target="$app_target" --device_id="$device_id"
run_step postprocess "$python" "$project/postprocess.py" --result_dir="$run_dir/result_Files" \
    --label_dir="$run_dir/preprocess_Result/label_ids.npy"

cat "$run_dir/acc.log"
grep "average latency" "$run_dir/infer.log" || true
cat "$run_dir/time_Result/test_perform_static.txt"
