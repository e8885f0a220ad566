"""``shmcp ipl``, ``shutdown``, ``force``, ``smsg`` and ``msg``."""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from .._native import ffi, lib
from ..errors import SystemNotUp
from ..machine import userid_bytes
from ..session import shutdown
from ..system import System, ipl, system_name
from . import arguments
from .lockwait import attached, bounded


def _stale(name: str) -> str | None:
    """Why an IPL of ``name`` will replace a system that is there (no VM of
    it alive, or shut down), or None if there is none."""
    try:
        with System.attach(name) as old:
            if old.down:
                return "it had been shut down"
            if old.live_count() == 0:
                return "no virtual machine of it was alive"
            return None
    except SystemNotUp:
        return None


def _ipl(args: argparse.Namespace) -> int:
    limits = {k: v for k, v in (("max_vms", args.max_vms), ("storage", args.storage),
                                ("queue_size", args.queue_size)) if v is not None}
    name = system_name(args.system)
    replaced = _stale(name)
    ipl(name, **limits)
    if replaced:
        print(f"system {name} was up but {replaced}: replaced by a fresh IPL")
    else:
        print(f"system {name} IPLed")
    return 0


def _shutdown(args: argparse.Namespace) -> int:
    name = system_name(args.system)
    if shutdown(name):
        print(f"system {name} shut down")
        return 0
    print(f"shmcp shutdown: system {name} is not up", file=sys.stderr)
    return 1


def _force(args: argparse.Namespace) -> int:
    uid = userid_bytes(args.userid)
    with attached(args.system) as sysobj:
        slot = ffi.new("int32_t *")
        gen = ffi.new("uint32_t *")
        if lib.shmcp_find(sysobj.handle, uid, slot, gen) < 0:
            print(f"shmcp force: {uid.decode().rstrip()} is not logged on to {sysobj.name}",
                  file=sys.stderr)
            return 1
        bounded(sysobj, args.wait, lambda: lib.shmcp_logoff(sysobj.handle, slot[0], gen[0]))
    print(f"{uid.decode().rstrip()} logged off (forced)")
    return 0


def _smsg(args: argparse.Namespace) -> int:
    from ..vmcf import smsg

    return _send(args, smsg)


def _msg(args: argparse.Namespace) -> int:
    from ..msgservice import msg

    return _send(args, msg)


def _send(args: argparse.Namespace, send: Callable[..., None]) -> int:
    with attached(args.system) as s:
        bounded(s, args.wait, lambda: send(args.userid, " ".join(args.text), system=s.name,
                                           issuer=args.issuer))
    return 0


def add_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """The lifecycle and message commands."""
    p = sub.add_parser("ipl", help="IPL a system (replaces one none of whose VMs is alive)",
                       description="IPL a system.  One that is up is refused while any of its "
                       "virtual machines lives; one whose VMs all died, or that was shut down, "
                       "is replaced, and the command says so.")
    p.add_argument("--max-vms", type=int, metavar="N",
                   help=f"virtual machines it can hold (default {lib.SHMCP_MAX_VMS_DEFAULT})")
    p.add_argument("--storage", type=int, metavar="BYTES",
                   help="bytes of message storage, rounded up to a power of two "
                   f"(default {lib.SHMCP_STORAGE_DEFAULT})")
    p.add_argument("--queue-size", type=int, metavar="N",
                   help="external interrupts each VM's queue holds per facility and class, "
                   f"rounded up to a power of two (default {lib.SHMCP_QUEUE_DEFAULT})")
    p.set_defaults(run=_ipl)
    sub.add_parser("shutdown", help="shut a system down").set_defaults(run=_shutdown)
    p = sub.add_parser("force", help="LOGOFF a virtual machine")
    p.add_argument("userid", type=arguments.userid)
    arguments.add_wait(p)
    p.set_defaults(run=_force)
    p = sub.add_parser("smsg", help="send a special message (SMSG) to a virtual machine")
    p.add_argument("userid", type=arguments.userid)
    p.add_argument("text", nargs="+")
    p.add_argument("--from", dest="issuer", type=arguments.userid,
                   help="issuer userid (default OPERATOR)")
    arguments.add_wait(p)
    p.set_defaults(run=_smsg)
    p = sub.add_parser("msg", help="send a message (MSG) to a virtual machine's *MSG path")
    p.add_argument("userid", type=arguments.userid)
    p.add_argument("text", nargs="+")
    p.add_argument("--from", dest="issuer", type=arguments.userid,
                   help="issuer userid (default OPERATOR)")
    arguments.add_wait(p)
    p.set_defaults(run=_msg)
