"""The command line's answers to a newcomer's mistakes: each names what is
wrong, before looking at any system; none hangs; each error line says
which command it comes from."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

import shmcp


def shmcp_cmd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shmcp", *args], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ))


def test_system_before_the_command_is_taken(system):
    """The README says every command takes --system; a user puts it first
    as often as last.  Before: 'invalid choice' naming the system."""
    shmcp.ipl(system)
    done = shmcp_cmd("--system", system, "QUERY", "NAMES")
    assert done.returncode == 0, done.stderr
    assert system in done.stdout
    done = shmcp_cmd(f"--system={system}", "query", "names", "--json")
    assert done.returncode == 0 and f'"system": "{system}"' in done.stdout
    # the command's own --system wins
    done = shmcp_cmd("--system", "NOSUCH", "query", "names", "--system", system)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("args, wrong", [
    (["query", "iucv", "bad-id"], "argument userid: userid 'bad-id' has characters '-'"),
    (["force", "toolongname"], "argument userid: userid 'toolongname' is longer than 8"),
    (["smsg", "alice", "hi", "--from", "a b"], "argument --from: userid 'a b' has characters"),
    (["trace", "x-y"], "argument USERID: userid 'x-y' has characters '-'"),
    (["trace", "--count", "0"], "argument --count: must be 1 or more, not 0"),
    (["trace", "--count", "-1"], "argument --count: must be 1 or more, not -1"),
    (["trace", "--poll", "-1"], "argument --poll: must be more than 0 seconds"),
    (["trace", "--poll", "0"], "argument --poll: must be more than 0 seconds"),
    (["query", "names", "--wait", "-1"], "argument --wait: must be 0 seconds or more"),
    (["monitor", "--once", "--wait", "nan"], "argument --wait: must be 0 seconds or more"),
    (["trace", "--type", "iucv", "--type", "bogus"], "argument --type: 'bogus' is not a type"),
])
def test_bad_arguments_are_usage_errors_before_any_system(system, args, wrong):
    """Before: the system's absence was reported instead; a bad userid
    was 'not logged on'; trace --count 0 traced for ever."""
    shmcp.ipl(system)
    done = shmcp_cmd(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert wrong in done.stderr and "usage:" in done.stderr


@pytest.mark.parametrize("args, said", [
    (["shutdown"], "shmcp shutdown: system {s} is not up"),
    (["force", "alice"], "shmcp force: system {s} is not up"),
    (["query", "names"], "shmcp query: system {s} is not up"),
])
def test_a_system_that_is_not_up(system, args, said):
    done = shmcp_cmd(*args)
    assert done.returncode == 1 and said.format(s=system) in done.stderr


def test_not_logged_on_names_the_command_and_the_system(system):
    shmcp.ipl(system)
    done = shmcp_cmd("force", "alice")
    assert done.returncode == 1
    assert done.stderr == f"shmcp force: ALICE is not logged on to {system}\n"
    done = shmcp_cmd("query", "iucv", "alice")
    assert done.returncode == 1
    assert done.stderr == f"shmcp query: ALICE is not logged on to {system}\n"


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_a_trace_ended_by_a_signal_detaches(system, sig):
    """`timeout 10 shmcp trace`, kill, or closing the terminal: before, the
    dead tracer stayed attached (every interrupt kept paying for the trace)
    until the next tracer came or went."""
    import signal
    shmcp.ipl(system)
    trace = subprocess.Popen([sys.executable, "-m", "shmcp", "trace"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert trace.stderr.readline().startswith(f"tracing external interrupts on {system}")
        with shmcp.System.attach(system) as s:
            assert s.snapshot().to_json()["counters"]["tracers"] == 1
        trace.send_signal(getattr(signal, sig))
        assert trace.wait(timeout=60) == 0
    finally:
        trace.kill()
        trace.communicate()
    with shmcp.System.attach(system) as s:
        assert s.snapshot().to_json()["counters"]["tracers"] == 0


def test_a_monitor_ended_by_kill_gives_the_terminal_back(system):
    """Before: SIGTERM killed it in cbreak mode, and the shell it ran in
    no longer echoed lines.  (A pseudo-terminal stands for the user's.)"""
    import signal
    import termios
    import time
    shmcp.ipl(system)
    master, slave = os.openpty()
    try:
        assert termios.tcgetattr(slave)[3] & termios.ICANON
        monitor = subprocess.Popen([sys.executable, "-m", "shmcp", "monitor"],
                                   stdin=slave, stdout=slave, stderr=slave)
        try:
            deadline = time.monotonic() + 60  # until it has taken the terminal
            while termios.tcgetattr(slave)[3] & termios.ICANON:
                assert time.monotonic() < deadline and monitor.poll() is None
                time.sleep(0.02)
            monitor.send_signal(signal.SIGTERM)
            assert monitor.wait(timeout=60) == 0
        finally:
            monitor.kill()
            monitor.wait()
        assert termios.tcgetattr(slave)[3] & termios.ICANON
    finally:
        os.close(master)
        os.close(slave)


def test_ipl_of_a_system_in_use_says_what_to_do_instead(system):
    """Before: only 'system X is already up'."""
    with shmcp.logon("alice"):
        done = shmcp_cmd("ipl")
    assert done.returncode == 1
    assert done.stderr == (f"shmcp ipl: system {system} is already up, with 1 virtual machine "
                           f"logged on; logon joins it, shutdown ends it\n")
