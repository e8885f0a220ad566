"""README.md's Python blocks run as they stand, each a program of its own
in a real process, in the order a reader meets them: the server, its
Pythonic and faithful clients, the snapshot, *MSG, the signals, VMCF.
A block is a ```python block after a `<!-- readme: NAME -->` line."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from shmcp.system import shm_name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(ROOT, "README.md")) as _f:
    README = _f.read()
BLOCKS = dict(re.findall(r"<!-- readme: (\w+) -->\n```python\n(.*?)```", README, re.S))


def test_every_python_block_of_the_readme_is_a_marked_program():
    """No fragment a reader cannot run: every ```python block is marked."""
    assert len(re.findall(r"```python\n", README)) == len(BLOCKS) == 7


@pytest.fixture
def run(system, tmp_path):
    """run(name, wait=True): README block ``name`` as a program on the
    test's system (a finished CompletedProcess, or the Popen if not waited)."""
    env = dict(os.environ, SHMCP_SYSTEM=system)

    def run(name: str, wait: bool = True):
        program = tmp_path / f"{name}.py"
        program.write_text(BLOCKS[name])
        if wait:
            return subprocess.run([sys.executable, str(program)], capture_output=True,
                                  text=True, timeout=60, env=env, cwd=tmp_path)
        # Ctrl-C must reach it whatever the test runner ignores
        return subprocess.Popen([sys.executable, "-c", "import signal, runpy; signal.signal("
                                 "signal.SIGINT, signal.default_int_handler); "
                                 f"runpy.run_path({str(program)!r}, run_name='__main__')"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, cwd=tmp_path)
    return run


def cli(system: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shmcp", *args, "--system", system],
                          capture_output=True, text=True, timeout=60)


def test_the_server_and_its_two_clients(system, run):
    server = run("server", wait=False)
    try:
        client = run("client")  # waits for the server to log on (wait=True)
        assert client.returncode == 0, client.stderr
        assert client.stdout == "the server answered\n"
        faithful = run("iucv")
        assert faithful.returncode == 0, faithful.stderr
        assert faithful.stdout == "b'REQUEST'\n"
        snapshot = run("snapshot")
        assert snapshot.returncode == 0, snapshot.stderr
    finally:
        server.send_signal(signal.SIGINT)  # the README's way to stop it
        _, err = server.communicate(timeout=60)
    assert "KeyboardInterrupt" in err
    assert "SERVER" not in cli(system, "query", "names").stdout  # logged off on the way out


def test_the_msg_service_block(system, run):
    server = run("msg", wait=False)
    try:
        deadline = time.monotonic() + 60
        while (sent := cli(system, "msg", "server", "hi")).returncode != 0:
            # not yet: IPLed, logged on, connected to *MSG
            assert any(why in sent.stderr for why in (
                "is not up", "not logged on", "no path to *MSG")), sent.stderr
            assert time.monotonic() < deadline, "SERVER never connected to *MSG"
            time.sleep(0.05)
        out, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, err
    assert out == "OPERATOR b'hi'\n"


def test_the_signals_and_vmcf_blocks(system, run):
    sig = run("signals")
    assert sig.returncode == 0, sig.stderr
    assert sig.stdout.startswith("interrupt: <Interrupt IUCV")
    vmcf = run("vmcf")
    assert vmcf.returncode == 0, vmcf.stderr
    assert vmcf.stdout == "5\n"


def test_the_readme_says_how_the_system_it_leaves_up_goes(system, run):
    """The first logon IPLs the system and leaves it up: the README says
    where it is and how it goes, and that way works."""
    assert "/dev/shm/shmcp.SHMCP" in README and "`shmcp shutdown`" in README
    assert run("signals").returncode == 0
    assert os.path.exists("/dev/shm" + shm_name(system))
    assert cli(system, "shutdown").returncode == 0
    assert not os.path.exists("/dev/shm" + shm_name(system))


# The outside specifications' file names, and paths that lead out of the
# checkout (this line is the one place the pattern may appear).
OUTSIDE = re.compile(r"\b(IUCV|VMCF|SASC|API|STYLE|MEASUREMENTS|SOURCES)\.md\b|\.\./shared|/work/|shared/spec")


def files_a_reader_may_open() -> list[str]:
    """Every file git tracks (bench/results* excepted: measured output), or
    without git the README, the Makefile, docs/ and examples/."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode()
        names = [n for n in out.split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = ["README.md", "Makefile"] + [
            os.path.relpath(os.path.join(d, f), ROOT) for top in ("docs", "examples")
            for d, _, fs in os.walk(os.path.join(ROOT, top)) for f in fs
            if f.endswith((".md", ".py"))]
    return [n for n in names if not n.startswith("bench/results")
            and os.path.isfile(os.path.join(ROOT, n))]


def test_nothing_in_the_repository_points_outside_it():
    """No file names the specifications the team works from or a path
    outside the checkout: the project's own docs say what a reader needs."""
    names = files_a_reader_may_open()
    assert "docs/decisions.md" in names and "README.md" in names
    assert len(names) > 15
    found = []
    for name in names:
        with open(os.path.join(ROOT, name), encoding="utf-8", errors="replace") as f:
            for number, text in enumerate(f, 1):
                if name == "tests/test_readme.py" and OUTSIDE.pattern in text:
                    continue
                if OUTSIDE.search(text):
                    found.append(f"{name}:{number}: {text.strip()[:120]}")
    assert not found, "\n".join(found)
