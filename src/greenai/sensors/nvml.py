"""NVIDIA GPU energy through NVML (``pynvml`` from the ``nvidia-ml-py`` package, imported lazily).

Per GPU: the total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, millijoules, Volta and
newer) where the GPU has it, else the power reading (``nvmlDeviceGetPowerUsage``, milliwatts) integrated
over time with the trapezoid rule at every read (so its accuracy follows the sampling interval). Only
the GPUs in ``CUDA_VISIBLE_DEVICES`` are read (indices or ``GPU-``/``MIG-`` UUID prefixes; unset means
all). NVML errors are translated here into ``SensorUnavailable``; nothing above sees pynvml.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from greenai.meter.types import Method
from greenai.sensors.base import Sensor, SensorUnavailable


def visible_gpu_indices(
    count: int, uuids: list[str], env: Mapping[str, str] = os.environ
) -> list[int]:
    """NVML indices this process may use, following CUDA's reading of ``CUDA_VISIBLE_DEVICES``.

    Unset: all. Otherwise a comma list of indices or UUID prefixes; CUDA stops at the first entry that
    names no device, and so does this.
    """
    raw = env.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return list(range(count))
    chosen: list[int] = []
    for token in (t.strip() for t in raw.split(",")):
        if token.lstrip("-").isdigit():
            index = int(token)
            if not 0 <= index < count:
                break
        else:
            matches = [i for i, u in enumerate(uuids) if token and u.startswith(token)]
            if len(matches) != 1:
                break
            index = matches[0]
        if index not in chosen:
            chosen.append(index)
    return chosen


class _Gpu:
    def __init__(self, index: int, handle: Any, name: str, has_counter: bool) -> None:
        self.index, self.handle, self.name, self.has_counter = index, handle, name, has_counter
        self.origin_mj = 0.0
        self.last_w: float | None = None
        self.last_t = 0.0
        self.integrated_j = 0.0


class NvmlSensor(Sensor):
    """Measured energy of the visible NVIDIA GPUs, summed as component ``gpu``.

    Raises ``SensorUnavailable`` when pynvml is missing, NVML cannot start, or no GPU is visible.
    ``clock`` (monotonic seconds) is used to integrate power readings.
    """

    components = ("gpu",)

    def __init__(
        self,
        env: Mapping[str, str] = os.environ,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            self._nv = importlib.import_module("pynvml")
        except ImportError:
            raise SensorUnavailable(
                "pynvml is not installed", "pip install 'greenai[gpu]'"
            ) from None
        self._clock = clock
        self._call(self._nv.nvmlInit)
        self._open = True
        try:
            count = int(self._call(self._nv.nvmlDeviceGetCount))
            handles = [self._call(self._nv.nvmlDeviceGetHandleByIndex, i) for i in range(count)]
            uuids = [_text(self._call(self._nv.nvmlDeviceGetUUID, h)) for h in handles]
            indices = visible_gpu_indices(count, uuids, env)
            if not indices:
                raise SensorUnavailable("no NVIDIA GPU visible (CUDA_VISIBLE_DEVICES)")
            self._gpus = [self._gpu(i, handles[i]) for i in indices]
        except BaseException:
            self.close()
            raise

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except self._nv.NVMLError as exc:
            raise SensorUnavailable(f"NVML: {fn.__name__} failed: {exc}") from None

    def _gpu(self, index: int, handle: Any) -> _Gpu:
        name = _text(self._call(self._nv.nvmlDeviceGetName, handle))
        try:
            origin = float(self._nv.nvmlDeviceGetTotalEnergyConsumption(handle))
            gpu = _Gpu(index, handle, name, has_counter=True)
            gpu.origin_mj = origin
        except self._nv.NVMLError:
            gpu = _Gpu(index, handle, name, has_counter=False)
            gpu.last_w = self._power_w(handle)
            gpu.last_t = self._clock()
        return gpu

    def _power_w(self, handle: Any) -> float:
        return float(self._call(self._nv.nvmlDeviceGetPowerUsage, handle)) / 1000.0

    def read_j(self) -> dict[str, float]:
        total_j = 0.0
        for gpu in self._gpus:
            if gpu.has_counter:
                now_mj = float(self._call(self._nv.nvmlDeviceGetTotalEnergyConsumption, gpu.handle))
                total_j += max(0.0, now_mj - gpu.origin_mj) / 1000.0
            else:
                power_w, now = self._power_w(gpu.handle), self._clock()
                gpu.integrated_j += (
                    0.5 * ((gpu.last_w or 0.0) + power_w) * max(0.0, now - gpu.last_t)
                )
                gpu.last_w, gpu.last_t = power_w, now
                total_j += gpu.integrated_j
        return {"gpu": total_j}

    def gpu_names(self) -> list[str]:
        return [g.name for g in self._gpus]

    def methods(self) -> dict[str, Method]:
        parts = [
            f"GPU {g.index} {g.name}: "
            + ("total-energy counter" if g.has_counter else "power readings integrated (trapezoid)")
            for g in self._gpus
        ]
        return {"gpu": Method("measured", "NVML", "; ".join(parts))}

    def close(self) -> None:
        if getattr(self, "_open", False):
            self._open = False
            with contextlib.suppress(self._nv.NVMLError):
                self._nv.nvmlShutdown()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
