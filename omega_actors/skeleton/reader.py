"""One job to one outcome: read the file, hash it, parse it unless the hash is the stored one.

What a worker runs for each file. Every way a file can fail to be Python
that the parser reports (a syntax error, bad encoding, null bytes, nesting
deeper than the parser or the recursion limit allows, not enough memory) is a
``failed`` outcome with its reason; the worker goes on with the next file. What
the parser cannot report, a crash of the process or a parse that never ends,
is the coordinator's to handle (:mod:`.schedule`).
"""

from __future__ import annotations

import hashlib

from .extract import extract, pack
from .store import FileOutcome, FileStatus, Job

DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024
PARSE_ERRORS = (SyntaxError, ValueError, UnicodeError, LookupError, RecursionError, MemoryError)


def read(job: Job, *, full_docs: bool = False, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> FileOutcome:
    file = job.file
    try:
        data = file.path.read_bytes()
    except OSError as error:
        return FileOutcome(file.relpath, FileStatus.FAILED, "", reason=f"unreadable: {error.strerror or error}")
    digest = hashlib.sha256(data).hexdigest()
    if digest == job.known:
        return FileOutcome(file.relpath, FileStatus.SAME, digest)
    if len(data) > max_file_bytes:
        return FileOutcome(file.relpath, FileStatus.FAILED, digest, reason=f"too large: {len(data)} bytes, the limit is {max_file_bytes}")
    try:
        record = extract(data, file.module, is_package=file.is_package, is_stub=file.is_stub, full_docs=full_docs)
    except PARSE_ERRORS as error:
        return FileOutcome(file.relpath, FileStatus.FAILED, digest, reason=_reason(error))
    return FileOutcome(file.relpath, FileStatus.OK, digest, pack(record))


def _reason(error: BaseException) -> str:
    if isinstance(error, SyntaxError):
        where = f" (line {error.lineno})" if error.lineno else ""
        return f"SyntaxError: {error.msg}{where}"
    return f"{type(error).__name__}: {str(error)[:200] or 'no detail'}"
