"""Run an experiment's command in its own process, with limits, and measure it from outside.

::

    result = run_limited(argv, cwd=box.tree, env=scrubbed_env(box), limits=Limits(timeout=60, cpu_seconds=60, memory_mb=1024))
    result.exit_code, result.killed, result.wall_s, result.cpu_s, result.peak_rss_mb

The process gets its own session (so the whole group is killed at once), a
CPU-time limit (``RLIMIT_CPU``: the kernel stops it), an address-space limit
(``RLIMIT_AS``), a wall-clock timeout enforced here, ``PR_SET_PDEATHSIG`` so
it dies with the process that runs it, and an environment with nothing but
``PATH``, the locale, and HOME and TMPDIR inside the sandbox: no tokens, no
database passwords, no ``OMEGA_*`` of the host. It holds no capabilities (bounding, permitted,
effective and inheritable sets emptied, ``no_new_privs`` set): root
ignores file modes only through ``CAP_DAC_OVERRIDE`` and ``CAP_FOWNER``,
so a command of a root Genesis meets the read-only, foreign-owned files of
the shared export like anyone else. A process it leaves behind
outside its group (``setsid``, a daemon) is found by a marker in its
environment and killed too; one that also rewrites its own environment
would need a cgroup, which Genesis does not use. Its output goes to files in
the sandbox, not pipes, so a chatty command cannot block on a full pipe.
Time comes from ``wait4`` and peak memory from ``/proc``, both read by this process.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PEAK_SAMPLE_SECONDS = 0.05
RUN_MARKER = "OMEGA_GENESIS_RUN"
MAX_FILE_BYTES = 1 << 30
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_CAPABILITY_VERSION_3 = 0x20080522
_KEPT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class Limits:
    timeout: float = 300.0
    cpu_seconds: int = 300
    memory_mb: int = 2048


@dataclass(frozen=True, slots=True)
class RunResult:
    exit_code: int  # negative: the signal that ended it
    killed: str  # "" | "timeout" | "cpu" | "memory" | "signal"
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    stdout: Path
    stderr: Path

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.killed

    def tail(self, lines: int = 5) -> str:
        try:
            text = self.stderr.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def describe(self) -> str:
        if self.killed == "timeout":
            return f"killed after its wall-clock limit ({self.wall_s:.1f} s)"
        if self.killed:
            return f"killed at its {self.killed} limit (signal {-self.exit_code})" if self.exit_code < 0 else f"{self.killed} limit"
        return f"exit code {self.exit_code}"


def scrubbed_env(home: Path, tmp: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The host's PATH and locale, HOME and TMPDIR in the sandbox, and ``extra``; nothing else."""
    env = {key: os.environ[key] for key in _KEPT if key in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update({"HOME": str(home), "TMPDIR": str(tmp), "XDG_CACHE_HOME": str(home / ".cache"),
                "XDG_CONFIG_HOME": str(home / ".config"), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"})
    env.update(extra or {})
    return env


def run_limited(argv: list[str], cwd: Path, env: Mapping[str, str], limits: Limits, output: Path) -> RunResult:
    """Run ``argv`` to its end or its limit; stdout and stderr go to ``output``/stdout.txt and stderr.txt."""
    output.mkdir(parents=True, exist_ok=True)
    stdout, stderr = output / "stdout.txt", output / "stderr.txt"
    marker = f"{RUN_MARKER}={uuid.uuid4().hex}"
    env = {**env, RUN_MARKER: marker.partition("=")[2]}
    started = time.monotonic()
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                   start_new_session=True, preexec_fn=_limiter(limits), close_fds=True)  # fmt: skip
    timed_out, ended = threading.Event(), threading.Event()
    timer = threading.Timer(limits.timeout, _kill_group, (process.pid, timed_out))
    timer.daemon = True
    timer.start()
    peak = _PeakSampler(process.pid, argv, ended)
    peak.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        ended.set()
        timer.cancel()
        peak.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    _kill_group(process.pid, None)  # anything it left behind in its group
    _sweep(marker)  # and anything that left the group (setsid, a daemon) but kept the environment
    code = process.returncode
    killed = "timeout" if timed_out.is_set() else _limit_hit(code, usage, limits, stderr)
    return RunResult(code, killed, time.monotonic() - started, usage.ru_utime + usage.ru_stime,
                     peak.kilobytes / 1024.0, stdout, stderr)  # fmt: skip


class _PeakSampler(threading.Thread):
    """The command's peak resident memory (``VmHWM``), read from /proc while it runs.

    Not ``ru_maxrss``: the kernel counts in it the memory of the process that
    forked, before ``exec`` (this one, often hundreds of MB). ``VmHWM`` is the
    high-water mark of the command's own image, so a read every 50 ms loses
    only what it allocates in its last 50 ms.
    """

    def __init__(self, pid: int, argv: list[str], ended: threading.Event) -> None:
        super().__init__(daemon=True)
        self.pid, self.argv, self.ended = pid, [a.encode() for a in argv], ended
        self.kilobytes = 0

    def run(self) -> None:
        while True:
            self._sample()
            if self.ended.wait(PEAK_SAMPLE_SECONDS):
                return

    def _sample(self) -> None:
        try:
            if Path(f"/proc/{self.pid}/cmdline").read_bytes().split(b"\0")[:-1] != self.argv:
                return  # not exec'd yet: the memory is still the forking process's
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.kilobytes = max(self.kilobytes, int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            pass  # gone, or a zombie


def _limit_hit(code: int, usage: resource.struct_rusage, limits: Limits, stderr: Path) -> str:
    if code == -signal.SIGXCPU or (code == -signal.SIGKILL and usage.ru_utime + usage.ru_stime >= limits.cpu_seconds):
        return "cpu"
    if code != 0 and _out_of_memory(stderr):
        return "memory"  # RLIMIT_AS makes allocations fail: Python raises MemoryError, C code aborts
    return "signal" if code < 0 else ""


def _out_of_memory(stderr: Path) -> bool:
    try:
        with stderr.open("rb") as stream:
            stream.seek(max(0, stderr.stat().st_size - 4096))
            tail = stream.read()
    except OSError:
        return False
    return b"MemoryError" in tail or b"std::bad_alloc" in tail or b"Cannot allocate memory" in tail


def _sweep(marker: str) -> None:
    """Kill every process whose environment carries this run's marker: it was started by the command."""
    needle = marker.encode() + b"\0"
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as stream:
                found = needle in stream.read()
            if found:
                os.kill(int(name), signal.SIGKILL)
        except (OSError, ValueError):
            pass  # gone meanwhile, or not ours to read


def _kill_group(pid: int, flag: threading.Event | None) -> None:
    if flag is not None:
        flag.set()
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _limiter(limits: Limits):  # type: ignore[no-untyped-def]
    cpu = int(limits.cpu_seconds)
    memory = int(limits.memory_mb) << 20

    def apply() -> None:
        # Runs in the child between fork and exec: the kernel enforces these, not this process.
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))  # its output cannot fill the disk
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        _drop_capabilities(libc)

    return apply


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_capabilities(libc: ctypes.CDLL) -> None:
    """No capability now or after exec, even as uid 0; a failure stops the command from starting."""
    for capability in range(64):
        libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0)  # EINVAL past the last one the kernel knows
    if libc.capset(ctypes.byref(_CapHeader(_CAPABILITY_VERSION_3, 0)), (_CapData * 2)()) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
