"""Data-parallel training on MindSpore's own launchers: msrun (CPU, GPU) or a rank table (Ascend).

Every rank runs train.py on its shard of the training reviews; gradients are averaged across
ranks after each step, so all ranks hold the same weights. Rank 0 alone preprocesses and writes
checkpoints and history. Two things would otherwise hang the job in a collective: ranks with
different step counts, and ranks that wait for a rank 0 that failed. `equal_steps` and
`on_rank0` deal with them.
"""
import os
import threading

from src import dataset, errors

# on_rank0's states, summed over ranks (only rank 0 contributes one)
_RUNNING, _DONE, _FAILED = 0, 1, 2


def setup_distributed(config):
    """Returns (rank, group_size); (0, 1) when config.distribute is off."""
    if not config.distribute:
        return 0, 1
    import mindspore as ms
    from mindspore.communication import get_group_size, get_rank, init

    launchers = ("MS_ROLE", "RANK_TABLE_FILE", "OMPI_COMM_WORLD_RANK")  # msrun, rank table, mpirun
    if not any(os.getenv(name) for name in launchers):
        raise errors.UserError("--distribute=True needs a launcher: scripts/run_distribute_train_"
                               "{cpu,gpu}.sh (msrun) or run_distribute_train_ascend.sh")
    init()
    rank, group_size = get_rank(), get_group_size()
    ms.reset_auto_parallel_context()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True,
                                 device_num=group_size)
    print(f"rank {rank} of {group_size}", flush=True)
    if config.device_num not in (1, group_size):
        print(f"note: device_num={config.device_num} in the config but {group_size} ranks run; "
              "its learning rates were chosen for device_num ranks", flush=True)
    return rank, group_size


def prepare_once(config, rank, group_size, poll_seconds=2.0):
    """Preprocesses on rank 0 only and returns the meta of the finished folder on every rank.
    Other ranks read nothing until rank 0 is done: with --preprocess=True the folder still holds
    the old data (and its meta.json) while rank 0 rebuilds it."""
    on_rank0(lambda: dataset.prepare(config, force=config.preprocess), rank, group_size,
             "preprocessing", poll_seconds)
    meta = dataset.load_meta(config.preprocess_path)
    if group_size > 1 and meta.get("settings") != dataset.settings_of(config):
        raise errors.UserError(f"rank {rank}: {config.preprocess_path} does not hold what rank 0 "
                               "prepared; preprocess_path must be on storage every rank shares")
    return meta


def on_rank0(work, rank, group_size, what, poll_seconds=2.0):
    """Runs work() on rank 0 only; every rank returns when it is done.

    Rank 0 works in a thread and its main thread reports the state to all ranks every
    `poll_seconds` through a tiny AllReduce. Short rounds keep every collective far from the
    backends' timeouts (about 60 s for CPU collectives here), however long the work takes; a
    failure stops every rank."""
    if group_size == 1:
        work()
        return
    outcome = {}
    worker = None
    if rank == 0:
        def run():
            try:
                work()
            except BaseException as error:  # noqa: B036  handed to the main thread below
                outcome["error"] = error

        worker = threading.Thread(target=run, name=what, daemon=True)
        worker.start()
    state = _RUNNING
    while state == _RUNNING:
        if worker is not None:
            worker.join(poll_seconds)
            state = _RUNNING if worker.is_alive() else _FAILED if "error" in outcome else _DONE
        state = _sum_over_ranks(state)  # other ranks block here until rank 0 reports
    if "error" in outcome:
        raise outcome["error"]
    if state == _FAILED:
        raise errors.UserError(f"rank {rank}: {what} failed on rank 0 (its log says why)")


def _sum_over_ranks(value):
    import numpy as np
    import mindspore as ms
    from mindspore import ops

    # Called eagerly: a one-op graph would cost a compile for a 4-byte message.
    return int(round(float(ops.AllReduce()(ms.Tensor(np.array([value], np.float32))).asnumpy()[0])))


def equal_steps(data, train_count, batch_size, group_size, buckets=1):
    """Cuts every rank's epoch to the same number of steps, so no rank waits in a gradient
    AllReduce that the others never reach.

    MindDataset gives each of the group_size shards ceil(train_count / group_size) reviews. With
    length buckets (training drops each bucket's part-filled last batch) the number of batches
    depends on which reviews a shard holds and changes every epoch, but each bucket leaves out
    fewer than batch_size reviews, so a shard always yields at least
    (reviews - buckets * (batch_size - 1)) / batch_size full batches: that many steps run
    everywhere. Without buckets (buckets=1, remainder kept) that is every batch."""
    if group_size == 1:
        return data
    per_rank = -(-train_count // group_size)
    if buckets > 1:
        steps = (per_rank - buckets * (batch_size - 1)) // batch_size
        if steps < 1:
            raise errors.UserError(
                f"{per_rank} training reviews per rank are too few for full batches of "
                f"{batch_size} in {buckets} length buckets; lower batch_size or use fewer workers "
                "or a larger bucket_width")
    else:
        steps = -(-per_rank // batch_size)
    return data.take(steps)
