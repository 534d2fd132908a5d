"""The built-in `nmi` evaluator on labelings whose NMI is known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dcbench.components import EvalContext
from dcbench.plugins.evaluators import NMIEvaluator


def _context(pseudo, previous=None, true=None) -> EvalContext:
    return EvalContext(
        epoch=1, final=False, pseudo_labels=np.asarray(pseudo),
        previous_pseudo_labels=None if previous is None else np.asarray(previous),
        true_labels=None if true is None else np.asarray(true),
        features=np.zeros((len(pseudo), 2), dtype=np.float32), model=None, dataset=None,
        device="cpu", seed=0, settings={},
    )  # fmt: skip


def _metrics(context: EvalContext) -> dict[str, float]:
    return {m.name: m.value for m in NMIEvaluator().evaluate(context)}


def test_identical_and_renamed_labelings_have_nmi_one() -> None:
    labels = [0, 0, 1, 1, 2, 2]
    renamed = [5, 5, 3, 3, 4, 4]
    metrics = _metrics(_context(renamed, previous=labels, true=labels))
    assert metrics == pytest.approx({"nmi_labels": 1.0, "nmi_previous": 1.0})


def test_hand_computed_value() -> None:
    # true = [0,0,1,1], pseudo = [0,0,0,1]: H(true) = ln 2, H(pseudo) = H(1/4, 3/4),
    # I = H(true) - H(true | pseudo) = ln 2 - (3/4) H(1/3, 2/3); NMI = I / mean(H).
    def entropy(*p: float) -> float:
        return -sum(x * math.log(x) for x in p)

    h_true, h_pseudo = math.log(2), entropy(0.25, 0.75)
    mutual = h_true - 0.75 * entropy(1 / 3, 2 / 3)
    expected = mutual / ((h_true + h_pseudo) / 2)
    metrics = _metrics(_context([0, 0, 0, 1], true=[0, 0, 1, 1]))
    assert metrics["nmi_labels"] == pytest.approx(expected)


def test_independent_labelings_have_nmi_zero() -> None:
    metrics = _metrics(_context([0, 1, 0, 1], previous=[0, 0, 1, 1], true=[0, 0, 1, 1]))
    assert metrics["nmi_labels"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["nmi_previous"] == pytest.approx(0.0, abs=1e-12)


def test_unlabelled_first_epoch_reports_nothing_and_higher_is_better() -> None:
    assert NMIEvaluator().evaluate(_context([0, 1, 1])) == []
    [metric] = NMIEvaluator().evaluate(_context([0, 1, 1], previous=[1, 0, 0]))
    assert metric.name == "nmi_previous" and metric.higher_is_better
