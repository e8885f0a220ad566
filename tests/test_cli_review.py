"""The command line as an operator meets it: partners gone, a frozen
system, pipes closed early, malformed arguments (real processes)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from iucv_rpc import connect_pair, local, spawn  # noqa: F401
from vms import Child, eventually, stop_inside_the_lock

import shmcp


def shmcp_cmd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shmcp", *args], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ))


def test_a_severed_path_keeps_its_partner_after_the_slot_is_taken(local, spawn, system):
    b = spawn("B")
    pab, _ = connect_pair(local, b)
    with shmcp.System.attach(system) as s:
        b_slot = s.snapshot().vm("B").slot
        b.logoff()  # LOGOFF severs A's end of the path
        c = spawn("C")
        snap = s.snapshot()
    assert snap.vm("C").slot == b_slot  # C now holds what was B's slot

    (a,) = json.loads(shmcp_cmd("query", "iucv", "a", "--json").stdout)["vms"]
    (p,) = a["paths"]
    assert (p["pathid"], p["partner"], p["state"]) == (pab, "B", "severed")
    text = shmcp_cmd("query", "iucv", "a").stdout.splitlines()
    assert text[2].split()[:2] == [str(pab), "B"], text
    assert [e.partner for e in snap.paths if e.userid == "A"] == ["B"]
    frame = shmcp_cmd("monitor", "--once", "--interval", "0.01").stdout
    assert any(line.split()[:4] == ["A", str(pab), "B", "severed"]
               for line in frame.splitlines()), frame
    assert c.userid == "C"


def frozen_line(command: str, kid: Child) -> str:
    return (f"shmcp {command}: the control lock is held by PID {kid.pid} (SPIN), which is "
            f"stopped: the system waits until it continues (kill -CONT {kid.pid}) or ends\n")


def threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))


@pytest.fixture
def frozen(system):
    """SPIN, a child VM stopped while it holds the control lock."""
    kid = Child("lockspin", "SPIN")
    try:
        kid.expect("READY")
        stop_inside_the_lock(kid, system)
        yield kid
    finally:
        if kid.proc.poll() is None:
            os.kill(kid.pid, signal.SIGCONT)
        kid.kill()


def interrupted(args: tuple[str, ...], sig: int) -> subprocess.CompletedProcess:
    """``shmcp ARGS`` sent ``sig`` once it waits for the control lock in
    its second thread (lockwait); what it did then."""
    proc = subprocess.Popen([sys.executable, "-m", "shmcp", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: threads(proc.pid) >= 2, what="the command's wait for the lock")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)  # a hang guard only
    finally:
        proc.kill()
        proc.wait()
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


LOCKING = [("force", "SPIN"), ("smsg", "SPIN", "hello"), ("msg", "SPIN", "hello"), ("trace",)]


@pytest.mark.parametrize("args", LOCKING, ids=[a[0] for a in LOCKING])
def test_a_frozen_system_is_named_not_waited_for(frozen, args):
    done = shmcp_cmd(*args, "--wait", "0.2")
    assert (done.returncode, done.stderr) == (1, frozen_line(args[0], frozen))
    assert done.stdout == ""


@pytest.mark.parametrize("args", LOCKING, ids=[a[0] for a in LOCKING])
def test_ctrl_c_ends_a_wait_for_a_frozen_lock(frozen, args):
    done = interrupted((*args, "--wait", "600"), signal.SIGINT)
    assert (done.returncode, done.stderr) == (1, frozen_line(args[0], frozen))


SNAPSHOTS = [("query", "names"), ("query", "iucv"), ("query", "iucv", "--json"),
             ("query", "vmcf"), ("query", "storage", "--json"), ("monitor", "--once")]


@pytest.mark.parametrize("args", SNAPSHOTS, ids=" ".join)
def test_ctrl_c_ends_a_snapshot_waiting_for_a_frozen_lock(frozen, args):
    done = interrupted((*args, "--wait", "600"), signal.SIGINT)
    assert (done.returncode, done.stderr, done.stdout) == (1, frozen_line(args[0], frozen), "")


@pytest.mark.parametrize("args", SNAPSHOTS[1:], ids=" ".join)
def test_a_query_past_its_wait_names_the_holder_as_every_command_does(frozen, args):
    done = shmcp_cmd(*args, "--wait", "0.2")
    if args[0] == "monitor":  # the frame says it, the monitor goes on
        assert done.returncode == 0
        assert frozen_line(args[0], frozen).split(": ", 1)[1].rstrip() in \
            " ".join(done.stdout.split()), done.stdout
    else:
        assert (done.returncode, done.stderr, done.stdout) == \
            (1, frozen_line(args[0], frozen), "")


def test_query_names_past_its_wait_lists_what_it_can_read(frozen):
    done = shmcp_cmd("query", "names", "--wait", "0.2")
    lines = done.stdout.splitlines()
    assert (done.returncode, lines[0] + "\n") == (0, frozen_line("query", frozen).split(
        ": ", 1)[1])
    assert any(line.split()[:3] == ["SPIN", str(frozen.pid), "stopped"] for line in lines)


def test_sigterm_ends_a_trace_waiting_for_a_frozen_lock(frozen):
    done = interrupted(("trace", "--wait", "600"), signal.SIGTERM)
    assert (done.returncode, done.stderr) == (1, frozen_line("trace", frozen))


def test_a_trace_whose_detach_meets_a_frozen_lock_names_the_holder(system):
    kid = Child("lockspin", "SPIN")
    proc = subprocess.Popen([sys.executable, "-m", "shmcp", "trace", "--wait", "0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        kid.expect("READY")
        assert proc.stderr.readline().startswith("tracing external interrupts")
        stop_inside_the_lock(kid, system)
        proc.send_signal(signal.SIGINT)  # the trace ends; its detach waits for the lock
        out, err = proc.communicate(timeout=60)  # a hang guard only
        assert (proc.returncode, err) == (1, frozen_line("trace", kid))
    finally:
        proc.kill()
        proc.wait()
        if kid.proc.poll() is None:
            os.kill(kid.pid, signal.SIGCONT)
        kid.kill()


def into_closed_pipe(*args: str) -> subprocess.CompletedProcess:
    """``shmcp ARGS`` writing into a pipe whose reader is gone (``| head``)."""
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run([sys.executable, "-m", "shmcp", *args], stdout=w,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(w)


def trace_whose_reader_went(args: tuple[str, ...], meanwhile=lambda: None) -> tuple[int, str]:
    """``shmcp ARGS`` (a trace) whose reader goes before the first record;
    ``meanwhile()`` once it traces.  Its status and standard error."""
    proc = subprocess.Popen([sys.executable, "-m", "shmcp", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    try:
        assert proc.stderr.readline().startswith("tracing external interrupts")
        meanwhile()
        err = proc.stderr.read()
        return proc.wait(timeout=60), err  # a hang guard only
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("args", [
    ("query", "names"), ("query", "iucv"), ("query", "iucv", "a"), ("query", "vmcf"),
    ("query", "storage"), ("query", "names", "--json"), ("query", "iucv", "--json"),
    ("query", "storage", "--json"), ("monitor", "--once", "--interval", "0.01"),
    ("trace", "--count", "1")])
def test_a_reader_gone_ends_a_command_quietly(local, args):
    if args[0] == "trace":  # something to trace once the tracer is attached
        def one_to_trace() -> None:
            local.vm.queue_interrupt("A", bytes(40))
            assert local.vm.wait(0) is not None
        assert trace_whose_reader_went(args, one_to_trace) == (0, "")
        return
    done = into_closed_pipe(*args)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize("args, wrong", [
    (["monitor", "--interval", "inf"], "argument --interval: must be more than 0 seconds and "
     "finite, not inf"),
    (["monitor", "--interval", "nan"], "argument --interval: must be more than 0 seconds"),
    (["monitor", "--once", "--interval", "0"], "argument --interval: must be more than 0"),
    (["monitor", "--interval", "-1"], "argument --interval: must be more than 0 seconds"),
    (["monitor", "--interval", "soon"], "argument --interval: 'soon' is not a number"),
    (["query", "names", "--wait", "inf"], "argument --wait: must be finite, not inf"),
    (["force", "x", "--wait", "nan"], "argument --wait: must be 0 seconds or more, not nan"),
    (["trace", "--poll", "1e7", "--count", "1"], "argument --poll: must be at most 86400 "
     "seconds (a day), not 1e7"),
    (["monitor", "--once", "--interval", "1e300"], "argument --interval: must be at most "
     "86400 seconds (a day), not 1e300"),
    (["query", "names", "--wait", "1e10"], "argument --wait: must be at most 86400 seconds"),
    (["force", "x", "--wait", "86400.5"], "argument --wait: must be at most 86400 seconds"),
])
def test_malformed_times_are_usage_errors_before_any_system(system, args, wrong):
    done = shmcp_cmd(*args)  # no system is up: a usage error comes first
    assert done.returncode == 2, done.stdout + done.stderr
    assert wrong in done.stderr and "usage:" in done.stderr


def test_query_iucv_of_a_dead_vm_not_yet_logged_off_says_not_logged_on(spawn, system):
    b = spawn("B")  # the only VM: no watchdog of another reaps it
    b.proc.kill()
    b.proc.wait()
    with shmcp.System.attach(system) as s:
        assert s.snapshot().vm("B").process == "gone"  # still in CP's table
    assert json.loads(shmcp_cmd("query", "names", "--json").stdout)["vms"] == []
    done = shmcp_cmd("query", "iucv", "b")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"shmcp query: B is not logged on to {system}\n"
    assert shmcp_cmd("query", "iucv", "b", "--json").returncode == 1


def test_a_trace_whose_reader_went_ends_without_a_record(system):
    """`shmcp trace | head -1`: it ended only at the next record (never in a
    quiet system) and still held its tracer."""
    shmcp.ipl(system)
    proc = subprocess.Popen([sys.executable, "-m", "shmcp", "trace"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr.readline().startswith("tracing external interrupts")
        proc.stdout.close()  # head has had its line
        assert proc.wait(timeout=60) == 0  # a hang guard only
        assert proc.stderr.read() == ""
    finally:
        proc.kill()
        proc.wait()
    with shmcp.System.attach(system) as s:
        assert s.snapshot().counters.tracers == 0


def maps_system(pid: int, system: str) -> bool:
    with open(f"/proc/{pid}/maps") as f:
        return f"/dev/shm/shmcp.{system}" in f.read()


def test_a_monitor_says_when_the_system_was_shut_down(system):
    shmcp.ipl(system)
    proc = subprocess.Popen([sys.executable, "-m", "shmcp", "monitor", "--interval", "0.05"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: maps_system(proc.pid, system), what="the monitor's attach")
        assert shmcp.shutdown(system)
        out, err = proc.communicate(timeout=60)  # a hang guard only
        assert (proc.returncode, err) == (0, f"system {system} was shut down\n")
    finally:
        proc.kill()
        proc.wait()


def with_stdout_closed(*args: str) -> subprocess.CompletedProcess:
    """``shmcp ARGS >&-``: run with file descriptor 1 closed."""
    return subprocess.run([sys.executable, "-m", "shmcp", *args], stderr=subprocess.PIPE,
                          text=True, timeout=60, preexec_fn=lambda: os.close(1))


@pytest.mark.parametrize("args", [
    ("query", "names"), ("query", "iucv", "--json"), ("query", "storage", "--json"),
    ("monitor", "--once", "--interval", "0.01")])
def test_a_command_without_standard_output_still_does_its_work(local, args):
    done = with_stdout_closed(*args)
    assert (done.returncode, done.stderr) == (0, "")


def test_ipl_and_shutdown_without_standard_output(system):
    done = with_stdout_closed("ipl")
    assert (done.returncode, done.stderr) == (0, "")
    assert shmcp_cmd("query", "names").returncode == 0  # the system is up
    assert (with_stdout_closed("shutdown").returncode, shmcp_cmd("query", "names").returncode) \
        == (0, 1)


def test_query_iucv_without_standard_output_keeps_its_status(local, system):
    done = with_stdout_closed("query", "iucv", "NOBODY")
    assert (done.returncode, done.stderr) == (1, f"shmcp query: NOBODY is not logged on to "
                                              f"{system}\n")


def test_a_trace_without_standard_output_ends_at_once(local):
    done = with_stdout_closed("trace")  # as a reader gone: nobody can read it
    assert (done.returncode, done.stderr) == (0, "")


def test_the_longest_times_are_taken(local):
    done = shmcp_cmd("query", "storage", "--wait", "86400")
    assert done.returncode == 0 and done.stdout.startswith("storage "), done.stderr
    # a trace waiting 86400 s between looks: its reader's going ends it
    assert trace_whose_reader_went(("trace", "--poll", "86400", "--count", "1")) == (0, "")


def asleep(pid: int) -> bool:
    """``pid``'s main thread is in clock_nanosleep (x86-64: 230; aarch64: 115)."""
    with open(f"/proc/{pid}/syscall") as f:
        return f.read().split()[0] in ("230", "115")


def test_a_monitor_sleeping_a_day_ends_on_ctrl_c(local, system):
    proc = subprocess.Popen([sys.executable, "-m", "shmcp", "monitor", "--once", "--interval",
                             "86400"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: maps_system(proc.pid, system), what="the monitor's attach")
        eventually(lambda: asleep(proc.pid), what="its sleep between the two snapshots")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)  # a hang guard only
    finally:
        proc.kill()
        proc.wait()
    assert (proc.returncode, out, err) == (0, "", "")
