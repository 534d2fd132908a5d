"""Third-party plugins through the real ``dcbench`` console script, in subprocesses.

The example package (plugins/dcbench-example) is pip-installed once into a temporary
``--target`` folder put on PYTHONPATH: a real wheel install, found through its entry
point, that never touches the test interpreter's site-packages. Broken, clashing and
misspelled plugins are fake distributions: a ``*.dist-info`` folder with an
``entry_points.txt`` on PYTHONPATH, which importlib.metadata discovers without pip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "plugins" / "dcbench-example"
DCBENCH = shutil.which("dcbench") or str(Path(sys.executable).parent / "dcbench")

ROUND_ROBIN = """
import numpy as np
from dcbench import ClusteringResult, hookimpl

class RoundRobin:
    uses_k = True
    def __init__(self, k):
        self.k = k
    def cluster(self, features, *, seed):
        return ClusteringResult(labels=np.arange(len(features)) % self.k, num_clusters=self.k)

@hookimpl
def register_clusterers(register):
    register("round-robin", lambda *, k, **kw: RoundRobin(k), description="every k-th image")
"""


@dataclass
class Result:
    code: int
    out: str
    err: str


def dcbench(*args: str, path: list[Path] = (), **env: str) -> Result:
    """Run the installed console script with autoload on, as a user would."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DCBENCH_DISABLE_PLUGINS", "DCBENCH_DEBUG", "PYTHONPATH"}
    }
    environ["DCBENCH_DISABLE_AUTOLOAD"] = "0"
    environ["PYTHONPATH"] = os.pathsep.join(str(p) for p in path)
    environ.update(env)
    done = subprocess.run(
        [DCBENCH, *args], capture_output=True, text=True, env=environ, timeout=120
    )
    return Result(done.returncode, done.stdout, done.stderr)


def fake_distribution(
    root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]
) -> Path:
    """A distribution importlib.metadata can find on ``root``, without pip."""
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {module}\n" for name, module in entry_points.items())
    (info / "entry_points.txt").write_text(f"[dcbench]\n{lines}")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    return root


@pytest.fixture(scope="module")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """plugins/dcbench-example, pip-installed (a built wheel) into a throwaway folder."""
    work = tmp_path_factory.mktemp("example")
    source = work / "src"
    # Built from a copy: an in-tree build would leave build/ and *.egg-info in the repo.
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), str(source)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return target


@pytest.fixture
def robin_and_broken(tmp_path: Path) -> Path:
    return fake_distribution(
        tmp_path,
        "dcbench-broken",
        {"robin": "dcb_robin", "broken": "dcb_broken"},
        {
            "dcb_robin": ROUND_ROBIN,
            "dcb_broken": "raise ImportError('needs the package frobnicate')\n",
        },
    )


# --- the example package, installed ---------------------------------------------------


@pytest.mark.slow
def test_example_components_run_end_to_end(example_site: Path, tmp_path: Path) -> None:
    import pandas as pd

    out = tmp_path / "results"
    result = dcbench(
        "run", "--dataset", "synthetic", "--opt", "dataset.n_images=64",
        "--opt", "dataset.image_size=16", "--image-size", "16", "--backbone", "small-cnn",
        "--clusterer", "spherical-kmeans", "--k", "4", "--evaluator", "nmi",
        "--evaluator", "silhouette", "--evaluator", "cluster-balance", "--epochs", "1",
        "--batch-size", "32", "--pca-dim", "8", "--out", str(out), "-q",
        path=[example_site],
    )  # fmt: skip
    assert result.code == 0, result.err
    [summary] = out.glob("*/summary.parquet")
    metrics = pd.read_parquet(summary).set_index("metric")
    assert -1.0 <= metrics.loc["silhouette", "value"] <= 1.0
    assert 0.0 < metrics.loc["cluster_balance", "value"] <= 1.0
    assert not metrics.loc["largest_cluster_share", "higher_is_better"]
    assert "nmi_labels" in metrics.index
    assert "spherical-kmeans" in summary.parent.name


@pytest.mark.slow
def test_plugins_shows_the_example_by_distribution_and_kind(example_site: Path) -> None:
    result = dcbench("plugins", path=[example_site])
    assert result.code == 0, result.err
    assert "example  dcbench-example 0.1.0  (dcbench_example)" in result.out
    block = result.out.split("example  dcbench-example", 1)[1]
    assert "    clusterer: agglomerative, spherical-kmeans\n" in block
    assert "    evaluator: cluster-balance, silhouette\n" in block
    assert "kmeans  dcbench 0.1.0  (built-in)" in result.out
    assert "FAILED" not in result.out and result.err == ""


@pytest.mark.slow
def test_list_shows_example_components_with_descriptions(example_site: Path) -> None:
    result = dcbench("list", "clusterer", path=[example_site])
    assert result.code == 0, result.err
    [line] = [x for x in result.out.splitlines() if x.startswith("spherical-kmeans")]
    assert "k-means on the unit sphere (cosine similarity)" in line
    assert line.endswith("[example]")
    assert "kmeans" in result.out
    assert dcbench("list", "evaluators", "s*", path=[example_site]).out.startswith("silhouette")


@pytest.mark.slow
def test_unknown_name_is_one_line_with_suggestion_and_failed_plugins(
    example_site: Path, robin_and_broken: Path
) -> None:
    result = dcbench(
        "run", "--dataset", "synthetic", "--opt", "dataset.n_images=16", "--k", "2",
        "--clusterer", "spherical-kmean", path=[example_site, robin_and_broken],
    )  # fmt: skip
    assert result.code == 2 and "Traceback" not in result.err
    warning, error = result.err.strip().splitlines()
    assert warning.startswith("WARNING: plugin 'broken' (from dcbench-broken 1.0)")
    assert error.startswith("error: Unknown clusterer 'spherical-kmean'. Did you mean ")
    assert "spherical-kmeans?" in error and "round-robin" in error
    assert error.endswith("Not loaded: plugin 'broken' (dcbench-broken); see `dcbench plugins`.")


@pytest.mark.slow
def test_disable_example_by_distribution_name(example_site: Path) -> None:
    env = {"DCBENCH_DISABLE_PLUGINS": "dcbench_example"}
    listed = dcbench("list", "clusterer", path=[example_site], **env)
    assert "spherical-kmeans" not in listed.out and "kmeans" in listed.out
    plugins = dcbench("plugins", path=[example_site], **env)
    assert "example  dcbench-example 0.1.0  (disabled by DCBENCH_DISABLE_PLUGINS)" in plugins.out


# --- broken, clashing and misspelled plugins (fake distributions) ---------------------


def test_broken_plugin_is_reported_once_and_others_work(robin_and_broken: Path) -> None:
    listed = dcbench("list", "clusterer", path=[robin_and_broken])
    assert listed.code == 0
    assert "round-robin  every k-th image  [robin]" in listed.out
    assert listed.err.strip() == (
        "WARNING: plugin 'broken' (from dcbench-broken 1.0) was not loaded: "
        "ImportError: needs the package frobnicate"
    )
    plugins = dcbench("plugins", path=[robin_and_broken])
    assert plugins.code == 0 and plugins.err == ""
    assert (plugins.out + plugins.err).count("frobnicate") == 1
    assert "FAILED plugin 'broken' (from dcbench-broken 1.0)" in plugins.out
    assert "robin  dcbench-broken 1.0  (dcb_robin)\n    clusterer: round-robin" in plugins.out


def test_broken_plugin_traceback_only_when_debugging(robin_and_broken: Path) -> None:
    assert "Traceback" not in dcbench("plugins", path=[robin_and_broken]).err
    assert "Traceback" in dcbench("--debug", "plugins", path=[robin_and_broken]).err
    debug_env = dcbench("list", "clusterer", path=[robin_and_broken], DCBENCH_DEBUG="1")
    assert "Traceback" in debug_env.err and "dcb_broken.py" in debug_env.err


def test_duplicate_component_is_one_error_line_naming_both(tmp_path: Path) -> None:
    fake_distribution(
        tmp_path,
        "dcbench-clash",
        {"clash": "dcb_clash"},
        {
            "dcb_clash": """
            from dcbench import hookimpl

            @hookimpl
            def register_clusterers(register):
                register("kmeans", lambda **kw: None, description="a clash")
            """
        },
    )
    result = dcbench("list", "clusterer", path=[tmp_path])
    assert result.code == 2 and result.out == ""
    assert result.err.splitlines() == [
        "error: clusterer 'kmeans' is registered twice: by plugin 'kmeans' (dcbench 0.1.0) "
        "and by plugin 'clash' (dcbench-clash 1.0). Uninstall one, or skip one with "
        "DCBENCH_DISABLE_PLUGINS=clash"
    ]
    assert "Traceback" in dcbench("--debug", "plugins", path=[tmp_path]).err
    skipped = dcbench("list", "clusterer", path=[tmp_path], DCBENCH_DISABLE_PLUGINS="clash")
    assert skipped.code == 0 and "kmeans" in skipped.out


def test_misspelled_hook_is_an_error_naming_the_plugin(tmp_path: Path) -> None:
    fake_distribution(
        tmp_path,
        "dcbench-typo",
        {"typo": "dcb_typo"},
        {
            "dcb_typo": """
            from dcbench import hookimpl

            @hookimpl
            def register_clusterer(register):
                register("never", lambda **kw: None)
            """
        },
    )
    result = dcbench("plugins", path=[tmp_path])
    assert result.code == 0
    assert (
        "FAILED plugin 'typo' (from dcbench-typo 1.0) was not loaded: implements unknown "
        "hook 'register_clusterer' (did you mean 'register_clusterers'?)"
    ) in result.out
    assert "never" not in result.out
