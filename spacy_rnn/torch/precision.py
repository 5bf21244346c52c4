"""Whether a device has the bfloat16 kernels that bf16 autocast training needs, and
whether autocast is on."""
import functools
import platform
from typing import FrozenSet, List, Optional, Tuple

import torch

# x86 instructions that compute in bfloat16; without them oneDNN emulates bf16 with AVX-512
# (its maintainers: for development only, about half the float32 speed)
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@functools.lru_cache(maxsize=None)
def bf16_supported(device_type: str) -> bool:
    """True where bfloat16 autocast training runs with native kernels.

    CUDA: ``torch.cuda.is_bf16_supported()``. CPU: oneDNN's bf16 kernels, and on x86 (where
    /proc/cpuinfo tells) the CPU's own bf16 instructions (AVX512-BF16 or AMX): without
    AVX-512 a bf16 ``nn.LSTM`` fails to build its oneDNN primitive and bf16 matrix products
    ran several times slower than float32 (measured on an AVX2-only CPU); with AVX-512 but
    no bf16 instructions oneDNN emulates them, slower than float32. Where PyTorch lacks
    oneDNN's check, a tiny bf16 LSTM is tried.

    :param device_type: ``torch.device.type``, e.g. "cpu" or "cuda"
    """
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type != "cpu":
        return False
    flags = x86_cpu_flags()
    if flags is not None and not flags & NATIVE_BF16_FLAGS:
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return _bf16_lstm_runs()


def x86_cpu_flags() -> Optional[FrozenSet[str]]:
    """The CPU flags of an x86 machine from /proc/cpuinfo; None elsewhere or if unreadable."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return None
    flags = [value for key, value in cpuinfo_fields() if key == "flags"]
    return frozenset(flags[0].split()) if flags else None


def cpuinfo_fields() -> List[Tuple[str, str]]:
    """The (key, value) lines of /proc/cpuinfo, every processor's; empty if unreadable."""
    try:
        with open("/proc/cpuinfo", encoding="utf8") as cpuinfo:
            return [tuple(part.strip() for part in line.split(":", 1)) for line in cpuinfo if ":" in line]
    except OSError:
        return []


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
