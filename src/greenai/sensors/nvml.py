"""NVIDIA GPU energy through NVML (``pynvml`` from the ``nvidia-ml-py`` package, imported lazily).

Per GPU: the total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, millijoules, Volta and
newer) where the GPU has it, else the power reading (``nvmlDeviceGetPowerUsage``, milliwatts) integrated
over time with the trapezoid rule at every read (so its accuracy follows the sampling interval). Only
the GPUs in ``CUDA_VISIBLE_DEVICES`` are read (indices, ``GPU-`` UUID prefixes, or MIG instances by
``MIG-`` UUID, looked up with NVML's MIG API; unset means all). A MIG instance counts as its physical
GPU: NVML's energy counter and power reading exist per physical GPU only, so the energy then includes
the other instances' work, and the method label says so. NVML errors are translated here into
``SensorUnavailable``; nothing above sees pynvml.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from greenai.sensors.base import Sensor, SensorUnavailable
from greenai.units import Method


@dataclass(frozen=True)
class VisibleGpu:
    """A physical GPU this process may use. ``migs``: the MIG instances of it named in
    ``CUDA_VISIBLE_DEVICES`` (their UUIDs); empty when the whole GPU is visible."""

    index: int
    migs: tuple[str, ...] = ()


def visible_gpus(
    count: int,
    uuids: Sequence[str],
    env: Mapping[str, str] = os.environ,
    mig_uuids: Mapping[int, Sequence[str]] | None = None,
) -> list[VisibleGpu]:
    """The physical GPUs (NVML indices) this process may use, following CUDA's reading of
    ``CUDA_VISIBLE_DEVICES``.

    Unset: all. Otherwise a comma list of indices, ``GPU-`` UUID prefixes, or MIG instances: a
    ``MIG-<uuid>`` prefix (matched against ``mig_uuids``, the MIG device UUIDs of each physical GPU)
    or the older ``MIG-GPU-<gpu uuid>/<gi>/<ci>`` form. A MIG instance makes its parent GPU visible.
    CUDA stops at the first entry that names no device (unknown or ambiguous), and so does this.
    """
    raw = env.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return [VisibleGpu(i) for i in range(count)]
    migs = {i: list(m) for i, m in (mig_uuids or {}).items()}
    order: list[int] = []
    named: dict[int, list[str]] = {}  # index -> the MIG instances naming it
    whole: set[int] = set()  # indices named as a whole GPU
    for token in (t.strip() for t in raw.split(",")):
        mig: str | None = None
        if token.lstrip("-").isdigit():
            index = int(token)
            if not 0 <= index < count:
                break
        elif token.startswith("MIG-GPU-"):  # CUDA 11.0's form: MIG-GPU-<uuid>/<gi>/<ci>
            parent = token[len("MIG-") :].split("/")[0]
            matches = [i for i, u in enumerate(uuids) if u.startswith(parent)]
            if len(matches) != 1 or token.count("/") != 2:
                break
            index, mig = matches[0], token
        elif token.startswith("MIG-"):
            found = [(i, u) for i, us in migs.items() for u in us if u.startswith(token)]
            if len(found) != 1:
                break
            index, mig = found[0]
        else:
            matches = [i for i, u in enumerate(uuids) if token and u.startswith(token)]
            if len(matches) != 1:
                break
            index = matches[0]
        if index not in order:
            order.append(index)
        if mig is None:
            whole.add(index)
        elif mig not in named.setdefault(index, []):
            named[index].append(mig)
    return [VisibleGpu(i, () if i in whole else tuple(named.get(i, ()))) for i in order]


class _Gpu:
    def __init__(
        self, index: int, handle: Any, name: str, has_counter: bool, migs: tuple[str, ...] = ()
    ) -> None:
        self.index, self.handle, self.name, self.has_counter = index, handle, name, has_counter
        self.migs = migs  # the MIG instances this process was given; () for the whole GPU
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
            raw = env.get("CUDA_VISIBLE_DEVICES") or ""
            names_mig = any(
                t.strip().startswith("MIG-") and not t.strip().startswith("MIG-GPU-")
                for t in raw.split(",")
            )
            mig_uuids = {i: self._mig_uuids(h) for i, h in enumerate(handles)} if names_mig else {}
            visible = visible_gpus(count, uuids, env, mig_uuids)
            if not visible:
                raise SensorUnavailable("no NVIDIA GPU visible (CUDA_VISIBLE_DEVICES)")
            self._gpus = [self._gpu(g.index, handles[g.index], g.migs) for g in visible]
        except BaseException:
            self.close()
            raise

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except self._nv.NVMLError as exc:
            raise SensorUnavailable(f"NVML: {fn.__name__} failed: {exc}") from None

    def _mig_uuids(self, handle: Any) -> list[str]:
        """UUIDs of the MIG devices on one physical GPU (none when it is not in MIG mode, or
        when this NVML has no MIG API)."""
        nv = self._nv
        try:
            slots = int(nv.nvmlDeviceGetMaxMigDeviceCount(handle))
        except (nv.NVMLError, AttributeError):  # not MIG-capable, or an old pynvml
            return []
        found = []
        for slot in range(slots):
            try:  # a slot without an instance raises NVML_ERROR_NOT_FOUND
                mig = nv.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
                found.append(_text(nv.nvmlDeviceGetUUID(mig)))
            except nv.NVMLError:
                continue
        return found

    def _gpu(self, index: int, handle: Any, migs: tuple[str, ...] = ()) -> _Gpu:
        name = _text(self._call(self._nv.nvmlDeviceGetName, handle))
        try:
            origin = float(self._nv.nvmlDeviceGetTotalEnergyConsumption(handle))
            gpu = _Gpu(index, handle, name, has_counter=True, migs=migs)
            gpu.origin_mj = origin
        except self._nv.NVMLError:
            gpu = _Gpu(index, handle, name, has_counter=False, migs=migs)
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
        parts = []
        for g in self._gpus:
            how = (
                "total-energy counter" if g.has_counter else "power readings integrated (trapezoid)"
            )
            part = f"GPU {g.index} {g.name}: {how}"
            if g.migs:
                part += (
                    f" of the WHOLE physical GPU, though this process was given only MIG instance"
                    f"{'s' if len(g.migs) > 1 else ''} {', '.join(g.migs)}: NVML reads energy and "
                    "power per physical GPU, so other instances' work is included (an upper bound)"
                )
            parts.append(part)
        return {"gpu": Method("measured", "NVML", "; ".join(parts))}

    def close(self) -> None:
        if getattr(self, "_open", False):
            self._open = False
            with contextlib.suppress(self._nv.NVMLError):
                self._nv.nvmlShutdown()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
