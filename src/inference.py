"""Running a trained SentimentNet on raw text: from a checkpoint plus its preprocessed folder, or
from an export (.mindir / .onnx) plus the sidecar JSON that export.py writes beside it.

The sidecar <file_name>.json holds everything a deployment needs besides the graph: the
vocabulary (a word list, line number = id), tokenizer version, input shape and names, label names
and the model's hyperparameters. It also lists the SHA-256 of each export it describes, so a
sidecar overwritten by a later export with other settings is caught instead of silently feeding
the wrong vocabulary or shape.

MindSpore, onnx and onnxruntime are imported only by the backend that needs them: predicting with
an ONNX file needs onnxruntime alone and never pays MindSpore's import time.
"""
import codecs
import json
import os
import sys
import time

import numpy as np

from src import device, download, errors, length_batching, text

LABELS = ("negative", "positive")  # index = label id (src/imdb.py: neg 0, pos 1)
INPUT_NAME, OUTPUT_NAME = "token_ids", "logits"
SIDECAR_VERSION = 1
EXPORT_EXTENSIONS = {"MINDIR": ".mindir", "ONNX": ".onnx", "AIR": ".air"}
# onnxruntime runs this many batches at once, one thread each: an LSTM step's products are too
# small to split well over threads, and whole batches side by side ran up to 1.5x faster on 2 cores.
PARALLEL_BATCHES = os.cpu_count() or 1
MINDIR_LENGTH_MULTIPLE = 32


def softmax(logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))  # shift: no overflow for big logits
    return shifted / shifted.sum(axis=1, keepdims=True)


def pad_batch(id_lists, rows, length):
    """int32 [rows, length]: each id list cut to `length` and padded with <pad>; rows beyond the
    given lists are all padding (fixed-shape exports need full batches)."""
    batch = np.full((rows, length), text.PAD_ID, np.int32)
    for row, ids in enumerate(id_lists):
        ids = ids[:length]
        batch[row, :len(ids)] = ids
    return batch


def split_review_lines(content):
    """One review per line, lines ended by LF, CRLF or (old Mac files) CR only. Not
    str.splitlines(): it also splits at \\x0b, \\x0c, \\x1c-\\x1e, \\x85, \\u2028 and \\u2029, which
    reviews can hold, and one input line would then get several answers. Blank lines are skipped."""
    if "\n" not in content and "\r" in content:
        lines = content.split("\r")
    else:
        lines = [line.removesuffix("\r") for line in content.split("\n")]
    return [line for line in lines if line.strip()]


def read_review_lines(path):
    """The non-blank lines of a text file (`-` = stdin), one review per line: UTF-8 with or
    without a BOM, or UTF-16 with a BOM (Windows Notepad's "Unicode")."""
    if path == "-":
        data, name = sys.stdin.buffer.read(), "standard input"
    else:
        if not os.path.isfile(path):
            raise errors.UserError(f"review file {path} not found")
        with open(path, "rb") as file:
            data, name = file.read(), path
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    # NUL bytes never occur in text, and UTF-8 decoding alone accepts some binary formats.
    if b"\0" in data and not utf16:
        raise errors.UserError(f"{name} is a binary file, not text with one review per line")
    try:
        content = data.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError as error:
        raise errors.UserError(f"{name} is not UTF-8 text (invalid byte at offset {error.start})") from None
    return split_review_lines(content)



def sidecar_path(model_path):
    return os.path.splitext(model_path)[0] + ".json"


def write_sidecar(model_path, description):
    """Writes <stem>.json for `model_path`. Exports of the same stem with the same description
    (e.g. lstm.mindir and lstm.onnx from one checkpoint) share it; any other description replaces it."""
    path = sidecar_path(model_path)
    files = {}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as file:
            try:
                previous = json.load(file)
            except json.JSONDecodeError:
                previous = {}
        if {k: v for k, v in previous.items() if k != "files"} == description:
            files = previous.get("files", {})
    files[os.path.basename(model_path)] = download.file_sha256(model_path)
    with open(path + ".tmp", "w", encoding="utf-8") as file:
        json.dump({**description, "files": files}, file, indent=1, ensure_ascii=False)
    os.replace(path + ".tmp", path)
    return path


def read_sidecar(model_path):
    path = sidecar_path(model_path)
    if not os.path.isfile(path):
        raise errors.UserError(f"{model_path} has no sidecar {path} (vocabulary and input shape); "
                               "export with export.py, which writes both")
    try:
        with open(path, encoding="utf-8") as file:
            sidecar = json.load(file)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise errors.UserError(f"{path} is not valid JSON ({error})") from None
    if sidecar.get("sidecar_version") != SIDECAR_VERSION or "vocabulary" not in sidecar:
        raise errors.UserError(f"{path} is not an export description written by this suite's export.py")
    if sidecar.get("files", {}).get(os.path.basename(model_path)) != download.file_sha256(model_path):
        raise errors.UserError(f"{path} was written for another export than {model_path} "
                               "(re-export both with export.py)")
    if sidecar["tokenizer_version"] != text.TOKENIZER_VERSION:
        raise errors.UserError(f"{model_path} was trained with tokenizer version "
                               f"{sidecar['tokenizer_version']}, this code has {text.TOKENIZER_VERSION}")
    return sidecar


class Predictor:
    """Text -> logits with one of the backends below. `fixed_shape` exports take exactly
    (batch_size, max_len); other models take any shape, so reviews are batched by length and
    each batch is padded only to its longest review (same logits: the model never reads padding)."""

    def __init__(self, vocabulary, max_len, batch_size, run_batch, fixed_shape, labels=LABELS, workers=1,
                 length_multiple=1):
        self.vocabulary, self.max_len, self.batch_size = vocabulary, max_len, batch_size
        self.run_batch, self.fixed_shape, self.labels = run_batch, fixed_shape, list(labels)
        self.workers = workers  # batches run at once (thread-safe run_batch only)
        self.length_multiple = length_multiple  # batch lengths rounded up to a multiple of it

    def encode(self, reviews):
        return [self.vocabulary.encode(text.tokenize(review), self.max_len) for review in reviews]

    def logits(self, reviews):
        id_lists = self.encode(reviews)
        if not self.fixed_shape:
            return length_batching.score_by_length(self.run_batch, id_lists, self.batch_size, self.workers,
                                                   self.length_multiple)
        outputs = []
        for start in range(0, len(id_lists), self.batch_size):
            chunk = id_lists[start:start + self.batch_size]
            batch = pad_batch(chunk, self.batch_size, self.max_len)
            outputs.append(np.asarray(self.run_batch(batch), np.float32)[:len(chunk)])
        return np.concatenate(outputs)

    def predict(self, reviews):
        """[(label, probability of that label, probabilities of all labels)] per review."""
        results = []
        for row in softmax(self.logits(reviews)):
            best = int(row.argmax())
            results.append((self.labels[best], float(row[best]), dict(zip(self.labels, map(float, row)))))
        return results


def load_predictor(model_path, config):
    if not os.path.isfile(model_path):
        raise errors.UserError(f"model {model_path} not found")
    extension = os.path.splitext(model_path)[1].lower()
    if extension == ".ckpt":
        return _checkpoint_predictor(model_path, config)
    if extension not in (".onnx", ".mindir"):
        raise errors.UserError(f"cannot predict with {model_path}: expected a .ckpt, .onnx or .mindir file")
    sidecar = read_sidecar(model_path)
    vocabulary = text.Vocabulary(sidecar["vocabulary"])
    # Sidecars written before free shapes existed describe fixed-shape exports.
    fixed_shape = all(isinstance(size, int) for size in sidecar["input"]["shape"])
    if extension == ".onnx":
        # Fixed-shape batches run one after the other, so they get all threads.
        workers, length_multiple = (1 if fixed_shape else PARALLEL_BATCHES), 1
        run_batch = _onnx_runner(model_path, threads=0 if fixed_shape else 1)
    else:
        # MindSpore compiles a dynamic-shape MINDIR once per input shape (about 0.1 s): few lengths.
        workers, length_multiple = 1, MINDIR_LENGTH_MULTIPLE
        run_batch = _mindir_runner(model_path, config)
    return Predictor(vocabulary, sidecar["max_len"], sidecar["batch_size"], run_batch, fixed_shape,
                     labels=sidecar["labels"], workers=workers, length_multiple=length_multiple)


def onnxruntime_session(model, threads=0):
    """An onnxruntime CPU session for an ONNX file path or serialized model bytes (threads 0: one
    per physical core)."""
    try:
        import onnxruntime
    except ImportError:
        raise errors.UserError("running an ONNX graph needs onnxruntime (pip install onnxruntime)") from None
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _onnx_runner(model_path, threads):
    try:
        session = onnxruntime_session(model_path, threads)
    except errors.UserError:
        raise  # onnxruntime is not installed
    except Exception as error:  # onnxruntime raises its own exception types per failure
        raise errors.UserError(f"onnxruntime cannot load {model_path}: {errors.first_line(error)}") from None
    return _session_runner(session)


def _session_runner(session):
    input_name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {input_name: batch})[0]


def _mindir_runner(model_path, config):
    import mindspore as ms
    from mindspore import nn

    device.setup(config)
    try:
        graph = nn.GraphCell(ms.load(model_path))
    except (RuntimeError, ValueError) as error:
        raise errors.UserError(f"MindSpore cannot load {model_path}: {errors.first_line(error)}") from None
    return lambda batch: graph(ms.Tensor(batch)).asnumpy()


def load_checkpoint_network(model_path, config):
    """(SentimentNet in inference mode with the checkpoint's weights, its config, vocabulary,
    meta) from a checkpoint and config.preprocess_path (its vocabulary)."""
    from src import checkpoint, dataset

    if not os.path.isfile(os.path.join(config.preprocess_path, dataset.META_FILE)):
        raise errors.UserError(
            f"{model_path} is a checkpoint: pass --preprocess_path=<the folder train.py wrote> for its "
            "vocabulary, or predict with an export from export.py")
    meta = dataset.load_meta(config.preprocess_path)
    if meta["settings"]["tokenizer_version"] != text.TOKENIZER_VERSION:
        raise errors.UserError(f"{config.preprocess_path} was built with another tokenizer version; "
                               "preprocess again")
    vocabulary = text.Vocabulary.load(os.path.join(config.preprocess_path, dataset.VOCAB_FILE))
    device.setup(config)
    config, network = checkpoint.load_network(config, model_path, meta["vocab_size"], meta["embed_dim"])
    return network, config, vocabulary, meta


def network_onnx_runner(network, pooling, threads=0):
    """int32 [batch, length] -> logits of `network` (a SentimentNet), computed by onnxruntime on
    the ONNX graph export.py writes, built in memory from the network's current weights.
    MindSpore compiles a graph per input shape or runs a slower dynamic-shape graph; this runs
    any shape at once, with the same logits (export.py's parity check)."""
    from src import onnx_export

    parameters = {parameter.name: parameter.asnumpy() for parameter in network.get_parameters()}
    graph = onnx_export.build_sentiment_graph(parameters, pooling)
    return _session_runner(onnxruntime_session(graph.SerializeToString(), threads))


def _checkpoint_predictor(model_path, config):
    network, config, vocabulary, meta = load_checkpoint_network(model_path, config)
    labels = LABELS if config.num_classes == len(LABELS) else [str(i) for i in range(config.num_classes)]
    # Reviews are cut where preprocessing cut them for training and evaluation.
    return Predictor(vocabulary, meta["settings"]["max_len"], config.batch_size,
                     network_onnx_runner(network, config.pooling, threads=1), False, labels, PARALLEL_BATCHES)


def timed(function, *args):
    """(result, seconds)"""
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started
