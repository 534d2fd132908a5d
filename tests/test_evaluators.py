"""Clustering scores against hand-computed cases, options, and skipping on unlabelled data."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from dcbench.components import EvalContext
from dcbench.deepcluster import evaluate
from dcbench.errors import ConfigError
from dcbench.plugin_manager import load_components
from dcbench.plugins.evaluators import (
    clustering_scores,
    contingency,
    hungarian_accuracy,
    purity,
)
from dcbench.progress import SilentReporter

SCORES = ("cluster_nmi", "cluster_ami", "cluster_ari", "cluster_acc", "cluster_purity")


def test_perfect_and_permuted_labelings_score_one() -> None:
    classes = np.array([0, 0, 1, 1, 2, 2, 2])
    for clusters in (classes, np.array([2, 2, 0, 0, 1, 1, 1]), np.array([7, 7, 3, 3, 5, 5, 5])):
        scores = clustering_scores(classes, clusters)
        assert [scores[name] for name in SCORES] == pytest.approx([1.0] * 5)


def test_independent_labeling_by_hand() -> None:
    # Every cluster holds one image of each class: MI = 0. ARI: sum C(n_ij,2) = 0,
    # expected = 2*2/6, max = 2, so (0 - 2/3) / (2 - 2/3) = -1/2. AMI: each cell is
    # hypergeometric (P(2) = 1/6), so E[MI] = 4 * 1/6 * 2/4 * ln 2 = ln2/3 and
    # AMI = (0 - ln2/3) / (ln2 - ln2/3) = -1/2.
    scores = clustering_scores(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]))
    assert scores["cluster_nmi"] == pytest.approx(0.0, abs=1e-12)
    assert scores["cluster_ari"] == pytest.approx(-0.5)
    assert scores["cluster_ami"] == pytest.approx(-0.5)
    assert scores["cluster_acc"] == pytest.approx(0.5)
    assert scores["cluster_purity"] == pytest.approx(0.5)


def test_more_clusters_than_classes_by_hand() -> None:
    # Each class split in two clusters: MI = H(classes) = ln 2, H(clusters) = 2 ln 2,
    # NMI = 2 ln2 / 3 ln2 = 2/3. ARI: index 4, expected 4*12/28, max (4+12)/2 -> 4/11.
    # Hungarian: only two clusters can be matched, 4 of 8 images -> 0.5; purity 1.
    classes = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    clusters = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    scores = clustering_scores(classes, clusters)
    assert scores["cluster_nmi"] == pytest.approx(2 / 3)
    assert scores["cluster_ari"] == pytest.approx(4 / 11)
    assert scores["cluster_acc"] == pytest.approx(0.5)
    assert scores["cluster_purity"] == pytest.approx(1.0)
    assert 0 < scores["cluster_ami"] < scores["cluster_nmi"]


def test_fewer_clusters_than_classes_by_hand() -> None:
    # Classes 1 and 2 merged: the merged cluster matches one of them (2 of 4 images).
    classes = np.array([0, 0, 1, 1, 2, 2])
    clusters = np.array([0, 0, 1, 1, 1, 1])
    scores = clustering_scores(classes, clusters)
    assert scores["cluster_acc"] == pytest.approx(4 / 6)
    assert scores["cluster_purity"] == pytest.approx(4 / 6)
    # MI = H(clusters) = H(1/3, 2/3); H(classes) = ln 3.
    h_clusters = -(1 / 3) * math.log(1 / 3) - (2 / 3) * math.log(2 / 3)
    assert scores["cluster_nmi"] == pytest.approx(2 * h_clusters / (h_clusters + math.log(3)))


def test_random_labelings_score_near_chance() -> None:
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 10, 20_000)
    same_k = clustering_scores(classes, rng.integers(0, 10, 20_000))
    more_k = clustering_scores(classes, rng.integers(0, 15, 20_000))
    for scores in (same_k, more_k):
        assert abs(scores["cluster_ami"]) < 0.005 and abs(scores["cluster_ari"]) < 0.005
        assert scores["cluster_nmi"] < 0.01
    assert same_k["cluster_acc"] == pytest.approx(0.1, abs=0.01)
    # 15 clusters of ~1/15 of the images, only 10 matched, each ~1/10 right: ~10/150
    # (a little more, as matching picks the cells that chance made largest).
    assert 10 / 150 < more_k["cluster_acc"] < 0.09
    assert more_k["cluster_purity"] >= more_k["cluster_acc"]


def test_hungarian_accuracy_on_hand_tables() -> None:
    # Greedy would take the 3 and then 0 (3/7); the best one-to-one map is 2 + 2.
    assert hungarian_accuracy(np.array([[3, 2], [2, 0]])) == pytest.approx(4 / 7)
    # 3 clusters x 2 classes: the best two disjoint cells sum to 4 of 9 images.
    table = np.array([[3, 2], [2, 0], [1, 1]])
    assert hungarian_accuracy(table) == pytest.approx(4 / 9)
    assert hungarian_accuracy(table.T) == pytest.approx(4 / 9)  # classes > clusters
    assert purity(table) == pytest.approx((3 + 2 + 1) / 9)


def test_contingency_uses_only_the_labels_present() -> None:
    table = contingency(np.array([5, 5, 9, 9, 9]), np.array([1, 3, 3, 3, 1]))
    assert table.tolist() == [[1, 1], [1, 2]]


def _context(true_labels: np.ndarray | None) -> EvalContext:
    pseudo = np.array([0, 0, 1, 1])
    return EvalContext(
        epoch=1,
        final=True,
        pseudo_labels=pseudo,
        previous_pseudo_labels=pseudo,
        true_labels=true_labels,
        features=np.zeros((4, 2), dtype=np.float32),
        model=None,
        dataset=None,
        device="cpu",
        seed=0,
        settings={},
    )


class _EvalModeOnly:
    def eval(self) -> None:
        pass


def test_evaluators_needing_labels_are_skipped_with_a_note() -> None:
    registries = load_components()
    names = ("nmi", "clustering", "knn", "linear-probe")
    evaluators = {name: registries.create("evaluator", name) for name in names}
    context = _context(None)
    context.model = _EvalModeOnly()
    reporter = SilentReporter()
    metrics = evaluate(evaluators, context, reporter, run_all=True)
    assert [m.name for m in metrics] == ["nmi_previous"]
    for name in ("clustering", "knn", "linear-probe"):
        assert any(name in note and "no labels" in note for note in reporter.notes)
    assert evaluators["clustering"].needs_labels
    assert evaluators["clustering"].per_epoch


def test_clustering_evaluator_reports_all_scores_higher_is_better() -> None:
    evaluator = load_components().create("evaluator", "clustering")
    metrics = evaluator.evaluate(_context(np.array([1, 1, 0, 0])))
    assert {m.name: m.value for m in metrics} == pytest.approx(dict.fromkeys(SCORES, 1.0))
    assert all(m.higher_is_better for m in metrics)


def test_options_are_checked() -> None:
    registries = load_components()
    registries.create("evaluator", "knn", k=5, temperature=0.1, test_fraction=0.3)
    registries.create("evaluator", "linear-probe", epochs=3, lr=0.1, wd=0, max_dims=100)
    with pytest.raises(ConfigError, match="takes no options"):
        registries.create("evaluator", "clustering", k=1)
    with pytest.raises(ConfigError, match="takes no options"):
        registries.create("evaluator", "nmi", k=3)
    with pytest.raises(ConfigError, match="did you mean k\\?"):
        registries.create("evaluator", "knn", kk=3)
    with pytest.raises(ConfigError, match="test_fraction"):
        registries.create("evaluator", "linear-probe", test_fractoin=0.1)
    with pytest.raises(ConfigError, match="epochs must be an integer"):
        registries.create("evaluator", "linear-probe", epochs=0)
    with pytest.raises(ConfigError, match="temperature must be a number"):
        registries.create("evaluator", "knn", temperature="hot")
    with pytest.raises(ConfigError, match="test_fraction"):
        registries.create("evaluator", "knn", test_fraction=1.0)


def test_evaluator_modules_import_no_heavy_libraries() -> None:
    code = (
        "import sys, dcbench.plugins.probes, dcbench.plugins.evaluators; "
        "print(sorted(m for m in ('torch', 'sklearn', 'scipy', 'faiss') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
