"""Build greenai's fixed English sentence corpus from Python's own standard-library docstrings.

The text-encoder workload (``greenai.ml.text``) needs real English sentences that ship with the
project under a licence that allows it, and that never change between runs. Python's docstrings
are written by people, in English, and are under the PSF License Agreement (which allows copying
and redistribution with its notice). This script reads the stdlib's ``.py`` files with ``ast`` (no
module is imported), splits module, class and function docstrings into sentences, keeps plain
prose ones (40-200 characters, a capital first letter and a full stop last, mostly letters, no
code), removes duplicates, orders them by a hash (a fixed shuffle) and writes the first N with a
provenance header. Run it again only to change the corpus; the output is versioned:

    python scripts/build_sentence_corpus.py > src/greenai/reference/stdlib_sentences.txt
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import platform
import re
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

SENTENCE_END = re.compile(r"(?<=[a-z0-9)][.])\s+(?=[A-Z])")
CODE_HINTS = re.compile(r"(>>>|::|\bdef\b|\w\(\)|[{}\[\]<>=`*_|\\#@$]|\w\.\w|https?:)")


def docstrings(root: Path) -> Iterator[tuple[str, str]]:
    """(module path, docstring) for every module, class and function under ``root``."""
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if any(
            part in rel for part in ("test", "idlelib", "site-packages", "lib2to3", "turtledemo")
        ):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                text = ast.get_docstring(node)
                if text:
                    yield rel, text


def sentences(text: str) -> Iterator[str]:
    """Prose sentences of one docstring (paragraphs joined; code and lists dropped)."""
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in paragraph.splitlines()]
        if any(ln.startswith(("-", "*", ">>>", "...", ":")) for ln in lines):
            continue
        for sentence in SENTENCE_END.split(" ".join(lines)):
            if keep(sentence):
                yield sentence


def keep(s: str) -> bool:
    if not 40 <= len(s) <= 200 or not s[0].isupper() or not s.endswith("."):
        return False
    if CODE_HINTS.search(s) or s.count("(") != s.count(")") or s.count('"') % 2 or "'" in s[:1]:
        return False
    letters = sum(ch.isalpha() or ch == " " for ch in s)
    return letters / len(s) > 0.9 and len(s.split()) >= 7


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000, help="sentences to keep (3000)")
    args = parser.parse_args(argv)
    root = Path(sysconfig.get_paths()["stdlib"])
    seen: dict[str, None] = {}
    for _module, text in docstrings(root):
        for s in sentences(text):
            seen.setdefault(s, None)
    ordered = sorted(seen, key=lambda s: hashlib.sha256(s.encode()).hexdigest())[: args.count]
    if len(ordered) < args.count:
        print(f"only {len(ordered)} sentences found", file=sys.stderr)
        return 1
    out = sys.stdout
    print(
        "# greenai sentence corpus: English sentences from CPython's standard-library docstrings.",
        file=out,
    )
    print(
        f"# Source: the .py files of Python {platform.python_version()}'s stdlib, read with ast "
        "by scripts/build_sentence_corpus.py",
        file=out,
    )
    print(
        "# (module, class and function docstrings; prose sentences only; sha256 order).", file=out
    )
    print(
        "# Licence: Python Software Foundation License Version 2. Copyright (c) 2001 Python "
        "Software Foundation; All Rights Reserved.",
        file=out,
    )
    print(
        f"# {len(ordered)} sentences, one per line; lines starting with '#' are this header.",
        file=out,
    )
    for s in ordered:
        print(s, file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
