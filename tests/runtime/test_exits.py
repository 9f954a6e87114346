"""Exit reasons and crash reports."""

from __future__ import annotations

import pickle

from omega_actors.runtime import Crash, CrashReport, Killed, Normal, Shutdown


def make_report() -> CrashReport:
    try:
        {}["missing"]
    except KeyError as exc:
        return CrashReport.from_exception("app/w", exc, message=Normal(), phase="message", pid=42)
    raise AssertionError("unreachable")


def test_only_crashes_and_kills_are_abnormal():
    assert [reason.abnormal for reason in (Normal(), Shutdown("x"), Crash(make_report()), Killed())] == [False, False, True, True]


def test_a_crash_report_names_the_exception_the_message_type_and_keeps_the_traceback():
    report = make_report()
    assert (report.actor, report.exc_type, report.exc_text, report.pid) == ("app/w", "builtins.KeyError", "'missing'", 42)
    assert report.message_type == "omega_actors.runtime.exits.Normal"
    assert 'return CrashReport.from_exception' not in report.traceback and '{}["missing"]' in report.traceback
    assert report.summary() == "KeyError: 'missing' (handling omega_actors.runtime.exits.Normal)"


def test_a_crash_at_start_says_so_instead_of_a_message_type():
    try:
        raise RuntimeError("no database")
    except RuntimeError as exc:
        report = CrashReport.from_exception("app/db", exc, None, "start", 1)
    assert report.summary() == "RuntimeError: no database (in start)"


def test_reasons_summarise_in_one_line_and_survive_pickling():
    for reason, text in ((Normal(), "normal"), (Shutdown(), "shutdown"), (Shutdown("auto_shutdown"), "shutdown: auto_shutdown")):
        assert reason.summary() == text
        assert pickle.loads(pickle.dumps(reason)) == reason
    crash = Crash(make_report())
    assert pickle.loads(pickle.dumps(crash)) == crash and crash.summary().startswith("crash: KeyError")
