"""Train SentimentNet on aclImdb.

    python train.py --aclimdb_path=./aclImdb --glove_path=./glove --preprocess_path=./preprocess

Preprocesses once (reused while the settings match; --preprocess=True forces it), then trains
with Model.train, validating on a split carved from train after every epoch. Writes into ckpt_path:
lstm-<epoch>_<step>.ckpt, lstm_best.ckpt (best validation accuracy), history.json/.csv/.png.
With self-training (pseudo_label_ratio > 0) a first model is trained the same way into
ckpt_path/teacher/, labels the unlabelled reviews together with an n-gram logistic regression
(ckpt_path/pseudo_labels.*; src/ngram.py), and the model in
ckpt_path is trained on the labelled and pseudo-labelled reviews (src/self_training.py).
With whole_review_epochs > 0, lstm_best.ckpt then trains that many epochs more on the whole
labelled reviews into ckpt_path/whole_reviews/, and its best becomes lstm_best.ckpt (the model
before it stays as whole_reviews/start.ckpt).
"""
import filecmp
import os

import numpy as np
import mindspore as ms
import mindspore.dataset as ds
from easydict import EasyDict
from mindspore import nn
from mindspore.train import Model

from src import checkpoint, config as config_module, dataset, device, distributed, errors, history
from src import lock as lock_module, lr_schedule, lstm, modelarts, self_training, training

MAX_STATIC_SHAPES = 8  # training batch shapes compiled one static graph each (the default has 4)
WHOLE_REVIEWS_FOLDER = "whole_reviews"
WHOLE_REVIEWS_START = "start.ckpt"  # the model the whole-review stage starts from
# The whole-review stage's batch shapes. A static graph trains 1.9x faster than the dynamic-shape
# one, but keeps its memory, about 5 MB per token of its length at batch 64: four shapes up to 512
# tokens peak at about 6.5 GB, as the dynamic-shape graph did over reviews up to 1,000 tokens.
WHOLE_REVIEW_SHAPES = 4


def learning_rates(config, steps_per_epoch):
    """The per-step LR array for the whole run (constant, or the reference's warmup + cosine)."""
    total = steps_per_epoch * config.num_epochs
    if not config.dynamic_lr:
        return np.full(total, config.learning_rate, np.float32)
    return lr_schedule.get_lr(config.lr_init, config.lr_end, config.lr_max, config.warmup_epochs,
                              config.num_epochs, steps_per_epoch, config.lr_adjust_epoch)


def build_train_data(config, meta, rank=0, group_size=1, pseudo_labels=None, seed=None):
    """This rank's shard of the training reviews (and of the pseudo-labelled ones, if given as
    (files, count)), batched; every rank gets the same step count. `seed` (default config.seed)
    draws the random windows."""
    shard = {"num_shards": group_size, "shard_id": rank} if group_size > 1 else {}
    extra_files, extra_count = pseudo_labels or ((), 0)
    data = dataset.create_dataset(
        config.preprocess_path, "train", config.batch_size, training=True, max_len=config.max_len,
        bucket_width=config.bucket_width, crop_len=config.crop_len,
        seed=config.seed if seed is None else seed,
        extra_files=extra_files, **shard)
    buckets = dataset.training_buckets(config.max_len, config.bucket_width, config.crop_len)
    return distributed.equal_steps(data, meta["counts"]["train"] + extra_count, config.batch_size,
                                   group_size, buckets)


def build_train_step(config, network, steps_per_epoch):
    """Loss, optimizer and the one-step training cell; returns it with the per-step LR array."""
    loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    rates = learning_rates(config, steps_per_epoch)
    optimizer = training.make_optimizer(config, network, ms.Tensor(rates))
    train_step = training.TrainStep(nn.WithLossCell(network, loss), optimizer, config.grad_clip)
    # Training batches come in a few fixed shapes (see dataset.create_dataset), each compiled
    # once (~3 s) into a static graph: 1.9x faster per step here than one dynamic-shape graph.
    # MindSpore keeps every compiled graph and its memory: whole reviews in buckets (crop_len=0,
    # max_len 1000: 31 shapes) grew by about 200 MB/s while compiling and were killed at 24 GB.
    # Past MAX_STATIC_SHAPES shapes one dynamic-shape graph trains them all (peak about 7.5 GB).
    if dataset.training_buckets(config.max_len, config.bucket_width, config.crop_len) > MAX_STATIC_SHAPES:
        train_step.set_inputs(ms.Tensor(shape=[None, None], dtype=ms.int32), ms.Tensor(shape=[None], dtype=ms.int32))
    return train_step, rates


def has_run(ckpt_path):
    """Whether ckpt_path holds epoch checkpoints of a run."""
    return bool(checkpoint.epoch_checkpoints(ckpt_path))


def check_ckpt_path_outside_preprocess_path(config):
    """Preprocessing replaces its whole folder: checkpoints inside it would be lost with it (and
    --resume would quietly start again from epoch 1)."""
    ckpt_path, preprocess_path = os.path.realpath(config.ckpt_path), os.path.realpath(config.preprocess_path)
    if os.path.commonpath([ckpt_path, preprocess_path]) == preprocess_path:
        raise errors.UserError(f"--ckpt_path {config.ckpt_path} is inside --preprocess_path "
                               f"{config.preprocess_path}, which preprocessing replaces; pass a ckpt_path "
                               "outside it")


def interrupt_note(config, teacher, self_trains):
    """What a run stopped by Ctrl-C or SIGTERM keeps, and how to go on."""
    if has_run(config.ckpt_path) or (self_trains and has_run(teacher.ckpt_path)):
        return (f"the checkpoints of the finished epochs are kept in {config.ckpt_path}; continue with "
                "--resume=True and the same options")
    return "no epoch was finished and nothing was kept; run the same command again to start over"


def main():
    config = config_module.load_config()
    check_ckpt_path_outside_preprocess_path(config)
    modelarts.sync_inputs(config)
    print(f"Config {config.config_path}:\n{config_module.describe(config)}", flush=True)
    device.setup(config)
    ms.set_seed(config.seed)
    ds.config.set_seed(config.seed)
    rank, group_size = distributed.setup_distributed(config)
    is_writer = rank == 0  # checkpoints, history and plots come from rank 0 only
    if is_writer:
        lock_module.acquire(config.ckpt_path)  # a second run on this folder stops here
    teacher = EasyDict({**config, "ckpt_path": os.path.join(config.ckpt_path, self_training.TEACHER_FOLDER)})
    self_trains = config.pseudo_label_ratio > 0
    earlier_run = has_run(config.ckpt_path) or (self_trains and has_run(teacher.ckpt_path))
    errors.set_interrupt_note(lambda: interrupt_note(config, teacher, self_trains))
    if not config.resume and is_writer and earlier_run:
        # Mixing two runs' lstm-<epoch>_<step>.ckpt would make keep_checkpoint_max delete the new
        # ones and a later --resume continue the old run.
        raise errors.UserError(f"{config.ckpt_path} holds checkpoints of an earlier run; pass "
                               "--resume=True to continue it, or another --ckpt_path")
    if config.resume and not earlier_run:
        raise errors.UserError(f"--resume: no lstm-<epoch>_<step>.ckpt in {config.ckpt_path}")
    meta = distributed.prepare_once(config, rank, group_size)

    whole_reviews = whole_review_stage(config) if config.whole_review_epochs > 0 else None
    # With a stage after it, --resume does not train a finished model further (without one,
    # --resume with a higher num_epochs does).
    model_finished = whole_reviews is not None and config.resume and (
        checkpoint.finished(config.ckpt_path) or has_run(whole_reviews.ckpt_path)
        or checkpoint.last_epoch(config.ckpt_path) >= config.num_epochs)
    if model_finished:
        print(f"The model in {config.ckpt_path} finished training; going on to the whole reviews", flush=True)
    elif not self_trains:
        train_model(config, meta, rank, group_size, resume=config.resume)
    else:
        pseudo_labels = self_training.pseudo_labels(config.ckpt_path)
        if pseudo_labels is None:  # the teacher is not done (or this is a new run)
            if not checkpoint.finished(teacher.ckpt_path):
                print("============== Self-training: the first model (teacher) ==============", flush=True)
                train_model(teacher, meta, rank, group_size,
                            resume=config.resume and has_run(teacher.ckpt_path))
                if is_writer:
                    checkpoint.mark_finished(teacher.ckpt_path)
            distributed.on_rank0(lambda: label_unlabelled(teacher, meta), rank, group_size,
                                 "pseudo-labelling")
            pseudo_labels = self_training.pseudo_labels(config.ckpt_path)
        print("============== Self-training: the final model, on labelled and pseudo-labelled "
              "reviews ==============", flush=True)
        train_model(config, meta, rank, group_size, resume=config.resume and has_run(config.ckpt_path),
                    pseudo_labels=pseudo_labels)
    if is_writer and not model_finished:
        checkpoint.mark_finished(config.ckpt_path)
    if whole_reviews is not None:
        train_on_whole_reviews(config, whole_reviews, meta, rank, group_size)
    modelarts.sync_outputs(config)


def label_unlabelled(teacher, meta):
    """Pseudo-labels from the teacher's best checkpoint, written beside the final model."""
    _, network = checkpoint.load_network(teacher, os.path.join(teacher.ckpt_path, checkpoint.BEST),
                                         meta["vocab_size"], meta["embed_dim"])
    self_training.write_pseudo_labels(network, teacher, os.path.dirname(teacher.ckpt_path))


def train_model(config, meta, rank, group_size, resume, pseudo_labels=None):
    """One model trained into config.ckpt_path (continuing its last checkpoint if `resume`)."""
    is_writer = rank == 0
    weight = dataset.load_weight(config.preprocess_path)
    # The data pipeline starts from its seed in every process, so a resumed run seeded like the
    # interrupted one would replay its first epochs' shuffling and windows: it draws its own.
    resumed_after = checkpoint.last_epoch(config.ckpt_path) if resume else 0
    data_seed = config.seed
    if resumed_after:
        data_seed = int(np.random.SeedSequence([config.seed, resumed_after]).generate_state(1)[0])
        ds.config.set_seed(data_seed)
    train_data = build_train_data(config, meta, rank, group_size, pseudo_labels, data_seed)
    valid_accuracy = None
    if os.path.isfile(dataset.mindrecord_path(config.preprocess_path, "valid") + "0"):
        valid_accuracy = training.accuracy_on(dataset.read_split(config.preprocess_path, "valid"),
                                              config.pooling, config.batch_size)
    steps_per_epoch = train_data.get_dataset_size()
    if steps_per_epoch == 0:
        raise errors.UserError(f"{meta['counts']['train']} training reviews give no full batch of "
                               f"{config.batch_size} in any length bucket; lower batch_size or raise "
                               "bucket_width")

    # ---- model, loss, optimizer
    # Every model starts from the seed's initialisation, whatever ran before it in this process:
    # rank 0 alone builds the teacher's network for the labelling, and data-parallel ranks must
    # start equal.
    ms.set_seed(config.seed)
    network = lstm.build_model(config, meta["vocab_size"], meta["embed_dim"], weight)
    if config.pre_trained:
        checkpoint.load_weights(network, config.pre_trained)
    train_step, rates = build_train_step(config, network, steps_per_epoch)

    # ---- resume, history, weight average
    os.makedirs(config.ckpt_path, exist_ok=True)
    epochs_done, average_state = checkpoint.restore_run(train_step, config.ckpt_path, config.num_epochs) \
        if resume else (0, None)
    run_history = history.History(config.ckpt_path, epochs_done, write=is_writer)
    average = training.WeightAverage(network, config.average_from_epoch, average_state) \
        if config.average_from_epoch > 0 else None
    # Which candidates may become lstm_best.ckpt, chosen on held-out halves of the validation split
    # (docs/results.md, session 9): the self-trained final model's epochs (67,000 reviews each) are
    # all good and scatter, so its weight average beats picking the luckiest epoch; a model trained on
    # the labelled reviews alone (the teacher) peaks after 3-5 short epochs, and its average carries
    # the undertrained and the overfitted ones, so there every epoch and average stays a candidate.
    callbacks = [
        training.EpochLogger(rates, config.log_steps, run_history),
        training.CheckpointAndValidate(network, train_step, config.ckpt_path, valid_accuracy, run_history,
                                       config.save_checkpoint_steps, config.keep_checkpoint_max,
                                       config.patience, write=is_writer,
                                       architecture=checkpoint.architecture_entry(config), average=average,
                                       average_only=pseudo_labels is not None),
    ]
    print(f"============== Starting Training ({steps_per_epoch} steps per epoch) ==============", flush=True)
    model = Model(train_step)
    profiler = ms.Profiler(output_path=os.path.join(config.ckpt_path, "profiler")) \
        if config.enable_profiling else None
    model.train(config.num_epochs, train_data, callbacks=callbacks, dataset_sink_mode=False,
                initial_epoch=epochs_done)
    if profiler is not None:
        profiler.analyse()
        print(f"Profile written to {os.path.join(config.ckpt_path, 'profiler')}")
    print("============== Training Success ==============")


def whole_review_stage(config):
    """The last stage's settings: lstm_best.ckpt trained on the whole labelled reviews.
    The models before it train on random crop_len windows (fast, and a new view of each review
    every epoch) but are scored on whole reviews, whose label the windows only sample; an epoch
    on the whole reviews at a low rate fits the model to what it will read (docs/results.md,
    session 18: +0.36 point on validation, +0.31 on test, mean of three seeds). Reviews past
    whole_review_len tokens (11% of them at 512) are read in a window of that length, so the
    batches fit in a few static graphs (session 20: 135 s instead of 206 s)."""
    folder = os.path.join(config.ckpt_path, WHOLE_REVIEWS_FOLDER)
    return EasyDict({**config, "ckpt_path": folder, "pre_trained": os.path.join(folder, WHOLE_REVIEWS_START),
                     "crop_len": config.whole_review_len, "num_epochs": config.whole_review_epochs,
                     "bucket_width": whole_review_bucket_width(config),
                     "learning_rate": config.whole_review_lr, "dynamic_lr": False,
                     "average_from_epoch": 0, "patience": 0})


def whole_review_bucket_width(config):
    """A bucket width that puts the stage's batches in WHOLE_REVIEW_SHAPES shapes at most."""
    if config.bucket_width <= 0:  # every batch padded to one length, as asked
        return 0
    longest = dataset.longest_training_length(config.max_len, config.whole_review_len)
    return max(config.bucket_width, -(-longest // WHOLE_REVIEW_SHAPES))


def train_on_whole_reviews(config, stage, meta, rank, group_size):
    """Trains the whole-review stage (resuming it if started) unless it is done; its best becomes
    lstm_best.ckpt."""
    best = os.path.join(config.ckpt_path, checkpoint.BEST)
    # patience 0: the stage always runs all its epochs, and checkpoints the last one.
    if checkpoint.last_epoch(stage.ckpt_path) < stage.num_epochs:
        if not has_run(stage.ckpt_path):
            # A copy to start from that stays when lstm_best.ckpt is replaced: the model before
            # the stage is not lost, and every rank reads the same file.
            os.makedirs(stage.ckpt_path, exist_ok=True)
            distributed.on_rank0(lambda: checkpoint.copy(best, stage.pre_trained), rank, group_size,
                                 "copying lstm_best.ckpt")
        print(f"============== The whole labelled reviews: {stage.num_epochs} epoch(s) from {best} "
              f"(kept as {stage.pre_trained}) ==============", flush=True)
        train_model(stage, meta, rank, group_size, resume=has_run(stage.ckpt_path))
    if rank == 0:
        adopt_the_stage(best, stage.pre_trained, os.path.join(stage.ckpt_path, checkpoint.BEST))


def adopt_the_stage(best, start, stage_best):
    """`best` (lstm_best.ckpt) becomes a copy of the stage's best model, whatever the validation
    split says of it against `start` (the model before the stage): over nine paired runs the stage
    moved validation by +0.24 point on the mean and lifted seven, mostly by less than one standard
    error of a paired difference on 1,992 reviews (about 0.3 point), so "keep the better" kept the
    model before it on noise (docs/results.md, sessions 18-21). Written only if it changes, so a
    finished run's --resume leaves it as it is."""
    if not filecmp.cmp(best, stage_best, shallow=False):
        checkpoint.copy(stage_best, best)
    before, after = checkpoint.valid_accuracy(start), checkpoint.valid_accuracy(stage_best)
    figures = "" if before is None or after is None else \
        f" (validation accuracy {after:.4f} after the whole reviews, {before:.4f} before)"
    print(f"{best} is the whole-review stage's model{figures}", flush=True)


if __name__ == "__main__":
    errors.run_main(main)
