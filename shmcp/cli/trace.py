"""``shmcp trace [USERID...] [--type TYPE ...]``: CP's TRACE EXT, a live
stream of external interrupts as CP queues them, one line each, until
Ctrl-C (or ``--count`` records, or the system's shutdown)."""
from __future__ import annotations

import argparse
import errno
import json
import select
import signal
import sys
from typing import Iterator

from ..machine import userid_bytes
from ..trace import TraceRecord, Tracer, type_names
from . import arguments
from .lockwait import attached, bounded


def _matches(rec: TraceRecord, users: set[str], types: set[str]) -> bool:
    if users and rec.source not in users and rec.target not in users:
        return False
    if types and not types & {rec.type, rec.facility.lower(), f"{rec.code:02x}"}:
        return False
    return True


def interrupt_type(text: str) -> str:
    """A --type: iucv, vmcf, a two-digit hex code or a type name (any case)."""
    t = text.lower()
    names = type_names()
    if t not in names and t not in ("iucv", "vmcf") and \
            not (len(t) == 2 and all(c in "0123456789abcdef" for c in t)):
        raise argparse.ArgumentTypeError(f"{text!r} is not a type; known: iucv, vmcf, a "
                                         f"two-digit hex code, or {', '.join(sorted(names))}")
    return t


def end_as_ctrl_c() -> None:
    """From now on SIGTERM and SIGHUP (kill, timeout(1), a closed terminal)
    end the command as Ctrl-C does, through its clean-up."""
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)


def _stream(tracer: Tracer, poll: float) -> Iterator[TraceRecord | int]:
    """What ``tracer.records(poll)`` gives, but its waits while none come
    also watch standard output: a reader gone (``shmcp trace | head -1``)
    ends the trace at once, as BrokenPipeError, not at the next record."""
    reader = select.poll()
    reader.register(sys.stdout.fileno(), 0)  # woken only by POLLERR, POLLHUP
    ms = max(1, round(poll * 1000))  # a floor: never a busy loop

    def idle(_: float) -> None:
        if reader.poll(ms):
            raise BrokenPipeError(errno.EPIPE, "the trace's reader went")
    return tracer.records(poll, idle)


def _trace(args: argparse.Namespace) -> int:
    if sys.stdout is None:  # standard output closed (`>&-`): as a reader gone
        return 0
    users = {userid_bytes(u).decode().rstrip() for u in args.userids}
    types = set(args.type or [])
    shown = 0
    # the tracer detached at once: one that died attached keeps every VM's
    # interrupts paying for the trace until the next reap of dead VMs
    end_as_ctrl_c()
    try:  # Ctrl-C ends it wherever it lands, the tracer detached on the way out
        with attached(args.system) as s:
            # attach and detach take the control lock: a frozen system must
            # not hang the trace (lockwait)
            tracer = bounded(s, args.wait, lambda: Tracer(s))
            try:
                print(f"tracing external interrupts on {s.name}"
                      f"{' for ' + ' '.join(sorted(users)) if users else ''}; Ctrl-C ends",
                      file=sys.stderr, flush=True)
                for rec in _stream(tracer, args.poll):
                    if isinstance(rec, int):
                        print(json.dumps({"missed": rec}) if args.json else
                              f"*** {rec} interrupts missed: the tracer fell behind", flush=True)
                        continue
                    if not _matches(rec, users, types):
                        continue
                    print(json.dumps(rec.to_json()) if args.json else rec.line(), flush=True)
                    shown += 1
                    if args.count and shown >= args.count:
                        break
                else:
                    print(f"system {s.name} was shut down", file=sys.stderr)
            except KeyboardInterrupt:
                pass
            finally:  # also when the reader went (`shmcp trace | head`: main's quiet end)
                bounded(s, args.wait, tracer.close)
    except KeyboardInterrupt:  # while the attach or detach took the lock
        pass
    return 0


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser(
        "trace", help="show external interrupts as CP queues them (TRACE EXT), until Ctrl-C",
        description="A live stream of external interrupts as CP queues them, in order: time, "
        "from, to, facility, type code and name, path id, message id, length.  If the "
        "tracer falls behind, a line says how many it missed; no VM ever waits for it.")
    p.add_argument("userids", nargs="*", metavar="USERID", type=arguments.userid,
                   help="only interrupts to or from these virtual machines")
    p.add_argument("--type", action="append", metavar="TYPE", type=interrupt_type,
                   help="only this type (repeatable): iucv, vmcf, a code such as 09, or a "
                   "name such as nonpriority-message-pending or send-response")
    p.add_argument("--json", action="store_true",
                   help="one JSON object a line (fields as in the README)")
    p.add_argument("--count", type=arguments.count, metavar="N", help="stop after N interrupts")
    p.add_argument("--poll", type=arguments.interval, default=0.05, metavar="SECONDS",
                   help="how often to look for new interrupts while none come (default "
                   "0.05, more than 0; 1 ms at least)")
    arguments.add_wait(p)
    p.set_defaults(run=_trace)
