"""The layout the code relies on, checked: which package may import which, and no import cycle.

Imports run one way, top to bottom::

    cli                      what run.py calls
    sim, benchmarks          the demo, and the benchmarks (only the CLI imports them)
    app                      the trees, and how the subsystems fit together
    actors                   thin actor shells and their messages
    brain federation router genesis skeleton storage reload evaluation    plain code
    runtime                  OTP supervision on Thespian
    settings                 config tables as frozen dataclasses, the one unknown-key check
    errors                   the exceptions

A module may import its own package and any package below it, plain-code
packages may use each other, and nothing may close a cycle, not even an
import inside a function. Application code (actors and the plain-code
packages of the product) reaches the runtime through ``omega_actors.runtime``
alone; the operator's tools (app, reload, sim, benchmarks, cli) may also use
its public modules (processes, reconfigure, logs, ...), never its private ones.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import omega_actors.runtime as runtime

PACKAGE = Path(__file__).resolve().parents[1] / "omega_actors"
THESPIAN_IMPORTERS = ("runtime/_thespian", "benchmarks/raw_thespian.py")  # a module, or every module of a package
PLAIN = ("brain", "federation", "router", "genesis", "skeleton", "storage", "reload", "evaluation")
LAYERS = {
    "errors": 0,
    "settings": 1,
    "runtime": 2,
    **{name: 3 for name in PLAIN},
    "actors": 4,
    "app": 5,
    "sim": 6, "benchmarks": 6,
    "cli": 7,
}  # fmt: skip
# Actor modules by subsystem: an actor module imports actor modules of its own subsystem only, and the
# contracts (message modules two subsystems share, which import no actor module).
ACTOR_SUBSYSTEMS = {
    "tv": {"tv_brain", "sync_agent", "improver"},
    "constellation": {"constellation"},
    "fleet": {"fleet"},
    "genesis": {"genesis"},
    "router": {"router", "providers"},
    "skeleton": {"skeleton"},
    "demo": {"demo"},
}
ACTOR_CONTRACTS = {"sync_messages"}
# Packages that import the runtime only through its public boundary, omega_actors.runtime.
THROUGH_THE_BOUNDARY = {"actors", "brain", "federation", "router", "genesis", "skeleton", "storage", "evaluation"}
# Which plain-code packages each may use: a new dependency between them is a decision, made here.
PLAIN_USES = {
    "storage": set(),
    "skeleton": set(),
    "brain": {"storage"},
    "federation": {"storage"},
    "router": {"storage"},
    "evaluation": {"brain", "federation"},
    "reload": {"storage", "brain", "router"},  # it checks the Omega sections ([brain], [router]) of what it applies
    "genesis": {"brain", "evaluation", "reload", "storage"},
}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imported(path: Path) -> Iterator[tuple[str, str | None]]:
    """(module, name) for every import in the file, at any depth; ``name`` is None for ``import module``."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the file's package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            yield from ((base, alias.name) for alias in node.names)


def targets(path: Path) -> set[str]:
    """The omega_actors modules a file imports: ``from pkg import module`` counts as that module."""
    known = {module_name(item) for item in modules()}
    found = set()
    for module, name in imported(path):
        if name is not None and f"{module}.{name}" in known:
            found.add(f"{module}.{name}")
        elif module.startswith("omega_actors"):
            found.add(module)
    return found


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_only_the_adapter_and_the_raw_baseline_import_thespian():
    importers = {str(path.relative_to(PACKAGE)) for path in modules() if any(m.split(".")[0] == "thespian" for m, _ in imported(path))}
    assert importers and all(item.startswith(THESPIAN_IMPORTERS) for item in importers), importers


def test_every_package_has_a_layer_and_an_opening_that_says_what_it_may_import():
    for path in sorted(PACKAGE.glob("*")):
        name = path.stem
        if name.startswith("__") or path.suffix not in (".py", ""):
            continue
        assert name in LAYERS, f"omega_actors.{name} has no place in LAYERS"
        if path.is_dir():
            doc = ast.get_docstring(ast.parse((path / "__init__.py").read_text())) or ""
            assert "import" in doc, f"omega_actors/{name}/__init__.py should say what lives there and what it may import"


def test_every_module_imports_only_its_own_package_and_packages_below_it():
    for path in modules():
        here = package_of(module_name(path))
        for target in targets(path):
            there = package_of(target)
            if there in ("", here):
                continue
            if here in PLAIN and there in PLAIN:
                assert there in PLAIN_USES[here], f"{module_name(path)} imports {target}: add {there} to PLAIN_USES[{here!r}]?"
                continue
            assert LAYERS[there] < LAYERS[here], f"{module_name(path)} imports {target}: {here} may not import {there}"


def test_an_actor_module_imports_no_other_subsystem_s_actors():
    subsystem = {module: name for name, members in ACTOR_SUBSYSTEMS.items() for module in members}
    shells = {path.stem for path in (PACKAGE / "actors").glob("*.py") if path.stem != "__init__"}
    assert shells == set(subsystem) | ACTOR_CONTRACTS, "every actor module belongs to a subsystem or is a contract"
    for shell in shells:
        for target in targets(PACKAGE / "actors" / f"{shell}.py"):
            other = target.removeprefix("omega_actors.actors.")
            if target.startswith("omega_actors.actors.") and other not in ACTOR_CONTRACTS:
                assert shell not in ACTOR_CONTRACTS, f"the contract {shell} imports the actor module {other}"
                assert subsystem[other] == subsystem[shell], f"actors.{shell} imports actors.{other}, another subsystem's"


def test_application_code_imports_the_runtime_through_its_boundary_alone():
    for path in modules():
        if package_of(module_name(path)) in THROUGH_THE_BOUNDARY:
            inside = sorted(target for target in targets(path) if target.startswith("omega_actors.runtime."))
            assert not inside, f"{module_name(path)} imports {inside[0]}: import it from omega_actors.runtime"


def test_no_module_imports_a_private_name_of_another_package():
    for path in modules():
        here = package_of(module_name(path))
        for module, name in imported(path):
            if not module.startswith("omega_actors") or package_of(module) == here:
                continue
            private = [part for part in [*module.split("."), name or ""] if part.startswith("_") and not part.startswith("__")]
            assert not private, f"{module_name(path)} imports {module}.{name}: {private[0]} is private to {package_of(module)}"


def test_there_is_no_import_cycle_not_even_through_an_import_inside_a_function():
    graph = {module_name(path): targets(path) - {module_name(path)} for path in modules()}
    cycle = _find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_packages_import_each_other_without_a_cycle():
    graph: dict[str, set[str]] = defaultdict(set)
    for path in modules():
        here = package_of(module_name(path))
        graph[here] |= {package_of(target) for target in targets(path)} - {here, ""}
    cycle = _find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as a path that returns to its start, or None (depth-first, iterative)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in graph:
        if root in state:
            continue
        path, stack = [root], [iter(sorted(graph.get(root, ())))]
        state[root] = 1
        while stack:
            step = next(stack[-1], None)
            if step is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(step) == 1:
                return path[path.index(step):] + [step]
            elif step not in state:
                state[step] = 1
                path.append(step)
                stack.append(iter(sorted(graph.get(step, ()))))
    return None


def test_the_cycle_finder_finds_a_cycle_closed_three_steps_away_and_none_in_a_tree():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_every_public_runtime_name_is_exported_once_and_importable():
    assert len(runtime.__all__) == len(set(runtime.__all__))
    for name in runtime.__all__:
        assert hasattr(runtime, name), name
    assert sorted(runtime.__all__) == sorted(name for name in vars(runtime) if not name.startswith("_") and name not in _submodules())


def _submodules() -> set[str]:
    return {path.stem for path in (PACKAGE / "runtime").glob("*") if path.suffix == ".py" or path.is_dir()} | {"runtime"}


@pytest.mark.slow
def test_every_module_imports_cleanly_on_its_own():
    """Each in a fresh interpreter: in one process, a module whose imports only work after another's would pass."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(_import_alone, [module_name(path) for path in modules()]))
    failed = [(name, error) for name, error in results if error]
    assert not failed, failed[0]


def _import_alone(name: str) -> tuple[str, str]:
    result = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, timeout=120)
    return name, result.stderr.strip().splitlines()[-1] if result.returncode else ""
