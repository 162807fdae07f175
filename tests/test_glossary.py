"""The glossary holds the course's terms, and every link into it from a notebook resolves."""

from __future__ import annotations

import re

import nbformat
import pytest

from utils.paths import REPO_ROOT

GLOSSARY = REPO_ROOT / "notebooks" / "GLOSSARY.md"
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("0*.ipynb"))
REQUIRED = [
    "receptive-field", "jump", "effective-receptive-field", "padding", "stride", "max-pooling",
    "transition-1x1-layer", "global-average-pooling-gap", "batchnorm", "dropout",
    "parameters-vs-macs", "data-augmentation", "onecycle-schedule", "learning-rate-range-test",
    "label-smoothing", "weight-decay", "nesterov-momentum",
    "exponential-moving-average-of-weights", "validation-split", "wilson-interval",
    "mcnemar-test", "calibration", "expected-calibration-error-ece", "temperature-scaling",
    "brier-score", "negative-log-likelihood", "confusion-matrix", "precision-recall-and-f1",
    "class-activation-map-cam", "saliency", "integrated-gradients", "occlusion", "grad-cam",
    "knowledge-distillation", "depthwise-separable-convolution", "channel-attention",
    "elastic-distortion", "stochastic-weight-averaging",
]


def github_anchor(heading: str) -> str:
    """GitHub's heading anchor: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def glossary_entries() -> dict[str, str]:
    """Anchor -> the entry's text, for every `### Term` heading."""
    entries: dict[str, str] = {}
    for block in GLOSSARY.read_text().split("\n### ")[1:]:
        heading, _, body = block.partition("\n")
        entries[github_anchor(heading)] = body.split("\n## ")[0].strip()
    return entries


def test_github_anchor_rules():
    assert github_anchor("Transition (1x1) layer") == "transition-1x1-layer"
    assert github_anchor("Precision, recall and F1") == "precision-recall-and-f1"
    assert github_anchor("Grad-CAM") == "grad-cam"


def test_every_required_term_has_a_short_entry_with_its_source():
    entries = glossary_entries()
    missing = [term for term in REQUIRED if term not in entries]
    assert not missing, f"glossary lacks: {missing}"
    for anchor, body in entries.items():
        assert "Source:" in body, f"{anchor}: say where the idea comes from"
        assert len(body.split()) < 120, f"{anchor}: keep entries short"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_glossary_links_in_notebooks_resolve(path):
    entries = glossary_entries()
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    broken = [a for a in re.findall(r"GLOSSARY\.md#([\w-]+)", text) if a not in entries]
    assert not broken, f"{path.name}: links to missing glossary entries {broken}"
