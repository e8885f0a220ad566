"""``shmcp monitor``: a live full-screen table of the VMs, their paths,
queue depths, interrupt and message rates and storage, refreshed in place
from ``System.snapshot()``; q or Ctrl-C quits, ``--once`` prints one frame.
Drawn with rich."""
from __future__ import annotations

import argparse
import os
import select
import sys
import termios
import time
import tty
from collections import Counter
from contextlib import contextmanager
from datetime import datetime
from typing import Iterator

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..snapshot import ControlLockHeld, Snapshot
from ..system import System
from . import arguments
from .lockwait import HeldAtCtrlC, attached, bounded
from .query import size
from .trace import end_as_ctrl_c


def _rate(now: Snapshot, before: Snapshot | None, get) -> float | None:
    if before is None or now.monotonic <= before.monotonic:
        return None
    return max(0.0, (get(now) - get(before)) / (now.monotonic - before.monotonic))


def _per_s(r: float | None) -> str:
    return "-" if r is None else f"{r:,.0f}"


def _table(*columns: str) -> Table:
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), show_edge=False,
              expand=False)
    for c in columns:
        t.add_column(c, justify="left" if c in ("USERID", "PARTNER", "STATE", "PROCESS",
                                               "FAC") else "right", no_wrap=True)
    return t


def frame(snap: Snapshot, before: Snapshot | None, height: int, width: int = 80,
          live: bool = False) -> RenderableType:
    """One screen of the monitor for ``snap`` (rates against ``before``),
    rows cut to fit ``height`` lines; ``live`` adds how to quit where the
    first line has room."""
    vms = [v for v in snap.vms if v.process != "gone"]
    st = snap.storage
    c = snap.counters
    msgs = _rate(snap, before, lambda s: s.counters.iucv_messages + s.counters.vmcf_messages)
    ints = _rate(snap, before, lambda s: s.counters.interrupts)
    first = (f"shmcp {snap.system}  {datetime.fromtimestamp(snap.time):%H:%M:%S}"
             f"  {'DOWN' if snap.down else 'up'}  VMs {len(vms)}  paths {len(snap.paths)}"
             f"  msgs/s {_per_s(msgs)}  ints/s {_per_s(ints)}")
    hint = "   q quits" if live and len(first) + 10 <= width else ""
    title = Text.assemble(
        (first, "bold"), (hint, "dim"),
        f"\nstorage {size(st.used)} used of {size(st.total)}, largest free "
        f"{size(st.largest_free)}  logoffs {c.logoffs}  tracers {c.tracers}")

    prev = {(v.slot, v.pid): v for v in (before.vms if before else [])}
    vt = _table("USERID", "PID", "PROCESS", "FAC", "PATHS", "QUEUED", "INTS/S", "STORAGE")
    pt = _table("USERID", "PATHID", "PARTNER", "STATE", "LIM", "OUT", "SEND", "RECV", "REPLY")
    depth = Counter((m.userid, m.pathid, m.queue) for m in snap.messages)
    # what fits: the title (2 lines), each table's heading (2) and a line
    # saying what was cut; VMs get half the rows, paths the rest
    room = max(2, height - 2 - 4 - 2)
    vm_rows = min(len(vms), max(1, room // 2) if len(snap.paths) > room - room // 2 else room)
    path_rows = max(0, room - vm_rows)
    dt = snap.monotonic - before.monotonic if before else 0.0
    for v in vms[:vm_rows]:
        p = prev.get((v.slot, v.pid))
        r = None if p is None or dt <= 0 else \
            max(0.0, sum(v.posted.values()) - sum(p.posted.values())) / dt
        vt.add_row(v.userid, str(v.pid), v.process, " ".join(v.facilities) or "-",
                   str(v.paths), str(sum(v.queued.values())), _per_s(r), size(v.storage))
    # the path ends with something in flight first: those are what to watch
    busy = sorted(snap.paths, key=lambda e: e.outstanding == 0 and not any(
        depth[(e.userid, e.pathid, q)] for q in ("send", "receive", "reply")))
    for e in busy[:path_rows]:
        pt.add_row(e.userid, str(e.pathid), e.partner,
                   e.state + (" Q" if e.quiesced else ""), str(e.msglim), str(e.outstanding),
                   *(str(depth[(e.userid, e.pathid, q)]) for q in ("send", "receive", "reply")))
    parts: list[RenderableType] = [title, vt]
    if len(vms) > vm_rows:
        parts.append(Text(f"... {len(vms) - vm_rows} more VMs", style="dim"))
    if snap.paths:
        parts.append(pt)
        if len(snap.paths) > path_rows:
            parts.append(Text(f"... {len(snap.paths) - path_rows} more path ends", style="dim"))
    return Group(*parts)


@contextmanager
def _keys() -> Iterator[bool]:
    """Single keys from the terminal without Enter (cbreak), restored after;
    yields whether stdin is a terminal."""
    fd = sys.stdin.fileno() if sys.stdin else -1
    if fd < 0 or not os.isatty(fd):
        yield False
        return
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _quit_within(seconds: float, keys: bool) -> bool:
    """Wait ``seconds``; True if q was pressed meanwhile."""
    if not keys:
        time.sleep(seconds)
        return False
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if select.select([sys.stdin], [], [], left)[0]:
            if os.read(sys.stdin.fileno(), 1) in (b"q", b"Q"):
                return True
    return False


def _shot(s: System, wait: float) -> Snapshot | str:
    """A snapshot, or past ``wait`` who holds the lock (lockwait); on Ctrl-C
    while another process holds it, HeldAtCtrlC ends the monitor."""
    try:
        return bounded(s, wait, s.snapshot)
    except HeldAtCtrlC:
        raise
    except ControlLockHeld as exc:
        return str(exc)


def _view(s: System, snap: Snapshot | str, before: Snapshot | None, console: Console,
          live: bool = True) -> RenderableType:
    if isinstance(snap, str):
        return Text(f"shmcp {s.name}: {snap}")
    height = console.size.height if live or console.is_terminal else 10_000
    return frame(snap, before, height, console.size.width, live)


class _Console(Console):
    """rich's Console, a reader gone left to the command line's quiet end
    (rich's own exits 1)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def _monitor(args: argparse.Namespace) -> int:
    console = _Console()
    end_as_ctrl_c()  # the terminal's mode restored on kill too
    try:  # Ctrl-C quits wherever it lands; the terminal is restored on the way out
        with attached(args.system) as s:
            before = _shot(s, args.wait)
            if args.once:
                time.sleep(args.interval)  # rates need two looks
                snap = _shot(s, args.wait)
                prev = before if not isinstance(before, str) else None
                console.print(_view(s, snap, prev, console, live=False))
                return 0
            with _keys() as keys, Live(console=console, screen=True, auto_refresh=False,
                                      vertical_overflow="crop") as live:
                live.update(_view(s, before, None, console), refresh=True)
                while not _quit_within(args.interval, keys):
                    snap = _shot(s, args.wait)
                    prev = before if not isinstance(before, str) else None
                    live.update(_view(s, snap, prev, console), refresh=True)
                    before = snap
                    if not isinstance(snap, str) and snap.down:
                        break
            if not isinstance(before, str) and before.down:  # said after the screen is gone
                print(f"system {s.name} was shut down", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    return 0


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("monitor", help="a live full-screen table of VMs, paths, queues, "
                       "rates and storage (q or Ctrl-C quits)",
                       description="A live full-screen view of the system, refreshed in "
                       "place: VMs (process state, facilities, queued interrupts, interrupts "
                       "per second, storage), path ends (state, message limit, outstanding, "
                       "queue depths) and storage.  q or Ctrl-C quits.")
    p.add_argument("--once", action="store_true",
                   help="print one frame (rates over --interval) and exit")
    p.add_argument("--interval", type=arguments.interval, default=1.0, metavar="SECONDS",
                   help="time between frames (default 1)")
    arguments.add_wait(p)
    p.set_defaults(run=_monitor)
