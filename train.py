"""Train SentimentNet on aclImdb.

    python train.py --aclimdb_path=./aclImdb --glove_path=./glove --preprocess_path=./preprocess

Preprocesses once (reused while the settings match; --preprocess=True forces it), then trains
with Model.train, validating on a split carved from train after every epoch. Writes into ckpt_path:
lstm-<epoch>_<step>.ckpt, lstm_best.ckpt (best validation accuracy), history.json/.csv/.png.
"""
import os

import numpy as np
import mindspore as ms
import mindspore.dataset as ds
from mindspore import nn
from mindspore.train import Model

from src import config as config_module, dataset, errors, lr_schedule, lstm, training
from src import distributed, modelarts, pretrain
from src import lock as lock_module


def learning_rates(config, steps_per_epoch):
    """The per-step LR array for the whole run (constant, or the reference's warmup + cosine)."""
    total = steps_per_epoch * config.num_epochs
    if not config.dynamic_lr:
        return np.full(total, config.learning_rate, np.float32)
    return lr_schedule.get_lr(0, config.lr_init, config.lr_end, config.lr_max, config.warmup_epochs,
                              config.num_epochs, steps_per_epoch, config.lr_adjust_epoch)


def build_train_data(config, meta, rank=0, group_size=1):
    """This rank's shard of the training reviews, batched; every rank gets the same step count."""
    shard = {"num_shards": group_size, "shard_id": rank} if group_size > 1 else {}
    data = dataset.create_dataset(
        config.preprocess_path, "train", config.batch_size, training=True, max_len=config.max_len,
        bucket_width=config.bucket_width, crop_len=config.crop_len, seed=config.seed, **shard)
    buckets = dataset.training_buckets(config.max_len, config.bucket_width, config.crop_len)
    return distributed.equal_steps(data, meta["counts"]["train"], config.batch_size, group_size,
                                   buckets)


def build_train_step(config, network, steps_per_epoch):
    """Loss, optimizer and the one-step training cell; returns it with the per-step LR array."""
    loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    rates = learning_rates(config, steps_per_epoch)
    embedding_rates = None
    if config.trainable_embedding and config.freeze_embedding_epochs > 0:
        embedding_rates = rates.copy()
        embedding_rates[: config.freeze_embedding_epochs * steps_per_epoch] = 0.0
        embedding_rates = ms.Tensor(embedding_rates)
    optimizer = training.make_optimizer(config, network, ms.Tensor(rates), embedding_rates)
    train_step = training.TrainStep(nn.WithLossCell(network, loss), optimizer, config.grad_clip)
    # Training batches come in a few fixed shapes (see dataset.create_dataset), each compiled
    # once (~3 s) into a static graph: 1.9x faster per step here than one dynamic-shape graph.
    # Validation takes every review, so any shape: one dynamic graph, no compile per shape.
    network.set_inputs(ms.Tensor(shape=[None, None], dtype=ms.int32))
    return train_step, rates


def main():
    config = config_module.load_config()
    modelarts.sync_inputs(config)
    print(f"Config {config.config_path}:\n{config_module.describe(config)}", flush=True)
    ms.set_device(config.device_target, distributed.device_id(config))
    ms.set_context(mode=ms.GRAPH_MODE)
    if config.enable_graph_kernel and config.device_target == "GPU":
        ms.set_context(enable_graph_kernel=True)  # kernel fusion, as the reference: GPU only
    ms.set_seed(config.seed)
    ds.config.set_seed(config.seed)
    rank, group_size = distributed.setup_distributed(config)
    is_writer = rank == 0  # checkpoints, history and plots come from rank 0 only
    if is_writer:
        lock_module.acquire(config.ckpt_path)  # a second run on this folder stops here
    lm_checkpoint = os.path.join(config.ckpt_path, pretrain.LM_CHECKPOINT)
    earlier_run = training.epoch_checkpoints(config.ckpt_path) or os.path.isfile(lm_checkpoint)
    if not config.resume and is_writer and earlier_run:
        # Mixing two runs' lstm-<epoch>_<step>.ckpt would make keep_checkpoint_max delete the new
        # ones and a later --resume continue the old run.
        raise errors.UserError(f"{config.ckpt_path} holds checkpoints of an earlier run; pass "
                               "--resume=True to continue it, or another --ckpt_path")

    # ---- data
    meta = distributed.prepare_once(config, rank, group_size)
    weight = dataset.load_weight(config.preprocess_path)
    train_data = build_train_data(config, meta, rank, group_size)
    valid_data = None
    if os.path.isfile(dataset.mindrecord_path(config.preprocess_path, "valid") + "0"):
        valid_data = dataset.create_dataset(config.preprocess_path, "valid", config.batch_size,
                                            training=False, max_len=config.max_len,
                                            bucket_width=config.bucket_width)
    steps_per_epoch = train_data.get_dataset_size()
    if steps_per_epoch == 0:
        raise errors.UserError(f"{meta['counts']['train']} training reviews give no full batch of "
                               f"{config.batch_size} in any length bucket; lower batch_size or raise "
                               "bucket_width")

    # ---- model, loss, optimizer
    network = lstm.build_model(config, meta["vocab_size"], meta["embed_dim"], weight)
    if config.pre_trained:
        parameters = training.load_checkpoint_file(config.pre_trained)
        parameters.pop(training.SETTINGS_KEY, None)  # the network is the one this config describes
        training.load_into(network, parameters, config.pre_trained)
    train_step, rates = build_train_step(config, network, steps_per_epoch)

    # ---- resume
    os.makedirs(config.ckpt_path, exist_ok=True)
    initial_epoch = 0
    checkpoints = training.epoch_checkpoints(config.ckpt_path) if config.resume else []
    if config.resume and not checkpoints and not os.path.isfile(lm_checkpoint):
        raise errors.UserError(f"--resume: no lstm-<epoch>_<step>.ckpt in {config.ckpt_path}")
    if checkpoints:  # without any, the run stopped in pre-training, which continues
        parameters = training.load_checkpoint_file(checkpoints[-1])
        if "epoch_num" not in parameters:
            raise errors.UserError(f"--resume: {checkpoints[-1]} was not written by train.py (it has "
                                   "no epoch number); move it out of ckpt_path or use --pre_trained")
        initial_epoch = int(parameters.pop("epoch_num"))
        parameters.pop(training.SETTINGS_KEY, None)
        parameters.pop("step_num", None)
        # The LR array is rebuilt for this run's num_epochs; the restored global_step picks the
        # position in it, so the schedule continues where it stopped.
        for name in [name for name in parameters if "learning_rate" in name]:
            parameters.pop(name)
        training.load_into(train_step, parameters, checkpoints[-1])
        print(f"Resuming from {checkpoints[-1]} (epoch {initial_epoch})")
        if initial_epoch >= config.num_epochs:
            raise errors.UserError(f"{checkpoints[-1]} already finished {initial_epoch} epochs; "
                                   "raise --num_epochs to train further")

    # ---- language-model pre-training (skipped when resuming a run already past it)
    if config.pretrain_epochs > 0 and initial_epoch == 0:
        if config.pre_trained:
            print(f"note: pretrain_epochs={config.pretrain_epochs} ignored: starting from {config.pre_trained}")
        else:
            pretrain.pretrain(config, network, rank, group_size)

    # ---- train
    history = training.History(config.ckpt_path, resume=config.resume, write=is_writer)
    callbacks = [
        training.EpochLogger(rates, config.log_steps, history),
        training.CheckpointAndValidate(network, train_step, config.ckpt_path, valid_data, history,
                                       config.save_checkpoint_steps, config.keep_checkpoint_max,
                                       config.patience, write=is_writer,
                                       settings=training.settings_record(config)),
    ]
    print(f"============== Starting Training ({steps_per_epoch} steps per epoch) ==============", flush=True)
    model = Model(train_step)
    profiler = ms.Profiler(output_path=os.path.join(config.ckpt_path, "profiler")) \
        if config.enable_profiling else None
    model.train(config.num_epochs, train_data, callbacks=callbacks, dataset_sink_mode=False,
                initial_epoch=initial_epoch)
    if profiler is not None:
        profiler.analyse()
        print(f"Profile written to {os.path.join(config.ckpt_path, 'profiler')}")
    print("============== Training Success ==============")
    modelarts.sync_outputs(config)


if __name__ == "__main__":
    errors.run_main(main)
