"""Who this process is in a distributed job, and which sensors it reads so nothing is counted twice.

Under torchrun (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``, ``GROUP_RANK``) or
SLURM (``SLURM_PROCID``, ``SLURM_LOCALID``, ``SLURM_NODEID``, ``SLURM_NTASKS``) every rank of a job
runs a meter. Read naively, each rank would meter the whole node and the job's total would be N
times the truth. ``rank_sensors`` splits the work:

* node-shared counters (RAPL packages and their DRAM subzones) are read by local rank 0 only; the
  other ranks of that node report them as ``none`` ("counted by local rank 0 of node X");
* the CPU-time and RSS estimates follow each rank's own process tree, so summed over the ranks
  every process of the node is counted once (the launcher agent's own, small, CPU time is not);
* each rank meters only its own GPUs: the visible GPUs ``j`` with ``j % LOCAL_WORLD_SIZE ==
  LOCAL_RANK`` (rank i on GPU i, the usual layout); a GPU no rank owns is not read.

The node's identity is ``$GREENAI_NODE_ID``, else the host name. Reading the environment touches no
hardware and imports no torch.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from greenai.errors import UsageError
from greenai.sensors.base import NullSensor, Sensor

NODE_ENV = "GREENAI_NODE_ID"
_TORCHRUN = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK")


@dataclass(frozen=True)
class RankInfo:
    """This process's place in a job. A single process is rank 0 of a world of 1."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1
    node_rank: int = 0
    node: str = ""  # $GREENAI_NODE_ID or the host name
    host: str = ""
    launcher: str = "single"  # "torchrun", "slurm" or "single"

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def meters_node(self) -> bool:
        """True for the one process per node that reads the node's shared counters."""
        return self.local_rank == 0

    def identity(self) -> dict[str, Any]:
        """The fields a per-rank record carries (who measured what)."""
        return {
            "rank": self.rank,
            "local_rank": self.local_rank,
            "node_rank": self.node_rank,
            "node": self.node,
            "host": self.host,
            "meters_node": self.meters_node,
        }


def _int(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        if default is None:
            raise UsageError(f"${name} is not set but the other torchrun variables are")
        return default
    match = re.match(r"^\s*(\d+)", raw)  # SLURM_TASKS_PER_NODE looks like "2(x3)"
    if not match:
        raise UsageError(f"${name} must be a non-negative integer, got {raw!r}")
    return int(match.group(1))


def rank_info(
    env: Mapping[str, str] = os.environ, hostname: Callable[[], str] = socket.gethostname
) -> RankInfo:
    """Parse torchrun's variables (preferred: torchrun under srun sets both) or SLURM's.

    A malformed variable is a ``UsageError`` (one line), never a silent single-process run."""
    host = hostname()
    node = env.get(NODE_ENV) or host
    if any(name in env for name in _TORCHRUN) and "WORLD_SIZE" in env:
        world = _int(env, "WORLD_SIZE")
        info = RankInfo(
            rank=_int(env, "RANK", 0),
            local_rank=_int(env, "LOCAL_RANK", 0),
            world_size=world,
            local_world_size=_int(env, "LOCAL_WORLD_SIZE", world),
            node_rank=_int(env, "GROUP_RANK", 0),
            node=node,
            host=host,
            launcher="torchrun",
        )
    elif "SLURM_PROCID" in env and _int(env, "SLURM_NTASKS", 1) > 1:
        world = _int(env, "SLURM_NTASKS")
        info = RankInfo(
            rank=_int(env, "SLURM_PROCID"),
            local_rank=_int(env, "SLURM_LOCALID", 0),
            world_size=world,
            local_world_size=_int(env, "SLURM_NTASKS_PER_NODE", 0)
            or _int(env, "SLURM_TASKS_PER_NODE", world),
            node_rank=_int(env, "SLURM_NODEID", 0),
            node=node,
            host=host,
            launcher="slurm",
        )
    else:
        return RankInfo(node=node, host=host)
    if not (info.rank < info.world_size and info.local_rank < max(info.local_world_size, 1)):
        raise UsageError(
            f"rank {info.rank} (local {info.local_rank}) does not fit a world of "
            f"{info.world_size} ({info.local_world_size} per node)"
        )
    return info


def _gpu_env(info: RankInfo, env: Mapping[str, str], count: int) -> dict[str, str] | None:
    """``env`` with CUDA_VISIBLE_DEVICES narrowed to this rank's GPUs (None: it owns none)."""
    raw = env.get("CUDA_VISIBLE_DEVICES")
    tokens = [t.strip() for t in raw.split(",") if t.strip()] if raw else []
    tokens = tokens or [str(i) for i in range(count)]
    mine = [t for j, t in enumerate(tokens) if j % max(info.local_world_size, 1) == info.local_rank]
    return {**env, "CUDA_VISIBLE_DEVICES": ",".join(mine)} if mine else None


def rank_sensors(
    info: RankInfo | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    default: Callable[..., list[Sensor]] | None = None,
    **kwargs: Any,
) -> list[Sensor]:
    """This rank's share of ``default_sensors(**kwargs)`` (all of it outside a distributed job).

    ``default``: the function building the node's sensors (``greenai.sensors.default_sensors``)."""
    from greenai.sensors import default_sensors
    from greenai.sensors.nvml import NvmlSensor
    from greenai.sensors.rapl import RaplSensor

    build = default or default_sensors
    info = info or rank_info(env)
    if not info.distributed or kwargs.get("pid") is not None:
        return build(env=env, **kwargs)
    sensors: list[Sensor] = []
    for sensor in build(env=env, **kwargs):
        if isinstance(sensor, RaplSensor) and not info.meters_node:
            sensor.close()
            why = f"counted once per node by local rank 0 of node {info.node}"
            sensors.append(NullSensor(sensor.components, why))
        elif isinstance(sensor, NvmlSensor):
            count = len(sensor.gpu_names())
            sensor.close()
            narrowed = _gpu_env(info, env, count)
            if narrowed is None:
                why = f"rank {info.rank} owns none of the node's {count} GPU(s)"
                sensors.append(NullSensor(("gpu",), why))
            else:
                sensors.append(NvmlSensor(narrowed))
        else:
            sensors.append(sensor)
    return sensors
