"""A round trip interrupted by Ctrl-C while it waits for its reply: its
message is still in flight (the partner may yet reply), so its answer area
must not go back among the path's spares -- the next send would take it,
and the late reply, written into that area when its completion is
presented, would land in another send's answer.  Real processes."""
from __future__ import annotations

import signal

import shmcp
from script_child import child, finish, line


def test_ctrl_c_in_send_keeps_its_answer_area_out_of_the_spares(system):
    with shmcp.logon("server") as vm:
        vm.accept_all()
        proc = child("""
            import shmcp
            vm = shmcp.logon("client")
            p = vm.connect("server", timeout=30)
            assert p.send(b"warm") == b"ok"  # a spare area now
            try:
                print("SENDING", flush=True)
                p.send(b"a")
                print("REPLIED", flush=True)
            except KeyboardInterrupt:
                print("KI", flush=True)
            # the interrupted message's area is still its answer area
            inflight = [view.obj for view in vm.iucv_answers.values()]
            reused = [a for a in p._spares if any(a is b for b in inflight)]
            print("REUSED", len(inflight), len(reused), flush=True)
            print("GOT", p.send(b"c").decode(), flush=True)
            """)
        try:
            warm = vm.receive(timeout=30)
            warm.reply(b"ok")
            assert line(proc) == "SENDING"
            late = vm.receive(timeout=30)
            assert late.data == b"a"
            proc.send_signal(signal.SIGINT)
            assert line(proc) == "KI"
            assert line(proc) == "REUSED 1 0"
            late.reply(b"AAAA")  # its reply comes after all
            msg = vm.receive(timeout=30)
            assert msg.data == b"c"
            msg.reply(b"CC")
            assert line(proc) == "GOT CC"
        finally:
            finish(proc)
