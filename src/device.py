"""The one place a process picks its device and execution mode (train, eval, export, predict)."""
import os


def device_id(config):
    """The id for ms.set_device. None lets MindSpore choose: on CPU, and under msrun, which gives
    each worker its own device (an explicit 0 would put every worker on device 0)."""
    if config.device_target == "CPU" or (config.distribute and os.getenv("MS_ROLE")):
        return None
    return config.device_id


def setup(config):
    """config.device_target in GRAPH_MODE (PyNative kernels fail on this stack: MindSpore 2.10 is
    built against NumPy 1.x), with graph-kernel fusion on GPU as the reference did."""
    import mindspore as ms

    try:
        ms.set_device(config.device_target, device_id(config))
    except RuntimeError:
        # This process already ran kernels (a second predictor, or a test process): the device
        # can no longer change, and the one in use is kept.
        pass
    ms.set_context(mode=ms.GRAPH_MODE)
    if config.enable_graph_kernel and config.device_target == "GPU":
        ms.set_context(enable_graph_kernel=True)
