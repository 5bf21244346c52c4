"""Whether a device has the bfloat16 kernels that bf16 autocast training needs, and
whether autocast is on."""
import functools

import torch


@functools.lru_cache(maxsize=None)
def bf16_supported(device_type: str) -> bool:
    """True where bfloat16 autocast training runs with native kernels.

    CUDA: ``torch.cuda.is_bf16_supported()``. CPU: oneDNN's bf16 kernels, which need
    AVX-512 (without them a bf16 ``nn.LSTM`` fails to build its oneDNN primitive and
    bf16 matrix products run several times slower than float32, measured on an
    AVX2-only CPU); where PyTorch lacks that check, a tiny bf16 LSTM is tried.

    :param device_type: ``torch.device.type``, e.g. "cpu" or "cuda"
    """
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return _bf16_lstm_runs()


def _bf16_lstm_runs() -> bool:
    """Try a tiny LSTM forward under CPU bf16 autocast."""
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.nn.LSTM(4, 4)(torch.zeros(2, 1, 4))
    except RuntimeError:
        return False
    return True


def autocast_on(device_type: str) -> bool:
    """Whether torch autocast is enabled for ``device_type`` (older torch: CPU only)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:
        return torch.is_autocast_cpu_enabled()
