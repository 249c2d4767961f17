"""The machine's peak FLOP/s, the denominator of model FLOPs utilisation (MFU; Chowdhery et al. 2022, PaLM).

Measured once per machine, device and dtype with a large matrix multiplication and stored as JSON under the
distillery cache directory; ``train.peak_flops`` overrides it.
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from ..fileio import atomic_write_text
from ..runtime import cache_root


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    # one model name is sold with and without AMX, whose bf16 matmuls are 10x faster
    amx = getattr(getattr(torch, "cpu", None), "_is_amx_tile_supported", lambda: False)()
    return f"cpu:{cpu}{' (AMX)' if amx else ''}:{torch.get_num_threads()} threads"



def measure_peak_flops(device: torch.device, dtype: torch.dtype, n: int = 2048, seconds: float = 0.5) -> float:
    """Best FLOP/s of an ``n x n`` matmul in ``dtype`` over about ``seconds`` of repeats."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    best, spent = 0.0, 0.0
    for i in range(1000):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        dt = time.perf_counter() - t0
        if i > 0:  # the first call warms up
            best = max(best, 2 * n**3 / dt)
        spent += dt
        if spent > seconds and i > 2:
            break
    return best


def peak_flops(device: torch.device, dtype: torch.dtype, cache_dir: Path, configured: float | None = None
               ) -> tuple[float, str]:
    """``(peak FLOP/s, where it came from)``: the configured value, or the stored or newly measured one."""
    if configured:
        return float(configured), "train.peak_flops"
    key = f"{device_name(device)}:{str(dtype).replace('torch.', '')}"
    path = Path(cache_dir) / "peak_flops.json"
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        table = {}
    if key not in table:
        table[key] = measure_peak_flops(device, dtype)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(table, indent=1))
    return float(table[key]), f"measured ({key}, stored in {path})"


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 matmuls are fast on ``device``: a CUDA GPU with bf16, or a CPU with AVX-512 BF16 or AMX on
    which a bf16 matmul was measured at least 1.3x the fp32 one (stored with the peak FLOP/s under the cache
    directory). The instructions alone do not decide it: a CPU with AVX-512 BF16 and no AMX measured 141 GFLOP/s
    in bf16 against 254 in fp32, where an AMX CPU measured 1.7-2.1 TFLOP/s against 310-350."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    cpu = getattr(torch, "cpu", None)
    if not (cpu is not None and (getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
                                 or getattr(cpu, "_is_amx_tile_supported", lambda: False)())):
        return False
    root = cache_root()
    return peak_flops(device, torch.bfloat16, root)[0] >= BF16_MIN_SPEEDUP * peak_flops(device, torch.float32, root)[0]


BF16_MIN_SPEEDUP = 1.3  # bf16 autocast also casts; below this matmul speed-up it does not pay
