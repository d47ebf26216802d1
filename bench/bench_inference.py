"""Every inference figure of the deployment table, today's fixed-shape way beside the new one, in one run.

    python bench/bench_inference.py --ckpt_file=ckpt_lstm/lstm_best.ckpt --preprocess_path=./preprocess \
        --aclimdb_path=./aclImdb [--work_dir=./bench_inference] [--predict_reviews=2000] \
        [--today_label_reviews=5000] [--label_reviews=0] [--parity_batches=12]

Rows (reviews/s are real reviews, padding rows not counted):
- C++ app (OpenVINO, CPU) on the whole test folder: today's app (built from --today_revision, the
  commit before free shapes) on a [batch_size, max_len] export (--static_shape=True, MindSpore's
  ONNX exporter) and its fixed batches, against the current app on the free-shape export and
  batches sorted by length (and, for reference, the current app on the fixed export); accuracy of each against eval.py's; logit parity with the
  checkpoint (MindSpore) on parity_batches batches spread over the lengths.
- Export sizes: fixed-shape ONNX and MINDIR against free-shape ones, beside the checkpoint.
- predict.py from an ONNX export: one review (median after load), predict_reviews test reviews end
  to end (a predict.py process reading them from a file) and start to first answer (a predict.py
  process with one review). Without MindSpore either way.
- predict.py from the checkpoint: one review (median after load), MindSpore's graph (today) against
  the in-memory ONNX graph.
- eval.py's scoring of the test folder: MindSpore on length buckets (today), MindSpore's dynamic
  shape on length-sorted batches, and the length-sorted ONNX graph (eval.py now); accuracies.
- Self-training's labelling of the unlabelled reviews: MindSpore on length buckets (today, on the
  first today_label_reviews) against the length-sorted ONNX graph (the same reviews, and all).
Prints the CPU model, the load average before and after, and the settings used.
"""
import argparse
import glob
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import numpy as np

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT)
from src import config as config_module, dataset, errors, inference, length_batching, scoring, text  # noqa: E402

APP = os.path.join(PROJECT, "ascend310_infer", "out", "main")
APP_LINE = re.compile(r"\((\d+) rows, (\S+) ms in total\)")
ACCURACY_LINE = re.compile(r"result of Accuracy is:\s+(\S+)")
SINGLE_REVIEW_REPEATS = 50


def cpu_model():
    with open("/proc/cpuinfo", encoding="utf-8") as file:
        names = [line.split(":", 1)[1].strip() for line in file if line.startswith("model name")]
    return f"{names[0] if names else platform.processor()} x {len(names)} logical CPUs"


def load_average():
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run(step, command, work, env=None):
    """Runs a step with its output in <work>/<step>.log; (output, wall seconds)."""
    log = os.path.join(work, f"{step}.log")
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as file:
        status = subprocess.run(command, stdout=file, stderr=subprocess.STDOUT, check=False, env=env).returncode
    seconds = time.perf_counter() - started
    if status != 0:
        raise errors.UserError(f"step {step} failed (exit {status}); see {log}")
    with open(log, encoding="utf-8") as file:
        return file.read(), seconds


class Table:
    def __init__(self):
        self.rows = []

    def add(self, what, today, new, ratio=None):
        self.rows.append((what, today, new, "" if ratio is None else f"{ratio:.1f}x"))

    def print(self):
        widths = [max(len(str(row[i])) for row in self.rows + [self.header()]) for i in range(4)]
        for row in [self.header()] + self.rows:
            print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())

    @staticmethod
    def header():
        return ("what", "today (fixed shapes)", "new", "new/today")


def export(config_options, stem, file_format, static_shape, work):
    python = sys.executable
    run(f"export_{os.path.basename(stem)}_{file_format.lower()}",
        [python, os.path.join(PROJECT, "export.py"), *config_options, f"--file_name={stem}",
         f"--file_format={file_format}", f"--static_shape={static_shape}"], work)
    return stem + inference.EXPORT_EXTENSIONS[file_format]


def build_today_app(revision, work):
    """Builds the inference app of git `revision` (today's code) into <work>/today_app; its path,
    or None (with a note) when the project is not a git checkout holding that revision."""
    source = os.path.join(work, "today_app")
    archive = subprocess.run(["git", "-C", PROJECT, "archive", revision, "ascend310_infer"], capture_output=True,
                             check=False)
    if archive.returncode != 0:
        print(f"note: cannot read revision {revision} with git; today's C++ figures use the current app")
        return None
    subprocess.run(["rm", "-rf", source], check=True)
    os.makedirs(source)
    subprocess.run(["tar", "-x", "-C", source], input=archive.stdout, check=True)
    run("build_today", ["bash", os.path.join(source, "ascend310_infer", "build.sh")], work)
    return os.path.join(source, "ascend310_infer", "out", "main")


def app_seconds(output):
    """Inference seconds from an app's summary line: the current app prints the total; today's
    app prints the average per batch and the batch count."""
    match = APP_LINE.search(output)
    if match:
        return float(match.group(2)) / 1e3
    average, batches = re.search(r"average latency (\S+) ms .* over (\d+) batches", output).groups()
    return float(average) * int(batches) / 1e3


def cpp_app(config_options, model, static_shape, name, work, app=APP, result_path=None):
    """(real reviews/s over the app's timed inference, accuracy, result folder, batches folder)."""
    if result_path is None:
        result_path = os.path.join(work, f"{name}_preprocess_Result")
        run(f"{name}_preprocess", [sys.executable, os.path.join(PROJECT, "preprocess.py"), *config_options,
                                   f"--result_path={result_path}", f"--static_shape={static_shape}"], work)
    output_path = os.path.join(work, f"{name}_app")
    output, _ = run(f"{name}_infer", [app, f"--mindir_path={model}", f"--input0_path={result_path}/00_data",
                                      f"--output_path={output_path}"], work)
    total_ms = app_seconds(output) * 1e3
    post, _ = run(f"{name}_postprocess", [sys.executable, os.path.join(PROJECT, "postprocess.py"),
                                          f"--result_dir={output_path}/result_Files",
                                          f"--label_dir={result_path}/label_ids.npy"], work)
    counts = inference_counts(result_path)
    return counts["reviews"] * 1000.0 / total_ms, float(ACCURACY_LINE.search(post).group(1)), output_path, \
        result_path


def inference_counts(result_path):
    import json

    with open(os.path.join(result_path, "counts.json"), encoding="utf-8") as file:
        return json.load(file)


def app_parity(result_path, output_path, mindspore_logits, batches):
    """Largest |app logit - checkpoint logit| over `batches` batches spread over the lengths."""
    counts = inference_counts(result_path)
    size = counts["batch_size"]
    lengths = counts.get("batch_lengths") or [counts["max_len"]] * len(counts["reviews_per_batch"])
    chosen = np.unique(np.linspace(0, len(lengths) - 1, batches).round().astype(int))
    difference = 0.0
    for index in chosen:
        token_ids = np.fromfile(os.path.join(result_path, "00_data", f"LSTM_data_bs{size}_{index}.bin"), np.int32)
        token_ids = token_ids.reshape(size, lengths[index])
        logits = np.fromfile(os.path.join(output_path, "result_Files", f"LSTM_data_bs{size}_{index}_0.bin"),
                             np.float32).reshape(size, -1)
        difference = max(difference, float(np.abs(logits - mindspore_logits(token_ids)).max()))
    return difference


def raw_test_reviews(aclimdb_path, count):
    """`count` test reviews as one line each, alternating positive and negative files."""
    root = aclimdb_path if os.path.isdir(os.path.join(aclimdb_path, "test")) else os.path.join(aclimdb_path, "aclImdb")
    folders = [sorted(glob.glob(os.path.join(root, "test", label, "*.txt"))) for label in ("pos", "neg")]
    files = [name for pair in zip(*folders) for name in pair][:count]
    if len(files) < count:
        raise errors.UserError(f"{aclimdb_path} has fewer than {count} test reviews")
    reviews = []
    for name in files:
        with open(name, encoding="utf-8", errors="replace") as file:
            reviews.append(" ".join(file.read().split()))
    return reviews


def single_review_median_ms(predict, reviews):
    predict(reviews[:1])  # warm-up: compile or session start
    times = [inference.timed(predict, [review])[1] for review in reviews[:SINGLE_REVIEW_REPEATS]]
    return statistics.median(times) * 1e3


def predict_process(model, arguments, work, step):
    """Wall seconds of a predict.py process (python start, imports, load, prediction, output)."""
    _, seconds = run(step, [sys.executable, os.path.join(PROJECT, "predict.py"), f"--model={model}", *arguments],
                     work)
    return seconds


def mindspore_network(config):
    """The checkpoint's SentimentNet in MindSpore with a dynamic-shape input (compiled once)."""
    import mindspore as ms

    network, config, _, _ = inference.load_checkpoint_network(config.ckpt_file, config)
    network.set_inputs(ms.Tensor(shape=[None, None], dtype=ms.int32))
    return network, config, lambda token_ids: network(ms.Tensor(token_ids)).asnumpy()


def today_eval(network, config):
    """eval.py before: MindSpore on length buckets of bucket_width (seconds, accuracy)."""
    import mindspore as ms

    started = time.perf_counter()
    data = dataset.create_dataset(config.preprocess_path, "test", config.batch_size, training=False,
                                  max_len=config.max_len, bucket_width=config.bucket_width)
    logits, labels = [], []
    for features, batch_labels in data.create_tuple_iterator(num_epochs=1, output_numpy=True):
        logits.append(network(ms.Tensor(features)).asnumpy())
        labels.append(batch_labels)
    metrics = scoring.classification_metrics(np.concatenate(logits), np.concatenate(labels))
    return time.perf_counter() - started, metrics["acc"]


def today_labelling(network, config, count):
    """Self-training's labelling before (src/dataset.create_dataset's evaluation batches: length
    buckets of bucket_width, each batch padded to its longest review; MindSpore), on the first
    `count` unlabelled reviews in file order: (seconds, reviews)."""
    import mindspore as ms
    import mindspore.dataset as ds

    started, done = time.perf_counter(), 0
    data = ds.MindDataset(dataset.mindrecord_path(config.preprocess_path, "unsup") + "0",
                          columns_list=["feature", "length", "id"], shuffle=False, num_parallel_workers=2)
    boundaries = dataset.bucket_boundaries(config.max_len, config.bucket_width)
    data = data.take(count).bucket_batch_by_length(
        ["feature"], boundaries, [config.batch_size] * (len(boundaries) + 1),
        pad_info={"feature": (None, text.PAD_ID)}, pad_to_bucket_boundary=False, drop_remainder=False)
    for batch in data.create_dict_iterator(num_epochs=1, output_numpy=True):
        inference.softmax(network(ms.Tensor(batch["feature"])).asnumpy())
        done += len(batch["id"])
    return time.perf_counter() - started, done


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--work_dir", default="./bench_inference")
    parser.add_argument("--predict_reviews", type=int, default=2000)
    parser.add_argument("--today_label_reviews", type=int, default=5000,
                        help="unlabelled reviews for today's labelling (it runs at about 100 reviews/s)")
    parser.add_argument("--label_reviews", type=int, default=0, help="unlabelled reviews, new way (0: all)")
    parser.add_argument("--parity_batches", type=int, default=12)
    parser.add_argument("--today_revision", default="4f6ff4c",
                        help="git revision of today's code (the C++ app before free shapes)")
    arguments, config_options = parser.parse_known_args()
    config = config_module.load_config(config_options)
    work = os.path.abspath(arguments.work_dir)
    os.makedirs(work, exist_ok=True)
    print(f"CPU: {cpu_model()}; load average before: {load_average()}", flush=True)
    print(f"settings: checkpoint {config.ckpt_file}, preprocess {config.preprocess_path}, batch_size "
          f"{config.batch_size}, max_len {config.max_len}, bucket_width {config.bucket_width} (today's eval), "
          f"{arguments.predict_reviews} reviews for predict.py, onnxruntime and OpenVINO with their default "
          "threads (one per core), OpenVINO in f32", flush=True)
    table = Table()

    # ---- exports
    fixed = {fmt: export(config_options, os.path.join(work, "fixed"), fmt, True, work) for fmt in ("ONNX", "MINDIR")}
    free = {fmt: export(config_options, os.path.join(work, "lstm"), fmt, False, work) for fmt in ("ONNX", "MINDIR")}
    checkpoint_mb = os.path.getsize(config.ckpt_file) / 1e6
    for fmt in ("ONNX", "MINDIR"):
        today_mb, new_mb = os.path.getsize(fixed[fmt]) / 1e6, os.path.getsize(free[fmt]) / 1e6
        table.add(f"{fmt} export size (checkpoint {checkpoint_mb:.2f} MB)", f"{today_mb:.2f} MB",
                  f"{new_mb:.2f} MB", new_mb / today_mb)
    print("exports written", flush=True)

    # ---- C++ app on the whole test folder
    run("build", ["bash", os.path.join(PROJECT, "ascend310_infer", "build.sh")], work)
    today_app = build_today_app(arguments.today_revision, work) or APP
    today_rate, today_accuracy, today_out, today_batches = cpp_app(config_options, fixed["ONNX"], True, "fixed",
                                                                   work, app=today_app)
    new_rate, new_accuracy, new_out, new_batches = cpp_app(config_options, free["ONNX"], False, "free", work)
    fixed_now_rate = cpp_app(config_options, fixed["ONNX"], True, "fixed_current_app", work,
                             result_path=today_batches)[0]
    table.add("C++ app (OpenVINO), test folder", f"{today_rate:.0f} reviews/s", f"{new_rate:.0f} reviews/s",
              new_rate / today_rate)
    table.add("  (current app on the fixed 64 x 1000 export)", "", f"{fixed_now_rate:.0f} reviews/s",
              fixed_now_rate / today_rate)
    print("C++ app measured", flush=True)

    # ---- eval.py's scoring
    network, model_config, mindspore_logits = mindspore_network(config)
    today_seconds, eval_today_accuracy = today_eval(network, model_config)
    test = dataset.read_split(config.preprocess_path, "test")
    reviews = len(test["feature"])
    started = time.perf_counter()
    length_batching.score_by_length(mindspore_logits, test["feature"], config.batch_size)
    mindspore_sorted_seconds = time.perf_counter() - started
    started = time.perf_counter()
    logits = scoring.network_logits(network, model_config.pooling, test["feature"], config.batch_size)
    eval_accuracy = scoring.classification_metrics(logits, test["label"])["acc"]
    new_seconds = time.perf_counter() - started
    table.add("eval.py scoring, test folder", f"{reviews / today_seconds:.0f} reviews/s",
              f"{reviews / new_seconds:.0f} reviews/s", today_seconds / new_seconds)
    table.add("  (MindSpore dynamic shape, length-sorted batches)", "",
              f"{reviews / mindspore_sorted_seconds:.0f} reviews/s", today_seconds / mindspore_sorted_seconds)
    table.add("accuracy: eval.py / C++ app", f"{eval_today_accuracy:.6f} / {today_accuracy:.6f}",
              f"{eval_accuracy:.6f} / {new_accuracy:.6f}")
    table.add("C++ app max |logit - checkpoint|",
              f"{app_parity(today_batches, today_out, mindspore_logits, arguments.parity_batches):.2g}",
              f"{app_parity(new_batches, new_out, mindspore_logits, arguments.parity_batches):.2g}")
    print("eval measured", flush=True)

    # ---- self-training's labelling
    today_seconds, today_count = today_labelling(network, model_config, arguments.today_label_reviews)
    unlabelled = dataset.read_split(config.preprocess_path, "unsup", columns=("feature",))["feature"]
    if arguments.label_reviews:
        unlabelled = unlabelled[:arguments.label_reviews]
    started = time.perf_counter()
    scoring.network_logits(network, model_config.pooling, unlabelled[:today_count], config.batch_size)
    same_seconds = time.perf_counter() - started
    started = time.perf_counter()
    scoring.network_logits(network, model_config.pooling, unlabelled, config.batch_size)
    all_seconds = time.perf_counter() - started
    table.add(f"labelling, first {today_count} unlabelled reviews", f"{today_count / today_seconds:.0f} reviews/s",
              f"{today_count / same_seconds:.0f} reviews/s", today_seconds / same_seconds)
    table.add(f"labelling, all {len(unlabelled)} unlabelled reviews", "",
              f"{len(unlabelled) / all_seconds:.0f} reviews/s ({all_seconds:.0f} s)")
    print("labelling measured", flush=True)

    # ---- predict.py from the checkpoint, one review
    texts = raw_test_reviews(config.aclimdb_path, arguments.predict_reviews)
    vocabulary = text.Vocabulary.load(os.path.join(config.preprocess_path, "vocab.txt"))

    def today_checkpoint_predict(batch):
        ids = [vocabulary.encode(text.tokenize(review), config.max_len) for review in batch]
        return mindspore_logits(inference.pad_batch(ids, len(ids), max(len(row) for row in ids)))

    today_ms = single_review_median_ms(today_checkpoint_predict, texts)
    new_ms = single_review_median_ms(inference.load_predictor(config.ckpt_file, config).predict, texts)
    table.add("predict.py from checkpoint, one review (median)", f"{today_ms:.1f} ms", f"{new_ms:.2f} ms",
              today_ms / new_ms)

    # ---- predict.py from the ONNX export
    today_ms = single_review_median_ms(inference.load_predictor(fixed["ONNX"], config).predict, texts)
    new_ms = single_review_median_ms(inference.load_predictor(free["ONNX"], config).predict, texts)
    table.add("predict.py from ONNX, one review (median)", f"{today_ms:.1f} ms", f"{new_ms:.2f} ms",
              today_ms / new_ms)
    reviews_file = os.path.join(work, "reviews.txt")
    with open(reviews_file, "w", encoding="utf-8") as file:
        file.write("\n".join(texts) + "\n")
    today_s = predict_process(fixed["ONNX"], [f"--file={reviews_file}"], work, "predict_fixed_many")
    new_s = predict_process(free["ONNX"], [f"--file={reviews_file}"], work, "predict_free_many")
    table.add(f"predict.py from ONNX, {len(texts)} reviews end to end",
              f"{len(texts) / today_s:.0f} reviews/s", f"{len(texts) / new_s:.0f} reviews/s", today_s / new_s)
    today_s = predict_process(fixed["ONNX"], [texts[0]], work, "predict_fixed_one")
    new_s = predict_process(free["ONNX"], [texts[0]], work, "predict_free_one")
    table.add("predict.py from ONNX, start to first answer", f"{today_s:.2f} s", f"{new_s:.2f} s", today_s / new_s)

    print(f"\nload average after: {load_average()}")
    table.print()


if __name__ == "__main__":
    errors.run_main(main)
