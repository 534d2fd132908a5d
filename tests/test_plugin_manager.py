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


def _module(name: str, source: str):
    import types

    module = types.ModuleType(name)
    exec(source, module.__dict__)
    return module


def test_plugin_that_raises_while_registering_is_left_out_whole() -> None:
    half = _module(
        "half",
        "from dcbench import hookimpl\n"
        "@hookimpl\n"
        "def register_clusterers(register):\n"
        "    register('half-a', lambda **kw: None)\n"
        "@hookimpl\n"
        "def register_evaluators(register):\n"
        "    raise RuntimeError('boom')\n",
    )
    components = load_components(extra_plugins=[half], warn=False)
    [failure] = components.failures
    assert failure.reason == "register_evaluators raised RuntimeError: boom"
    assert "half-a" not in components.registry("clusterer")
    assert "half" not in [p.name for p in components.plugins]


def test_hookimpl_with_wrong_arguments_is_a_failure_not_a_crash() -> None:
    wrong = _module(
        "wrong",
        "from dcbench import hookimpl\n@hookimpl\ndef register_clusterers(reg):\n    pass\n",
    )
    [failure] = load_components(extra_plugins=[wrong], warn=False).failures
    assert "invalid hook implementation" in failure.reason and "reg" in failure.reason


def test_optional_unknown_hook_is_allowed_like_check_pending() -> None:
    optional = _module(
        "optional",
        "from dcbench import hookimpl\n"
        "@hookimpl(optionalhook=True)\n"
        "def register_future_things(register):\n"
        "    pass\n"
        "@hookimpl(specname='register_clusterers')\n"
        "def clusterers(register):\n"
        "    register('opt-c', lambda **kw: None)\n",
    )
    components = load_components(extra_plugins=[optional])
    assert components.failures == []
    assert "opt-c" in components.registry("clusterer")


def test_register_rejects_bad_arguments_as_plugin_failure() -> None:
    bad = _module(
        "bad",
        "from dcbench import hookimpl\n"
        "@hookimpl\n"
        "def register_clusterers(register):\n"
        "    register('x', lambda **kw: None, colour='red')\n",
    )
    [failure] = load_components(extra_plugins=[bad], warn=False).failures
    assert "register_clusterers raised TypeError" in failure.reason


def test_disable_by_distribution_name_is_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_entry_points(
        monkeypatch, metadata.EntryPoint("robin", "tests.plugins.constant_clusterer", "dcbench")
    )
    monkeypatch.setenv("DCBENCH_DISABLE_PLUGINS", "Some_Other , robin")
    components = load_components()
    assert "round-robin" not in components.registry("clusterer")
    assert [p.name for p in components.disabled] == ["robin"]


def test_two_plugins_with_one_name_is_an_error() -> None:
    from dcbench.errors import PluginError

    clash = _module("kmeans", "")
    with pytest.raises(PluginError, match="two plugins are named 'kmeans'"):
        load_components(extra_plugins=[clash])


def test_duplicate_message_names_distributions_and_the_way_out() -> None:
    with pytest.raises(DuplicateComponentError) as info:
        load_components(extra_plugins=[duplicate_kmeans])
    message = str(info.value)
    assert "by plugin 'kmeans' (dcbench " in message
    assert "by plugin 'tests.plugins.duplicate_kmeans' (in-process)" in message
    assert "DCBENCH_DISABLE_PLUGINS=tests.plugins.duplicate_kmeans" in message


def test_unknown_name_notes_failed_plugins() -> None:
    from dcbench.errors import UnknownComponentError

    components = load_components(extra_plugins=[misspelled_hook], warn=False)
    with pytest.raises(UnknownComponentError, match=r"Not loaded: plugin 'tests\.plugins\.mis"):
        components.registry("clusterer").get("never")
