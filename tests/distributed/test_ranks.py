"""Who a process is in a torchrun/SLURM job, which sensors it reads, and how ranks' figures sum."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenai.errors import UsageError
from greenai.meter.gather import combine, rank_record
from greenai.meter.types import Measurement, Method, PhaseResult
from greenai.sensors import CpuTimeEstimate, NullSensor, RaplSensor, default_sensors
from greenai.sensors.ranks import RankInfo, _gpu_env, rank_info, rank_sensors
from greenai.units import CarbonIntensity

HOST = "box-a"


def torchrun_env(rank: int, local: int, world: int = 4, local_world: int = 2) -> dict[str, str]:
    return {
        "RANK": str(rank), "LOCAL_RANK": str(local), "WORLD_SIZE": str(world),
        "LOCAL_WORLD_SIZE": str(local_world), "GROUP_RANK": str(rank // local_world),
    }  # fmt: skip


def test_torchrun_variables_give_rank_node_and_who_meters_the_node():
    info = rank_info(torchrun_env(3, 1), hostname=lambda: HOST)
    assert (info.rank, info.local_rank, info.world_size, info.node_rank) == (3, 1, 4, 1)
    assert info.distributed and not info.meters_node and info.launcher == "torchrun"
    assert info.node == HOST
    named = rank_info({**torchrun_env(2, 0), "GREENAI_NODE_ID": "n1"}, hostname=lambda: HOST)
    assert named.meters_node and named.node == "n1" and named.host == HOST


def test_slurm_variables_are_read_when_torchrun_is_absent():
    env = {"SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_NODEID": "2", "SLURM_NTASKS": "6",
           "SLURM_TASKS_PER_NODE": "2(x3)"}  # fmt: skip
    info = rank_info(env, hostname=lambda: HOST)
    assert (info.rank, info.local_rank, info.world_size, info.local_world_size) == (5, 1, 6, 2)
    assert info.node_rank == 2 and info.launcher == "slurm"
    single = rank_info({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}, hostname=lambda: HOST)
    assert not single.distributed and single.launcher == "single"


@pytest.mark.parametrize(
    "env",
    [
        {**torchrun_env(0, 0), "RANK": "zero"},
        {**torchrun_env(0, 0), "RANK": "7"},  # outside a world of 4
    ],
)
def test_malformed_rank_variables_are_one_usage_error(env):
    with pytest.raises(UsageError) as err:
        rank_info(env, hostname=lambda: HOST)
    assert "\n" not in str(err.value)


def _tree(root: Path) -> Path:
    zone = root / "intel-rapl:0"
    zone.mkdir(parents=True)
    (zone / "name").write_text("package-0\n")
    (zone / "energy_uj").write_text("1000\n")
    (zone / "max_energy_range_uj").write_text("262143328850\n")
    return root


def test_only_local_rank_0_reads_the_node_counters_every_rank_its_own_estimates(tmp_path):
    root = _tree(tmp_path / "pc")
    env = {"GREENAI_POWERCAP_ROOT": str(root)}

    def build(**kw):
        return default_sensors(nvidia_driver=None, cpuinfo="/nonexistent", **kw)

    lead = rank_sensors(rank_info({**env, **torchrun_env(0, 0)}), env=env, default=build)
    other = rank_sensors(rank_info({**env, **torchrun_env(1, 1)}), env=env, default=build)
    assert any(isinstance(s, RaplSensor) for s in lead)
    assert not any(isinstance(s, RaplSensor) for s in other)
    nulls = [s for s in other if isinstance(s, NullSensor) and "cpu" in s.components]
    assert nulls and "local rank 0" in nulls[0].methods()["cpu"].detail
    # without RAPL both ranks keep their own CPU-time estimate (their own process trees)
    bare = {"GREENAI_POWERCAP_ROOT": str(tmp_path / "none"), "GREENAI_CPU_WATTS": "5"}
    for rank in (0, 1):
        got = rank_sensors(rank_info({**bare, **torchrun_env(rank, rank)}), env=bare, default=build)
        cpu = [s for s in got if "cpu" in s.components]
        assert [type(s) for s in cpu] == [CpuTimeEstimate]


def test_each_rank_owns_its_share_of_the_visible_gpus():
    env = {"CUDA_VISIBLE_DEVICES": "4,5,6"}
    mine = [_gpu_env(RankInfo(r, r, 2, 2), env, 8) for r in (0, 1)]
    assert [m["CUDA_VISIBLE_DEVICES"] for m in mine if m] == ["4,6", "5"]
    assert _gpu_env(RankInfo(3, 3, 4, 4), {}, 2) is None  # more ranks than GPUs: none left
    assert _gpu_env(RankInfo(1, 1, 4, 4), {}, 2) == {"CUDA_VISIBLE_DEVICES": "1"}


def _m(cpu: float, ram: float, kind: str, duration: float) -> Measurement:
    intensity = CarbonIntensity(500.0, "test")
    phase = PhaseResult("r", "train", "train", 0.0, duration, {"cpu": cpu, "ram": ram}, cpu * 1e-7)
    return Measurement(
        "r", "baseline", 0.0, duration, {"cpu": cpu, "gpu": 0.0, "ram": ram},
        {"cpu": Method(kind, "RAPL powercap" if kind == "measured" else "no device"),
         "gpu": Method("none", "no device"), "ram": Method("estimated", "RSS × W per GB")},
        intensity, 1.0, (cpu + ram) * 1e-7, (phase,),
    )  # fmt: skip


def test_combine_sums_every_rank_once_and_keeps_who_measured_what():
    records = [
        rank_record(_m(100.0, 1.0, "measured", 10.0), RankInfo(0, 0, 4, 2, 0, "a", "a").identity()),
        rank_record(_m(0.0, 1.5, "none", 10.2), RankInfo(1, 1, 4, 2, 0, "a", "a").identity()),
        rank_record(_m(60.0, 2.0, "measured", 9.9), RankInfo(2, 0, 4, 2, 1, "b", "b").identity()),
        rank_record(_m(0.0, 2.5, "none", 9.8), RankInfo(3, 1, 4, 2, 1, "b", "b").identity()),
    ]
    job, detail = combine(records, _m(100.0, 1.0, "measured", 10.0))
    assert job.energy_j == {"cpu": 160.0, "gpu": 0.0, "ram": 7.0}
    assert job.duration_s == 10.2
    assert job.co2_kg == pytest.approx(167.0e-7)
    assert job.methods["cpu"].kind == "measured" and "2 of 4 ranks" in job.methods["cpu"].detail
    assert [p.energy_j["cpu"] for p in job.phases] == [160.0]
    nodes = {n["node"]: n for n in detail["nodes"]}
    assert nodes["a"]["energy_j"]["cpu"] == 100.0 and nodes["b"]["energy_j"]["cpu"] == 60.0
    assert nodes["b"]["ranks"] == [2, 3]
    assert [r["meters_node"] for r in detail["ranks"]] == [True, False, True, False]


def test_job_total_is_the_measurement_itself_without_a_process_group_and_gathered_with_one():
    from dist_launch import free_port

    from greenai.meter.gather import job_total

    m = _m(10.0, 1.0, "measured", 2.0)
    assert job_total(m) == (m, None)
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1
    )
    try:
        job, detail = job_total(m, RankInfo(node="solo", host="solo"))
    finally:
        dist.destroy_process_group()
    assert job.energy_j == m.energy_j and detail is not None
    assert detail["world_size"] == 1 and detail["nodes"][0]["node"] == "solo"


def test_a_step_that_cannot_share_its_work_refuses_to_run_on_every_rank(tmp_path, monkeypatch):
    """Under torchrun only training splits the work; any other step would run (and be recorded)
    once per rank: it is refused in one line before anything is written."""
    from greenai.lifecycle.run import MeteredRun, RunEnv, RunSpec

    for name, value in torchrun_env(1, 1).items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "out"
    spec = RunSpec("pruned_unstructured", "seed_cnn", "synthetic", "cpu", {})
    ran = []
    with pytest.raises(UsageError) as err:
        MeteredRun(spec, RunEnv(out)).execute(ran.append, lambda *_: {})
    assert "does not run distributed" in str(err.value) and "\n" not in str(err.value)
    assert ran == [] and not out.exists()
