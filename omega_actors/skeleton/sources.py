"""Where source files come from: installed distributions, directories, wheels and sdists.

Each input becomes a :class:`PackageSource`: a name, a version, a root
directory and the ``.py``/``.pyi`` files under it, each with the dotted module
name it defines. Nothing is imported: installed distributions are listed from
their ``RECORD`` through :mod:`importlib.metadata`, and archives are unpacked
into a temporary directory that :func:`open_inputs` deletes when it is done,
so a raw download never outlives its extraction.

Archives are data from outside: a member that would land outside the
temporary directory (an absolute path, ``..``, a link) is refused.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import OmegaError

SUFFIXES = (".py", ".pyi")
SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".hg", ".tox", ".venv", "node_modules"})


class SourceError(OmegaError):
    """An input could not be read: a path that does not exist, an archive that is not one."""


@dataclass(frozen=True)
class SourceFile:
    relpath: str  # posix, relative to the package's root: the file's key in the store
    path: Path  # where it is on disk now
    module: str
    is_package: bool
    is_stub: bool
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class PackageSource:
    name: str
    version: str
    origin: str  # installed, directory, wheel or sdist
    root: Path
    files: tuple[SourceFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(file.size for file in self.files)


def module_of(relpath: str) -> tuple[str, bool]:
    """``pkg/sub/__init__.py`` -> (``pkg.sub``, package); ``pkg/mod.pyi`` -> (``pkg.mod``, module)."""
    parts = list(PurePosixPath(relpath).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def source_file(root: Path, path: Path) -> SourceFile:
    relpath = path.relative_to(root).as_posix()
    module, is_package = module_of(relpath)
    stat = path.stat()
    return SourceFile(relpath, path, module, is_package, path.suffix == ".pyi", stat.st_size, stat.st_mtime_ns)


def installed(names: Iterable[str] | None = None) -> list[PackageSource]:
    """Installed distributions (all, or those named), from their RECORD files."""
    wanted = {_normal(name) for name in names} if names is not None else None
    found: dict[str, PackageSource] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] or ""
        key = _normal(name)
        if not name or key in found or (wanted is not None and key not in wanted):
            continue  # the first on sys.path wins, as for imports
        package = _installed(dist, name)
        if package is not None:
            found[key] = package
    if wanted is not None and (missing := wanted - set(found)):
        raise SourceError(f"not installed, or installed without a RECORD: {', '.join(sorted(missing))}")
    return list(found.values())


def _installed(dist: importlib.metadata.Distribution, name: str) -> PackageSource | None:
    root = Path(str(dist.locate_file(""))).resolve()
    files = []
    for entry in dist.files or ():
        posix = PurePosixPath(str(entry))
        if posix.suffix not in SUFFIXES or ".." in posix.parts or posix.is_absolute():
            continue
        path = root / posix
        if path.is_file():
            files.append(source_file(root, path))
    if not files:
        return None
    return PackageSource(name, dist.version or "", "installed", root, tuple(sorted(files, key=lambda f: f.relpath)))


def directory(path: Path) -> PackageSource:
    """A source tree: a package directory (with ``__init__.py``), or a project with ``src/`` or top-level packages."""
    path = path.resolve()
    if not path.is_dir():
        raise SourceError(f"{path}: not a directory, wheel (.whl) or sdist (.tar.gz, .zip)")
    root = path.parent if (path / "__init__.py").is_file() or (path / "__init__.pyi").is_file() else path
    if root == path and (path / "src").is_dir() and not any(path.glob("*.py")):
        root = path / "src"
    start = path if root == path.parent else root
    files = [source_file(root, file) for file in _walk(start)]
    return PackageSource(path.name, "", "directory", root, tuple(sorted(files, key=lambda f: f.relpath)))


def _walk(top: Path) -> Iterator[Path]:
    for folder, dirs, names in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith((".dist-info", ".egg-info")))
        for name in sorted(names):
            if name.endswith(SUFFIXES):
                yield Path(folder) / name


@contextmanager
def open_inputs(paths: Iterable[str | Path]) -> Iterator[list[PackageSource]]:
    """Packages from paths (directories, wheels, sdists); unpacked archives are deleted on exit."""
    scratch = Path(tempfile.mkdtemp(prefix="omega-skeleton-"))
    try:
        yield [_input(Path(path), scratch) for path in paths]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _input(path: Path, scratch: Path) -> PackageSource:
    if not path.exists():
        raise SourceError(f"{path}: no such file or directory")
    if path.is_dir():
        return directory(path)
    name = path.name
    if name.endswith(".whl"):
        return _archive(path, scratch, "wheel", *_wheel_name(name))
    for suffix in (".tar.gz", ".tgz", ".tar", ".zip"):
        if name.endswith(suffix):
            return _archive(path, scratch, "sdist", *_sdist_name(name.removesuffix(suffix)))
    raise SourceError(f"{path}: not a directory, wheel (.whl) or sdist (.tar.gz, .tgz, .tar, .zip)")


def _archive(path: Path, scratch: Path, origin: str, name: str, version: str) -> PackageSource:
    target = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=scratch))
    try:
        if zipfile.is_zipfile(path):
            _unzip(path, target)
        else:
            _untar(path, target)
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise SourceError(f"{path}: cannot unpack: {error}") from error
    tops = [child for child in target.iterdir()]
    root = tops[0] if origin == "sdist" and len(tops) == 1 and tops[0].is_dir() else target
    package = directory(root)
    return PackageSource(name, version, origin, package.root, package.files)


def _unzip(path: Path, target: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            _inside(target, member.filename, path)
        archive.extractall(target)


def _untar(path: Path, target: Path) -> None:
    with tarfile.open(path) as archive:
        for member in archive.getmembers():
            _inside(target, member.name, path)
            if not (member.isfile() or member.isdir()):
                raise SourceError(f"{path}: member {member.name!r} is a link or device; refused")
        archive.extractall(target, filter="data")


def _inside(target: Path, member: str, archive: Path) -> None:
    posix = PurePosixPath(member)
    if posix.is_absolute() or ".." in posix.parts or not (target / posix).resolve().is_relative_to(target.resolve()):
        raise SourceError(f"{archive}: member {member!r} would land outside the unpack directory; refused")


def _wheel_name(name: str) -> tuple[str, str]:
    parts = name.removesuffix(".whl").split("-")
    return (parts[0], parts[1]) if len(parts) >= 2 else (parts[0], "")


def _sdist_name(stem: str) -> tuple[str, str]:
    name, _, version = stem.rpartition("-")
    return (name, version) if name else (stem, "")


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")
