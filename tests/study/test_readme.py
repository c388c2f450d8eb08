"""The README's set-up commands exist, and every ``greenai`` example in it parses with today's flags."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from greenai.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _examples() -> list[str]:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = [ln.split(" #")[0].strip() for b in blocks for ln in b.splitlines()]
    return [ln for ln in lines if ln.startswith("greenai ")]


def test_exactly_two_setup_commands_and_their_scripts_exist():
    text = README.read_text(encoding="utf-8")
    setup = text.split("## Set up on a fresh machine", 1)[1].split("```bash\n", 1)[1]
    commands = [ln.split("#")[0].strip() for ln in setup.split("```", 1)[0].splitlines()]
    assert [c for c in commands if c] == ["bash scripts/study.sh", "bash scripts/test.sh"]
    assert (ROOT / "scripts" / "study.sh").is_file() and (ROOT / "scripts" / "test.sh").is_file()


def test_every_command_has_a_usage_section():
    text = README.read_text(encoding="utf-8")
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    headings = [ln for ln in text.splitlines() if ln.startswith("### ")]
    missing = [c for c in commands if not any(f"`greenai {c}`" in h for h in headings)]
    assert not missing, f"README lacks a usage section for: {missing}"


@pytest.mark.parametrize("line", _examples())
def test_example_parses(line: str):
    args = build_parser().parse_args(shlex.split(line)[1:])
    assert callable(args.func)
