"""Built-in evaluators that read the clustering: NMI against labels and over time."""

from __future__ import annotations

from typing import Any

from dcbench import hookimpl
from dcbench.components import EvalContext, Metric
from dcbench.errors import ConfigError


class NMIEvaluator:
    """NMI(pseudo-labels, true labels) and NMI(previous epoch, this epoch).

    The second is the paper's stability curve and needs no labels, so this evaluator
    runs on unlabelled data too and simply leaves the first out.
    """

    per_epoch = True
    needs_labels = False

    def evaluate(self, context: EvalContext) -> list[Metric]:
        from sklearn.metrics import normalized_mutual_info_score

        metrics = []
        if context.true_labels is not None:
            value = normalized_mutual_info_score(context.true_labels, context.pseudo_labels)
            metrics.append(Metric("nmi_labels", float(value)))
        if context.previous_pseudo_labels is not None:
            value = normalized_mutual_info_score(
                context.previous_pseudo_labels, context.pseudo_labels
            )
            metrics.append(Metric("nmi_previous", float(value)))
        return metrics


def _make_nmi(**options: Any) -> NMIEvaluator:
    if options:
        raise ConfigError(f"evaluator 'nmi' takes no options, got {', '.join(sorted(options))}")
    return NMIEvaluator()


@hookimpl
def register_evaluators(register) -> None:
    register(
        "nmi",
        _make_nmi,
        description="NMI of pseudo-labels vs true labels and vs the previous epoch",
    )
