"""Test-wide settings: no third-party plugin autoload unless a test installs one."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DCBENCH_DISABLE_AUTOLOAD", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(autouse=True)
def _fresh_components(monkeypatch: pytest.MonkeyPatch):
    """Each test sees freshly loaded registries and the default environment."""
    from dcbench.plugin_manager import reset_components

    monkeypatch.setenv("DCBENCH_DISABLE_AUTOLOAD", "1")
    monkeypatch.delenv("DCBENCH_DISABLE_PLUGINS", raising=False)
    reset_components()
    yield
    reset_components()
