"""The ``shmcp`` command: CP's command language where it fits.

    shmcp ipl [--max-vms N] [--storage BYTES] [--queue-size N]
    shmcp shutdown
    shmcp force USERID
    shmcp smsg USERID TEXT... [--from USERID]
    shmcp msg USERID TEXT... [--from USERID]
    shmcp query names|iucv [USERID]|vmcf|storage [--json]
    shmcp trace [USERID...] [--type TYPE ...] [--json] [--count N] [--poll SECONDS]
    shmcp monitor [--once] [--interval SECONDS]

Every command takes ``--system``; those that take the control lock
(force, smsg, msg, query, trace, monitor) ``--wait SECONDS``, past which a
process stopped inside the lock is named instead of waited for.  Each is a thin view: the queries and
the monitor show ``System.snapshot()``, the trace shows a ``Tracer``.
Command words are case-insensitive, as CP's are (``QUERY NAMES``).
"""
from __future__ import annotations

import argparse
import os
import sys

from .. import _native  # noqa: F401  (fails loudly on a stale build)
from ..errors import ShmcpError
from . import basic, monitor, query, trace

_SYSTEM_HELP = "system name (default: $SHMCP_SYSTEM or SHMCP)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shmcp", description="CP commands for shmcp systems")
    # also before the command (`shmcp --system S query names`); the command's own wins
    parser.add_argument("--system", dest="top_system", metavar="SYSTEM", help=_SYSTEM_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    basic.add_parsers(sub)
    query.add_parser(sub)
    trace.add_parser(sub)
    monitor.add_parser(sub)
    for p in sub.choices.values():
        # a query's own parser takes it (a default on both would clobber)
        for q in getattr(p, "queries", {}).values() or [p]:
            q.add_argument("--system", help=_SYSTEM_HELP)
    return parser


def _fold(argv: list[str]) -> list[str]:
    """CP's command words in any case: the command, and a query's subject."""
    argv = list(argv)
    at = 2 if argv[:1] == ["--system"] else 1 if argv[:1] and argv[0].startswith("--system=") \
        else 0  # the command word follows a leading --system
    if len(argv) > at and not argv[at].startswith("-"):
        argv[at] = argv[at].lower()
        if argv[at] == "query" and len(argv) > at + 1 and not argv[at + 1].startswith("-"):
            argv[at + 1] = argv[at + 1].lower()
    return argv


def main(argv: list[str] | None = None) -> int:
    """Run one shmcp command; returns its exit status."""
    parser = _parser()
    args = parser.parse_args(_fold(sys.argv[1:] if argv is None else argv))
    if args.system is None:
        args.system = args.top_system
    try:
        rc = args.run(args)
        if sys.stdout is not None:  # (None: run with standard output closed, `>&-`)
            sys.stdout.flush()  # here, not at exit: a reader gone is a BrokenPipeError
        return rc
    except BrokenPipeError:  # `shmcp query iucv | head -1`: the reader had enough
        # nothing more reaches it, not even the flush at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ShmcpError, ValueError, TypeError) as exc:
        print(f"shmcp {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: the shell's convention, quietly
        return 130


if __name__ == "__main__":
    sys.exit(main())
