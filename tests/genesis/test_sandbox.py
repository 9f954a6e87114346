"""Sandboxes: hardlinks into a read-only export of the base commit, Genesis' own writes replace, paths stay inside."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from omega_actors.errors import GenesisError
from omega_actors.genesis.sandbox import (
    BASE_DIR,
    Sandbox,
    Sandboxes,
    check_protected,
    new_experiment_id,
    patch_files,
)

from .conftest import (
    CALC,
    TEST_CALC,
    commit_files,
    diff_of,
    git,
    head,
    new_file_diff,
    snapshot,
)

NEW_CALC = CALC.replace("return a + b", "return b + a")


def export_of(sandboxes: Sandboxes, box: Sandbox) -> Path:
    return sandboxes.root / BASE_DIR / box.tree_id


def open_for_writing(path: Path) -> str:
    """The exception (its type's name) a process without privileges gets opening ``path`` for writing, or "".

    Root ignores file modes (CAP_DAC_OVERRIDE), so as root the attempt is made by a child that first drops
    every capability: it is then an ordinary owner of the file, and only the file's mode decides.
    """
    if os.geteuid() != 0:
        try:
            with path.open("r+b"):
                return ""
        except OSError as exc:
            return type(exc).__name__
    result = subprocess.run([sys.executable, "-I", "-c", DROP_CAPABILITIES_AND_OPEN, str(path)], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


DROP_CAPABILITIES_AND_OPEN = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
if libc.capset(header, (ctypes.c_uint32 * 6)()) != 0:  # effective, permitted, inheritable: all empty
    raise OSError(ctypes.get_errno(), "capset")
try:
    open(sys.argv[1], "r+b").close()
    print("")
except OSError as exc:
    print(type(exc).__name__)
"""


def test_create_makes_a_tree_with_the_base_commits_files_and_not_the_uncommitted_edits(project: Path, sandboxes: Sandboxes) -> None:
    (project / "calc" / "__init__.py").write_text("# an uncommitted edit\n")
    (project / "untracked.py").write_text("x = 1\n")
    experiment_id = new_experiment_id()

    box = sandboxes.create(experiment_id, project)

    assert box.root == sandboxes.root / experiment_id and box.tree == sandboxes.root / experiment_id / "tree"
    assert (box.tree / "calc" / "__init__.py").read_text() == CALC
    assert (box.tree / "tests" / "test_calc.py").read_text() == TEST_CALC
    assert not (box.tree / "untracked.py").exists()
    assert not (box.tree / ".git").exists()
    assert box.commit == head(project)
    assert box.home.is_dir() and box.tmp.is_dir() and box.out.is_dir()
    assert sandboxes.existing() == [experiment_id]


def test_create_refuses_an_experiment_id_that_is_not_one(project: Path, sandboxes: Sandboxes) -> None:
    with pytest.raises(GenesisError, match="experiment id"):
        sandboxes.create("../escape", project)
    assert not (sandboxes.root.parent / "escape").exists()


def test_files_in_the_tree_are_hardlinks_of_a_read_only_export(project: Path, sandboxes: Sandboxes) -> None:
    box = sandboxes.create(new_experiment_id(), project)
    export = export_of(sandboxes, box)

    for name in ("calc/__init__.py", "tests/test_calc.py"):
        in_tree, in_export = (box.tree / name).stat(), (export / name).stat()
        assert in_tree.st_nlink >= 2
        assert (in_tree.st_ino, in_tree.st_dev) == (in_export.st_ino, in_export.st_dev)
        assert in_tree.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) == 0, oct(in_tree.st_mode)
    # the requester's own files are never linked
    assert (project / "calc" / "__init__.py").stat().st_ino != (box.tree / "calc" / "__init__.py").stat().st_ino


def test_opening_a_file_of_the_tree_for_writing_raises_permission_error(project: Path, sandboxes: Sandboxes) -> None:
    box = sandboxes.create(new_experiment_id(), project)

    assert open_for_writing(box.tree / "calc" / "__init__.py") == "PermissionError"
    assert (export_of(sandboxes, box) / "calc" / "__init__.py").read_text() == CALC


def test_sandbox_write_replaces_the_file_so_the_export_and_the_source_repository_are_unchanged(
    project: Path, sandboxes: Sandboxes
) -> None:
    box = sandboxes.create(new_experiment_id(), project)
    export_file = export_of(sandboxes, box) / "calc" / "__init__.py"
    linked_inode = (box.tree / "calc" / "__init__.py").stat().st_ino
    source_before = snapshot(project, skip=project / ".git")

    box.write("calc/__init__.py", NEW_CALC.encode())

    written = (box.tree / "calc" / "__init__.py").stat()
    assert (box.tree / "calc" / "__init__.py").read_text() == NEW_CALC
    assert written.st_ino != linked_inode and written.st_nlink == 1
    assert export_file.read_text() == CALC and export_file.stat().st_ino == linked_inode
    assert snapshot(project, skip=project / ".git") == source_before
    assert sandboxes.intact(box.tree_id)
    assert not [p.name for p in (box.tree / "calc").iterdir() if p.name.startswith(".genesis-")]


def test_apply_patch_applies_a_good_diff_and_returns_the_files_it_touched(project: Path, sandboxes: Sandboxes) -> None:
    diff = diff_of(project, {"calc/__init__.py": NEW_CALC, "calc/extra.py": "VALUE = 1\n"})
    box = sandboxes.create(new_experiment_id(), project)
    export_file = export_of(sandboxes, box) / "calc" / "__init__.py"

    touched = box.apply_patch(diff, ("tests/",))

    assert set(touched) == {"calc/__init__.py", "calc/extra.py"}
    assert (box.tree / "calc" / "__init__.py").read_text() == NEW_CALC
    assert (box.tree / "calc" / "extra.py").read_text() == "VALUE = 1\n"
    assert export_file.read_text() == CALC
    assert (box.tree / "calc" / "__init__.py").stat().st_ino != export_file.stat().st_ino
    assert sandboxes.intact(box.tree_id)
    assert (project / "calc" / "__init__.py").read_text() == CALC and not (project / "calc" / "extra.py").exists()


def test_a_diff_that_does_not_apply_raises_a_genesis_error_saying_so(project: Path, sandboxes: Sandboxes) -> None:
    stale = diff_of(project, {"calc/__init__.py": NEW_CALC})
    commit_files(project, {"calc/__init__.py": "def add(a, b):\n    return sum((a, b))\n"}, "rewrite add")
    box = sandboxes.create(new_experiment_id(), project)

    with pytest.raises(GenesisError, match="does not apply") as caught:
        box.apply_patch(stale, ("tests/",))
    assert caught.value.key == "change.diff"
    assert (box.tree / "calc" / "__init__.py").read_text() == "def add(a, b):\n    return sum((a, b))\n"


def test_a_diff_touching_tests_is_refused_as_protected_and_changes_nothing(project: Path, sandboxes: Sandboxes) -> None:
    diff = diff_of(project, {"calc/__init__.py": NEW_CALC, "tests/test_calc.py": "def test_nothing():\n    pass\n"})
    box = sandboxes.create(new_experiment_id(), project)

    with pytest.raises(GenesisError, match="protected") as caught:
        box.apply_patch(diff, ("tests/",))
    assert "tests/test_calc.py" in str(caught.value)
    assert (box.tree / "tests" / "test_calc.py").read_text() == TEST_CALC
    assert (box.tree / "calc" / "__init__.py").read_text() == CALC


def test_check_protected_matches_whole_path_components_only() -> None:
    assert check_protected(("testsuite/x.py", "calc/tests.py"), ("tests/",)) == ("testsuite/x.py", "calc/tests.py")
    with pytest.raises(GenesisError, match="protected"):
        check_protected(("tests",), ("tests/",))
    with pytest.raises(GenesisError, match="protected"):
        check_protected(("config/brain.toml",), ("config",))


def test_a_diff_renaming_a_test_out_of_tests_is_refused_as_protected(project: Path, sandboxes: Sandboxes) -> None:
    git(project, "mv", "tests/test_calc.py", "calc/test_moved.py")
    renamed = git(project, "diff", "--cached", "-M", "--no-color", "HEAD")
    git(project, "reset", "-q", "--hard", "HEAD")
    assert "rename from tests/test_calc.py" in renamed
    box = sandboxes.create(new_experiment_id(), project)

    assert "tests/test_calc.py" in patch_files(renamed, box.tree), "the rename's old name, which it deletes"
    with pytest.raises(GenesisError, match="protected"):
        box.apply_patch(renamed, ("tests/",))
    assert (box.tree / "tests" / "test_calc.py").read_text() == TEST_CALC


@pytest.mark.parametrize("name", ["../evil.py", "calc/../../evil.py"])
def test_a_diff_with_parent_directory_paths_is_refused(project: Path, sandboxes: Sandboxes, name: str) -> None:
    box = sandboxes.create(new_experiment_id(), project)

    with pytest.raises(GenesisError):
        box.apply_patch(new_file_diff(name, "import os\n"), ())
    assert not (box.root / "evil.py").exists() and not (sandboxes.root / "evil.py").exists()


def test_a_diff_writing_through_a_symlink_that_points_outside_is_refused(project: Path, sandboxes: Sandboxes, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    commit_files(project, {}, "a link out", symlinks={"outside": str(outside)})
    box = sandboxes.create(new_experiment_id(), project)
    outside.mkdir()
    assert (box.tree / "outside").is_symlink()

    with pytest.raises(GenesisError):
        box.apply_patch(new_file_diff("outside/evil.py", "import os\n"), ())
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("relative", ["../x", "/etc/passwd", "calc/../../x", ""])
def test_inside_refuses_paths_that_leave_the_tree(project: Path, sandboxes: Sandboxes, relative: str) -> None:
    box = sandboxes.create(new_experiment_id(), project)

    with pytest.raises(GenesisError):
        box.inside(relative)


def test_inside_refuses_a_path_through_a_symlink_of_the_tree_that_points_outside(
    project: Path, sandboxes: Sandboxes, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"  # made after the sandbox: a link to a directory is not linked (see below)
    commit_files(project, {}, "a link out", symlinks={"outside": str(outside)})
    box = sandboxes.create(new_experiment_id(), project)
    outside.mkdir()
    assert (box.tree / "outside").is_symlink()

    with pytest.raises(GenesisError, match="outside the sandbox"):
        box.inside("outside/secret")
    with pytest.raises(GenesisError, match="outside the sandbox"):
        box.write("outside/planted.py", b"x = 1\n")
    assert list(outside.iterdir()) == []
    assert box.inside("calc/__init__.py") == box.tree / "calc" / "__init__.py"


def test_a_committed_symlink_to_a_directory_is_in_the_tree(project: Path, sandboxes: Sandboxes) -> None:
    commit_files(project, {}, "an alias", symlinks={"latest": "calc"})
    box = sandboxes.create(new_experiment_id(), project)

    assert (box.tree / "latest").is_symlink(), "the base commit holds latest -> calc; the tree must too"
    assert os.readlink(box.tree / "latest") == "calc"


def test_remove_deletes_the_whole_sandbox_and_keeps_the_shared_export(project: Path, sandboxes: Sandboxes) -> None:
    box = sandboxes.create(new_experiment_id(), project)
    box.write("calc/extra.py", b"x = 1\n")
    (box.home / "notes").write_text("scratch")
    box.database.write_bytes(b"")

    box.remove()

    assert not box.root.exists()
    assert sandboxes.existing() == []
    assert (export_of(sandboxes, box) / "calc" / "__init__.py").read_text() == CALC
    assert sandboxes.intact(box.tree_id)


def test_a_second_sandbox_of_the_same_commit_reuses_the_export(project: Path, sandboxes: Sandboxes) -> None:
    first = sandboxes.create(new_experiment_id(), project)
    second = sandboxes.create(new_experiment_id(), project)

    assert first.tree_id == second.tree_id
    for name in ("calc/__init__.py", "tests/test_calc.py"):
        assert (first.tree / name).stat().st_ino == (second.tree / name).stat().st_ino
    assert (second.tree / "calc" / "__init__.py").stat().st_nlink >= 3
    assert sorted(p.name for p in (sandboxes.root / BASE_DIR).iterdir() if p.is_dir()) == [first.tree_id]


def test_a_modified_export_is_not_intact_and_the_next_create_exports_again(project: Path, sandboxes: Sandboxes) -> None:
    first = sandboxes.create(new_experiment_id(), project)
    export_file = export_of(sandboxes, first) / "calc" / "__init__.py"
    old_inode = export_file.stat().st_ino
    assert sandboxes.intact(first.tree_id)

    linked = first.tree / "calc" / "__init__.py"  # what a hostile command in the first sandbox could do
    linked.chmod(0o644)
    linked.write_text("def add(a, b):\n    return 42\n")

    assert not sandboxes.intact(first.tree_id)
    second = sandboxes.create(new_experiment_id(), project)
    fresh = second.tree / "calc" / "__init__.py"
    assert fresh.read_text() == CALC
    assert fresh.stat().st_ino != old_inode
    assert sandboxes.intact(second.tree_id)


def test_a_same_size_write_with_mode_and_mtime_restored_is_still_detected(project: Path, sandboxes: Sandboxes) -> None:
    box = sandboxes.create(new_experiment_id(), project)
    linked = box.tree / "calc" / "__init__.py"
    before = linked.stat()
    forged = CALC.replace("a + b", "a - b")
    assert len(forged) == len(CALC)

    linked.chmod(0o644)  # a hostile command covering its tracks: same size, mode and mtime as before
    linked.write_text(forged)
    linked.chmod(stat.S_IMODE(before.st_mode))
    os.utime(linked, ns=(before.st_atime_ns, before.st_mtime_ns))

    assert (export_of(sandboxes, box) / "calc" / "__init__.py").read_text() == forged
    assert sandboxes.intact(box.tree_id), "the cheap stat check cannot see this one"
    assert not sandboxes.verify(box.tree_id), "the export's contents changed, but the content check did not see it"


def test_a_rename_out_of_a_protected_path_is_refused_however_its_header_is_written(project: Path, sandboxes: Sandboxes) -> None:
    header_forms = (
        "rename from tests/test_calc.py\nrename to moved.py\n",
        "rename old tests/test_calc.py\nrename new moved.py\n",
        'rename from "tests/\\164est_calc.py"\nrename to moved.py\n',
    )
    for headers in header_forms:
        diff = f"diff --git a/tests/test_calc.py b/moved.py\nsimilarity index 100%\n{headers}"
        box = sandboxes.create(new_experiment_id(), project)
        with pytest.raises(GenesisError, match="protected"):
            box.apply_patch(diff, ("tests/",))
        assert (sandboxes.root / BASE_DIR / box.tree_id / "tests" / "test_calc.py").read_text() == TEST_CALC
        box.remove()
