"""Checkpoint files: written atomically, read with one-line errors, and carrying the model's
architecture so eval, export, predict and self-training rebuild the same network from the file.

    config, network = checkpoint.load_network(config, path, vocab_size, embed_dim)

Epoch checkpoints (lstm-<epoch>_<step>.ckpt) also hold the optimizer state, the epoch number and
the running weight average, so `restore_run` continues an interrupted run where it stopped.
"""
import glob
import json
import os
import re
import shutil

import mindspore as ms

from src import errors, lstm

PREFIX = "lstm"
BEST = "lstm_best.ckpt"
FINISHED = "finished.txt"  # written when a model's training ends (all epochs, or early stopping)
# The architecture keys a checkpoint records, under the entry name checkpoints have always used.
ARCHITECTURE = ("num_hiddens", "num_layers", "bidirectional", "num_classes", "pooling")
ARCHITECTURE_ENTRY = "model_settings"
MODEL_PREFIXES = ("embedding.", "forward_layers.", "backward_layers.", "decoder.")


def _temporary_names(path):
    """save_checkpoint appends ".ckpt" to any other name, so our temporary name keeps it; MindSpore
    itself first writes <name>.tmp and renames it to <name>.ckpt."""
    stem = path[: -len(".ckpt")]
    return stem + ".tmp.ckpt", stem + ".tmp.tmp"


def save(network, path, extra=None):
    """Writes to a temporary name and renames: a killed run never leaves a half-written .ckpt.
    The CRC32 lets `read` tell a damaged file from a good one."""
    temporary = _temporary_names(path)[0]
    try:
        ms.save_checkpoint(network, temporary, append_dict=extra or {}, crc_check=True)
        os.replace(temporary, path)
    except (OSError, RuntimeError) as error:
        for name in _temporary_names(path):
            if os.path.exists(name):
                os.remove(name)
        reason = getattr(error, "strerror", None) or error
        raise errors.UserError(f"cannot write checkpoint {path}: {reason}; pass a --ckpt_path in a writable "
                               "folder with free space") from None


def copy(source, destination):
    """Copies a checkpoint file under a temporary name and renames it, as `save` writes."""
    temporary = _temporary_names(destination)[0]
    try:
        shutil.copyfile(source, temporary)
        os.replace(temporary, destination)
    except OSError as error:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise errors.UserError(f"cannot write checkpoint {destination}: {error.strerror}; pass a --ckpt_path "
                               "in a writable folder with free space") from None


def mark_finished(directory):
    """Records that the training in `directory` ended, so --resume goes on to the next stage."""
    with open(os.path.join(directory, FINISHED), "w", encoding="utf-8") as file:
        file.write("this model's training finished; lstm_best.ckpt is its pick\n")


def finished(directory):
    return os.path.isfile(os.path.join(directory, FINISHED))


def remove_temporary_files(directory):
    """Deletes what a run killed while writing left in `directory` (call with the folder's lock)."""
    for pattern in (f"{PREFIX}*.tmp.ckpt", f"{PREFIX}*.tmp.tmp"):
        for path in glob.glob(os.path.join(glob.escape(directory), pattern)):
            os.remove(path)


def _epoch_checkpoint_entries(directory):
    """(epoch, step, path) of the lstm-<epoch>_<step>.ckpt files in `directory`, oldest first."""
    found = []
    for path in glob.glob(os.path.join(glob.escape(directory), f"{PREFIX}-*_*.ckpt")):
        match = re.fullmatch(rf"{PREFIX}-(\d+)_(\d+)\.ckpt", os.path.basename(path))
        if match:
            found.append((int(match.group(1)), int(match.group(2)), path))
    return sorted(found)


def epoch_checkpoints(directory):
    """lstm-<epoch>_<step>.ckpt files in `directory`, oldest epoch first."""
    return [path for _, _, path in _epoch_checkpoint_entries(directory)]


def last_epoch(directory):
    """The epoch of the last lstm-<epoch>_<step>.ckpt in `directory` (0: none)."""
    entries = _epoch_checkpoint_entries(directory)
    return entries[-1][0] if entries else 0


def read(path):
    """{name: Parameter} of a checkpoint file, or a one-line error naming what is wrong with it."""
    if not os.path.isfile(path):
        raise errors.UserError(f"checkpoint {path} not found")
    if path.endswith((".mindir", ".onnx", ".air")):
        raise errors.UserError(f"{path} is an exported model, not a checkpoint (.ckpt); "
                               "pass the .ckpt file written by train.py")
    try:
        return ms.load_checkpoint(path, crc_check=True)
    except (ValueError, RuntimeError, OSError) as error:
        first_line = errors.first_line(error)
        if "parameter dict is empty" in first_line:  # e.g. an .onnx file renamed to .ckpt
            first_line = "it holds no parameters"
        # MindSpore words a failed CRC or parse as "Failed to read ... May not have permission".
        detail = "" if first_line.startswith("Failed to read") else f" ({first_line})"
        raise errors.UserError(f"checkpoint {path} is truncated, damaged or not a MindSpore checkpoint"
                               f"{detail}; pass a .ckpt written by train.py") from None


def valid_accuracy(path):
    """The validation accuracy recorded in checkpoint `path` (lstm_best.ckpt), or None without one."""
    value = read(path).get("valid_acc")
    return None if value is None else float(value.asnumpy())


def architecture_entry(config):
    """The checkpoint entry (JSON text) that records the model architecture of `config`."""
    return {ARCHITECTURE_ENTRY: json.dumps({key: config[key] for key in ARCHITECTURE})}


def apply_architecture(config, parameters, path):
    """Takes the architecture entry out of loaded checkpoint `parameters` and returns `config` with
    it; a key that differs from the config is reported in one line."""
    record = parameters.pop(ARCHITECTURE_ENTRY, None)
    if not isinstance(record, str):
        return config  # a checkpoint from elsewhere: the config's architecture is used
    config = type(config)(config)
    for key, value in json.loads(record).items():
        if key in ARCHITECTURE and config.get(key) != value:
            print(f"note: {os.path.basename(path)} was trained with {key}={value!r}; using it "
                  f"instead of {config.get(key)!r}")
            config[key] = value
    return config


# What a SentimentNet's parameter shapes reveal, with the option (or folder) behind each.
_SHAPE_OPTIONS = (("vocabulary size", "--preprocess_path"), ("embedding size", "--glove_path, --embed_size"),
                  ("num_hiddens", "--num_hiddens"), ("num_layers", "--num_layers"),
                  ("bidirectional", "--bidirectional"), ("num_classes", "--num_classes"))


def _read_shapes(shapes):
    """{what: value} read from SentimentNet parameter shapes ({name: shape})."""
    table = shapes.get("embedding.embedding_table", (None, None))
    decoder = shapes.get("decoder.weight", (None, None))
    return {"vocabulary size": table[0], "embedding size": table[1],
            "num_hiddens": shapes.get("forward_layers.0.weight_hh_l0", (None, None))[1],
            "num_layers": len({name.split(".")[1] for name in shapes if name.startswith("forward_layers.")}),
            "bidirectional": any(name.startswith("backward_layers.") for name in shapes),
            "num_classes": decoder[0], "decoder inputs": decoder[1]}


def load_into(network, parameters, path):
    """Loads checkpoint parameters; a checkpoint of another model is refused with a message that
    names what differs (vocabulary size, embedding size, num_hiddens, num_layers, ...)."""
    own = {p.name: tuple(p.shape) for p in network.get_parameters() if p.name.startswith(MODEL_PREFIXES)}
    theirs = {name: tuple(value.shape) for name, value in parameters.items()
              if name.startswith(MODEL_PREFIXES)}
    if not theirs:
        raise errors.UserError(f"checkpoint {path} holds no SentimentNet parameters (it was written for "
                               "another network); pass a .ckpt written by train.py")
    if own != theirs:
        there, here = _read_shapes(theirs), _read_shapes(own)
        differences = [f"{what} {there[what]} in the checkpoint, {here[what]} here ({option})"
                       for what, option in _SHAPE_OPTIONS if there[what] != here[what]]
        if not differences and there["decoder inputs"] != here["decoder inputs"]:
            differences = [f"decoder inputs {there['decoder inputs']} in the checkpoint, "
                           f"{here['decoder inputs']} here (--pooling)"]
        if not differences:
            name = sorted(set(own) ^ set(theirs) or {n for n in own if own[n] != theirs[n]})[0]
            differences = [f"parameter {name} is {theirs.get(name, 'missing')} in the checkpoint, "
                           f"{own.get(name, 'missing')} here"]
        raise errors.UserError(f"checkpoint {path} was trained with another model: {'; '.join(differences)}; "
                               "pass the settings it was trained with")
    ms.load_param_into_net(network, parameters)


def load_weights(network, path):
    """Loads the model weights of checkpoint `path` into `network` as it is (--pre_trained): the
    architecture the checkpoint records is not applied."""
    parameters = read(path)
    parameters.pop(ARCHITECTURE_ENTRY, None)
    load_into(network, parameters, path)


def load_network(config, path, vocab_size, embed_dim):
    """(config with the checkpoint's architecture, the network built from it with the checkpoint's
    weights, in inference mode)."""
    parameters = read(path)
    config = apply_architecture(config, parameters, path)
    network = lstm.build_model(config, vocab_size, embed_dim)
    load_into(network, parameters, path)
    network.set_train(False)
    return config, network


def restore_run(train_step, directory, num_epochs):
    """Loads the last epoch checkpoint of `directory` into `train_step` (weights, optimizer state,
    step count). Returns (epochs done, the saved weight-average entries or None); (0, None) when
    there is none."""
    checkpoints = epoch_checkpoints(directory)
    if not checkpoints:
        return 0, None
    path = checkpoints[-1]
    parameters = read(path)
    if "epoch_num" not in parameters:
        raise errors.UserError(f"--resume: {path} was not written by train.py (it has no epoch "
                               "number); move it out of ckpt_path or use --pre_trained")
    epochs_done = int(parameters.pop("epoch_num"))
    if epochs_done >= num_epochs:
        raise errors.UserError(f"{path} already finished {epochs_done} epochs; raise --num_epochs to "
                               "train further")
    for name in (ARCHITECTURE_ENTRY, "step_num", "valid_acc", "averaged_from_epoch"):
        parameters.pop(name, None)
    average = {name: parameters.pop(name) for name in list(parameters) if name.startswith("average")}
    # The LR array is rebuilt for this run's num_epochs; the restored global_step picks the
    # position in it, so the schedule continues where it stopped.
    for name in [name for name in parameters if "learning_rate" in name]:
        parameters.pop(name)
    load_into(train_step, parameters, path)
    print(f"Resuming from {path} (epoch {epochs_done})")
    return epochs_done, average or None
