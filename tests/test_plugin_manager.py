from __future__ import annotations

import importlib
from importlib import metadata

import pytest

from dcbench.errors import DuplicateComponentError
from dcbench.plugin_manager import DEFAULT_PLUGINS, load_components
from tests.plugins import constant_clusterer, duplicate_kmeans, misspelled_hook


def test_builtins_register_every_kind_through_hooks() -> None:
    components = load_components()
    assert [p.module for p in components.plugins] == list(DEFAULT_PLUGINS)
    assert all(p.builtin and p.distribution == "dcbench" for p in components.plugins)
    for kind, name in [
        ("dataset", "digits"),
        ("preprocessor", "sobel"),
        ("backbone", "alexnet"),
        ("clusterer", "kmeans"),
        ("clusterer", "pic"),
        ("evaluator", "nmi"),
        ("sink", "files"),
    ]:
        assert name in components.registry(kind)
    assert components.failures == []


def test_extra_plugin_adds_components_with_attribution() -> None:
    components = load_components(extra_plugins=[constant_clusterer])
    assert components.registry("clusterer").get("round-robin").plugin.endswith("constant_clusterer")
    clusterer = components.create("clusterer", "round-robin", k=3)
    assert clusterer.uses_k


def test_misspelled_hook_is_reported_naming_plugin_and_others_work() -> None:
    components = load_components(extra_plugins=[misspelled_hook])
    [failure] = components.failures
    assert "misspelled_hook" in failure.message()
    assert "'register_clusterer'" in failure.reason
    assert "did you mean 'register_clusterers'" in failure.reason
    assert "kmeans" in components.registry("clusterer")


def test_duplicate_name_is_an_error_naming_both_plugins() -> None:
    with pytest.raises(DuplicateComponentError, match="'kmeans' is registered twice"):
        load_components(extra_plugins=[duplicate_kmeans])


def test_disable_plugins_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCBENCH_DISABLE_PLUGINS", "pic, evaluators")
    components = load_components()
    assert "pic" not in components.registry("clusterer")
    assert "nmi" not in components.registry("evaluator")
    assert "kmeans" in components.registry("clusterer")


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, *entries: metadata.EntryPoint) -> None:
    def entry_points(**selection):
        if selection.get("group") == "dcbench":
            return metadata.EntryPoints(entries)
        return metadata.EntryPoints(())

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    monkeypatch.setenv("DCBENCH_DISABLE_AUTOLOAD", "0")


def test_entry_point_plugins_load_and_broken_ones_are_isolated(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _fake_entry_points(
        monkeypatch,
        metadata.EntryPoint("robin", "tests.plugins.constant_clusterer", "dcbench"),
        metadata.EntryPoint("broken", "tests.plugins.broken_import", "dcbench"),
    )
    components = load_components()
    assert "round-robin" in components.registry("clusterer")
    [failure] = components.failures
    assert failure.name == "broken"
    assert "ImportError: this plugin needs a package" in failure.reason
    assert sum("broken" in r.message for r in caplog.records) == 1


def test_autoload_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_entry_points(
        monkeypatch, metadata.EntryPoint("robin", "tests.plugins.constant_clusterer", "dcbench")
    )
    monkeypatch.setenv("DCBENCH_DISABLE_AUTOLOAD", "1")
    assert "round-robin" not in load_components().registry("clusterer")


def test_plugin_modules_do_not_import_heavy_libraries_at_top_level() -> None:
    import subprocess
    import sys

    code = (
        "import sys, dcbench.plugin_manager as m\n"
        "m.load_components()\n"
        "heavy = [n for n in ('torch', 'timm', 'faiss', 'sklearn') if n in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    importlib.import_module("dcbench")
