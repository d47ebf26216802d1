"""Export and deployment of the shared tiny run's model (tiny_run): export.py (MINDIR, ONNX, AIR error, sidecar;
free shapes by default, fixed with --static_shape=True), preprocess.py -> C++ app / postprocess.py
(scripts/run_infer_310.sh) against eval.py, and predict.py from the checkpoint and from the exports.
"""
import functools
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, ok, run_python
from src import config as config_module, download, inference, text

# Its module-scoped fixtures are shared by its tests: one pytest-xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("deploy")

MODEL = ["--num_hiddens=8", "--max_len=40", "--pooling=max_mean"]
BATCH_SIZE = 7  # 24 test reviews -> 3 full batches and one of 3: the partial-batch path is exercised
MAX_LEN, NUM_CLASSES, TEST_REVIEWS = 40, 2, 24
REVIEWS = ["A great, wonderful and moving film!", "Boring. Awful plot, a waste of time.",
           "It was a film about a plot.", "Superb! I loved it.<br />Don't miss it."]
PARITY_TOLERANCE = 1e-4
python = functools.partial(run_python, cwd=ROOT)


def infer_310(*arguments, cwd):
    return subprocess.run(["bash", os.path.join(ROOT, "scripts", "run_infer_310.sh"), *arguments], cwd=cwd,
                          capture_output=True, text=True, timeout=600, check=False)


def error_lines(stderr):
    """stderr without MindSpore's own [WARNING] log lines."""
    return [line for line in stderr.splitlines() if not line.startswith("[WARNING]")]



@pytest.fixture(scope="module")
def work(tiny_run, tmp_path_factory):
    """The shared tiny run's final model, exported to MINDIR and ONNX with batch BATCH_SIZE (and
    to a fixed-shape ONNX), and evaluated with eval.py."""
    root = tmp_path_factory.mktemp("deploy")
    preprocess, checkpoint = tiny_run.preprocess, tiny_run.best
    settings = [f"--preprocess_path={preprocess}", *MODEL]
    exports = {}
    export_stem = root / "export" / "lstm"
    for file_format in ("MINDIR", "ONNX"):
        result = ok(python("export.py", f"--ckpt_file={checkpoint}", f"--file_format={file_format}",
                           f"--file_name={export_stem}", f"--batch_size={BATCH_SIZE}", *settings))
        exports[file_format] = result.stdout
    static_stem = root / "export" / "static"
    ok(python("export.py", f"--ckpt_file={checkpoint}", "--file_format=ONNX", f"--file_name={static_stem}",
              f"--batch_size={BATCH_SIZE}", "--static_shape=True", *settings))
    ok(python("eval.py", f"--ckpt_file={checkpoint}", "--batch_size=8", f"--metrics_file={root / 'metrics.json'}",
              *settings))
    metrics = json.loads((root / "metrics.json").read_text())
    return {"root": root, "preprocess": preprocess, "checkpoint": checkpoint, "settings": settings,
            "mindir": root / "export" / "lstm.mindir", "onnx": root / "export" / "lstm.onnx",
            "sidecar": root / "export" / "lstm.json", "export_output": exports,
            "static_onnx": root / "export" / "static.onnx", "eval_accuracy": metrics["acc"]}


@pytest.fixture(scope="module")
def checkpoint_logits(work):
    """MindSpore's logits for an int32 batch of any shape, from the checkpoint (the reference for
    every runtime: predict.py itself runs checkpoints through ONNX)."""
    import mindspore as ms

    config = config_module.load_config([*work["settings"], f"--batch_size={BATCH_SIZE}"])
    network = inference.load_checkpoint_network(str(work["checkpoint"]), config)[0]
    network.set_inputs(ms.Tensor(shape=[None, None], dtype=ms.int32))
    return lambda token_ids: network(ms.Tensor(token_ids)).asnumpy()


def random_batches(vocab_size, seed=0):
    """int32 batches of many sizes and lengths (1 to beyond max_len), each row padded at the end."""
    rng = np.random.default_rng(seed)
    batches = []
    for rows, length in ((1, 1), (1, 5), (2, 9), (BATCH_SIZE, 23), (3, MAX_LEN), (4, 2 * MAX_LEN)):
        lengths = rng.integers(1, length + 1, size=rows)
        batches.append(inference.pad_batch([rng.integers(1, vocab_size, size=n).tolist() for n in lengths],
                                           rows, length))
    return batches

def sample_batch(work):
    vocabulary = text.Vocabulary.load(str(work["preprocess"] / "vocab.txt"))
    ids = [vocabulary.encode(text.tokenize(review), MAX_LEN) for review in REVIEWS]
    return inference.pad_batch(ids, BATCH_SIZE, MAX_LEN)


# ---- export.py

def test_export_writes_sidecar_with_vocabulary_and_shape(work):
    sidecar = json.loads(work["sidecar"].read_text())
    vocabulary = (work["preprocess"] / "vocab.txt").read_text().split("\n")[:-1]
    assert sidecar["vocabulary"] == vocabulary
    assert sidecar["input"] == {"name": "token_ids", "dtype": "int32", "shape": [None, None],
                                "pad_id": 0, "unk_id": 1}
    assert sidecar["static_shape"] is False and sidecar["batch_size"] == BATCH_SIZE
    static = json.loads(work["static_onnx"].with_suffix(".json").read_text())
    assert static["static_shape"] is True and static["input"]["shape"] == [BATCH_SIZE, MAX_LEN]
    assert sidecar["output"]["name"] == "logits" and sidecar["labels"] == ["negative", "positive"]
    assert sidecar["tokenizer_version"] == text.TOKENIZER_VERSION and sidecar["max_len"] == MAX_LEN
    hyperparameters = sidecar["hyperparameters"]
    assert hyperparameters["num_hiddens"] == 8 and hyperparameters["pooling"] == "max_mean"
    # Both exports share the sidecar; each is pinned by its hash.
    assert sidecar["files"] == {"lstm.mindir": download.file_sha256(work["mindir"]),
                                "lstm.onnx": download.file_sha256(work["onnx"])}
    assert all("reproduces the checkpoint's logits" in output for output in work["export_output"].values())


def vocab_size(work):
    return len(text.Vocabulary.load(str(work["preprocess"] / "vocab.txt")))


def test_mindir_loads_back_with_equal_logits_at_any_shape(work, checkpoint_logits):
    import mindspore as ms
    from mindspore import nn

    graph = nn.GraphCell(ms.load(str(work["mindir"])))
    for token_ids in [sample_batch(work)] + random_batches(vocab_size(work)):
        logits = graph(ms.Tensor(token_ids)).asnumpy()
        np.testing.assert_allclose(logits, checkpoint_logits(token_ids), rtol=0, atol=PARITY_TOLERANCE)


def test_onnx_matches_mindspore_at_any_shape(work, checkpoint_logits):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(work["onnx"]), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["token_ids"]
    assert [o.name for o in session.get_outputs()] == ["logits"]
    assert session.get_inputs()[0].shape == ["batch", "length"]
    difference = max(np.abs(session.run(None, {"token_ids": token_ids})[0] - checkpoint_logits(token_ids)).max()
                     for token_ids in [sample_batch(work)] + random_batches(vocab_size(work)))
    print(f"max abs logit diff, onnxruntime vs MindSpore: {difference:.3g}")
    assert difference < PARITY_TOLERANCE


def test_openvino_runs_the_onnx_export_with_equal_logits(work, checkpoint_logits):
    openvino = pytest.importorskip("openvino")
    core = openvino.Core()
    # f32: OpenVINO computes in bf16 by default on CPUs that have it.
    compiled = core.compile_model(core.read_model(str(work["onnx"])), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    difference = max(np.abs(compiled(token_ids)[0] - checkpoint_logits(token_ids)).max()
                     for token_ids in [sample_batch(work)] + random_batches(vocab_size(work), seed=1))
    print(f"max abs logit diff, OpenVINO vs MindSpore: {difference:.3g}")
    assert difference < PARITY_TOLERANCE


def test_free_shape_exports_hold_the_weights_whatever_max_len(work, tmp_path):
    """Nothing in the graph is sized by the example input: the file does not grow with max_len."""
    parameter_bytes = sum(value.nbytes for value in model_parameters(work["checkpoint"]).values())
    ok(python("export.py", f"--ckpt_file={work['checkpoint']}", "--file_format=ONNX",
              f"--file_name={tmp_path / 'long'}", *work["settings"], f"--max_len={10 * MAX_LEN}"))
    sizes = {MAX_LEN: work["onnx"].stat().st_size, 10 * MAX_LEN: (tmp_path / "long.onnx").stat().st_size}
    assert sizes[MAX_LEN] == sizes[10 * MAX_LEN]
    assert sizes[MAX_LEN] <= 2 * parameter_bytes
    assert work["mindir"].stat().st_size <= 2 * parameter_bytes + 100_000  # MINDIR: graph text besides


def model_parameters(checkpoint):
    """The model's float parameters of a checkpoint, as numpy arrays."""
    import mindspore as ms

    return {name: value.asnumpy() for name, value in ms.load_checkpoint(str(checkpoint)).items()
            if name.startswith(("embedding.", "forward_layers.", "backward_layers.", "decoder."))}


def test_air_on_cpu_fails_with_one_line(work, tmp_path):
    result = python("export.py", f"--ckpt_file={work['checkpoint']}", f"--file_name={tmp_path / 'lstm'}",
                    "--file_format=AIR", *work["settings"])
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: AIR export needs the Ascend backend"), lines
    assert not list(tmp_path.iterdir())


# ---- preprocess.py / postprocess.py / run_infer_310.sh

@pytest.fixture(scope="module")
def batches(work):
    """preprocess.py's batches for a free-shape export (the default): sorted by length."""
    result_path = work["root"] / "preprocess_Result"
    ok(python("preprocess.py", f"--preprocess_path={work['preprocess']}", f"--result_path={result_path}",
              f"--batch_size={BATCH_SIZE}", f"--max_len={MAX_LEN}"))
    return result_path


def read_batch(result_path, index):
    """int32 [BATCH_SIZE, length] of batch `index`, the length from counts.json."""
    counts = json.loads((result_path / "counts.json").read_text())
    token_ids = np.fromfile(result_path / "00_data" / f"LSTM_data_bs{BATCH_SIZE}_{index}.bin", np.int32)
    return token_ids.reshape(BATCH_SIZE, counts["batch_lengths"][index])


def test_preprocess_sorts_by_length_and_pads_each_batch_to_its_longest(work, batches):
    batch_count = math.ceil(TEST_REVIEWS / BATCH_SIZE)
    names = sorted(os.listdir(batches / "00_data"))
    assert names == sorted(f"LSTM_data_bs{BATCH_SIZE}_{i}.bin" for i in range(batch_count))
    counts = json.loads((batches / "counts.json").read_text())
    partial = TEST_REVIEWS - (batch_count - 1) * BATCH_SIZE
    # The one batch that is not full holds the shortest reviews, so its padding rows cost little.
    assert counts["reviews"] == TEST_REVIEWS and counts["reviews_per_batch"][0] == partial
    assert counts["static_shape"] is False
    assert sorted(i for members in counts["review_indices"] for i in members) == list(range(TEST_REVIEWS))
    labels = np.load(batches / "label_ids.npy", allow_pickle=False)
    assert labels.shape == (batch_count, BATCH_SIZE) and labels.dtype == np.int32
    assert (labels[0, partial:] == -1).all() and set(labels[1:].ravel()) <= {0, 1}
    longest = []
    for index, reviews in enumerate(counts["reviews_per_batch"]):
        token_ids = read_batch(batches, index)
        lengths = (token_ids != 0).sum(1)[:reviews]
        assert token_ids.shape[1] == lengths.max() <= MAX_LEN and (token_ids[reviews:] == 0).all()
        if longest:
            assert lengths.min() >= longest[-1]  # batches follow each other in order of length
        longest.append(lengths.max())


def test_preprocess_static_shape_keeps_fixed_batches_in_file_order(work, tmp_path):
    ok(python("preprocess.py", f"--preprocess_path={work['preprocess']}", f"--result_path={tmp_path}",
              f"--batch_size={BATCH_SIZE}", f"--max_len={MAX_LEN}", "--static_shape=True"))
    batch_count = math.ceil(TEST_REVIEWS / BATCH_SIZE)
    names = os.listdir(tmp_path / "00_data")
    assert len(names) == batch_count
    assert all((tmp_path / "00_data" / name).stat().st_size == BATCH_SIZE * MAX_LEN * 4 for name in names)
    counts = json.loads((tmp_path / "counts.json").read_text())
    last_batch = TEST_REVIEWS - (batch_count - 1) * BATCH_SIZE
    assert counts["reviews_per_batch"][-1] == last_batch and counts["static_shape"] is True
    labels = np.load(tmp_path / "label_ids.npy", allow_pickle=False)
    assert (labels[-1, last_batch:] == -1).all() and set(labels[:-1].ravel()) <= {0, 1}
    last = np.fromfile(tmp_path / "00_data" / f"LSTM_data_bs{BATCH_SIZE}_{batch_count - 1}.bin", np.int32)
    last = last.reshape(BATCH_SIZE, MAX_LEN)
    assert (last[last_batch:] == 0).all() and (last[:last_batch, 0] != 0).all()


def test_postprocess_gives_eval_accuracy(work, batches, checkpoint_logits, tmp_path):
    result_dir = tmp_path / "result_Files"
    result_dir.mkdir()
    for index in range(len(os.listdir(batches / "00_data"))):
        logits = checkpoint_logits(read_batch(batches, index)).astype(np.float32)
        logits.tofile(result_dir / f"LSTM_data_bs{BATCH_SIZE}_{index}_0.bin")
    result = ok(python("postprocess.py", f"--result_dir={result_dir}",
                       f"--label_dir={batches / 'label_ids.npy'}", cwd=tmp_path))
    line = f"result of Accuracy is:  {work['eval_accuracy']}"
    assert line in result.stdout.splitlines()
    assert (tmp_path / "acc.log").read_text() == line + "\n"


@pytest.fixture(scope="module")
def infer_run(work):
    """run_infer_310.sh from a folder outside the project, given the MINDIR: on CPU it takes the ONNX."""
    cwd = work["root"] / "elsewhere"
    cwd.mkdir()
    result = ok(infer_310(str(work["mindir"]), str(work["preprocess"]), "y", "CPU", cwd=cwd))
    return cwd / "infer_310", result


def test_run_infer_310_matches_eval_and_mindspore(work, infer_run, checkpoint_logits):
    run_dir, result = infer_run
    assert f"result of Accuracy is:  {work['eval_accuracy']}" in result.stdout
    assert "reviews/s" in result.stdout and "NN inference cost average time" in result.stdout
    assert "using " + str(work["onnx"]) in result.stdout
    step_logs = {"preprocess.log", "build.log", "infer.log", "postprocess.log"}
    assert step_logs | {"acc.log"} <= set(os.listdir(run_dir))
    difference = 0.0
    for index in range(len(os.listdir(run_dir / "preprocess_Result" / "00_data"))):
        token_ids = read_batch(run_dir / "preprocess_Result", index)
        logits = np.fromfile(run_dir / "result_Files" / f"LSTM_data_bs{BATCH_SIZE}_{index}_0.bin", np.float32)
        difference = max(difference, np.abs(logits.reshape(BATCH_SIZE, NUM_CLASSES)
                                            - checkpoint_logits(token_ids)).max())
    print(f"max abs logit diff, C++ app (OpenVINO) vs MindSpore: {difference:.3g}")
    assert difference < PARITY_TOLERANCE


def test_run_infer_310_with_a_static_shape_export_matches_eval(work, tmp_path):
    """The fixed [batch_size, max_len] export (Ascend 310 ATC) still runs the whole flow."""
    result = ok(infer_310(str(work["static_onnx"]), str(work["preprocess"]), "y", "CPU", cwd=tmp_path))
    assert f"result of Accuracy is:  {work['eval_accuracy']}" in result.stdout
    data = tmp_path / "infer_310" / "preprocess_Result" / "00_data"
    assert {(data / name).stat().st_size for name in os.listdir(data)} == {BATCH_SIZE * MAX_LEN * 4}


def test_run_infer_310_names_the_failing_step_and_its_log(work, infer_run):
    run_dir, _ = infer_run
    bogus = run_dir.parent / "bogus.onnx"
    bogus.write_text("not a model\n")
    result = infer_310(str(bogus), str(work["preprocess"]), "n", "CPU", cwd=run_dir.parent)
    assert result.returncode == 1
    assert f"error: step 'infer' failed (exit 1); see {run_dir / 'infer.log'}" in result.stderr
    assert (run_dir / "infer.log").is_file()


@pytest.mark.parametrize("arguments, message", [
    ([], "Usage: bash run_infer_310.sh MODEL_PATH DATASET_PATH NEED_PREPROCESS DEVICE_TARGET"),
    (["MODEL", "DATA", "maybe", "CPU"], "error: NEED_PREPROCESS must be y or n"),
    (["MODEL", "DATA", "y", "TPU"], "error: DEVICE_TARGET must be CPU, GPU or Ascend"),
    (["LONE_MINDIR", "DATA", "y", "CPU"], "error: on CPU the inference app runs ONNX models"),
])
def test_run_infer_310_rejects_bad_arguments(work, tmp_path, arguments, message):
    lone = tmp_path / "lone.mindir"
    shutil.copy(work["mindir"], lone)
    substitutes = {"MODEL": str(work["onnx"]), "DATA": str(work["preprocess"]), "LONE_MINDIR": str(lone)}
    result = infer_310(*[substitutes.get(a, a) for a in arguments], cwd=tmp_path)
    assert result.returncode == (2 if not arguments else 1)
    assert result.stderr.startswith(message), result.stderr
    assert not (tmp_path / "infer_310").exists()


# ---- predict.py

def predict_json(work, model, *arguments, stdin=None):
    settings = work["settings"] if str(model).endswith(".ckpt") else []
    result = ok(python("predict.py", f"--model={model}", "--json", *arguments, *settings, stdin=stdin))
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_predict_agrees_across_checkpoint_onnx_and_mindir(work, tmp_path):
    reviews_file = tmp_path / "reviews.txt"
    # The blank line in the middle is skipped, not predicted.
    reviews_file.write_text("\n".join(REVIEWS[:2]) + "\n\n" + "\n".join(REVIEWS[2:]) + "\n")
    runs = {"checkpoint, arguments": predict_json(work, work["checkpoint"], *REVIEWS),
            "onnx, file": predict_json(work, work["onnx"], f"--file={reviews_file}"),
            "mindir, stdin": predict_json(work, work["mindir"], "-", stdin="\n".join(REVIEWS) + "\n"),
            "static onnx, arguments": predict_json(work, work["static_onnx"], *REVIEWS)}
    expected = runs["checkpoint, arguments"]
    assert [row["text"] for row in expected] == REVIEWS
    for name, rows in runs.items():
        assert [row["text"] for row in rows] == REVIEWS, name
        for row, reference in zip(rows, expected):
            assert row["label"] == reference["label"], name
            assert set(row["probabilities"]) == {"negative", "positive"}
            assert abs(row["probability"] - max(row["probabilities"].values())) < 1e-12
            for label, probability in row["probabilities"].items():
                assert abs(probability - reference["probabilities"][label]) < PARITY_TOLERANCE, name


def many_reviews(count, seed=0):
    """Reviews of 1 to about 60 words (some beyond max_len), in no particular order of length."""
    rng = np.random.default_rng(seed)
    words = " ".join(REVIEWS).split()
    return [" ".join(rng.choice(words, size=rng.integers(1, 60))) for _ in range(count)]


@pytest.mark.parametrize("model", ["onnx", "checkpoint"])
def test_predictor_batches_by_length_and_keeps_the_order(work, checkpoint_logits, model):
    config = config_module.load_config([*work["settings"], f"--batch_size={BATCH_SIZE}"])
    predictor = inference.load_predictor(str(work[model]), config)
    reviews = many_reviews(3 * BATCH_SIZE + 2)
    logits = predictor.logits(reviews)
    # Each review alone at its own length: what batching must not change.
    expected = np.concatenate([checkpoint_logits(inference.pad_batch([ids], 1, max(1, len(ids))))
                               for ids in predictor.encode(reviews)])
    assert logits.shape == (len(reviews), NUM_CLASSES)
    assert np.abs(logits - expected).max() < PARITY_TOLERANCE


def test_predict_from_onnx_never_imports_mindspore(work):
    """The deployment path needs onnxruntime alone: importing MindSpore here fails the run."""
    code = ("import runpy, sys; sys.modules['mindspore'] = None; "
            f"sys.argv = ['predict.py', '--model={work['onnx']}', '--json', {REVIEWS[0]!r}]; "
            f"runpy.run_path({os.path.join(ROOT, 'predict.py')!r}, run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["text"] == REVIEWS[0]


def test_predict_plain_output_one_line_per_review(work):
    result = ok(python("predict.py", f"--model={work['onnx']}", *REVIEWS[:2]))
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line, review in zip(lines, REVIEWS):
        label, probability, preview = line.split("\t")
        assert label in ("negative", "positive") and 0.5 <= float(probability) <= 1.0 and preview == review


@pytest.mark.parametrize("case, make_arguments, stdin, message", [
    ("no_input", lambda p: [], None, "error: no reviews to classify"),
    ("empty_stdin", lambda p: ["-"], "\n  \n", "error: no reviews to classify"),
    ("empty_argument", lambda p: [""], None, "error: review argument 1 is empty"),
    ("empty_file", lambda p: [f"--file={p / 'empty.txt'}"], None, "holds no reviews"),
    ("binary_file", lambda p: [f"--file={p / 'model.bin'}"], None, "is a binary file, not text"),
    ("latin1_file", lambda p: [f"--file={p / 'latin1.txt'}"], None, "is not UTF-8 text"),
    ("missing_file", lambda p: [f"--file={p / 'missing.txt'}"], None, "not found"),
    ("key_space_value", lambda p: ["--num_hiddens", "8", "x"], None, "settings take the form --key=value"),
])
def test_predict_bad_input_gives_one_line_error(work, tmp_path, case, make_arguments, stdin, message):
    (tmp_path / "empty.txt").write_text("\n\n")
    shutil.copy(work["onnx"], tmp_path / "model.bin")
    (tmp_path / "latin1.txt").write_bytes("très bon film\n".encode("latin-1"))
    result = python("predict.py", f"--model={work['onnx']}", *make_arguments(tmp_path), stdin=stdin)
    assert result.returncode == 2, case
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (case, lines)
    assert result.stdout == ""


def test_predict_rejects_a_sidecar_written_for_another_export(work, tmp_path):
    shutil.copy(work["onnx"], tmp_path / "lstm.onnx")
    sidecar = json.loads(work["sidecar"].read_text())
    sidecar["files"]["lstm.onnx"] = "0" * 64
    (tmp_path / "lstm.json").write_text(json.dumps(sidecar))
    result = python("predict.py", f"--model={tmp_path / 'lstm.onnx'}", "Great film")
    assert result.returncode == 2 and "was written for another export" in result.stderr


def test_predict_checkpoint_without_preprocess_path_explains(work):
    result = python("predict.py", f"--model={work['checkpoint']}", "--preprocess_path=/nonexistent", "Great")
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {work['checkpoint']} is a checkpoint: pass --preprocess_path=")
