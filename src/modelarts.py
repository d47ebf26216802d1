"""ModelArts (Huawei Cloud) jobs, as the reference's moxing_adapter: with enable_modelarts the
job first copies data_url -> data_path, checkpoint_url -> load_path and train_url -> output_path
from OBS, writes its checkpoints under output_path, and at the end copies output_path back to
train_url. Copies go through moxing, which only ModelArts images provide.

One process per server copies (the one whose DEVICE_ID % min(RANK_SIZE, 8) == 0; a server has
at most 8 devices); the others wait for its marker file, which also reports a failed copy.
"""
import os
import time

from src import errors

_copies = 0  # numbers the marker files of one job


def _launch_env():
    device_id = int(os.getenv("DEVICE_ID", "0"))
    device_num = int(os.getenv("RANK_SIZE", "1"))
    return device_id, device_num


def sync_inputs(config):
    """Downloads the inputs and moves ckpt_path under output_path (only with enable_modelarts)."""
    if not config.enable_modelarts:
        return
    _moxing()  # every rank fails the same way, before anything is copied
    inputs = ((config.data_url, config.data_path), (config.checkpoint_url, config.load_path),
              (config.train_url, config.output_path))
    for url, path in inputs:
        if url:
            sync(url, path)
            print(f"Downloaded {url} -> {path}: {sorted(os.listdir(path))}", flush=True)
    # ModelArts starts every rank with the same arguments; the launcher's env names the device.
    config.device_id, config.device_num = _launch_env()
    os.makedirs(config.output_path, exist_ok=True)
    config.ckpt_path = os.path.join(config.output_path, config.ckpt_path)


def sync_outputs(config):
    """Uploads output_path (checkpoints, history) to train_url."""
    if config.enable_modelarts and config.train_url:
        sync(config.output_path, config.train_url)
        print(f"Uploaded {config.output_path} -> {config.train_url}", flush=True)


def sync(source, destination, poll_seconds=1.0):
    global _copies
    marker = os.path.join("/tmp", f"copy_sync.{os.getenv('JOB_ID') or 'default'}.{_copies}")
    _copies += 1
    device_id, device_num = _launch_env()
    if device_id % min(device_num, 8) == 0:
        try:
            _moxing().file.copy_parallel(source, destination)
            result = "ok"
        except Exception as error:  # noqa: BLE001  reported to the waiting ranks, then raised
            result = f"copying {source} to {destination} failed: {error}"
        with open(marker + ".tmp", "w", encoding="utf-8") as file:
            file.write(result)
        os.replace(marker + ".tmp", marker)
    while not os.path.exists(marker):
        time.sleep(poll_seconds)
    with open(marker, encoding="utf-8") as file:
        result = file.read()
    if result != "ok":
        raise errors.UserError(result)


def _moxing():
    try:
        import moxing
    except ImportError:
        raise errors.UserError("--enable_modelarts=True needs the moxing package, which ModelArts "
                               "images provide; run without it elsewhere") from None
    return moxing
