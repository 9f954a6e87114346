"""README.md's "Writing your own application" runs as printed, on the public runtime API only."""

from __future__ import annotations

import ast
import re
import sys
import types
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Writing your own application"
MODULE = "readme_application"  # the code runs as a module of this name, so its actor classes resolve


def blocks(language: str) -> list[str]:
    """The ``language`` code blocks of the README's application section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", len(SECTION))]
    return re.findall(rf"^```{language}\n(.*?)^```$", section, flags=re.DOTALL | re.MULTILINE)


@pytest.fixture
def application(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The README's config written where its code looks for it, and an empty module to run the code in."""
    (toml,) = blocks("toml")
    config = tmp_path / "config"
    config.mkdir()
    (config / "library.toml").write_text(toml, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType(MODULE)
    monkeypatch.setitem(sys.modules, MODULE, module)
    return module


def test_the_application_imports_nothing_but_the_runtime_and_the_standard_library():
    (code,) = blocks("python")
    imported = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert imported == {"dataclasses", "omega_actors.runtime"}


def test_the_application_prints_what_the_readme_says(application, capsys):
    (code,) = blocks("python")
    (expected,) = blocks("text")
    exec(compile(code, str(README), "exec"), application.__dict__)
    assert application.config.system.base == "simple"
    assert capsys.readouterr().out == expected
