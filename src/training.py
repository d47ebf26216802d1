"""The pieces of the training loop that train.py puts together: optimizer, train step,
evaluation, the weight average and the per-epoch callbacks (log line; validation, best
checkpoint, epoch checkpoint and early stopping)."""
import contextlib
import os
import time

import numpy as np
import mindspore as ms
from mindspore import nn, ops
from mindspore.train import Callback

from src import checkpoint, errors, history as history_module, scoring


def make_optimizer(config, network, learning_rate):
    """Momentum (the reference), Adam or AdamW."""
    parameters = network.trainable_params()
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


def accuracy_on(reviews, pooling, batch_size):
    """A function network -> its accuracy on `reviews` ({"feature": token id arrays, "label"}),
    scored as eval.py scores (src/scoring.py: onnxruntime on length-sorted batches): 3-4x
    faster than MindSpore's dynamic-shape graph over the same reviews, and the same accuracy."""
    def accuracy(network):
        logits = scoring.network_logits(network, pooling, reviews["feature"], batch_size)
        return scoring.classification_metrics(logits, reviews["label"])["acc"]
    return accuracy


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
        loss = float(params.net_outputs.asnumpy())
        if not np.isfinite(loss):
            # Raised before the epoch ends, so no checkpoint is written from these weights.
            raise errors.UserError(f"the training loss became {loss} at epoch {params.cur_epoch_num} step "
                                   f"{self.steps + 1}; lower --learning_rate or set --grad_clip")
        self.losses.append(loss)
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


class WeightAverage:
    """Running mean of the model weights at the end of each epoch from `first_epoch` on (stochastic
    weight averaging, Izmailov et al. 2018). The epochs' models scatter around a good solution
    (validation accuracy jumps by a point or more from one epoch to the next); their mean sits
    nearer its centre. Kept in the epoch checkpoints, so --resume continues the same mean."""

    PREFIX = "average."
    COUNT_KEY = "average_count"

    def __init__(self, network, first_epoch, state=None):
        self.parameters = [p for p in network.get_parameters() if p.name.startswith(checkpoint.MODEL_PREFIXES)]
        self.first_epoch, self.count, self.mean = first_epoch, 0, None
        if state and self.COUNT_KEY in state:  # the entries state() wrote, as read from a checkpoint
            self.count = int(state[self.COUNT_KEY])
            self.mean = [state[self.PREFIX + p.name].asnumpy().astype(np.float64) for p in self.parameters]

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
    """At each epoch end: validation accuracy of the epoch's weights (and of their running average
    if `average`), lstm_best.ckpt on improvement, lstm-<e>_<s>.ckpt every save_checkpoint_steps
    (keeping keep_checkpoint_max), early stopping after `patience` epochs without improvement.
    With `average_only`, once the average has started it is the only candidate for
    lstm_best.ckpt. Writes files only where `write` (rank 0)."""

    def __init__(self, network, train_network, directory, valid_accuracy, history, save_steps,
                 keep_max, patience, write=True, architecture=None, average=None, average_only=False):
        super().__init__()
        self.architecture = architecture or {}
        self.network, self.train_network = network, train_network
        self.directory, self.history = directory, history
        self.valid_accuracy = valid_accuracy  # accuracy_on(validation reviews, ...), or None
        self.save_steps, self.keep_max, self.patience, self.write = save_steps, keep_max, patience, write
        self.average = average  # a WeightAverage
        self.average_only = average is not None and average_only
        self.best = history.best_valid(self.average_only)
        self.stale_epochs = 0
        if write:
            checkpoint.remove_temporary_files(directory)

    def validate(self, what, extra, candidate=True):
        """Validation accuracy of the network as it is now; a candidate is saved as lstm_best.ckpt
        if it is the best yet."""
        accuracy = self.valid_accuracy(self.network)
        improved = candidate and accuracy > self.best
        print(f"{what}: {accuracy:.4f}{' (best so far)' if improved else ''}", flush=True)
        if improved:
            self.best = accuracy
            if self.write:
                checkpoint.save(self.network, os.path.join(self.directory, checkpoint.BEST),
                                       {**extra, "valid_acc": accuracy, **self.architecture})
        return accuracy, improved

    def on_train_epoch_end(self, run_context):
        params = run_context.original_args()
        # Model.train counts cur_step_num from 0 again after initial_epoch (--resume).
        epoch, step = params.cur_epoch_num, params.cur_epoch_num * params.batch_num
        values = {}
        if self.valid_accuracy is None and self.write:
            # Without a validation split (valid_ratio 0) the latest epoch is the one to use.
            checkpoint.save(self.network, os.path.join(self.directory, checkpoint.BEST),
                                   {"epoch_num": epoch, **self.architecture})
        if self.valid_accuracy is not None:
            averaging = self.average is not None and self.average.update(epoch)
            average_starts = averaging and self.average.count == 1  # the mean of one epoch is that epoch
            if self.average_only and average_starts:
                # From here on only the running average is a candidate, and it replaces an earlier
                # epoch that read higher.
                self.best = -1.0
            values["valid_acc"], improved = self.validate(
                f"epoch: {epoch} valid acc", {"epoch_num": epoch},
                candidate=not (self.average_only and averaging) or average_starts)
            if average_starts:
                values["valid_acc_average"] = values["valid_acc"]
            elif averaging:
                first = self.average.first_epoch
                with self.average.swapped_in():
                    values["valid_acc_average"], average_improved = self.validate(
                        f"epoch: {epoch} valid acc of the weight average of epochs {first}-{epoch}",
                        {"epoch_num": epoch, "averaged_from_epoch": first})
                improved = improved or average_improved
            self.stale_epochs = 0 if improved else self.stale_epochs + 1
        # The history is written before the epoch checkpoint: a run killed between the two resumes
        # from the checkpoint before, and the rows of the epochs it repeats are replaced.
        self.history.update_last(**values)
        crossed = step // self.save_steps != (step - params.batch_num) // self.save_steps
        if self.write and (crossed or epoch == params.epoch_num or self.stale_epochs >= self.patience > 0):
            path = os.path.join(self.directory, f"{checkpoint.PREFIX}-{epoch}_{params.batch_num}.ckpt")
            average = self.average.state() if self.average is not None else {}
            checkpoint.save(self.train_network, path,
                            {"epoch_num": epoch, "step_num": step, **self.architecture, **average})
            for old in checkpoint.epoch_checkpoints(self.directory)[:-self.keep_max]:
                os.remove(old)
        if self.patience > 0 and self.stale_epochs >= self.patience:
            print(f"Early stopping: no validation improvement for {self.patience} epochs")
            run_context.request_stop()

    def on_train_end(self, run_context):
        path = self.history.plot()
        if path:
            print(f"Training history: {os.path.join(self.directory, history_module.FILE)} and {path}")
