"""Run the SAS/C IUCV interface's sample SENDER and RECEIVER as two processes.

    python examples/sasc_demo.py [--interactive]

IPLs a private system, starts the receiver, then the sender once the
receiver has done its iucvset, shows both programs' steps as they happen,
and shuts the system down.  With --interactive the sender reads the lines
to send from the terminal (the receiver answers in upper case).
"""
from __future__ import annotations

import os
import subprocess
import sys

import shmcp

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    interactive = "--interactive" in sys.argv
    system = f"sasc-demo-{os.getpid()}"
    shmcp.ipl(system)
    env = dict(os.environ, SHMCP_SYSTEM=system, PYTHONUNBUFFERED="1")
    # Both programs write into one pipe: the kernel keeps their lines in the
    # order they were written, so the steps show as they happen.
    rfd, wfd = os.pipe()
    procs: list[subprocess.Popen] = []
    try:
        procs.append(subprocess.Popen([sys.executable, os.path.join(HERE, "sasc", "receiver.py")],
                                      stdout=wfd, stdin=subprocess.DEVNULL, env=env))
        sender = [sys.executable, os.path.join(HERE, "sasc", "sender.py")]
        sender += ["--interactive"] if interactive else []
        with os.fdopen(rfd, "r") as out:
            for line in out:
                print(line, end="", flush=True)
                if wfd >= 0 and "step 2" in line:  # the receiver waits: start the sender
                    procs.append(subprocess.Popen(sender, stdout=wfd, env=env))
                    os.close(wfd)  # now EOF comes when both programs end
                    wfd = -1
        codes = [p.wait(60) for p in procs]
        ok = len(codes) == 2 and codes == [0, 0]
        print(f"demo: {'SENDER and RECEIVER ran steps 1 to 11' if ok else 'FAILED'}")
        return 0 if ok else 1
    finally:
        if wfd >= 0:
            os.close(wfd)
        for p in procs:
            if p.poll() is None:
                p.kill()
        shmcp.shutdown(system)


if __name__ == "__main__":
    sys.exit(main())
