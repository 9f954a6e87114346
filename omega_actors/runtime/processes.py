"""Child processes, watched by pid: the runtime's own record of which children live.

On ``multiprocTCPBase`` every actor is a process, and Thespian tells a parent
that a child ended with ``ChildActorExited(address)``. That notice is not
reliable enough to supervise by:

- it can be missing: Thespian learns of deaths from SIGCHLD, two SIGCHLDs
  close together run its handler once, and while handling one child's exit
  it reaps other dead children without reporting them;
- it can arrive twice, and the second copy may come after a new instance has
  been given the same TCP port, so by address it names the wrong instance.

So a host watches each child's pid from the moment it forks it. The start
time of a process (``/proc/<pid>/stat``) tells a live child from a dead one,
and from a stranger that reused its pid; a pidfd (Linux 5.3) becomes readable
the moment the process ends, so the host hears of a death at once instead of
polling. Linux only; elsewhere nothing is watched and Thespian's notices are
taken as they come.
"""

from __future__ import annotations

import ctypes
import os
import signal

from .messages import Address

PR_SET_PDEATHSIG = 1


def start_time(pid: int) -> str | None:
    """A live process's start time, or None once it has ended (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


class Watched:
    __slots__ = ("address", "pid", "started", "fd")

    def __init__(self, address: Address, pid: int, started: str | None, pidfd: bool = False) -> None:
        self.address = address
        self.pid = pid
        self.started = started
        self.fd = _pidfd(pid) if pidfd and started is not None else None

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def alive(self) -> bool:
        return self.started is not None and start_time(self.pid) == self.started


class ProcessWatch:
    """The children of one actor process, by address and pid."""

    def __init__(self) -> None:
        self._entries: list[Watched] = []

    def add(self, address: Address, pid: int) -> None:
        self._entries.append(Watched(address, pid, start_time(pid), pidfd=True))

    def find(self, address: Address) -> Watched | None:
        # Addresses are compared, not hashed: see messages.address_key.
        return next((entry for entry in self._entries if entry.address == address), None)

    def remove(self, entry: Watched) -> None:
        if entry in self._entries:
            self._entries.remove(entry)
            entry.close()

    def reap(self) -> list[Watched]:
        """Forget the children whose process has ended, and return them."""
        dead = [entry for entry in self._entries if not entry.alive()]
        for entry in dead:
            self.remove(entry)
        return dead

    def fds(self) -> list[int]:
        """Descriptors that become readable when a watched child ends."""
        return [entry.fd for entry in self._entries if entry.fd is not None]

    def __bool__(self) -> bool:
        return bool(self._entries)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux >= 5.3, or already gone
        return None


def die_with_parent(parent_pid: int | None) -> None:
    """Linux: SIGKILL this process when its parent dies (Erlang's link, for processes)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # not Linux: orphans are ended by the admin's shutdown instead
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(0)  # the parent died before the signal was armed


def exists(pid: int) -> bool:
    """Whether a process with this pid exists (a zombie counts: it has not been reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(pid: int) -> bool:
    """Whether the process is alive: it exists and is not a zombie (dead, not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return exists(pid)  # no /proc: fall back to signal 0
    return state not in ("Z", "X")


def parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def kill_group_of(pid: int) -> bool:
    """SIGKILL the process group that ``pid`` belongs to, unless it is the caller's own."""
    try:
        group = os.getpgid(pid)
    except ProcessLookupError:
        return False
    if group == os.getpgid(0):
        return False
    os.killpg(group, signal.SIGKILL)
    return True


def kill_own_group() -> None:
    """SIGKILL every process of the caller's group, the caller included."""
    os.killpg(os.getpgid(0), signal.SIGKILL)
