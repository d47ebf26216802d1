"""Export a SentimentNet checkpoint to MINDIR, ONNX or AIR for deployment.

    python export.py --ckpt_file=./ckpt_lstm/lstm_best.ckpt --file_name=lstm --file_format=ONNX \
        --preprocess_path=./preprocess [--static_shape=True --batch_size=64 --max_len=1000]

Writes <file_name>.mindir/.onnx/.air with one int32 input "token_ids" [batch, length], padded with
0 at the end, and one float32 output "logits" [batch, num_classes]. By default batch and length
are free: the ONNX graph is built from the weights with ONNX's own LSTM operator
(src/onnx_export.py), the MINDIR is exported with a dynamic-shape input, so reviews are run
without padding to max_len and the file holds little more than the weights. --static_shape=True
(and always for AIR) fixes the input to [batch_size, max_len] for runtimes that need static
shapes (Ascend 310 ATC). <file_name>.json beside it describes the export: vocabulary, tokenizer
version, input/output names and shapes, label names and hyperparameters, so predict.py and
deployments need no preprocessed folder. The export is then run on sample reviews of many
lengths and compared with the checkpoint's logits.
"""
import json
import os

import numpy as np
import mindspore as ms
from mindspore import nn

from src import checkpoint, config as config_module, dataset, device, download, errors, inference, onnx_export, text

PARITY_TOLERANCE = 1e-4  # max abs logit difference accepted between export and checkpoint


def example_input(batch_size, max_len):
    """Valid ids (the reference used random ids up to 1e5, beyond small vocabularies): every row
    is one <unk> followed by padding. The graph does not depend on the values."""
    token_ids = np.full((batch_size, max_len), text.PAD_ID, np.int32)
    token_ids[:, 0] = text.UNK_ID
    return token_ids


def sample_input(batch_size, max_len, vocab_size, seed):
    """Random reviews of varied lengths for the parity check (lengths 1..max_len)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, max_len + 1, size=batch_size)
    id_lists = [rng.integers(text.UNK_ID, vocab_size, size=length).tolist() for length in lengths]
    return inference.pad_batch(id_lists, batch_size, max_len)


def sample_batches(config, vocab_size, static_shape):
    """Batches for the parity check: the fixed shape only, or many batch sizes and lengths for a
    free-shape export (a single short review, a full batch padded to max_len, and between)."""
    if static_shape:
        return [sample_input(config.batch_size, config.max_len, vocab_size, config.seed)]
    shapes = [(1, 1), (1, 7), (3, 16), (5, 64), (config.batch_size, config.max_len)]
    return [sample_input(rows, length, vocab_size, config.seed + index)
            for index, (rows, length) in enumerate(shapes)]


def exported_runner(path, file_format):
    """token_ids -> the export's logits, or None when no runtime for it is installed here."""
    if file_format == "MINDIR":
        graph = nn.GraphCell(ms.load(path))
        return lambda token_ids: graph(ms.Tensor(token_ids)).asnumpy()
    if file_format == "ONNX":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return None
        session = inference.onnxruntime_session(path)
        return lambda token_ids: session.run(None, {inference.INPUT_NAME: token_ids})[0]
    return None  # AIR runs only on Ascend through ATC-converted models


def describe_export(config, meta, vocabulary, static_shape):
    # null: a free dimension. max_len stays the truncation length of reviews either way.
    batch, length = (config.batch_size, config.max_len) if static_shape else (None, None)
    return {
        "sidecar_version": inference.SIDECAR_VERSION,
        "model": "SentimentNet",
        "tokenizer_version": text.TOKENIZER_VERSION,
        "max_len": config.max_len,
        "batch_size": config.batch_size,
        "static_shape": static_shape,
        "input": {"name": inference.INPUT_NAME, "dtype": "int32",
                  "shape": [batch, length], "pad_id": text.PAD_ID, "unk_id": text.UNK_ID},
        "output": {"name": inference.OUTPUT_NAME, "dtype": "float32",
                   "shape": [batch, config.num_classes]},
        "num_classes": config.num_classes,
        "labels": list(inference.LABELS) if config.num_classes == len(inference.LABELS)
        else [str(i) for i in range(config.num_classes)],
        "hyperparameters": {"vocab_size": meta["vocab_size"], "embed_dim": meta["embed_dim"],
                            "num_hiddens": config.num_hiddens, "num_layers": config.num_layers,
                            "bidirectional": config.bidirectional, "pooling": config.pooling},
        "checkpoint": os.path.abspath(config.ckpt_file),
        "vocabulary": vocabulary.words,
    }


def check_overwritable(path):
    """export.py replaces only what it wrote: an existing export must be listed with its SHA-256 in
    the sidecar beside it, and an existing sidecar must be one of its own."""
    sidecar, recorded = inference.sidecar_path(path), {}
    if os.path.lexists(sidecar):
        try:
            with open(sidecar, encoding="utf-8") as file:
                description = json.load(file)
            recorded = description["files"] if "sidecar_version" in description else None
        except (OSError, ValueError, UnicodeDecodeError, TypeError, KeyError):
            recorded = None
        if not isinstance(recorded, dict):
            raise errors.UserError(f"{sidecar} exists and was not written by export.py; nothing was changed: "
                                   "pass another --file_name or move that file")
    if os.path.lexists(path) and (not os.path.isfile(path)
                                  or recorded.get(os.path.basename(path)) != download.file_sha256(path)):
        raise errors.UserError(f"{path} exists and was not written by export.py (or was changed since); "
                               "nothing was changed: pass another --file_name or move that file")


def main():
    config = config_module.load_config()
    if config.file_format == "AIR" and config.device_target != "Ascend":
        # Checked first: MindSpore only fails at the very end, after loading everything.
        raise errors.UserError("AIR export needs the Ascend backend (--device_target=Ascend on an Ascend "
                               "machine); use --file_format=MINDIR or ONNX here")
    print(f"Config {config.config_path}:\n{config_module.describe(config)}", flush=True)
    device.setup(config)

    meta = dataset.load_meta(config.preprocess_path)
    # Users often pass only --preprocess_path: the corpus and vectors are compared only when the
    # given ones exist, and the settings not at all (max_len may be the deployment's).
    dataset.check_matches(config, meta, keys=("aclimdb_path", "vectors_file"))
    vocabulary = text.Vocabulary.load(os.path.join(config.preprocess_path, dataset.VOCAB_FILE))
    if len(vocabulary) != meta["vocab_size"]:
        raise errors.UserError(f"{config.preprocess_path}: vocab.txt has {len(vocabulary)} words, "
                               f"meta.json says {meta['vocab_size']}; preprocess again")
    config, network = checkpoint.load_network(config, config.ckpt_file, meta["vocab_size"], meta["embed_dim"])

    extension = inference.EXPORT_EXTENSIONS[config.file_format]
    stem = config.file_name[:-len(extension)] if config.file_name.endswith(extension) else config.file_name
    path = stem + extension
    check_overwritable(path)
    # AIR goes through Ascend's ATC, which compiles one fixed shape.
    static_shape = bool(config.static_shape) or config.file_format == "AIR"
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        write_export(network, config, path, stem, static_shape)
        if not os.path.isfile(path):  # ms.onnx.export logs a failed write instead of raising
            raise OSError(f"the exporter could not write {path}")
        sidecar = inference.write_sidecar(path, describe_export(config, meta, vocabulary, static_shape))
    except OSError as error:
        # A half-written export (full disk) must not stay behind looking usable.
        for leftover in (path, inference.sidecar_path(path) + ".tmp"):
            if os.path.exists(leftover):
                os.remove(leftover)
        raise errors.UserError(f"cannot write {path}: {error.strerror or error}; pass a --file_name in a "
                               "writable folder with free space") from None
    shape = f"[{config.batch_size}, {config.max_len}]" if static_shape else "[batch, length] (free)"
    print(f"Exported {path} ({os.path.getsize(path) / 1e6:.2f} MB; checkpoint "
          f"{os.path.getsize(config.ckpt_file) / 1e6:.2f} MB), input {inference.INPUT_NAME} int32 {shape}; "
          f"description in {sidecar}")
    check_parity(network, config, path, sample_batches(config, meta["vocab_size"], static_shape))


def write_export(network, config, path, stem, static_shape):
    if static_shape:
        example = ms.Tensor(example_input(config.batch_size, config.max_len))
        if config.file_format == "ONNX":
            # mindspore.export(..., "ONNX") drops output_names; mindspore.onnx.export keeps both.
            ms.onnx.export(network, example, file_name=path, input_names=[inference.INPUT_NAME],
                           output_names=[inference.OUTPUT_NAME])
        else:
            ms.export(network, example, file_name=stem, file_format=config.file_format)
    elif config.file_format == "ONNX":
        # MindSpore's ONNX exporter fixes every shape to the example's; this graph has none.
        parameters = {p.name: p.asnumpy() for p in network.get_parameters()}
        onnx_export.save(onnx_export.build_sentiment_graph(parameters, config.pooling), path)
    else:
        ms.export(network, ms.Tensor(shape=[None, None], dtype=ms.int32), file_name=stem,
                  file_format=config.file_format)


def check_parity(network, config, path, batches):
    """Runs the export and the checkpoint on `batches` and reports the largest logit difference."""
    run_export = exported_runner(path, config.file_format)
    if run_export is None:
        return
    network.set_inputs(ms.Tensor(shape=[None, None], dtype=ms.int32))  # one compile for all batches
    difference = 0.0
    for token_ids in batches:
        expected = network(ms.Tensor(token_ids)).asnumpy()
        difference = max(difference, float(np.abs(run_export(token_ids) - expected).max()))
    lengths = sorted({batch.shape[1] for batch in batches})
    if difference > PARITY_TOLERANCE:
        print(f"warning: {path} differs from the checkpoint by up to {difference:.3g} in the logits")
    else:
        print(f"Checked: {path} reproduces the checkpoint's logits (max abs difference {difference:.2g}; "
              f"{len(batches)} batches, lengths {', '.join(map(str, lengths))})")


if __name__ == "__main__":
    errors.run_main(main)
