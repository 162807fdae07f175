"""Prose and numbers stay together: wherever notebooks 05 and 07, README.md or docs/results.md
state an ablation's verdict, it must be the verdict that ``results/ablations.csv`` gives today, so a rerun that
changes a verdict fails here until the prose changes with it.

The convention is small and explicit. A *claim* is one markdown sentence that names ablation
variants by id in backticks (`aug2`) and contains a verdict phrase:

- "beyond noise" or "matters": the named variants are beyond noise by the run-level test;
- "not beyond noise" or "no detectable change": they are not.

A sentence holding both kinds is ambiguous and fails, and so does "does not matter", "makes no
difference" or "no effect" next to a variant: not beyond noise is not evidence of no effect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from utils.experiments import ablations
from utils.paths import REPO_ROOT

SOURCES = [REPO_ROOT / "notebooks" / "05_ablations.ipynb",
           REPO_ROOT / "notebooks" / "07_how_small.ipynb", REPO_ROOT / "README.md",
           REPO_ROOT / "docs" / "results.md"]
NEGATIVE = ("not beyond noise", "no detectable change")
POSITIVE = ("beyond noise", "matters")
UNSUPPORTED = ("does not matter", "doesn't matter", "makes no difference", "no effect")
VARIANTS = set(ablations.ABLATIONS) - {ablations.CONTROL}
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z*`(])|\n(?=\s*(?:[-*] |\d+\. |#))")


@dataclass(frozen=True)
class Claim:
    where: str
    sentence: str
    variants: tuple[str, ...]
    beyond_noise: bool


def sentences(markdown: str) -> list[str]:
    """Sentences and list items of a markdown text, each on one line."""
    parts = (" ".join(p.split()) for block in markdown.split("\n\n")
             for p in SENTENCE_END.split(block))
    return [p for p in parts if p]


def claims(markdown: str, where: str) -> list[Claim]:
    """Every claim in ``markdown``; ValueError for an ambiguous or unsupported one."""
    found = []
    for sentence in sentences(markdown):
        named = tuple(v for v in re.findall(r"`([^`]+)`", sentence) if v in VARIANTS)
        lowered = sentence.lower()
        if not named:
            continue
        if any(phrase in lowered for phrase in UNSUPPORTED):
            raise ValueError(f"{where}: {sentence!r} says a variant has no effect; say 'not "
                             "beyond noise' or 'no detectable change' with its interval.")
        negative = any(phrase in lowered for phrase in NEGATIVE)
        rest = lowered
        for phrase in NEGATIVE:
            rest = rest.replace(phrase, "")
        positive = any(phrase in rest for phrase in POSITIVE)
        if negative and positive:
            raise ValueError(f"{where}: {sentence!r} holds both verdicts; one per sentence.")
        if negative or positive:
            found.append(Claim(where, sentence, named, positive))
    return found


def markdown_of(path: Path) -> list[tuple[str, str]]:
    """(where, text) of README.md, or of each markdown cell of a notebook."""
    if path.suffix != ".ipynb":
        return [(path.name, path.read_text())]
    nb = nbformat.read(path, as_version=4)
    return [(f"{path.name}, cell {cell.id}", cell.source) for cell in nb.cells
            if cell.cell_type == "markdown"]


def all_claims(paths: list[Path]) -> list[Claim]:
    return [claim for path in paths if path.is_file()
            for where, text in markdown_of(path) for claim in claims(text, where)]


def contradictions(found: list[Claim], verdicts: dict[str, bool]) -> list[str]:
    """One line per variant whose claimed verdict differs from the results table's."""
    word = {True: "beyond noise", False: "not beyond noise"}
    return [f"{c.where}: {v!r} is called {word[c.beyond_noise]}, but results/ablations.csv "
            f"makes it {word[verdicts[v]]}: {c.sentence!r}"
            for c in found for v in c.variants if verdicts[v] != c.beyond_noise]


@pytest.fixture(scope="module")
def verdicts() -> dict[str, bool]:
    return ablations.verdicts(ablations.read_table(ablations.RESULTS_DIR / "ablations.csv"))


def test_every_claim_in_the_prose_matches_the_results(verdicts) -> None:
    problems = contradictions(all_claims(SOURCES), verdicts)
    assert not problems, "\n".join(problems)


def test_notebook05_states_a_verdict_for_every_variant(verdicts) -> None:
    named = {v for c in all_claims(SOURCES[:1]) for v in c.variants}
    assert named == set(verdicts), f"no verdict stated for: {sorted(set(verdicts) - named)}"


def test_the_convention_reads_sentences_and_list_items() -> None:
    text = ("- **Beyond noise**: `aug2` and `nobn-lr0.03`.\n  Doubling costs 0.2 points.\n"
            "- **Not beyond noise**: `ls0`, `ema`. The head `fchead` shows no detectable change.\n\n"
            "`aug2` is mentioned here without a verdict.")
    found = claims(text, "t")
    assert [(c.variants, c.beyond_noise) for c in found] == [
        (("aug2", "nobn-lr0.03"), True), (("ls0", "ema"), False), (("fchead",), False)]


@pytest.mark.parametrize(("sentence", "message"), [
    ("`ls0` is beyond noise.", "'ls0' is called beyond noise"),
    ("Removing label smoothing (`ls0`) matters.", "'ls0' is called beyond noise"),
    ("`aug2` shows no detectable change.", "'aug2' is called not beyond noise"),
])
def test_a_contradicting_claim_fails(sentence, message, verdicts) -> None:
    problems = contradictions(claims(sentence, "t"), verdicts)
    assert len(problems) == 1 and message in problems[0]


@pytest.mark.parametrize(("sentence", "message"), [
    ("`ls0` does not matter.", "no effect"),
    ("`aug2` is beyond noise, `ls0` is not beyond noise.", "both verdicts"),
])
def test_unsupported_or_ambiguous_claims_fail(sentence, message) -> None:
    with pytest.raises(ValueError, match=message):
        claims(sentence, "t")


def test_a_rerun_that_changes_a_verdict_fails_until_the_prose_changes(verdicts) -> None:
    """Take a variant notebook 05 calls beyond noise and give its seeds alternating signs: the
    rerun's verdict flips, and the prose that still says "beyond noise" must fail."""
    rows = ablations.read_table(ablations.RESULTS_DIR / "ablations.csv")
    claimed = {v for c in all_claims(SOURCES[:1]) if c.beyond_noise for v in c.variants}
    variant = sorted(claimed)[0]
    control = {r["seed"]: r["val_acc"] for r in rows if r["variant"] == ablations.CONTROL}
    rerun = [{**r, "val_acc": control[r["seed"]] + (0.004 if r["seed"] % 2 else -0.004)}
             if r["variant"] == variant else r for r in rows]
    assert verdicts[variant] and not ablations.verdicts(rerun)[variant]
    problems = contradictions(all_claims(SOURCES[:1]), ablations.verdicts(rerun))
    assert problems and all(f"{variant!r} is called beyond noise" in p for p in problems)
