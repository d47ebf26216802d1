"""Export a SentimentNet checkpoint to MINDIR, ONNX or AIR for deployment.

    python export.py --ckpt_file=./ckpt_lstm/lstm_best.ckpt --file_name=lstm --file_format=MINDIR \
        --preprocess_path=./preprocess [--batch_size=64 --max_len=1000]

Writes <file_name>.mindir/.onnx/.air with a fixed int32 input "token_ids" [batch_size, max_len]
(ONNX graphs are fixed to the example shape anyway, and the inference app feeds full batches),
and <file_name>.json beside it: vocabulary, tokenizer version, input/output names and shapes,
label names and hyperparameters, so predict.py and deployments need no preprocessed folder.
The export is then run once on sample reviews and compared with the checkpoint's logits.
"""
import json
import os

import numpy as np
import mindspore as ms
from mindspore import nn

from src import checkpoint, config as config_module, dataset, device, download, errors, inference, text

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


def exported_logits(path, file_format, token_ids):
    """The export's output for token_ids, or None when no runtime for it is installed here."""
    if file_format == "MINDIR":
        return nn.GraphCell(ms.load(path))(ms.Tensor(token_ids)).asnumpy()
    if file_format == "ONNX":
        try:
            import onnxruntime
        except ImportError:
            return None
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        return session.run(None, {inference.INPUT_NAME: token_ids})[0]
    return None  # AIR runs only on Ascend through ATC-converted models


def describe_export(config, meta, vocabulary):
    return {
        "sidecar_version": inference.SIDECAR_VERSION,
        "model": "SentimentNet",
        "tokenizer_version": text.TOKENIZER_VERSION,
        "max_len": config.max_len,
        "batch_size": config.batch_size,
        "input": {"name": inference.INPUT_NAME, "dtype": "int32",
                  "shape": [config.batch_size, config.max_len], "pad_id": text.PAD_ID, "unk_id": text.UNK_ID},
        "output": {"name": inference.OUTPUT_NAME, "dtype": "float32",
                   "shape": [config.batch_size, config.num_classes]},
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
    example = ms.Tensor(example_input(config.batch_size, config.max_len))
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if config.file_format == "ONNX":
            # mindspore.export(..., "ONNX") drops output_names; mindspore.onnx.export keeps both.
            ms.onnx.export(network, example, file_name=path, input_names=[inference.INPUT_NAME],
                           output_names=[inference.OUTPUT_NAME])
        else:
            ms.export(network, example, file_name=stem, file_format=config.file_format)
        if not os.path.isfile(path):  # ms.onnx.export logs a failed write instead of raising
            raise OSError(f"the exporter could not write {path}")
        sidecar = inference.write_sidecar(path, describe_export(config, meta, vocabulary))
    except OSError as error:
        # A half-written export (full disk) must not stay behind looking usable.
        for leftover in (path, inference.sidecar_path(path) + ".tmp"):
            if os.path.exists(leftover):
                os.remove(leftover)
        raise errors.UserError(f"cannot write {path}: {error.strerror or error}; pass a --file_name in a "
                               "writable folder with free space") from None
    print(f"Exported {path} ({os.path.getsize(path) / 1e6:.2f} MB), input {inference.INPUT_NAME} int32 "
          f"[{config.batch_size}, {config.max_len}]; description in {sidecar}")

    samples = sample_input(config.batch_size, config.max_len, meta["vocab_size"], config.seed)
    exported = exported_logits(path, config.file_format, samples)
    if exported is not None:
        difference = float(np.abs(exported - network(ms.Tensor(samples)).asnumpy()).max())
        if difference > PARITY_TOLERANCE:
            print(f"warning: {path} differs from the checkpoint by up to {difference:.3g} in the logits")
        else:
            print(f"Checked: {path} reproduces the checkpoint's logits (max abs difference {difference:.2g})")


if __name__ == "__main__":
    errors.run_main(main)
