"""The ``shmcp`` command: CP's command language where it fits.

    shmcp ipl [--system S] [--max-vms N] [--storage BYTES] [--queue-size N]
    shmcp shutdown [--system S]
    shmcp query names [--system S]
    shmcp force USERID [--system S]
    shmcp smsg USERID TEXT... [--from USERID] [--system S]
    shmcp msg USERID TEXT... [--from USERID] [--system S]
    shmcp query vmcf [--system S]
"""
from __future__ import annotations

import argparse
import sys

from . import _native  # noqa: F401  (fails loudly on a stale build)
from ._native import ffi, lib
from .errors import ShmcpError
from .machine import userid_bytes
from .session import shutdown
from .system import System, ipl, system_name


def _ipl(args: argparse.Namespace) -> int:
    limits = {k: v for k, v in (("max_vms", args.max_vms), ("storage", args.storage),
                                ("queue_size", args.queue_size)) if v is not None}
    ipl(args.system, **limits)
    print(f"system {system_name(args.system)} IPLed")
    return 0


def _shutdown(args: argparse.Namespace) -> int:
    name = system_name(args.system)
    if shutdown(name):
        print(f"system {name} shut down")
        return 0
    print(f"system {name} is not up", file=sys.stderr)
    return 1


def _query(args: argparse.Namespace) -> int:
    if args.what.lower() == "vmcf":
        return _query_vmcf(args)
    if args.what.lower() != "names":
        print(f"query {args.what}: unknown; this build knows 'query names'", file=sys.stderr)
        return 2
    with System.attach(args.system) as sysobj:
        sysobj.live_count()  # log off the dead first
        names = sysobj.names()
        if not names:
            print(f"no virtual machines are logged on to {sysobj.name}")
        for userid, pid in names:
            print(f"{userid:<8} - PID {pid}")
    return 0


def _force(args: argparse.Namespace) -> int:
    uid = userid_bytes(args.userid)
    with System.attach(args.system) as sysobj:
        slot = ffi.new("int32_t *")
        gen = ffi.new("uint32_t *")
        if lib.shmcp_find(sysobj.handle, uid, slot, gen) < 0:
            print(f"{uid.decode().rstrip()} is not logged on", file=sys.stderr)
            return 1
        lib.shmcp_logoff(sysobj.handle, slot[0], gen[0])
    print(f"{uid.decode().rstrip()} logged off (forced)")
    return 0


def _smsg(args: argparse.Namespace) -> int:
    from .vmcf import smsg

    smsg(args.userid, " ".join(args.text), system=args.system, issuer=args.issuer)
    return 0


def _msg(args: argparse.Namespace) -> int:
    from .msgservice import msg

    msg(args.userid, " ".join(args.text), system=args.system, issuer=args.issuer)
    return 0


def _query_vmcf(args: argparse.Namespace) -> int:
    from .vmcf import info

    with System.attach(args.system) as sysobj:
        sysobj.live_count()
        names = sysobj.names()
    if not names:
        print(f"no virtual machines are logged on to {system_name(args.system)}")
    for userid, _ in names:
        st = info(userid, system=args.system)
        if not st["authorized"]:
            print(f"{userid:<8} VMCF not authorized")
            continue
        opts = [o.upper() for o in ("specific", "priority", "smsg") if st[o]]
        if st["specific"]:
            opts[0] += f"={st['partner']}"
        print(f"{userid:<8} VMCF authorized buffer {st['lena']} {' '.join(opts)}"
              f"{' QUIESCED' if st['quiesced'] else ''} out {st['active_out']} in {st['active_in']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shmcp", description="CP commands for shmcp systems")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ipl", help="IPL a system")
    p.add_argument("--max-vms", type=int)
    p.add_argument("--storage", type=int, help="bytes of message storage")
    p.add_argument("--queue-size", type=int, help="interrupt records per queue")
    p.set_defaults(run=_ipl)
    sub.add_parser("shutdown", help="shut a system down").set_defaults(run=_shutdown)
    p = sub.add_parser("query", help="query names")
    p.add_argument("what")
    p.set_defaults(run=_query)
    p = sub.add_parser("force", help="LOGOFF a virtual machine")
    p.add_argument("userid")
    p.set_defaults(run=_force)
    p = sub.add_parser("smsg", help="send a special message (SMSG) to a virtual machine")
    p.add_argument("userid")
    p.add_argument("text", nargs="+")
    p.add_argument("--from", dest="issuer", help="issuer userid (default OPERATOR)")
    p.set_defaults(run=_smsg)
    p = sub.add_parser("msg", help="send a message (MSG) to a virtual machine's *MSG path")
    p.add_argument("userid")
    p.add_argument("text", nargs="+")
    p.add_argument("--from", dest="issuer", help="issuer userid (default OPERATOR)")
    p.set_defaults(run=_msg)
    for p in sub.choices.values():
        p.add_argument("--system", help="system name (default: $SHMCP_SYSTEM or SHMCP)")
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ShmcpError, ValueError, TypeError) as exc:
        print(f"shmcp {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
