#!/usr/bin/env bash
# Builds the inference app into ascend310_infer/out/main (incremental; delete out/ for a clean build).
#   bash ascend310_infer/build.sh            # from any directory
# The OpenVINO backend is found through the `openvino` Python wheel (python3, or $PYTHON);
# export MSLITE_HOME=<mindspore-lite-*-linux-x64> to also build the MindSpore Lite backend.
set -euo pipefail

app_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build_dir="$app_dir/out"
cmake_args=(-S "$app_dir" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release)

if openvino_dir="$("${PYTHON:-python3}" -c 'import openvino, os; print(os.path.dirname(openvino.__file__))' 2>/dev/null)"; then
  cmake_args+=("-DOpenVINO_DIR=$openvino_dir/cmake")
else
  echo "build.sh: openvino Python package not found; building without the OpenVINO backend" >&2
fi

# Two builds at once (two inference runs, parallel tests) would write the same files: take turns.
mkdir -p "$build_dir"
exec 9>"$build_dir/.build.lock"
flock 9
cmake "${cmake_args[@]}"
cmake --build "$build_dir" -j "$(nproc)"
echo "built $build_dir/main"
