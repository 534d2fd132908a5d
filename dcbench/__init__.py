"""dcbench: a plugin-based benchmarking harness for DeepCluster.

The public API for plugin authors: :data:`hookimpl`, the component contracts and the
error family. Importing this module stays cheap (no torch, no faiss).
"""

from __future__ import annotations

from dcbench.components import (
    Backbone,
    Clusterer,
    ClusteringResult,
    EvalContext,
    Evaluator,
    ImageDataset,
    Metric,
    Preprocessor,
    ResultSink,
)
from dcbench.errors import (
    ConfigError,
    DataError,
    DcbenchError,
    DuplicateComponentError,
    PluginError,
    UnknownComponentError,
)
from dcbench.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "Backbone",
    "Clusterer",
    "ClusteringResult",
    "ConfigError",
    "DataError",
    "DcbenchError",
    "DuplicateComponentError",
    "EvalContext",
    "Evaluator",
    "ImageDataset",
    "Metric",
    "PluginError",
    "Preprocessor",
    "ResultSink",
    "UnknownComponentError",
    "__version__",
    "hookimpl",
]
