"""dcbench-example: a template third-party dcbench plugin.

Registers two clusterers and two evaluators through dcbench's hooks, using only the
public API (``from dcbench import ...``). The component classes live in their own
modules, and scikit-learn is imported only when a component runs, so loading this
plugin costs ``dcbench --help`` nothing.
"""

from __future__ import annotations

from dcbench import hookimpl
from dcbench_example.clusterers import make_agglomerative, make_spherical_kmeans
from dcbench_example.evaluators import make_cluster_balance, make_silhouette

__version__ = "0.1.0"


@hookimpl
def register_clusterers(register) -> None:
    register(
        "spherical-kmeans",
        make_spherical_kmeans,
        description="k-means on the unit sphere (cosine similarity); options: niter",
        aliases=("skmeans",),
    )
    register(
        "agglomerative",
        make_agglomerative,
        description="scikit-learn agglomerative clustering into k clusters; "
        "options: linkage, max_images",
    )


@hookimpl
def register_evaluators(register) -> None:
    register(
        "silhouette",
        make_silhouette,
        description="silhouette of the pseudo-labels on the clustered features (no labels)",
    )
    register(
        "cluster-balance",
        make_cluster_balance,
        description="normalised entropy and largest share of the cluster sizes (no labels)",
    )
