"""omega_actors.brain's names load their modules on first use, so reading a [brain] table stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import omega_actors.brain as brain


def test_every_exported_name_resolves_to_the_object_of_its_module() -> None:
    for name in brain.__all__:
        value = getattr(brain, name)
        assert getattr(sys.modules[brain._HOMES[name]], name) is value


def test_the_names_for_type_checkers_are_the_exported_names() -> None:
    tree = ast.parse(Path(brain.__file__).read_text())
    checked = next(node for node in tree.body if isinstance(node, ast.If))
    imported = {alias.asname for node in checked.body for alias in node.names}  # type: ignore[attr-defined]
    assert imported == set(brain.__all__)


def test_reading_brain_settings_loads_neither_the_onnx_runtime_nor_hnswlib() -> None:
    probe = ("import sys, omega_actors.brain.settings as s; s.BrainSettings.from_table({'capacity': 5}); "
             "print(sorted(m for m in ('onnxruntime', 'hnswlib', 'tokenizers') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        brain.NoSuchThing  # noqa: B018
