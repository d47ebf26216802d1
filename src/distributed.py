"""Data-parallel set-up on MindSpore's own engine (msrun on CPU/GPU, rank tables on Ascend)."""
import json
import os
import time

from src import dataset, errors


def setup_distributed(config):
    """Returns (rank, group_size); (0, 1) when config.distribute is off."""
    if not config.distribute:
        return 0, 1
    import mindspore as ms
    from mindspore.communication import get_group_size, get_rank, init

    init()
    rank, group_size = get_rank(), get_group_size()
    ms.reset_auto_parallel_context()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True,
                                 device_num=group_size)
    return rank, group_size


def wait_for_preprocessing(config, rank, timeout_seconds=3600, poll_seconds=1.0):
    """Ranks other than 0 wait until rank 0 has renamed a complete preprocessed folder with the
    current settings into place (meta.json is written last, the folder renamed atomically)."""
    settings = dataset.settings_of(config)
    meta_path = os.path.join(config.preprocess_path, dataset.META_FILE)
    deadline = time.time() + timeout_seconds
    while True:
        if os.path.isfile(meta_path):
            with open(meta_path, encoding="utf-8") as file:
                meta = json.load(file)
            if meta.get("settings") == settings:
                return meta
        if time.time() > deadline:
            raise errors.UserError(f"rank {rank}: no preprocessed data appeared in "
                                   f"{config.preprocess_path} within {timeout_seconds} s")
        time.sleep(poll_seconds)
