"""One job to one outcome: every file that is not Python it can read is a ``failed`` outcome, never an exception.

Each test writes one file under ``tmp_path`` and reads it as a worker
would. What the parser reports (syntax, encoding, null bytes, nesting) must
come back as ``failed`` with a reason a person can act on; encodings Python
accepts (a cookie, a BOM, CRLF line endings) must parse, with non-ASCII text
sliced on character boundaries.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from omega_actors.skeleton import reader
from omega_actors.skeleton.extract import FileRecord, unpack
from omega_actors.skeleton.reader import read
from omega_actors.skeleton.sources import directory, source_file
from omega_actors.skeleton.store import FileOutcome, Job


def job_for(tmp_path: Path, data: bytes, name: str = "mod.py", known: str | None = None) -> Job:
    package = tmp_path / "pkg"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").touch()
    (package / name).write_bytes(data)
    return Job("pkg", source_file(tmp_path, package / name), known)


def read_bytes(tmp_path: Path, data: bytes, **options: int) -> FileOutcome:
    return read(job_for(tmp_path, data), **options)  # type: ignore[arg-type]


def record(outcome: FileOutcome) -> FileRecord:
    assert outcome.status == "ok", outcome.reason
    assert outcome.record is not None
    return unpack(outcome.record)


# Files that are not Python it can read.

FAILURES = {
    "a syntax error": (b"def f(:\n    pass\n", "SyntaxError: invalid syntax (line 1)"),
    "invalid UTF-8 on the first line": (b"x = '\xff\xfe'\n", "SyntaxError: invalid or missing encoding declaration"),
    "invalid UTF-8 further down": (b"x = 1\ny = 2\nz = '\xe9t\xe9'\n", "UnicodeDecodeError: 'utf-8' codec can't decode"),
    "an unknown coding cookie": (b"# -*- coding: klingon -*-\nx = 1\n", "SyntaxError: unknown encoding: klingon"),
    "a cookie that disagrees with a BOM": (b"\xef\xbb\xbf# coding: latin-1\nx = 1\n", "SyntaxError: encoding problem"),
    "null bytes": (b"x = 1\x00\n", "null bytes"),
    "binary garbage": (random.Random(11).randbytes(4096), "SyntaxError"),
    "nesting deeper than the recursion limit": (b"x = " + b"1+" * 200_000 + b"1\n", "RecursionError"),
    "an unfinished expression": (b"1+" * 200_000, "SyntaxError"),
    "too many parentheses": (b"(" * 300, "SyntaxError: too many nested parentheses"),
    "balanced but too many parentheses": (b"x = " + b"(" * 300 + b"1" + b")" * 300 + b"\n", "SyntaxError: too many nested parentheses"),
    "a lone surrogate": (b"x = '\xed\xa0\x80'\n", "SyntaxError"),
}


@pytest.mark.parametrize(("data", "reason"), FAILURES.values(), ids=FAILURES.keys())
def test_a_file_that_is_not_python_it_can_read_is_a_failed_outcome_with_its_reason(tmp_path: Path, data: bytes, reason: str) -> None:
    outcome = read_bytes(tmp_path, data)
    assert outcome.status == "failed" and outcome.record is None
    assert outcome.reason is not None and reason in outcome.reason
    assert outcome.sha256 == hashlib.sha256(data).hexdigest(), "the hash is kept: an unchanged bad file is not parsed again"


def test_a_file_larger_than_the_limit_is_failed_as_too_large_without_parsing(tmp_path: Path) -> None:
    data = b"def f(:\n" * 100  # would be a syntax error, if it were parsed
    outcome = read_bytes(tmp_path, data, max_file_bytes=len(data) - 1)
    assert outcome.status == "failed"
    assert outcome.reason == f"too large: {len(data)} bytes, the limit is {len(data) - 1}"
    assert read_bytes(tmp_path, data, max_file_bytes=len(data)).reason == "SyntaxError: invalid syntax (line 1)"


def test_a_file_deleted_after_planning_is_failed_as_unreadable(tmp_path: Path) -> None:
    job = job_for(tmp_path, b"x = 1\n")
    job.file.path.unlink()
    outcome = read(job)
    assert (outcome.status, outcome.sha256, outcome.reason) == ("failed", "", "unreadable: No such file or directory")


def test_a_directory_named_like_a_module_is_failed_as_unreadable(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "odd.py").mkdir(parents=True)
    job = Job("pkg", source_file(tmp_path, tmp_path / "pkg" / "odd.py"), None)
    outcome = read(job)
    assert (outcome.status, outcome.reason) == ("failed", "unreadable: Is a directory")


def test_every_file_of_a_package_of_bad_files_gets_an_outcome_and_none_raises(tmp_path: Path) -> None:
    package = tmp_path / "bad"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for index, (data, _) in enumerate(FAILURES.values()):
        (package / f"m{index}.py").write_bytes(data)
    outcomes = [read(Job("bad", file, None)) for file in directory(package).files]
    assert [o.status for o in outcomes] == ["ok"] + ["failed"] * len(FAILURES)


# Files Python reads, and so must we.


def test_a_latin_1_file_with_its_cookie_parses_and_non_ascii_text_is_sliced_whole(tmp_path: Path) -> None:
    source = "# -*- coding: latin-1 -*-\ndef f(a='é', b: 'ü' = 'ß') -> 'ö': ...\nX: 'é' = 'ñü'\n"
    definitions = record(read_bytes(tmp_path, source.encode("latin-1"))).definitions
    assert definitions["f"].parameters == [["a", "positional-or-keyword", None, "'é'"], ["b", "positional-or-keyword", "'ü'", "'ß'"]]
    assert definitions["f"].returns == "'ö'"
    assert (definitions["X"].annotation, definitions["X"].value) == ("'é'", "'ñü'")


def test_a_utf_8_file_with_a_bom_parses(tmp_path: Path) -> None:
    data = "\ufeff\"\"\"Doc.\"\"\"\ndef f(a='日本'): ...\n".encode()
    parsed = record(read_bytes(tmp_path, data))
    assert parsed.doc == "Doc."
    assert parsed.definitions["f"].parameters == [["a", "positional-or-keyword", None, "'日本'"]]


def test_a_file_with_crlf_line_endings_parses_with_the_lines_python_gives(tmp_path: Path) -> None:
    data = b'def f(a=1):\r\n    """Doc."""\r\n\r\nclass C:\r\n    x: int = 2\r\n'
    parsed = record(read_bytes(tmp_path, data))
    assert (parsed.definitions["f"].line, parsed.definitions["f"].end_line, parsed.definitions["f"].doc) == (1, 2, "Doc.")
    assert parsed.definitions["C"].line == 4
    assert (parsed.definitions["C.x"].annotation, parsed.definitions["C.x"].value) == ("int", "2")


def test_an_empty_file_is_an_empty_module(tmp_path: Path) -> None:
    parsed = record(read_bytes(tmp_path, b""))
    assert parsed.module == "pkg.mod" and parsed.definitions == {}


# Unchanged files.


def test_a_file_whose_hash_is_the_stored_one_is_same_without_being_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"def f(:\n"  # a syntax error: parsing it would fail it
    calls = []
    monkeypatch.setattr(reader, "extract", lambda *args, **kwargs: calls.append(args))
    outcome = read(job_for(tmp_path, data, known=hashlib.sha256(data).hexdigest()))
    assert outcome == FileOutcome("pkg/mod.py", "same", hashlib.sha256(data).hexdigest())
    assert calls == []


def test_a_file_whose_hash_differs_from_the_stored_one_is_parsed(tmp_path: Path) -> None:
    outcome = read(job_for(tmp_path, b"def f(): ...\n", known=hashlib.sha256(b"old").hexdigest()))
    assert outcome.status == "ok" and "f" in record(outcome).definitions
