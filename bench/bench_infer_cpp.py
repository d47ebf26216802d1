"""Deployment figures for a trained checkpoint: export sizes, the C++ app's speed and how closely
the exports reproduce the checkpoint (MINDIR via MindSpore, ONNX via onnxruntime, C++ app).

    python bench/bench_infer_cpp.py --ckpt_file=ckpt_lstm/lstm_best.ckpt --preprocess_path=./preprocess \
        [--max_batches=20] [--work_dir=./bench_infer] [--batch_size, --max_len]

Runs export.py (MINDIR and ONNX), preprocess.py, build.sh and the app as run_infer_310.sh does,
on the first max_batches test batches (0: all), then compares logits batch by batch with the
checkpoint in MindSpore. Pass --static_shape=True for the fixed [batch_size, max_len] exports.
bench/bench_inference.py puts all deployment figures, today's and the new, side by side.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT)
from src import config as config_module, errors, inference  # noqa: E402

APP = os.path.join(PROJECT, "ascend310_infer", "out", "main")
LATENCY_LINE = re.compile(r"average latency (\S+) ms per batch of (\d+), (\S+) reviews/s")


def run(step, command, work):
    """Runs a step with its output in <work>/<step>.log; on failure one line naming both."""
    log = os.path.join(work, f"{step}.log")
    with open(log, "w", encoding="utf-8") as file:
        status = subprocess.run(command, stdout=file, stderr=subprocess.STDOUT, check=False).returncode
    if status != 0:
        raise errors.UserError(f"step {step} failed (exit {status}); see {log}")
    with open(log, encoding="utf-8") as file:
        return file.read()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--work_dir", default="./bench_infer")
    parser.add_argument("--max_batches", type=int, default=20)
    arguments, config_options = parser.parse_known_args()
    config = config_module.load_config(config_options)
    work = os.path.abspath(arguments.work_dir)
    os.makedirs(work, exist_ok=True)
    python = sys.executable

    stem = os.path.join(work, "lstm")
    for file_format in ("MINDIR", "ONNX"):  # static_shape among config_options applies to both
        run(f"export_{file_format.lower()}", [python, os.path.join(PROJECT, "export.py"), *config_options,
                                              f"--file_name={stem}", f"--file_format={file_format}"], work)
    result_path = os.path.join(work, "preprocess_Result")
    run("preprocess", [python, os.path.join(PROJECT, "preprocess.py"), *config_options,
                       f"--result_path={result_path}"], work)
    bins = sorted(os.listdir(os.path.join(result_path, "00_data")),
                  key=lambda name: int(re.search(r"_(\d+)\.bin$", name).group(1)))
    if arguments.max_batches > 0:
        bins = bins[:arguments.max_batches]
    subset = os.path.join(work, "bins")
    shutil.rmtree(subset, ignore_errors=True)
    os.makedirs(subset)
    for name in bins:
        shutil.copy(os.path.join(result_path, "00_data", name), subset)
    run("build", ["bash", os.path.join(PROJECT, "ascend310_infer", "build.sh")], work)
    shutil.rmtree(os.path.join(work, "result_Files"), ignore_errors=True)
    app_output = run("infer", [APP, f"--mindir_path={stem}.onnx", f"--input0_path={subset}",
                               f"--output_path={work}"], work)
    latency = LATENCY_LINE.search(app_output)

    # Logits of each runtime on the same batches; the checkpoint in MindSpore is the reference.
    import mindspore as ms

    network = inference.load_checkpoint_network(config.ckpt_file, config)[0]
    network.set_inputs(ms.Tensor(shape=[None, None], dtype=ms.int32))
    checkpoint = lambda token_ids: network(ms.Tensor(token_ids)).asnumpy()  # noqa: E731
    mindir = inference.load_predictor(stem + ".mindir", config).run_batch
    onnx = inference.load_predictor(stem + ".onnx", config).run_batch
    with open(os.path.join(result_path, "counts.json"), encoding="utf-8") as file:
        lengths = json.load(file).get("batch_lengths")
    differences = {"MINDIR (MindSpore)": 0.0, "ONNX (onnxruntime)": 0.0, "C++ app (OpenVINO)": 0.0}
    for name in bins:
        token_ids = np.fromfile(os.path.join(subset, name), np.int32)
        index = int(re.search(r"_(\d+)\.bin$", name).group(1))
        token_ids = token_ids.reshape(config.batch_size, lengths[index] if lengths else config.max_len)
        expected = checkpoint(token_ids)
        result_file = os.path.join(work, "result_Files", name[:-len(".bin")] + "_0.bin")
        app_logits = np.fromfile(result_file, np.float32).reshape(expected.shape)
        for runtime, logits in (("MINDIR (MindSpore)", mindir(token_ids)),
                                ("ONNX (onnxruntime)", onnx(token_ids)), ("C++ app (OpenVINO)", app_logits)):
            differences[runtime] = max(differences[runtime], float(np.abs(logits - expected).max()))

    shape = f"[{config.batch_size}, {config.max_len}]" if config.static_shape else f"[{config.batch_size}, length]"
    print(f"input int32 {shape}, {len(bins)} test batches")
    for label, path in (("checkpoint", config.ckpt_file), ("MINDIR", stem + ".mindir"),
                        ("ONNX", stem + ".onnx"), ("sidecar JSON", stem + ".json")):
        print(f"size {label:<14} {os.path.getsize(path) / 1e6:10.3f} MB  {path}")
    if latency:
        print(f"C++ app latency   {float(latency.group(1)):.3f} ms per batch of {latency.group(2)}, "
              f"{float(latency.group(3)):.1f} reviews/s")
    for runtime, difference in differences.items():
        print(f"max |logit - checkpoint|  {runtime:<20} {difference:.3g}")


if __name__ == "__main__":
    errors.run_main(main)
