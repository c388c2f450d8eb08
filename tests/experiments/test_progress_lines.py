"""Progress a person can plan by: the overall line (where, elapsed, rough time left), the phase lines
of steps without epochs, no ``W=nan`` on the first update, and accuracy figures that say what they
are. Clocks are injected; nothing here measures time."""

from __future__ import annotations

import io

import pytest

from greenai.ml.training import progress


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (35.4, "35s"), (724, "12m04s"), (11_100, "3h05m")]
)
def test_clock_text(seconds, text):
    assert progress.clock_text(seconds) == text


def test_overall_line_extrapolates_from_the_work_done_and_says_it_is_rough():
    line = progress.overall_line("study: step 3 of 6", 10, 40, 600.0, "steps' epochs")
    assert line == (
        "study: step 3 of 6: 10m00s elapsed, about 30m00s left "
        "(rough: from the steps' epochs so far)"
    )


def test_overall_line_before_any_work_says_when_a_figure_comes():
    line = progress.overall_line("baseline R: epoch 1 of 20", 0, 20, 3.0, "epochs")
    assert line.endswith("time left known after the first epochs") and "about" not in line


def test_first_update_shows_power_not_nan():
    bar = progress.EpochBar(1, 2, 10, enabled=True, live=lambda: (4.0, 200.0, 0.0001))
    bar.update_from(0, 2.3, 10.0)
    assert "nan" not in str(bar.bar.postfix) and "W=50" in str(bar.bar.postfix)
    bar.close(2.3, 10.0, "test", 12.0)


def test_closed_bar_names_each_accuracy():
    bar = progress.EpochBar(1, 2, 10, enabled=True, live=lambda: (0.0, 0.0, 0.0))
    bar.close(1.0, 71.5, "test", 79.5, "no TTA")
    postfix = str(bar.bar.postfix)
    assert "train_acc=71.5%" in postfix and "test_acc(no TTA)=79.5%" in postfix


def test_phase_line_says_start_and_duration_from_the_clock():
    ticks = iter([100.0, 112.0])
    out = io.StringIO()
    with progress.phase_line("prune R [2/4] prune", clock=lambda: next(ticks), stream=out):
        pass
    assert out.getvalue().splitlines() == [
        "prune R [2/4] prune ...",
        "prune R [2/4] prune: done in 12s",
    ]


def test_epoch_reporter_prints_one_overall_line_per_epoch(capsys):
    ticks = iter([0.0, 60.0, 120.0])
    report = progress.epoch_reporter("distill R", 4, clock=lambda: next(ticks))
    report(1, 1.234)
    report(2, 0.9)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (
        "distill R: epoch 1 of 4 done, loss 1.234: 1m00s elapsed, about 3m00s left "
        "(rough: from the epochs so far)"
    )
    assert "about 2m00s left" in lines[1]


def test_accuracy_summary_says_which_figure_it_is():
    from greenai.cli.baseline import accuracy_how

    both = accuracy_how({"metrics": {"test_accuracy_pct": 80.2, "test_accuracy_tta_pct": 82.03}})
    assert "one forward per image" in both and "82.03% with test-time augmentation" in both
    assert "no test-time augmentation" in accuracy_how({"metrics": {"test_accuracy_tta_pct": None}})
