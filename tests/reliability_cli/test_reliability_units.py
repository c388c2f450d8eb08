"""The small guards of issue #19, each on its own: model size against memory (a fake
/proc/meminfo), the output-folder probe, one-line messages, result-JSON types, Markdown escaping,
the signal handlers, and the INT8 compile's silenced torch warning."""

from __future__ import annotations

import os
import signal
import warnings
from pathlib import Path

import pytest

from greenai.cli.main import Interrupted, graceful_signals, main, one_line
from greenai.errors import DataError, UsageError
from greenai.fsutil import check_out_dir


def _meminfo(tmp: Path, available_kb: int) -> Path:
    path = tmp / "meminfo"
    path.write_text(f"MemTotal:       {available_kb * 2} kB\nMemAvailable:   {available_kb} kB\n")
    return path


def test_a_model_too_large_for_memory_is_refused_before_it_is_built(tmp_path):
    from greenai.ml.models.footprint import check_fits_memory, parameter_count

    params = parameter_count("seed_cnn")
    assert params is not None and params > 100_000  # counted on the meta device, not allocated
    roomy = _meminfo(tmp_path, available_kb=params * 16 // 1024 + 1024)
    check_fits_memory("seed_cnn", meminfo=roomy)
    tight = _meminfo(tmp_path, available_kb=params * 16 // 1024 - 1024)
    with pytest.raises(UsageError, match=rf"{params:,} parameters: training needs at least"):
        check_fits_memory("seed_cnn", meminfo=tight)


def test_sizes_past_int64_are_refused_not_overflowed():
    from greenai.ml.models.footprint import check_fits_memory

    with pytest.raises(UsageError, match=r"exceed 2\*\*63 bytes"):
        check_fits_memory("airbench", {"width": 1e7})


def test_out_dir_probe_refuses_files_and_unwritable_folders(tmp_path):
    check_out_dir(tmp_path / "new" / "deeper")  # creatable: fine, and nothing is created
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "f").write_text("x")
    with pytest.raises(UsageError, match="is not a folder"):
        check_out_dir(tmp_path / "f")
    with pytest.raises(UsageError, match="cannot be created"):
        check_out_dir(tmp_path / "f" / "sub")
    with pytest.raises(UsageError, match="is not writable"):
        check_out_dir("/proc")  # root passes permission bits here; the probe file does not
    assert (tmp_path / "f").read_text() == "x"


def test_messages_stay_on_one_line(capsys):
    assert one_line("a\nb\rc\x0cd\u2028e") == "a\\nb\\rc\\x0cd\\u2028e"
    with pytest.raises(SystemExit) as exc:
        main(["baseline", "--recipe=--"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expected a value, got '--'" in err


def test_result_json_with_wrong_types_is_refused_naming_the_field(tmp_path):
    import json

    from greenai.results.resultfile import load_result

    good = {"schema_version": 1, "run_id": "r", "variant": "baseline", "metrics": {},
            "energy": {"step": {"energy_kwh": 0.1}, "lifecycle": {"ancestors": []}}}  # fmt: skip
    path = tmp_path / "r.json"
    path.write_text(json.dumps(good))
    assert load_result(path)["run_id"] == "r"
    for change, field in [
        ({"metrics": "oops"}, "metrics"),
        ({"energy": [1, 2, 3]}, "energy"),
        ({"energy": {"step": {"energy_kwh": "lots"}}}, "energy.step.energy_kwh"),
        ({"metrics": {"test_accuracy_pct": True}}, "metrics.test_accuracy_pct"),
        ({"inference": 7}, "inference"),
    ]:
        path.write_text(json.dumps({**good, **change}))
        with pytest.raises(DataError, match=rf"{path}: field {field} must be"):
            load_result(path)


def test_study_report_md_escapes_html_in_names(tmp_path):
    from greenai.reports.build import MARKDOWN_NAME, write_report
    from greenai.reports.inputs import RunInput

    runs = [
        RunInput("<img src=x onerror=alert(1)>", "baseline", "cpu", "failed",
                 error="<script>alert(2)</script>", model="<b>net</b>"),
    ]  # fmt: skip
    write_report(runs, tmp_path, title="<i>title</i>")
    md = (tmp_path / MARKDOWN_NAME).read_text(encoding="utf-8")
    assert "<script>" not in md and "<img" not in md and "<i>" not in md
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in md


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_raise_a_keyboard_interrupt_that_names_them(sig):
    before = signal.getsignal(sig)
    with pytest.raises(KeyboardInterrupt) as exc, graceful_signals():
        os.kill(os.getpid(), sig)
        signal.sigtimedwait([], 0.5)  # give the handler its bytecode boundary
    assert isinstance(exc.value, Interrupted) and exc.value.signum == sig
    assert signal.getsignal(sig) == before  # restored after the command


def test_an_ignored_sighup_stays_ignored():
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with graceful_signals():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN  # nohup's choice is kept
    finally:
        signal.signal(signal.SIGHUP, before)


@pytest.mark.slow
def test_the_int8_compile_prints_no_torch_user_warning():
    """Inductor's INT8 conv lowering warns "To copy construct from a tensor ..." (twice for this
    net without the filter: checked by hand with a plain torch.compile)."""
    import sys

    import torch

    from greenai.ml.compression.int8_compile import compile_for_cpu
    from greenai.ml.compression.quantize import quantize_ptq

    sys.path.insert(0, str(Path(__file__).parents[1] / "compression"))
    from compression_nets import TinyNet, trained_bn

    torch.manual_seed(0)
    x = torch.randn(8, 3, 32, 32)
    q = quantize_ptq(trained_bn(TinyNet(width=4), x), [x], x)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        compile_for_cpu(q.module)(x)
    copies = [w for w in seen if "copy construct" in str(w.message)]
    assert not copies, [str(w.message) for w in copies]
