"""The fixed sentence corpus shipped with greenai (``greenai/reference/stdlib_sentences.txt``).

3,000 English sentences from CPython's standard-library docstrings (PSF License), built once by
``scripts/build_sentence_corpus.py`` and versioned; its provenance is in the file's header and in
``greenai/reference/PROVENANCE.txt``.
"""

from __future__ import annotations

from importlib import resources

CORPUS_FILE = "stdlib_sentences.txt"


def sentences(limit: int | None = None) -> list[str]:
    """The corpus' sentences in their fixed order (the first ``limit`` when given)."""
    text = resources.files("greenai.reference").joinpath(CORPUS_FILE).read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line and not line.startswith("#")]
    return rows if limit is None else rows[:limit]


def provenance() -> str:
    """The corpus file's header (source and licence), joined into one paragraph."""
    text = resources.files("greenai.reference").joinpath(CORPUS_FILE).read_text(encoding="utf-8")
    return " ".join(line[2:] for line in text.splitlines() if line.startswith("# "))
