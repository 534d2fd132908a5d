from __future__ import annotations

import pytest

from dcbench.errors import DuplicateComponentError, UnknownComponentError
from dcbench.registry import Registry


def make_registry() -> Registry[str]:
    registry: Registry[str] = Registry("backbone")
    registry.register("alexnet", lambda **kw: "alexnet", description="AlexNet", plugin="a")
    registry.register("vgg16", lambda **kw: "vgg16", aliases=("vgg",), plugin="a")
    registry.register(
        "timm:",
        lambda *, name, **kw: f"timm/{name}",
        plugin="t",
        list_names=lambda pattern: [
            n for n in ("resnet18", "resnet50", "vit") if __import__("fnmatch").fnmatch(n, pattern)
        ],
    )
    return registry


def test_create_by_name_alias_and_prefix() -> None:
    registry = make_registry()
    assert registry.create("alexnet") == "alexnet"
    assert registry.create("vgg") == "vgg16"
    assert registry.canonical("vgg") == "vgg16"
    assert registry.create("timm:resnet18") == "timm/resnet18"
    assert registry.canonical("timm:resnet18") == "timm:resnet18"


def test_unknown_name_suggests_nearest_and_lists_available() -> None:
    with pytest.raises(UnknownComponentError) as info:
        make_registry().get("vgg61")
    message = str(info.value)
    assert message == (
        "Unknown backbone 'vgg61'. Did you mean vgg16? Available: alexnet, timm:*, vgg16"
    )


def test_unknown_without_close_match_has_no_suggestion() -> None:
    with pytest.raises(UnknownComponentError, match=r"Unknown backbone 'zzz'\. Available"):
        make_registry().get("zzz")


def test_bare_prefix_is_unknown() -> None:
    with pytest.raises(UnknownComponentError):
        make_registry().get("timm:")


def test_duplicate_names_and_aliases_name_both_plugins() -> None:
    registry = make_registry()
    with pytest.raises(DuplicateComponentError, match="'a' and by plugin 'b'"):
        registry.register("alexnet", lambda **kw: "x", plugin="b")
    with pytest.raises(DuplicateComponentError, match="'vgg'"):
        registry.register("other", lambda **kw: "x", aliases=("vgg",), plugin="b")


def test_names_glob_and_name_space_listing() -> None:
    registry = make_registry()
    assert registry.names() == ["alexnet", "timm:*", "vgg16"]
    assert registry.names("vgg*") == ["vgg16"]
    assert registry.names("timm:resnet*") == ["timm:resnet18", "timm:resnet50"]
    assert "timm:vit" in registry
    assert "vgg61" not in registry
