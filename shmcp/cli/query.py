"""``shmcp query names | iucv [USERID] | vmcf | storage``, each with --json:
views of ``System.snapshot()``."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any, Callable

from ..snapshot import ControlLockHeld, LockHolder, Snapshot, lock_holder, process_state
from ..system import System
from . import arguments
from .lockwait import HeldAtCtrlC, attached, bounded, holder_text

QUERIES = {
    "names": "the virtual machines logged on: PID, process state, facilities, queued interrupts",
    "iucv": "each VM's IUCV paths and the messages on its send, receive and reply queues",
    "vmcf": "each VM's VMCF authorization and its active messages",
    "storage": "CP's message storage: in use, free, largest free block, by owner",
}


def size(n: int) -> str:
    """Bytes for a person: 512 B, 4 KiB, 1.5 MiB."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.3g} {unit}"


def _emit(args: argparse.Namespace, data: dict[str, Any], text: Callable[[], None]) -> int:
    if sys.stdout is None:  # `>&-`: the query was done, nobody to show it to
        return 0
    if args.json:
        json.dump(data, sys.stdout, indent=1)
        print()
    else:
        text()
    return 0


def _live(snap: Snapshot) -> list:
    """The VMs whose process lives (as System.names() lists them)."""
    return [v for v in snap.vms if v.process != "gone"]


def _snapshot(args: argparse.Namespace, s: System) -> Snapshot:
    """``s.snapshot()``, a frozen lock named past --wait or on Ctrl-C (lockwait)."""
    return bounded(s, args.wait, s.snapshot)


def _names(args: argparse.Namespace, s: System) -> int:
    try:
        snap = _snapshot(args, s)
    except HeldAtCtrlC:
        raise
    except ControlLockHeld as exc:  # past --wait
        return _names_frozen(args, s, exc.holder)
    vms = _live(snap)

    def text() -> None:
        if not vms:
            print(f"no virtual machines are logged on to {s.name}")
            return
        print(f"{'USERID':<8} {'PID':>7}  {'PROCESS':<9} {'FACILITIES':<10} {'QUEUED':>6}")
        for v in vms:
            print(f"{v.userid:<8} {v.pid:>7}  {v.process:<9} {' '.join(v.facilities) or '-':<10} "
                  f"{sum(v.queued.values()):>6}")

    return _emit(args, {"system": s.name, "vms": [dataclasses.asdict(v) for v in vms],
                        "lock_holder": None}, text)


def _names_frozen(args: argparse.Namespace, s: System, holder: LockHolder | None) -> int:
    """query names while the control lock stays held: what can be read
    without it, and who holds it."""
    names = s.names()
    rows = [{"userid": u, "pid": pid, "process": process_state(pid)} for u, pid in names]
    holder = holder or lock_holder(s)

    def text() -> None:
        if holder:
            print(holder_text(holder))
        print(f"{'USERID':<8} {'PID':>7}  {'PROCESS':<9}")
        for r in rows:
            print(f"{r['userid']:<8} {r['pid']:>7}  {r['process']:<9}")

    return _emit(args, {"system": s.name, "vms": rows,
                        "lock_holder": dataclasses.asdict(holder) if holder else None}, text)


def _iucv(args: argparse.Namespace, s: System) -> int:
    snap = _snapshot(args, s)
    vms = _live(snap)
    if args.userid:
        vm = snap.vm(args.userid)
        if vm not in vms:  # also one dead that CP has not logged off yet
            print(f"shmcp query: {args.userid.upper()} is not logged on to {s.name}",
                  file=sys.stderr)
            return 1
        vms = [vm]
    out = []
    for v in vms:
        out.append({
            "userid": v.userid, "declared": "IUCV" in v.facilities, "maxconn": v.maxconn,
            "storage": v.storage,
            "paths": [dataclasses.asdict(p) for p in snap.paths if p.userid == v.userid],
            "queues": {q: [dataclasses.asdict(m) for m in snap.messages
                           if m.userid == v.userid and m.queue == q]
                       for q in ("send", "receive", "reply")}})

    def text() -> None:
        if not out:
            print(f"no virtual machines are logged on to {s.name}")
        for v in out:
            state = f"paths {len(v['paths'])} of {v['maxconn']}" if v["declared"] else \
                "IUCV not declared"
            print(f"{v['userid']:<8} {state}, storage {size(v['storage'])}")
            if v["paths"]:
                print(f"  {'PATHID':>6} {'PARTNER':<8} {'PATHID':>6} {'STATE':<11} "
                      f"{'MSGLIM':>6} {'OUT':>4}  FLAGS")
            for p in v["paths"]:
                flags = [f for f, on in (("QUIESCED", p["quiesced"]),
                                         ("PRIORITY", p["priority"])) if on]
                theirs = "-" if p["partner_pathid"] is None else p["partner_pathid"]
                print(f"  {p['pathid']:>6} {p['partner']:<8} {theirs:>6} {p['state']:<11} "
                      f"{p['msglim']:>6} {p['outstanding']:>4}  {' '.join(flags)}".rstrip())
            queued = [(q, m) for q, ms in v["queues"].items() for m in ms]
            if queued:
                print(f"  {'QUEUE':<7} {'MSGID':>8} {'PATHID':>6} {'TRGCLS':>10} "
                      f"{'LENGTH':>8}  FLAGS")
            for q, m in queued:
                flags = [f for f, on in (("PRIORITY", m["priority"]), ("ONE-WAY", m["oneway"]),
                                         ("PRMDATA", m["prmdata"])) if on]
                print(f"  {q:<7} {m['msgid']:>8} {m['pathid']:>6} {m['trgcls']:>10} "
                      f"{m['length']:>8}  {' '.join(flags)}".rstrip())

    return _emit(args, {"system": s.name, "vms": out}, text)


def _vmcf(args: argparse.Namespace, s: System) -> int:
    snap = _snapshot(args, s)
    live = {v.userid for v in _live(snap)}
    rows = [dataclasses.asdict(a) for a in snap.vmcf if a.userid in live]
    messages = [dataclasses.asdict(m) for m in snap.vmcf_messages]

    def text() -> None:
        if not rows:
            print(f"no virtual machines are logged on to {s.name}")
        for a in rows:
            if not a["authorized"]:
                print(f"{a['userid']:<8} VMCF not authorized")
                continue
            opts = []
            if a["specific"] is not None:
                opts.append(f"SPECIFIC={a['specific']}")
            opts += [o.upper() for o in ("priority", "smsg") if a[o]]
            print(f"{a['userid']:<8} VMCF authorized buffer {a['buffer']} {' '.join(opts)}"
                  f"{' QUIESCED' if a['quiesced'] else ''} out {a['active_out']} "
                  f"in {a['active_in']}")
        for m in messages:
            print(f"  message {m['mid']} {m['function']} {m['source']} -> {m['sink']} "
                  f"{m['state']} length {m['length']}{' PRIORITY' if m['priority'] else ''}")

    return _emit(args, {"system": s.name, "vms": rows, "messages": messages}, text)


def _storage(args: argparse.Namespace, s: System) -> int:
    snap = _snapshot(args, s)
    st = snap.storage

    def text() -> None:
        print(f"storage {size(st.total)}: {size(st.used)} in use, {size(st.free)} free; "
              f"largest free block {size(st.largest_free)}")
        if st.by_owner:
            print(f"{'OWNER':<8} {'BYTES':>12} {'BLOCKS':>7}")
        for o in st.by_owner:
            print(f"{o.owner:<8} {o.bytes:>12} {o.blocks:>7}")

    return _emit(args, {"system": s.name, **dataclasses.asdict(st)}, text)


_RUN = {"names": _names, "iucv": _iucv, "vmcf": _vmcf, "storage": _storage}


def _query(args: argparse.Namespace) -> int:
    with attached(args.system) as s:
        return _RUN[args.what](args, s)


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """``query`` and its subjects (listed by ``shmcp query --help``)."""
    p = sub.add_parser("query", help="show what the system is doing: "
                       + ", ".join(QUERIES), description="Show what the system is doing.")
    qsub = p.add_subparsers(dest="what", required=True, metavar="WHAT",
                            title="what can be queried")
    p.queries = {}  # type: ignore[attr-defined]
    for what, help_text in QUERIES.items():
        q = qsub.add_parser(what, help=help_text, description=help_text)
        if what == "iucv":
            q.add_argument("userid", nargs="?", type=arguments.userid, help="only this virtual machine")
        q.add_argument("--json", action="store_true",
                       help="one JSON object (field names as in the README)")
        arguments.add_wait(q)
        q.set_defaults(run=_query)
        p.queries[what] = q  # type: ignore[attr-defined]
