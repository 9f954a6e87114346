"""The conventions the code relies on, checked."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import omega_actors.runtime as runtime

PACKAGE = Path(__file__).resolve().parents[1] / "omega_actors"
THESPIAN_IMPORTERS = {
    "runtime/_thespian/children.py",
    "runtime/_thespian/host.py",
    "runtime/_thespian/remote.py",
    "runtime/_thespian/system.py",
    "runtime/_thespian/transport.py",
    "benchmarks/raw_thespian.py",
}
APPLICATION_PACKAGES = {"actors", "brain", "federation", "storage", "genesis", "skeleton", "router", "cli", "app"}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the file's package
                package = path.relative_to(PACKAGE.parent).with_suffix("").parts[: -node.level]
                base = ".".join((*package, base)) if base else ".".join(package)
            found.add(base)
    return found


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_only_the_adapter_and_the_raw_baseline_import_thespian():
    importers = {str(path.relative_to(PACKAGE)) for path in modules() if any(m.split(".")[0] == "thespian" for m in imports(path))}
    assert importers == THESPIAN_IMPORTERS


def test_the_runtime_imports_no_application_package():
    for path in (PACKAGE / "runtime").rglob("*.py"):
        for module in imports(path):
            parts = module.split(".")
            assert not (parts[0] == "omega_actors" and len(parts) > 1 and parts[1] in APPLICATION_PACKAGES), (path, module)


def test_the_brain_federation_and_router_are_plain_code_that_import_no_actor_or_runtime_module():
    for path in [*(PACKAGE / "brain").rglob("*.py"), *(PACKAGE / "federation").rglob("*.py"), *(PACKAGE / "router").rglob("*.py")]:
        for module in imports(path):
            parts = module.split(".")
            assert not (parts[0] == "omega_actors" and len(parts) > 1 and parts[1] in {"actors", "runtime"}), (path, module)


def test_every_public_runtime_name_is_exported_once_and_importable():
    assert len(runtime.__all__) == len(set(runtime.__all__))
    for name in runtime.__all__:
        assert getattr(runtime, name) is not None
    assert sorted(runtime.__all__) == sorted(name for name in vars(runtime) if not name.startswith("_") and name not in _submodules())


def _submodules() -> set[str]:
    return {path.stem for path in (PACKAGE / "runtime").glob("*.py")} | {"runtime"}


def test_every_module_imports_cleanly_on_its_own():
    for path in modules():
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        importlib.import_module(name)
