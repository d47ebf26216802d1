"""Pieces of the training loop that train.py puts together: optimizer, train step, evaluation,
checkpoints and the per-epoch callbacks (log line, validation + best checkpoint + early stopping,
history CSV/JSON/PNG)."""
import contextlib
import csv
import glob
import json
import os
import re
import time

import numpy as np
import mindspore as ms
from mindspore import nn, ops
from mindspore.train import Callback
from mindspore.train.metrics import F1, Accuracy, Recall

from src import errors

CHECKPOINT_PREFIX = "lstm"
BEST_CHECKPOINT = "lstm_best.ckpt"
HISTORY_FILE = "history.json"


def make_optimizer(config, network, learning_rate, embedding_learning_rate=None):
    """Momentum (the reference), Adam or AdamW; the embedding gets its own LR array so it can be
    held still for the first epochs (freeze_embedding_epochs)."""
    parameters = network.trainable_params()
    if embedding_learning_rate is not None:
        embedding = [p for p in parameters if "embedding" in p.name]
        others = [p for p in parameters if "embedding" not in p.name]
        parameters = [{"params": embedding, "lr": embedding_learning_rate}, {"params": others}]
    if config.optimizer == "momentum":
        return nn.Momentum(parameters, learning_rate, momentum=config.momentum,
                           weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return nn.Adam(parameters, learning_rate, weight_decay=config.weight_decay)
    return nn.AdamWeightDecay(parameters, learning_rate, weight_decay=config.weight_decay)


class TrainStep(nn.TrainOneStepCell):
    """TrainOneStepCell with optional clipping of the global gradient norm."""

    def __init__(self, network_with_loss, optimizer, grad_clip=0.0):
        super().__init__(network_with_loss, optimizer)
        self.grad_clip = grad_clip

    def construct(self, *inputs):
        loss = self.network(*inputs)
        sens = ops.fill(loss.dtype, loss.shape, self.sens)
        grads = self.grad(self.network, self.weights)(*inputs, sens)
        grads = self.grad_reducer(grads)
        if self.grad_clip > 0:
            grads = ops.clip_by_global_norm(grads, self.grad_clip)
        return ops.depend(loss, self.optimizer(grads))


def evaluate(network, dataset):
    """Accuracy, per-class recall and F1 over every review of `dataset` (no remainder dropped)."""
    network.set_train(False)
    metrics = {"acc": Accuracy(), "recall": Recall(), "f1": F1()}
    for metric in metrics.values():
        metric.clear()
    for features, labels in dataset.create_tuple_iterator(num_epochs=1):
        logits = network(features)
        for metric in metrics.values():
            metric.update(logits, labels)
    results = {name: metric.eval() for name, metric in metrics.items()}
    network.set_train(True)
    return {"acc": float(results["acc"]), "recall": [float(v) for v in results["recall"]],
            "f1": [float(v) for v in results["f1"]]}


def _temporary_names(path):
    """save_checkpoint appends ".ckpt" to any other name, so our temporary name keeps it; MindSpore
    itself first writes <name>.tmp and renames it to <name>.ckpt."""
    stem = path[: -len(".ckpt")]
    return stem + ".tmp.ckpt", stem + ".tmp.tmp"


def save_checkpoint_atomic(network, path, extra=None):
    """Writes to a temporary name and renames: a killed run never leaves a half-written .ckpt.
    The CRC32 lets load_checkpoint_file tell a damaged file from a good one."""
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


def remove_temporary_files(directory):
    """Deletes what a run killed while writing left in `directory` (call with the folder's lock)."""
    for pattern in (f"{CHECKPOINT_PREFIX}*.tmp.ckpt", f"{CHECKPOINT_PREFIX}*.tmp.tmp", HISTORY_FILE + ".tmp"):
        for path in glob.glob(os.path.join(glob.escape(directory), pattern)):
            os.remove(path)


def epoch_checkpoints(directory):
    """lstm-<epoch>_<step>.ckpt files in `directory`, oldest epoch first."""
    found = []
    for path in glob.glob(os.path.join(directory, f"{CHECKPOINT_PREFIX}-*_*.ckpt")):
        match = re.fullmatch(rf"{CHECKPOINT_PREFIX}-(\d+)_(\d+)\.ckpt", os.path.basename(path))
        if match:
            found.append((int(match.group(1)), int(match.group(2)), path))
    return [path for _, _, path in sorted(found)]


def load_checkpoint_file(path):
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


MODEL_SETTINGS = ("num_hiddens", "num_layers", "bidirectional", "num_classes", "pooling")
SETTINGS_KEY = "model_settings"


def settings_record(config):
    """The model settings saved in every checkpoint (as JSON), so eval, export and predict rebuild
    the same network without the user repeating the training options."""
    return {SETTINGS_KEY: json.dumps({key: config[key] for key in MODEL_SETTINGS})}


def apply_model_settings(config, parameters, path):
    """Takes the model settings out of loaded checkpoint `parameters` and returns `config` with
    them; a setting that differs from the config is reported in one line."""
    record = parameters.pop(SETTINGS_KEY, None)
    if not isinstance(record, str):
        return config  # a checkpoint from elsewhere: the config's settings are used
    config = type(config)(config)
    for key, value in json.loads(record).items():
        if key in MODEL_SETTINGS and config.get(key) != value:
            print(f"note: {os.path.basename(path)} was trained with {key}={value!r}; using it "
                  f"instead of {config.get(key)!r}")
            config[key] = value
    return config


MODEL_PREFIXES = ("embedding.", "forward_layers.", "backward_layers.", "decoder.")
# The settings a SentimentNet's parameter shapes reveal, with the option (or folder) behind each.
_SETTINGS = (("vocabulary size", "--preprocess_path"), ("embedding size", "--glove_path, --embed_size"),
             ("num_hiddens", "--num_hiddens"), ("num_layers", "--num_layers"),
             ("bidirectional", "--bidirectional"), ("num_classes", "--num_classes"))


def model_settings(shapes):
    """{setting: value} read from SentimentNet parameter shapes ({name: shape})."""
    table = shapes.get("embedding.embedding_table", (None, None))
    decoder = shapes.get("decoder.weight", (None, None))
    return {"vocabulary size": table[0], "embedding size": table[1],
            "num_hiddens": shapes.get("forward_layers.0.weight_hh_l0", (None, None))[1],
            "num_layers": len({name.split(".")[1] for name in shapes if name.startswith("forward_layers.")}),
            "bidirectional": any(name.startswith("backward_layers.") for name in shapes),
            "num_classes": decoder[0], "decoder inputs": decoder[1]}


def load_network(network, path):
    """Loads the model parameters of checkpoint `path` into `network`; the settings the checkpoint
    records are not applied (the network is the one the config describes)."""
    parameters = load_checkpoint_file(path)
    parameters.pop(SETTINGS_KEY, None)
    load_into(network, parameters, path)


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
        there, here = model_settings(theirs), model_settings(own)
        differences = [f"{setting} {there[setting]} in the checkpoint, {here[setting]} here ({option})"
                       for setting, option in _SETTINGS if there[setting] != here[setting]]
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


class EpochLogger(Callback):
    """One line per epoch: loss, seconds, samples/s, LR; a short progress line every log_steps."""

    def __init__(self, learning_rates, log_steps=0, history=None):
        super().__init__()
        self.learning_rates = learning_rates
        self.log_steps = log_steps
        self.history = history

    def on_train_epoch_begin(self, run_context):
        self.started, self.losses, self.samples, self.steps = time.time(), [], 0, 0

    def on_train_step_end(self, run_context):
        params = run_context.original_args()
        self.losses.append(float(params.net_outputs.asnumpy()))
        self.samples += params.train_dataset_element[0].shape[0]
        self.steps += 1
        if self.log_steps and self.steps % self.log_steps == 0:
            print(f"  epoch {params.cur_epoch_num} step {self.steps}/{params.batch_num}: "
                  f"loss {np.mean(self.losses[-self.log_steps:]):.4f}, "
                  f"{self.samples / (time.time() - self.started):.1f} samples/s", flush=True)

    def on_train_epoch_end(self, run_context):
        params = run_context.original_args()
        seconds = time.time() - self.started
        # Model.train counts cur_step_num from 0 again after initial_epoch (--resume).
        step = min(params.cur_epoch_num * params.batch_num, len(self.learning_rates)) - 1
        row = {"epoch": params.cur_epoch_num, "loss": float(np.mean(self.losses)),
               "seconds": round(seconds, 2), "samples_per_second": round(self.samples / seconds, 1),
               "lr": float(self.learning_rates[max(step, 0)])}
        print(f"epoch: {row['epoch']} step: {self.steps}, loss is {row['loss']:.6f} | "
              f"{row['seconds']:.1f} s, {row['samples_per_second']} samples/s, lr {row['lr']:.6g}",
              flush=True)
        if self.history is not None:
            self.history.add(row)


class History:
    """Per-epoch rows (loss, valid accuracy, LR, seconds) kept in history.json/.csv and drawn as
    history.png; reloaded on --resume so the curve continues where it stopped."""

    def __init__(self, directory, resume=False, write=True):
        self.directory, self.write = directory, write
        self.rows = []
        path = os.path.join(directory, HISTORY_FILE)
        if resume and os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as file:
                    self.rows = json.load(file)
            except (ValueError, UnicodeDecodeError):
                raise errors.UserError(f"{path} is damaged; delete it to resume without the earlier "
                                       "history") from None

    def add(self, row):
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]

    def update_last(self, **values):
        self.rows[-1].update(values)
        self.save()

    def best_valid(self):
        scores = [row[key] for row in self.rows for key in ("valid_acc", "valid_acc_average") if key in row]
        return max(scores) if scores else -1.0

    def save(self):
        if not self.write or not self.rows:
            return
        path = os.path.join(self.directory, HISTORY_FILE)
        try:
            with open(path + ".tmp", "w", encoding="utf-8") as file:
                json.dump(self.rows, file, indent=1)
            os.replace(path + ".tmp", path)
            keys = list(dict.fromkeys(key for row in self.rows for key in row))
            with open(os.path.join(self.directory, "history.csv"), "w", newline="", encoding="utf-8") as file:
                writer = csv.DictWriter(file, fieldnames=keys)
                writer.writeheader()
                writer.writerows(self.rows)
        except OSError as error:
            if os.path.exists(path + ".tmp"):
                os.remove(path + ".tmp")
            raise errors.UserError(f"cannot write {path}: {error.strerror}; pass a --ckpt_path in a "
                                   "writable folder with free space") from None

    def plot(self):
        if not self.write or not self.rows:
            return None
        import matplotlib
        matplotlib.use("Agg")  # headless: no display on training machines
        from matplotlib import pyplot

        epochs = [row["epoch"] for row in self.rows]
        figure, (loss_axis, acc_axis) = pyplot.subplots(1, 2, figsize=(10, 4))
        loss_axis.plot(epochs, [row["loss"] for row in self.rows], marker="o")
        loss_axis.set(xlabel="epoch", ylabel="train loss", title="training loss")
        valid = [(row["epoch"], row["valid_acc"]) for row in self.rows if "valid_acc" in row]
        if valid:
            acc_axis.plot(*zip(*valid), marker="o", color="tab:green", label="this epoch's weights")
        average = [(row["epoch"], row["valid_acc_average"]) for row in self.rows if "valid_acc_average" in row]
        if average:
            acc_axis.plot(*zip(*average), marker="s", color="tab:purple", label="weight average")
            acc_axis.legend()
        acc_axis.set(xlabel="epoch", ylabel="validation accuracy", title="validation accuracy")
        figure.tight_layout()
        path = os.path.join(self.directory, "history.png")
        figure.savefig(path, dpi=100)
        pyplot.close(figure)
        return path


class WeightAverage:
    """Running mean of the model weights at the end of each epoch from `first_epoch` on (stochastic
    weight averaging, Izmailov et al. 2018). The epochs' models scatter around a good solution
    (validation accuracy jumps by a point or more from one epoch to the next); their mean sits
    nearer its centre. Kept in the epoch checkpoints, so --resume continues the same mean."""

    PREFIX = "average."
    COUNT_KEY = "average_count"

    def __init__(self, network, first_epoch, state=None):
        self.parameters = [p for p in network.get_parameters() if p.name.startswith(MODEL_PREFIXES)]
        self.first_epoch, self.count, self.mean = first_epoch, 0, None
        if state:
            self.count = state[self.COUNT_KEY]
            self.mean = [state[self.PREFIX + p.name].astype(np.float64) for p in self.parameters]

    @classmethod
    def pop_state(cls, parameters):
        """Takes the mean saved in a loaded epoch checkpoint out of `parameters` (None if none)."""
        names = [name for name in parameters if name.startswith(cls.PREFIX)]
        if cls.COUNT_KEY not in parameters:
            return None
        state = {name: parameters.pop(name).asnumpy() for name in names}
        state[cls.COUNT_KEY] = int(parameters.pop(cls.COUNT_KEY))
        return state

    def update(self, epoch):
        """Adds the network's current weights; False before first_epoch."""
        if epoch < self.first_epoch:
            return False
        self.count += 1
        weights = [p.asnumpy().astype(np.float64) for p in self.parameters]
        if self.mean is None:
            self.mean = weights
        else:
            self.mean = [mean + (weight - mean) / self.count for mean, weight in zip(self.mean, weights)]
        return True

    def state(self):
        """The mean as extra checkpoint entries (empty before the first update)."""
        if self.mean is None:
            return {}
        return {**{self.PREFIX + p.name: ms.Tensor(mean.astype(np.float32))
                   for p, mean in zip(self.parameters, self.mean)}, self.COUNT_KEY: self.count}

    @contextlib.contextmanager
    def swapped_in(self):
        """The network holds the mean inside the `with` block, its own weights again after it."""
        own = [p.asnumpy() for p in self.parameters]
        for parameter, mean in zip(self.parameters, self.mean):
            parameter.set_data(ms.Tensor(mean.astype(np.float32)))
        try:
            yield
        finally:
            for parameter, weights in zip(self.parameters, own):
                parameter.set_data(ms.Tensor(weights))


class CheckpointAndValidate(Callback):
    """At each epoch end: validation accuracy (of the epoch's weights, and of their running average
    if `average`), lstm_best.ckpt on improvement, lstm-<e>_<s>.ckpt
    every save_checkpoint_steps (keeping keep_checkpoint_max), early stopping after `patience`
    epochs without improvement. Writes files only where `write` (rank 0)."""

    def __init__(self, network, train_network, directory, valid_data, history, save_steps,
                 keep_max, patience, write=True, settings=None, average=None):
        super().__init__()
        self.settings = settings or {}
        self.network, self.train_network = network, train_network
        self.directory, self.valid_data, self.history = directory, valid_data, history
        self.save_steps, self.keep_max, self.patience, self.write = save_steps, keep_max, patience, write
        self.average = average  # a WeightAverage, validated as a second candidate each epoch
        self.best = history.best_valid()
        self.stale_epochs = 0
        if write:
            remove_temporary_files(directory)

    def validate(self, what, extra):
        """Validation accuracy of the network as it is now; saved as lstm_best.ckpt if the best yet."""
        accuracy = evaluate(self.network, self.valid_data)["acc"]
        improved = accuracy > self.best
        print(f"{what}: {accuracy:.4f}{' (best so far)' if improved else ''}", flush=True)
        if improved:
            self.best = accuracy
            if self.write:
                save_checkpoint_atomic(self.network, os.path.join(self.directory, BEST_CHECKPOINT),
                                       {**extra, "valid_acc": accuracy, **self.settings})
        return accuracy, improved

    def on_train_epoch_end(self, run_context):
        params = run_context.original_args()
        # Model.train counts cur_step_num from 0 again after initial_epoch (--resume).
        epoch, step = params.cur_epoch_num, params.cur_epoch_num * params.batch_num
        values = {}
        if self.valid_data is None and self.write:
            # Without a validation split (valid_ratio 0) the latest epoch is the one to use.
            save_checkpoint_atomic(self.network, os.path.join(self.directory, BEST_CHECKPOINT),
                                   {"epoch_num": epoch, **self.settings})
        if self.valid_data is not None:
            values["valid_acc"], improved = self.validate(f"epoch: {epoch} valid acc", {"epoch_num": epoch})
            if self.average is not None:
                self.average.update(epoch)
            if self.average is not None and self.average.count > 1:  # the mean of one epoch is that epoch
                first = self.average.first_epoch
                with self.average.swapped_in():
                    values["valid_acc_average"], average_improved = self.validate(
                        f"epoch: {epoch} valid acc of the weight average of epochs {first}-{epoch}",
                        {"epoch_num": epoch, "averaged_from_epoch": first})
                improved = improved or average_improved
            self.stale_epochs = 0 if improved else self.stale_epochs + 1
        crossed = step // self.save_steps != (step - params.batch_num) // self.save_steps
        if self.write and (crossed or epoch == params.epoch_num or self.stale_epochs >= self.patience > 0):
            path = os.path.join(self.directory, f"{CHECKPOINT_PREFIX}-{epoch}_{params.batch_num}.ckpt")
            average = self.average.state() if self.average is not None else {}
            save_checkpoint_atomic(self.train_network, path,
                                   {"epoch_num": epoch, "step_num": step, **self.settings, **average})
            for old in epoch_checkpoints(self.directory)[:-self.keep_max]:
                os.remove(old)
        self.history.update_last(**values)
        if self.patience > 0 and self.stale_epochs >= self.patience:
            print(f"Early stopping: no validation improvement for {self.patience} epochs")
            run_context.request_stop()

    def on_train_end(self, run_context):
        path = self.history.plot()
        if path:
            print(f"Training history: {os.path.join(self.directory, HISTORY_FILE)} and {path}")
