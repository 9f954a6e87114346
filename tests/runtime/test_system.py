"""The runtime as a whole: loopback only, clean shutdown, no orphans, clear start errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from omega_actors.errors import RuntimeStartError, SpecError
from omega_actors.runtime import Runtime, Start, SupervisorSpec, SystemConfig
from omega_actors.runtime.child_spec import ChildSpec
from omega_actors.runtime.cluster_config import ClusterConfig
from omega_actors.runtime.processes import parent_of
from omega_actors.runtime.system import free_port

from .conftest import alive, assert_all_gone, pids_of, wait_until
from .hostile import raw_frame, send_raw
from .probes import Ping, Pong, Probe


def listening_addresses(pid: int) -> set[str]:
    """Local addresses of the TCP sockets that ``pid`` listens on (Linux /proc)."""
    return {host for host, _ in _listening(pid)}


def listening_ports(pid: int) -> set[int]:
    return {port for _, port in _listening(pid)}


def _listening(pid: int) -> set[tuple[str, int]]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    with open(f"/proc/{pid}/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                host, port = local.split(":")
                found.add((socket.inet_ntoa(bytes.fromhex(host)[::-1]), int(port, 16)))
    return found


def descendants(pid: int) -> set[int]:
    children = {int(p) for p in os.listdir("/proc") if p.isdigit() and parent_of(int(p)) == pid}
    return children.union(*(descendants(child) for child in children)) if children else set()


@pytest.mark.tcp
def test_every_process_of_a_tcp_system_listens_on_loopback_only(start_runtime, probe_log):
    runtime = start_runtime(SupervisorSpec(children=(Probe.child_spec("w", probe_log),)), "tcp")
    tree = runtime.tree()
    admin = parent_of(tree.pid)
    processes = pids_of(tree) | {admin} | descendants(admin)
    assert len(processes) >= 7, "admin, logger, guardian, registry, bus, app and the worker"
    addresses = set().union(*(listening_addresses(pid) for pid in processes))
    assert addresses == {"127.0.0.1"}


@pytest.mark.tcp
def test_shutdown_leaves_no_process_behind_not_even_the_admin_or_its_logger(tmp_path, probe_log):
    runtime = Runtime.start(SupervisorSpec(children=(Probe.child_spec("w", probe_log),)), SystemConfig(base="tcp", data_dir=str(tmp_path)))
    try:
        tree = runtime.tree()
        admin = parent_of(tree.pid)
        processes = pids_of(tree) | {admin} | descendants(admin)
    finally:
        runtime.shutdown()
    assert_all_gone(processes)


@pytest.mark.tcp
def test_a_tree_that_fails_to_start_leaves_no_process_behind_not_even_the_admin(tmp_path, probe_log):
    """The guardian that would stop the admin ends with the failed tree: the runtime ends the admin itself."""
    before = _orphans_of_this_process()
    tree = SupervisorSpec(children=(Probe.child_spec("bad", probe_log, fail_start=True),))
    with pytest.raises(RuntimeStartError, match="failed_to_start_child bad"):
        Runtime.start(tree, SystemConfig(base="tcp", data_dir=str(tmp_path)))
    wait_until(lambda: not (_orphans_of_this_process() - before), what="the failed system's processes to end")


def _orphans_of_this_process() -> set[int]:
    """Forks of this process that outlived their parent: a daemonized admin (and its logger) are adopted by init."""
    mine = Path("/proc/self/cmdline").read_bytes()
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if (entry / "cmdline").read_bytes() == mine and parent_of(int(entry.name)) == 1:
                    found.add(int(entry.name))
            except OSError:
                continue  # it ended while we looked
    return found


@pytest.mark.tcp
def test_the_system_shuts_itself_down_when_the_process_that_started_it_dies(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {os.getcwd()!r})
        from omega_actors.runtime import Runtime, SupervisorSpec, SystemConfig
        from tests.runtime.probes import Probe
        runtime = Runtime.start(SupervisorSpec(children=(Probe.child_spec("w", {str(tmp_path / 'log')!r}),)),
                                SystemConfig(base="tcp", data_dir={str(tmp_path)!r}))
        print(runtime.tree().pid, flush=True)
        time.sleep(3600)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    processes: set[int] = set()
    try:
        guardian = int(owner.stdout.readline())
        admin = parent_of(guardian)
        processes = {guardian, admin} | descendants(admin)
        assert all(alive(pid) for pid in processes)
    finally:
        owner.send_signal(signal.SIGKILL)  # no chance to shut anything down
        owner.wait()
        owner.stdout.close()
    assert_all_gone(processes)


@pytest.mark.tcp
def test_a_taken_admin_port_is_reported_at_once(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(RuntimeStartError, match=f"admin port {port} on 127.0.0.1 is taken"):
            Runtime.start(SupervisorSpec(), SystemConfig(base="tcp", admin_port=port, data_dir=str(tmp_path)))


def test_free_ports_come_from_below_the_kernels_ephemeral_range_so_no_outgoing_connection_takes_them():
    bounds = Path("/proc/sys/net/ipv4/ip_local_port_range")
    if not bounds.exists():
        pytest.skip("this kernel does not publish its ephemeral port range")
    low = int(bounds.read_text().split()[0])
    ports = {free_port() for _ in range(50)}
    assert all(10_000 <= port < low for port in ports), sorted(ports)
    assert len(ports) > 1  # chosen at random, so concurrent starts rarely race for one


@pytest.mark.tcp
def test_an_automatic_admin_port_taken_before_the_admin_binds_it_is_replaced_by_another(tmp_path, monkeypatch):
    from omega_actors.runtime import system as system_module

    with socket.socket() as squatter:  # bound, not listening: what an outgoing connection looks like
        squatter.bind(("127.0.0.1", 0))
        taken = squatter.getsockname()[1]
        choices = iter([taken])
        real_free_port = system_module.free_port
        monkeypatch.setattr(system_module, "free_port", lambda host: next(choices, None) or real_free_port(host))
        with Runtime.start(SupervisorSpec(), SystemConfig(base="tcp", data_dir=str(tmp_path))) as runtime:
            assert runtime.admin_port not in (None, taken)


def test_a_non_loopback_bind_needs_an_explicit_opt_in():
    with pytest.raises(SpecError, match="pickle transport beyond this machine.*allow_remote = true"):
        SystemConfig(base="tcp", bind="0.0.0.0")
    with pytest.raises(SpecError, match="needs \\[cluster\\] secret_file"):
        SystemConfig(base="tcp", bind="0.0.0.0", allow_remote=True)
    remote = SystemConfig(base="tcp", bind="0.0.0.0", allow_remote=True, cluster=ClusterConfig(secret_file="/k"))
    assert remote.bind == "0.0.0.0"


@pytest.mark.tcp
def test_actor_classes_from_main_are_refused_on_tcp(tmp_path, monkeypatch):
    spec = ChildSpec("w", Start.of(Probe, "log"))
    object.__setattr__(spec.start, "target", "__main__:Probe")
    with pytest.raises(SpecError, match="defined in __main__; move it to a module"):
        Runtime.start(SupervisorSpec(children=(spec,)), SystemConfig(base="tcp", data_dir=str(tmp_path)))


@pytest.mark.tcp
def test_another_process_can_attach_to_a_running_system_and_leave_it_running(start_runtime, probe_log):
    runtime = start_runtime(SupervisorSpec(children=(Probe.child_spec("w", probe_log, name="w"),)), "tcp")
    attached = Runtime.connect(runtime.admin_port, runtime.config)
    try:
        assert attached.tree().find("app/w").state == "running"
        assert isinstance(attached.ask("w", Ping()), Pong)
    finally:
        attached.close()
    assert isinstance(runtime.ask("w", Ping()), Pong)


def test_attaching_where_nothing_runs_fails_clearly():
    with pytest.raises(RuntimeStartError, match="no actor system listens on 127.0.0.1:"):
        Runtime.connect(free_port(), SystemConfig(base="tcp"))


@pytest.mark.tcp
def test_on_the_default_config_hostile_frames_run_nothing_are_counted_and_logged_and_the_system_keeps_serving(
    start_runtime, probe_log, tmp_path
):
    """No [cluster] table: every frame is signed anyway, and any local process can reach a loopback port."""
    runtime = start_runtime(SupervisorSpec(children=(Probe.child_spec("w", probe_log, name="w"),)), "tcp")
    tree = runtime.tree()
    worker = next(node for node in tree.walk() if node.id == "w")
    marker = tmp_path / "ran"
    refused = (raw_frame(marker), b"99999999999>" + b"x" * 64, b"10>" + os.urandom(10))
    for port in {runtime.admin_port, *listening_ports(worker.pid)}:
        send_raw(port, raw_frame(marker)[:20], wait=False)  # cut short: never whole, so never unpickled
        for frame in refused:
            send_raw(port, frame)
    assert not marker.exists()
    assert isinstance(runtime.ask("w", Ping()), Pong)
    log = tmp_path / "omega" / "logs" / "omega.jsonl"
    reasons = {"not a signed frame", "a frame of 99999999999 bytes announced; at most 34603008 are accepted"}
    logged = wait_until(lambda: {reason for _, reason in _refusals(log)} == reasons and _refusals(log),
                        what="the refusals, each counted and logged")  # fmt: skip
    counts = sorted(count for _, count in _counts(log))
    assert len(logged) >= len(refused) and counts[-1] >= len(refused)  # a process counts every frame it refused


def _refusals(log: Path) -> list[tuple[int, str]]:
    return [(event["pid"], event["reason"]) for event in _rejections(log)]


def _counts(log: Path) -> list[tuple[int, int]]:
    return [(event["pid"], event["rejected"]) for event in _rejections(log)]


def _rejections(log: Path) -> list[dict]:
    events = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [event for event in events if event["event"] == "frame_rejected"]


@pytest.mark.tcp
def test_the_default_secret_is_made_private_at_first_start_reused_and_refused_once_others_can_read_it(tmp_path):
    config = SystemConfig(base="tcp", data_dir=str(tmp_path))
    with Runtime.start(SupervisorSpec(), config):
        secret = tmp_path / "secret"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        made = secret.read_bytes()
    with Runtime.start(SupervisorSpec(), config):
        assert secret.read_bytes() == made
    secret.chmod(0o644)
    with pytest.raises(SpecError, match=rf"readable by group or others .* run: chmod 600 {secret}"):
        Runtime.start(SupervisorSpec(), config)


@pytest.mark.tcp
def test_a_client_of_a_signing_system_needs_its_secret(start_runtime, probe_log, tmp_path):
    runtime = start_runtime(SupervisorSpec(children=(Probe.child_spec("w", probe_log, name="w"),)), "tcp")
    elsewhere = SystemConfig(base="tcp", data_dir=str(tmp_path / "elsewhere"))
    with pytest.raises(SpecError, match="secret_file: the file does not exist"):
        Runtime.connect(runtime.admin_port, elsewhere)
    with Runtime.connect(runtime.admin_port, SystemConfig(base="tcp", data_dir=str(tmp_path / "omega"))) as attached:
        assert isinstance(attached.ask("w", Ping()), Pong)
