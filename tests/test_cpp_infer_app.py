"""End-to-end test of the C++ inference app in ascend310_infer/ (OpenVINO backend).

Builds out/main with build.sh, exports a tiny Embedding -> BiLSTM -> masked max pool -> Dense
model to ONNX, runs the app on three int32 batches and checks its logits against MindSpore's,
plus the output layout, the timing file and the error paths. Then the same for a free-shape
export of SentimentNet (src/onnx_export.py) on batches of different sizes and lengths, each
carrying its shape in its name and size, as preprocess.py writes them.

    pytest tests/test_cpp_infer_app.py    # ~6 s with out/ built, ~10 s from scratch (2 cores)
"""
import contextlib
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import mindspore as ms
from mindspore import nn

import conftest  # noqa: F401  (puts the project root on sys.path for src)

APP_DIR = Path(__file__).resolve().parents[1] / "ascend310_infer"
VOCAB_SIZE, EMBED_SIZE, HIDDEN_SIZE, NUM_CLASSES = 50, 8, 4, 2
BATCH_SIZE, SEQ_LEN, NUM_BATCHES = 4, 16, 3
TIMING_LINE = re.compile(r"NN inference cost average time: (\d+(?:\.\d+)?(?:e[-+]?\d+)?) ms of infer_count (\d+)")


def _missing_build_dependency():
    for tool in ("cmake", "g++"):
        if shutil.which(tool) is None:
            return f"{tool} not on PATH: cannot build ascend310_infer"
    if importlib.util.find_spec("openvino") is None:
        return "openvino Python wheel not installed: no backend to build ascend310_infer with"
    return None


_SKIP_REASON = _missing_build_dependency()
# The module-scoped build and export are shared by its tests: one pytest-xdist worker runs them all.
pytestmark = [pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or ""),
              pytest.mark.xdist_group("cpp")]


def sentiment_net(seed):
    """SentimentNet (build_model's network) in miniature, with seeded random weights."""
    from src import lstm

    rng = np.random.default_rng(seed)
    net = lstm.SentimentNet(VOCAB_SIZE, EMBED_SIZE, HIDDEN_SIZE, 2, True, NUM_CLASSES, pooling="max_mean")
    for param in net.get_parameters():  # seeded without touching MindSpore's global seed
        param.set_data(ms.Tensor(rng.uniform(-0.5, 0.5, param.shape).astype(np.float32)))
    net.set_train(False)
    return net


@contextlib.contextmanager
def graph_mode():
    """MindSpore in GRAPH mode inside the block: with numpy 2.x installed, MindSpore 2.10's
    PYNATIVE kernels fail ("compiled using NumPy 1.x")."""
    previous_mode = ms.get_context("mode")
    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        yield
    finally:
        ms.set_context(mode=previous_mode)


class LastStepIndexNet(nn.Cell):
    """Integer index on the time axis: MindSpore exports a Squeeze that OpenVINO runs to a 0-sized output."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB_SIZE, EMBED_SIZE)
        self.encoder = nn.LSTM(EMBED_SIZE, HIDDEN_SIZE, batch_first=True)
        self.head = nn.Dense(HIDDEN_SIZE, NUM_CLASSES)

    def construct(self, token_ids):
        outputs, _ = self.encoder(self.embedding(token_ids))
        return self.head(outputs[:, -1])


def _run_app(app, *args, cwd):
    return subprocess.run([str(app), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    build = subprocess.run(["bash", str(APP_DIR / "build.sh")], cwd=tmp_path_factory.mktemp("build_cwd"),
                           capture_output=True, text=True, timeout=600, check=False)
    if build.returncode != 0:
        pytest.fail(f"build.sh failed ({build.returncode}):\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}")
    return APP_DIR / "out" / "main"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """ONNX model, NUM_BATCHES .bin batches and MindSpore's logits for each batch."""
    root = tmp_path_factory.mktemp("cpp_infer")
    rng = np.random.default_rng(0)
    net = sentiment_net(0)  # exported through MindSpore at a fixed shape, as export.py --static_shape=True

    bin_dir = root / "bins"
    bin_dir.mkdir()
    expected = {}
    with graph_mode():
        for i in range(NUM_BATCHES):
            token_ids = rng.integers(0, VOCAB_SIZE, size=(BATCH_SIZE, SEQ_LEN)).astype(np.int32)
            token_ids.tofile(bin_dir / f"LSTM_data_bs{BATCH_SIZE}_{i}.bin")
            expected[f"LSTM_data_bs{BATCH_SIZE}_{i}_0.bin"] = net(ms.Tensor(token_ids)).asnumpy()

    # ms.onnx.export, not ms.export(..., file_format="ONNX"): the latter silently drops input_names/output_names.
    model_path = root / "tiny_lstm.onnx"
    ms.onnx.export(net, ms.Tensor(np.zeros((BATCH_SIZE, SEQ_LEN), np.int32)), file_name=str(model_path),
                   input_names=["token_ids"], output_names=["logits"])

    last_step_model_path = root / "last_step_index.onnx"
    ms.onnx.export(LastStepIndexNet(), ms.Tensor(np.zeros((BATCH_SIZE, SEQ_LEN), np.int32)),
                   file_name=str(last_step_model_path), input_names=["token_ids"], output_names=["logits"])

    bad_bin_dir = root / "bad_bins"
    bad_bin_dir.mkdir()
    np.zeros((BATCH_SIZE, SEQ_LEN - 1), np.int32).tofile(bad_bin_dir / "short.bin")
    (root / "empty").mkdir()
    return SimpleNamespace(root=root, model=model_path, last_step_model=last_step_model_path, bins=bin_dir,
                           bad_bins=bad_bin_dir, expected=expected)


@pytest.fixture(scope="module")
def app_run(app, exported):
    output_dir = exported.root / "infer_out"
    run = _run_app(app, f"--mindir_path={exported.model}", f"--input0_path={exported.bins}",
                   f"--output_path={output_dir}", cwd=exported.root)
    assert run.returncode == 0, run.stderr
    return SimpleNamespace(process=run, output_dir=output_dir)


def test_writes_one_result_file_per_batch(app_run, exported):
    result_dir = app_run.output_dir / "result_Files"
    assert sorted(p.name for p in result_dir.iterdir()) == sorted(exported.expected)
    for name in exported.expected:
        assert (result_dir / name).stat().st_size == BATCH_SIZE * NUM_CLASSES * 4


def test_logits_match_mindspore(app_run, exported):
    result_dir = app_run.output_dir / "result_Files"
    max_abs_diff = max(
        np.abs(np.fromfile(result_dir / name, np.float32).reshape(BATCH_SIZE, NUM_CLASSES) - logits).max()
        for name, logits in exported.expected.items())
    print(f"max abs logit diff, OpenVINO app vs MindSpore: {max_abs_diff:.3g}")
    assert max_abs_diff < 1e-4


def test_timing_file_and_summary(app_run):
    lines = (app_run.output_dir / "time_Result" / "test_perform_static.txt").read_text().splitlines()
    assert len(lines) == 1
    match = TIMING_LINE.fullmatch(lines[0])
    assert match, lines[0]
    assert float(match.group(1)) > 0 and int(match.group(2)) == NUM_BATCHES
    assert "reviews/s" in app_run.process.stdout


@pytest.fixture(scope="module")
def free_shape(tmp_path_factory):
    """A SentimentNet (random weights) exported by src/onnx_export.py, batches of several sizes
    and lengths named LSTM_data_bs<N>_<i>.bin, and MindSpore's logits for each."""
    from src import onnx_export

    root = tmp_path_factory.mktemp("free_shape")
    rng = np.random.default_rng(1)
    net = sentiment_net(1)
    net.set_inputs(ms.Tensor(shape=[None, None], dtype=ms.int32))
    model_path = root / "sentiment.onnx"
    onnx_export.save(onnx_export.build_sentiment_graph({p.name: p.asnumpy() for p in net.get_parameters()},
                                                       "max_mean"), str(model_path))
    bin_dir = root / "bins"
    bin_dir.mkdir()
    expected = {}
    with graph_mode():
        for i, (rows, length) in enumerate(((3, 1), (5, 9), (5, 40))):
            lengths = rng.integers(1, length + 1, size=rows)
            token_ids = np.zeros((rows, length), np.int32)
            for row, n in enumerate(lengths):
                token_ids[row, :n] = rng.integers(1, VOCAB_SIZE, size=n)
            name = f"LSTM_data_bs{rows}_{i}"
            token_ids.tofile(bin_dir / f"{name}.bin")
            expected[f"{name}_0.bin"] = (rows, net(ms.Tensor(token_ids)).asnumpy())
    unnamed = root / "unnamed"
    unnamed.mkdir()
    np.ones((2, 3), np.int32).tofile(unnamed / "batch.bin")
    ragged = root / "ragged"
    ragged.mkdir()
    np.ones(7, np.int32).tofile(ragged / "LSTM_data_bs2_0.bin")
    return SimpleNamespace(root=root, model=model_path, bins=bin_dir, expected=expected, unnamed=unnamed,
                           ragged=ragged)


def test_free_shape_export_runs_each_batch_at_its_own_shape(app, free_shape):
    output_dir = free_shape.root / "infer_out"
    run = _run_app(app, f"--mindir_path={free_shape.model}", f"--input0_path={free_shape.bins}",
                   f"--output_path={output_dir}", cwd=free_shape.root)
    assert run.returncode == 0, run.stderr
    assert "input int32 (-1, -1)" in run.stdout and "13 rows" in run.stdout
    max_abs_diff = 0.0
    for name, (rows, logits) in free_shape.expected.items():
        result = np.fromfile(output_dir / "result_Files" / name, np.float32)
        assert result.size == rows * NUM_CLASSES
        max_abs_diff = max(max_abs_diff, np.abs(result.reshape(rows, NUM_CLASSES) - logits).max())
    print(f"max abs logit diff, OpenVINO app (free shape) vs MindSpore: {max_abs_diff:.3g}")
    assert max_abs_diff < 1e-4


@pytest.mark.parametrize("folder, message", [
    ("unnamed", "the model's batch size is free and the file name carries none"),
    ("ragged", "has 28 bytes, not a whole number of int32 rows for a batch of 2"),
])
def test_free_shape_batches_that_do_not_fit_fail_with_one_line(app, free_shape, tmp_path, folder, message):
    run = _run_app(app, f"--mindir_path={free_shape.model}", f"--input0_path={getattr(free_shape, folder)}",
                   f"--output_path={tmp_path}", cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr.startswith("ERROR: ") and run.stderr.count("\n") == 1, run.stderr
    assert message in run.stderr
    assert not (tmp_path / "result_Files").exists()


def test_help_exits_zero(app, tmp_path):
    run = _run_app(app, "--help", cwd=tmp_path)
    assert run.returncode == 0 and "--mindir_path" in run.stdout


@pytest.mark.parametrize("case, make_args, message", [
    ("wrong_size_bin", lambda e: [f"--mindir_path={e.model}", f"--input0_path={e.bad_bins}"],
     "has 240 bytes, expected 256 = int32 (4, 16)"),
    ("missing_model", lambda e: [f"--mindir_path={e.root / 'missing.onnx'}", f"--input0_path={e.bins}"],
     "model file not found"),
    ("no_bin_files", lambda e: [f"--mindir_path={e.model}", f"--input0_path={e.root / 'empty'}"],
     "no .bin files"),
    ("unknown_flag", lambda e: [f"--mindir_path={e.model}", "--batch_size=8"], "unknown flag --batch_size"),
    ("ascend_with_onnx", lambda e: [f"--mindir_path={e.model}", f"--input0_path={e.bins}",
                                    "--device_target=Ascend"], "OpenVINO backend runs on CPU only"),
    ("integer_time_index_export", lambda e: [f"--mindir_path={e.last_step_model}", f"--input0_path={e.bins}"],
     "model returned 0 logits for a batch of 4"),
])
def test_errors_exit_nonzero_with_one_line(app, exported, tmp_path, case, make_args, message):
    run = _run_app(app, *make_args(exported), f"--output_path={tmp_path}", cwd=tmp_path)
    assert run.returncode == 1, case
    assert run.stderr.startswith("ERROR: ") and run.stderr.count("\n") == 1, run.stderr
    assert message in run.stderr
    assert not (tmp_path / "result_Files").exists()
