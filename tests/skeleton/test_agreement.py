"""Our skeleton against griffe: installed packages, and tiny packages written for the purpose.

The installed packages are the ones the project depends on, so they are there
wherever the tests run; numpy brings stubs next to its sources (about 8 s of
the run, most of it griffe's).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from omega_actors.skeleton import agreement

pytest.importorskip("griffe")

MINIMUM = 0.95

TINY = {
    "tiny/__init__.py": '''
        """A package whose every construct both tools read the same way."""
        from typing import TYPE_CHECKING

        from .shapes import Shape

        __all__ = ["Shape", "area", "Box", "version"]

        def area(shape, /, scale=1.0, *factors, rounded: bool = False, **options): ...

        class Box:
            def __init__(self, width, height=1): ...

            @property
            def size(self): ...

            @size.setter
            def size(self, value): ...

            def _hidden(self): ...

            class Inner:
                def deep(self, *, flag): ...

            class _Private:
                def unseen(self): ...

        if TYPE_CHECKING:
            def version() -> str: ...
        else:
            def version(): ...

        def not_exported(): ...
    ''',
    "tiny/shapes.py": '''
        from typing import overload

        class Shape:
            @overload
            def scale(self, by: int) -> "Shape": ...
            @overload
            def scale(self, by: float) -> "Shape": ...
            def scale(self, by, *, around=None): ...

            async def fetch(self, timeout=None): ...

        def quote(text): ...

        from json import dumps as quote  # rebinds the name: an import, not a function
    ''',
    "tiny/typed.py": '''
        def parse(text, strict=False): ...
        def join(parts, sep=","): ...

        class Reader:
            def read(self, size=-1): ...
    ''',
    "tiny/typed.pyi": '''
        from typing import overload

        def parse(text: str, /, strict: bool = ...) -> dict: ...
        @overload
        def join(parts: list[str]) -> str: ...
        @overload
        def join(parts: list[str], sep: str) -> str: ...

        class Reader:
            def read(self, size: int = ...) -> bytes: ...

        def only_typed(x: int) -> int: ...
    ''',
    "tiny/_speedups.pyi": '''
        from typing import overload

        @overload
        def crunch(x: int) -> int: ...
        @overload
        def crunch(x: str, y: int = ...) -> str: ...
    ''',
    "tiny/scripts/run.py": '''
        def not_a_module(): ...  # no __init__ in scripts/: griffe does not load it
    ''',
}

QUIRKS = {
    "quirks/__init__.py": '''
        from dataclasses import dataclass

        @dataclass
        class Point:
            x: int
            y: int = 0

        try:
            from json import loads
        except ImportError:
            def loads(text): ...

        class Registry:
            def convert(text): ...
            convert = staticmethod(convert)

        def main(): ...

        if __name__ == "__main__":
            def demo(): ...
    ''',
    "quirks/main.py": '''
        def run(): ...
    ''',
}


def write_package(root: Path, files: dict[str, str]) -> Path:
    for relpath, source in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip("\n"))
    return root / next(iter(files)).split("/")[0]


@pytest.mark.parametrize("name", ["thespian", "gitpython", "pytest", "hypothesis", "numpy"])
def test_our_public_api_agrees_with_griffe_on_installed_packages(name: str) -> None:
    result = agreement.agree([name])
    assert result.union > 300, result.report()
    assert result.agreement >= MINIMUM, f"{name}:\n{result.report()}"
    unexplained = [category for category in result.categories if category.name.startswith("unexplained")]
    assert not unexplained, f"{name}:\n{result.report()}"


def test_both_tools_read_a_tiny_package_the_same_way(tmp_path: Path) -> None:
    package = write_package(tmp_path, TINY)
    ours, griffe = agreement.ours([package]), agreement.griffes([package])
    result = agreement.compare(ours, griffe)
    assert (result.agreement, result.union) == (1.0, 15), result.report()
    assert ours.signatures["tiny.area"] == ("function", (
        ("shape", "positional-only"), ("scale", "positional-or-keyword"), ("factors", "var-positional"),
        ("rounded", "keyword-only"), ("options", "var-keyword")))
    for hidden in ("tiny.Box._Private.unseen", "tiny.not_exported", "tiny.Box.size", "tiny.scripts.run.not_a_module"):
        assert hidden not in ours.signatures


def test_a_stub_types_the_source_signature_without_replacing_it(tmp_path: Path) -> None:
    signatures = agreement.ours([write_package(tmp_path, TINY)]).signatures
    keyword = "positional-or-keyword"
    assert signatures["tiny.typed.parse"] == ("function", (("text", keyword), ("strict", keyword)))
    assert signatures["tiny.typed.join"] == ("function", (("parts", keyword), ("sep", keyword)))  # not an overload's
    assert signatures["tiny.typed.only_typed"] == ("function", (("x", keyword),))
    assert signatures["tiny.shapes.Shape.scale"][1][-1] == ("around", "keyword-only")
    assert "tiny.shapes.quote" not in signatures  # the import after the def rebinds it


def test_disagreements_are_put_in_the_category_that_explains_them(tmp_path: Path) -> None:
    result = agreement.agree([write_package(tmp_path, QUIRKS)])
    found = {category.name: category.examples for category in result.categories}
    assert found == {
        "dataclass __init__ synthesized by griffe": ("quirks.Point.__init__",),
        "defined under an imported name": ("quirks.loads",),
        "rebound as an attribute": ("quirks.Registry.convert",),
        "script-only definitions": ("quirks.demo",),
        "submodule shadows a member": ("quirks.main",),
    }, result.report()


def test_the_module_imports_without_griffe() -> None:
    code = "import sys; sys.modules['griffe'] = None; import omega_actors.skeleton.agreement"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)
