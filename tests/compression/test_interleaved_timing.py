"""``evaluate.interleaved_throughput``: the order of the timed calls (never their durations)."""

from __future__ import annotations

import torch

from greenai.ml.evaluation import evaluate


def test_rounds_alternate_with_a_warm_call_then_the_timed_calls_in_a_row():
    log: list[str] = []

    def recorder(name: str):
        def predict(x: torch.Tensor) -> torch.Tensor:
            log.append(name)
            return x

        return predict

    batch = torch.zeros(8, 3, 4, 4)
    out = evaluate.interleaved_throughput(
        {"a": (recorder("a"), batch), "b": (recorder("b"), batch[:4])},
        rounds=3, warmup=2, calls=4,
    )  # fmt: skip
    assert log[:4] == ["a", "a", "b", "b"]  # warm-up first
    one_round = ["a"] * 5 + ["b"] * 5  # per round and candidate: 1 untimed + 4 timed calls
    assert log[4:] == one_round * 3
    assert set(out) == {"a", "b"}
    for stats in out.values():
        assert 0 < stats["min_img_s"] <= stats["median_img_s"] <= stats["max_img_s"]


def test_compile_for_cpu_keeps_compiling_past_dynamo_default_limit():
    """Instances of one class share forward's code object: past 8 compiled (instance, shape)
    pairs dynamo would run the rest eagerly, silently, and a bench would time eager code."""
    from torch._dynamo.utils import counters

    from greenai.ml.compression.int8_compile import compile_for_cpu

    torch.manual_seed(0)
    models = [torch.nn.Sequential(torch.nn.Linear(4, 3)).eval() for _ in range(5)]
    counters.clear()
    for model in models:
        fn = compile_for_cpu(model)
        for n in (1, 2):  # 5 instances x 2 shapes = 10 pairs
            x = torch.randn(n, 4)
            torch.testing.assert_close(fn(x), model(x))
    assert counters["stats"]["unique_graphs"] == 10
