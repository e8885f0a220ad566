"""The soak (issue 13): N VMs (tests/soak_vm.py) doing random IUCV for a
while, some SIGKILLed now and then and started again under the same
userid (LOGON again), then every ledger checked.

What the check holds every message to (a message is its sender's userid,
process and sequence; an outcome is what the sender's ledger says of it):

* no message is RECEIVEd twice, none arrives corrupted (CRC), no reply
  comes back corrupted or into the wrong answer area, none arrives that its
  sender did not SEND (intent logged before the call) or whose SEND failed;
* a sender that lived to the end has exactly one outcome for every message
  it sent: a completion (clean, or with audit bits: IPADSVRD when the
  partner severed or died, IPADRJCT when rejected), PURGEd or CANCELed
  (VMCF's RC 11 too: a SEND/RECV whose sink had RECEIVEd it ends with no
  RESPONSE, its reply part canceled), or abandoned by its own SEVER or
  LOGOFF (then the target may have RECEIVEd it, at most once -- IUCV
  keeps queued messages receivable after the sender's sever);
* a message completed cleanly was RECEIVEd exactly once -- except that a
  receiver SIGKILLed between RECEIVE and its ledger line loses that line:
  at most one such message per kill of the receiving userid;
* no call hangs: every VM writes a ledger line at least every second while
  it runs, drains (every message it sent gets its outcome) within a bound;
  a VM silent for STALL seconds fails the run.

Messages from a killed process may be lost in any way (it never learns
their outcome); they are still checked for duplicates and corruption.
"""
from __future__ import annotations

import collections
import glob
import json
import os
import random
import signal
import sys
import time

from shmcp.system import System, ipl
from shmcp.testing import ChildVM, eventually

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "soak_vm.py")
STALL = 60.0  # seconds without a ledger line before a VM counts as hung


class Soak:
    def __init__(self, system: str, vms: int, seconds: float, ledgers: str, seed: int = 13):
        self.system, self.ledgers = system, ledgers
        self.rng = random.Random(seed)
        self.userids = [f"SOAK{i:02d}" for i in range(vms)]
        self.end_at = time.time() + seconds
        self.children: dict[str, ChildVM] = {}
        self.kills = 0
        self.problems: list[str] = []

    def start(self, userid: str) -> None:
        ledger = os.path.join(self.ledgers, f"{userid}.{len(glob.glob(self.ledgers + f'/{userid}.*'))}")
        child = ChildVM(SCRIPT, userid, ",".join(self.userids), ledger, self.end_at,
                        self.rng.randrange(1 << 30))
        said = child.line(timeout=STALL)
        if said != "READY":
            raise AssertionError(f"{userid} said {said!r}, not READY: {tail(ledger)}")
        child.ledger = ledger  # type: ignore[attr-defined]
        self.children[userid] = child

    def run(self) -> dict:
        ipl(self.system, max_vms=2 * len(self.userids) + 8)
        with System.attach(self.system) as s:
            start = s.storage_free()
        try:
            for u in self.userids:
                self.start(u)
            self.kill_now_and_then()
            self.finish()
        finally:
            for c in self.children.values():
                c.close()
        figures = check(self.ledgers, self.problems)
        figures["kills"] = self.kills
        with System.attach(self.system) as s:
            eventually(lambda: s.live_count() == 0, what="LOGOFF of every VM")
            try:
                eventually(lambda: s.storage_free() == start, timeout=20,
                           what="storage back at its start")
            except AssertionError:
                self.problems.append(f"storage not back: {s.snapshot().storage}")
            figures["storage back"] = s.storage_free() == start
        figures["problems"] = self.problems
        return figures

    def kill_now_and_then(self) -> None:
        while time.time() < self.end_at - 1:
            time.sleep(min(self.rng.uniform(0.2, 1.5), max(0, self.end_at - 1 - time.time())))
            self.check_alive()
            if time.time() >= self.end_at - 1:
                break
            u = self.rng.choice(self.userids)
            os.kill(self.children[u].pid, signal.SIGKILL)
            self.children[u].close()
            self.kills += 1
            self.start(u)

    def check_alive(self) -> None:
        now = time.time()
        for u, c in self.children.items():
            if c.proc.poll() is not None:
                raise AssertionError(f"{u} ended early (rc {c.proc.returncode}): "
                                     f"{tail(c.ledger)}")
            if now - os.path.getmtime(c.ledger) > STALL:
                raise AssertionError(f"{u} made no progress for {STALL} s: {tail(c.ledger)}")

    def finish(self) -> None:
        bound = max(0, self.end_at - time.time()) + 90
        for u, c in self.children.items():
            said = c.line(timeout=bound)
            if said != "DRAINED":
                self.problems.append(f"{u} said {said!r} at the drain: {tail(c.ledger)}")
        for c in self.children.values():
            c.tell("exit")
        for u, c in self.children.items():
            if c.wait(60) != 0:
                self.problems.append(f"{u} ended with rc {c.proc.returncode}")


def tail(path: str) -> str:
    with open(path) as f:
        return "".join(f.readlines()[-3:])


def check(ledgers: str, problems: list[str]) -> dict:
    """Every ledger in ``ledgers`` checked against the rules above; the
    figures returned, the problems appended to ``problems``."""
    sends: dict[tuple, dict] = {}
    received: collections.Counter = collections.Counter()
    receivers: dict[tuple, str] = {}
    killed: collections.Counter = collections.Counter()  # userid -> processes killed
    ops: collections.Counter = collections.Counter()
    fig: collections.Counter = collections.Counter()
    for path in sorted(glob.glob(os.path.join(ledgers, "*"))):
        lines = [json.loads(x) for x in open(path) if x.endswith("\n")]
        userid, pid = lines[0]["u"], lines[0]["pid"]
        clean = lines[-1]["k"] == "end"
        if not clean:
            killed[userid] += 1
        last_ops: dict = {}
        for e in lines:
            k = e["k"]
            if k in ("stats", "end"):
                last_ops = e["ops"]
                problems.extend(f"{userid}: {f}" for f in e["fail"])
            elif k == "S":
                sends[(userid, pid, e["seq"])] = dict(e, clean=clean, sender=userid, out=[])
            elif k == "sc":
                sends[(userid, pid, e["seq"])]["cc"] = e["cc"]
            elif k in ("C", "P"):
                sends[(userid, pid, e["seq"])]["out"].append(e)
            elif k == "A":
                for s in e["seqs"]:
                    sends[(userid, pid, s)]["out"].append(dict(e, k="A"))
            elif k == "R":
                if not e["ok"]:
                    problems.append(f"{userid} received corrupted data: {e}")
                    fig["corrupted"] += 1
                    continue
                key = (e["u"], e["pid"], e["seq"])
                received[key] += 1
                receivers[key] = userid
        ops.update(last_ops)
    for key, n in received.items():
        if n > 1:
            problems.append(f"{key} received {n} times")
            fig["duplicates"] += 1
        s = sends.get(key)
        if s is None:
            problems.append(f"{key} received, never sent")
        elif s.get("cc", 0) != 0:
            problems.append(f"{key} received though its SEND ended CC{s['cc']}")
    unlogged: collections.Counter = collections.Counter()
    for key, s in sends.items():
        if s.get("cc") != 0:
            continue
        fig["sent"] += 1
        fig["received"] += received[key] > 0
        outs = [o for o in s["out"] if not o.get("late")]
        late = len(s["out"]) - len(outs)
        if late and any(o["k"] == "P" for o in outs):
            problems.append(f"{key} completed after its PURGE/CANCEL succeeded: {s['out']}")
        fig["late completions (after own SEVER)"] += late
        if len(outs) > 1:
            problems.append(f"{key} has {len(outs)} outcomes: {outs}")
        if not outs:
            if s["clean"]:
                problems.append(f"{key} (to {s['to']}) lost: no outcome")
                fig["lost"] += 1
            else:
                fig["outcome unknown (sender killed)"] += 1
            continue
        o = outs[0]
        if o["k"] == "P":
            fig["reply canceled (RC 11)" if o.get("rc") == 11 else "purged"] += 1
        elif o["k"] == "A":
            fig[f"abandoned ({o['why']})"] += 1
        elif o["how"]:
            fig[f"returned with {o['how']}"] += 1
        else:
            fig["completed"] += 1
            if o.get("reply") == "bad":
                problems.append(f"{key}: reply corrupted or misplaced")
                fig["corrupted"] += 1
            if not received[key]:
                unlogged[s["to"]] += 1
    for to, n in unlogged.items():
        if n > killed[to]:
            problems.append(f"{n} messages to {to} completed cleanly, never received "
                            f"({killed[to]} kills of it could explain {killed[to]})")
            fig["lost"] += n - killed[to]
    fig["lost"] += 0
    fig["duplicates"] += 0
    return {"ops": dict(sorted(ops.items())), **dict(sorted(fig.items()))}


def main() -> None:
    """``python tests/soak.py VMS SECONDS``: a soak on a private system, its
    figures printed (what docs/reliability.md's Soak section reports)."""
    import tempfile

    from shmcp.testing import private_system
    vms, seconds = int(sys.argv[1]), float(sys.argv[2])
    with private_system("soak") as name, tempfile.TemporaryDirectory() as d:
        figures = Soak(name, vms, seconds, d).run()
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
