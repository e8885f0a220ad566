"""A tracer for the benchmark: ``python -m bench.tracer SYSTEM`` attaches to
SYSTEM's trace ring, prints READY, and reads it in batches (every 50 ms
when it is empty) until SIGTERM, counting records without formatting them:
what the VMs pay while someone traces, without a printing tracer's CPU
competing with them."""
from __future__ import annotations

import signal
import sys
import time

from shmcp.system import System
from shmcp.trace import Tracer


def main(system: str) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    batch = 4096
    with System.attach(system) as s, Tracer(s, batch=batch) as t:
        print("READY", flush=True)
        while True:
            if t.count() < batch:
                time.sleep(0.05)


if __name__ == "__main__":
    main(sys.argv[1])
