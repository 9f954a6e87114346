"""Small packages written into a temporary directory, and stores built from them without actors.

The pool (:mod:`omega_actors.actors.skeleton`) is tested on its own; tests of
what is *in* a store (lookup, diff) only need a store, so :func:`extract_serially`
runs the same steps the coordinator runs (plan, read each job, record,
finish) in this process. Files are given as ``{relative path: source}``,
and each source is dedented, so a test can write its package inline::

    db = build_store(tmp_path, {"pkg/__init__.py": '''
        def f(a, b=1): ...
    '''})

Archives (:func:`wheel`, :func:`sdist`) are built with :mod:`zipfile` and
:mod:`tarfile` from the same mappings, for the CLI's ``extract`` of a file.
"""

from __future__ import annotations

import io
import tarfile
import textwrap
import zipfile
from collections.abc import Mapping
from pathlib import Path

from omega_actors.skeleton.reader import read
from omega_actors.skeleton.sources import directory
from omega_actors.skeleton.store import SkeletonStore

Files = Mapping[str, str]


def write_files(root: Path, files: Files) -> Path:
    """Write each ``relpath: source`` (dedented) under root; returns root."""
    for relpath, source in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip("\n"))
    return root


def extract_serially(db: Path, *packages: Path) -> Path:
    """Extract source directories into the store at db, in this process; returns db."""
    with SkeletonStore(db) as store:
        for package in packages:
            source = directory(package)
            package_id, jobs, _ = store.plan(source)
            changed = store.record(package_id, jobs, [read(job) for job in jobs])
            store.finish(package_id, changed)
    return db


def build_store(where: Path, files: Files, db: str = "skeleton.db") -> Path:
    """Write a project's files under ``where/src`` and extract each top-level package into ``where/db``."""
    root = write_files(where / "src", files)
    packages = sorted({root / Path(relpath).parts[0] for relpath in files})
    return extract_serially(where / db, *packages)


def wheel(folder: Path, name: str, version: str, files: Files) -> Path:
    """A wheel (a zip with a dist-info) holding files; returns its path."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for relpath, source in files.items():
            archive.writestr(relpath, textwrap.dedent(source).lstrip("\n"))
        archive.writestr(f"{name}-{version}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return path


def sdist(folder: Path, name: str, version: str, files: Files, members: Files | None = None) -> Path:
    """An sdist (``name-version.tar.gz``, files under ``name-version/``); ``members`` are added under their raw names."""
    path = folder / f"{name}-{version}.tar.gz"
    entries = {f"{name}-{version}/{relpath}": source for relpath, source in files.items()} | dict(members or {})
    with tarfile.open(path, "w:gz") as archive:
        for member, source in entries.items():
            data = textwrap.dedent(source).lstrip("\n").encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path
