"""Staged data belongs to its message, not to the VM that staged it.

A message's data (IUCV SEND and REPLY, VMCF SEND and REPLY, *MSG text, the
trailing data of VMCF's SENDX and SMSG) must read back intact after the VM
that staged it logs off, exits or is killed, and be freed exactly once, when
the message ends: free storage comes back to where it started.  Real
processes throughout: the test process is VM A, children are B and C."""
from __future__ import annotations

import hashlib

import pytest

import shmcp
from shmcp import iucv, msgservice, vmcf
from iucv_rpc import connect_pair, local, only, send, spawn  # noqa: F401
from test_vmcf import abc, auth, hdr  # noqa: F401
from vms import eventually

V = vmcf
HOW = ["logoff", "exit", "kill9"]


def pattern(tag: str, size: int = 4096) -> bytes:
    """``size`` bytes nobody else's data matches (never X'FF'-filled)."""
    block = hashlib.sha256(tag.encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def free_storage(system: str) -> int:
    with shmcp.System.attach(system) as s:
        return s.storage_free()


def gone(vm, how: str, system: str) -> None:
    """End child VM ``vm`` the way ``how`` says and wait until CP has
    logged it off (a killed one is logged off by a watchdog)."""
    if how == "logoff":
        vm.logoff()
    elif how == "exit":
        assert vm.exit(0) == 0
    else:
        vm.kill()

    def logged_off() -> bool:
        with shmcp.System.attach(system) as s:
            s.live_count()  # logs the dead off
            return vm.userid not in [n for n, _ in s.names()]

    eventually(logged_off, what=f"{vm.userid} logged off")


def receive_next(vm, size: int = 4096) -> tuple[int, bytes]:
    got = vm.call("receive", "MsgPlist", bf1={"buf": "r", "size": size})
    return got["cc"], got["bufs"]["r"]


def take_until_severed(a) -> list[dict]:
    got: list = []

    def severed() -> bool:
        got.extend(a.drain())
        return any(i["type"] == iucv.IPTYPE_PATH_SEVERED for i in got)

    eventually(severed, what="path severed interrupt")
    return got


def sever_when_severed(a, pathid: int) -> None:
    """The partner severed: ``a`` takes the 03 and severs its end too."""
    take_until_severed(a)
    assert a.cc("sever", "PathPlist", pathid=pathid) == 0


# -- IUCV ------------------------------------------------------------------------

@pytest.mark.parametrize("how", HOW)
def test_reply_survives_the_server_ending_before_the_client_takes_it(local, spawn, system,
                                                                       how):
    a = local
    start_free = free_storage(system)
    b = spawn("B")
    pa, pb = connect_pair(a, b)
    question, answer = pattern("question"), pattern("answer")
    m = send(a, pa, question, answer=len(answer))
    assert only(b.drain(), 9)["msgid"] == m["msgid"]
    cc, data = receive_next(b)
    assert cc == 0 and data == question
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=m["msgid"], bf2=answer) == 0
    gone(b, how, system)
    got = take_until_severed(a)
    done = [i for i in got if i["type"] == 7]
    assert len(done) == 1 and done[0]["fields"]["audit"] == 0
    assert done[0]["fields"]["bf2len"] == 0, "the residual says the reply arrived"
    assert a.buf("ans") == answer, "the reply read back intact"
    assert a.cc("sever", "PathPlist", pathid=pa) == 0
    assert free_storage(system) == start_free


@pytest.mark.parametrize("how", HOW)
def test_queued_one_way_messages_survive_their_sender(local, spawn, system, how):
    a = local
    start_free = free_storage(system)
    b = spawn("B")
    pb, pa = connect_pair(b, a)
    sent = [pattern(f"B{i}", 4096 if i % 2 else 1000 + i) for i in range(8)]
    for data in sent:
        send(b, pb, data, answer=None)
    gone(b, how, system)
    for data in sent:
        cc, got = receive_next(a)
        assert cc == 0 and got[:len(data)] == data, "every byte read back intact"
    sever_when_severed(a, pa)
    assert free_storage(system) == start_free


@pytest.mark.parametrize("how", HOW)
def test_a_third_vm_never_sees_nor_loses_data_to_stale_messages(local, spawn, system, how):
    a = local
    start_free = free_storage(system)
    b, c = spawn("B"), spawn("C")
    pb, pab = connect_pair(b, a, msglim=20)
    pc, pac = connect_pair(c, a, msglim=20)
    stale = [pattern(f"B{i}") for i in range(8)]
    for data in stale:
        send(b, pb, data, answer=None)
    gone(b, how, system)
    first = [pattern(f"C{i}") for i in range(8)]
    for data in first:
        send(c, pc, data, answer=None)
    # B's messages first (FIFO per path; A names the path to be sure)
    for data in stale:
        got = a.call("receive", "MsgPlist", flags1=iucv.IPFGPID, pathid=pab,
                     bf1={"buf": "r", "size": 4096})
        assert got["cc"] == 0 and got["bufs"]["r"] == data, "no cross-VM data"
    then = [pattern(f"C{i}", 2048) for i in range(8, 16)]
    for data in then:
        send(c, pc, data, answer=None)
    for data in first + then:
        cc, got = receive_next(a)
        assert cc == 0 and got[:len(data)] == data, "C's queued data untouched"
    sever_when_severed(a, pab)
    assert c.cc("sever", "PathPlist", pathid=pc) == 0
    sever_when_severed(a, pac)
    c.drain()
    assert free_storage(system) == start_free


def test_a_sender_killed_inside_send_leaves_no_block_held_twice(local, spawn, system,
                                                                monkeypatch):
    """B dies by SIGKILL inside SEND, holding the lock, its data staged and
    its MSGBLOK not yet queued: the lock is repaired, B logged off, and the
    block stays the MSGBLOK's until A's SEVER ends it; C's messages, placed
    meanwhile, are never freed or overwritten by that."""
    a = local
    start_free = free_storage(system)
    c = spawn("C")
    pc, pac = connect_pair(c, a, msglim=20)
    monkeypatch.setenv("SHMCP_FAULT", "post@2")  # 1: CONNECT's 01; 2: the SEND
    b = spawn("B")
    monkeypatch.delenv("SHMCP_FAULT")
    pb, pab = connect_pair(b, a)
    with pytest.raises(EOFError):
        send(b, pb, pattern("B0"), answer=None)
    assert b.proc.wait(30) == -9
    gone(b, "kill9", system)
    with shmcp.System.attach(system) as s:
        assert s.lock_repairs() == 1
    sent = [pattern(f"C{i}") for i in range(4)]
    for data in sent:
        send(c, pc, data, answer=None)
    sever_when_severed(a, pab)  # ends B's half-sent message
    more = [pattern(f"C{i}") for i in range(4, 8)]
    for data in more:
        send(c, pc, data, answer=None)
    for data in sent + more:
        cc, got = receive_next(a)
        assert cc == 0 and got == data, "C's data untouched"
    assert c.cc("sever", "PathPlist", pathid=pc) == 0
    sever_when_severed(a, pac)
    c.drain()
    assert free_storage(system) == start_free


@pytest.mark.parametrize("how", HOW)
def test_msg_text_survives_its_sender(local, spawn, system, how):
    a = local
    got = a.call("connect", "PathPlist", vmid="*MSG")
    assert got["cc"] == 0
    only(a.drain(), iucv.IPTYPE_CONNECTION_COMPLETE)
    start_free = free_storage(system)
    b = spawn("B")
    texts = [pattern(f"msg{i}", 100) for i in range(5)]
    for text in texts:
        assert b.request({"op": "msg", "to": "A", "text": text}) == {"ok": True}
    gone(b, how, system)
    for text in texts:
        cc, data = receive_next(a, 200)
        assert cc == 0
        assert msgservice.split(data[:8 + len(text)]) == ("B", text)
    a.drain()
    assert free_storage(system) == start_free


# -- VMCF -------------------------------------------------------------------------

def vmcf_gone(vm, how: str, system: str) -> None:
    if how == "logoff":
        assert vm.do("logoff") == {"ok": True}
    elif how == "exit":
        vm.close()
    else:
        vm.kill()

    def logged_off() -> bool:
        with shmcp.System.attach(system) as s:
            s.live_count()
            return vm.userid not in [n for n, _ in s.names()]

    eventually(logged_off, what=f"{vm.userid} logged off")


@pytest.mark.parametrize("how", HOW)
def test_vmcf_reply_survives_the_sink_ending(abc, system, how):
    a, b, _ = abc
    auth(a, b, size=5000)
    start_free = free_storage(system)
    question, answer = pattern("q", 3000), pattern("a", 3000)
    assert a.rc(V.VMCPSENR, user="B", mid=1, data=question.hex(), reply=3000) == 0
    assert hdr(b.take()).func == V.VMCPSENR
    got = b.diag(V.VMCPRECV, user="A", mid=1, size=3000)
    assert got == {"rc": 0, "buf": question.hex()}
    assert b.rc(V.VMCPREPL, user="A", mid=1, data=answer.hex()) == 0
    vmcf_gone(b, how, system)
    took = a.take()
    assert hdr(took).eflg == 0 and took["reply"] == answer.hex()
    assert a.take() == {"none": True}
    assert free_storage(system) == start_free


@pytest.mark.parametrize("how", HOW)
def test_vmcf_source_ending_purges_its_messages_once(abc, system, how):
    """A source's LOGOFF purges its outstanding sends without
    interrupts; their staged data is freed once, and what others staged
    meanwhile is untouched."""
    a, b, c = abc
    auth(a, b, c, size=5000)
    start_free = free_storage(system)
    assert b.rc(V.VMCPSEND, user="A", mid=1, data=pattern("s1", 3000).hex()) == 0
    assert b.rc(V.VMCPSENR, user="A", mid=2, data=pattern("s2", 3000).hex(), reply=64) == 0
    assert b.rc(V.VMCPSENX, user="A", mid=3, data=pattern("s3", 3000).hex()) == 0
    assert b.rc(V.VMCPSENR, user="A", mid=4, data=pattern("s4", 100).hex(), reply=64) == 0
    vmcf_gone(b, how, system)
    kept = pattern("c1", 3000)
    assert c.rc(V.VMCPSEND, user="A", mid=9, data=kept.hex()) == 0
    took = [a.take() for _ in range(2)]
    assert hdr(took[0]).user == b"C       " and hdr(took[0]).mid == 9, took
    assert took[1] == {"none": True}, "the purged messages' interrupts are dropped"
    got = a.diag(V.VMCPRECV, user="C", mid=9, size=3000)
    assert got == {"rc": 0, "buf": kept.hex()}
    assert hdr(c.take()).eflg == 0
    assert free_storage(system) == start_free


@pytest.mark.parametrize("how", HOW)
def test_vmcf_sink_ending_answers_and_frees_once(abc, system, how):
    a, b, c = abc
    auth(a, b, c, size=5000)
    start_free = free_storage(system)
    assert a.rc(V.VMCPSEND, user="B", mid=1, data=pattern("t1", 3000).hex()) == 0
    assert a.rc(V.VMCPSENR, user="B", mid=2, data=pattern("t2", 3000).hex(), reply=64) == 0
    vmcf_gone(b, how, system)
    assert [hdr(a.take()).eflg for _ in range(2)] == [5, 5]
    kept = pattern("c2", 3000)
    assert c.rc(V.VMCPSENX, user="A", mid=3, data=kept.hex()) == 0
    h = hdr(a.take())
    assert h.buf == kept and h.user == b"C       "
    assert hdr(c.take()).eflg == 0
    assert free_storage(system) == start_free


@pytest.mark.parametrize("how", HOW)
def test_smsg_text_survives_its_issuer(abc, system, how):
    a, b, _ = abc
    assert a.rc(V.VMCPAUTH, flg1=V.VMCPSMSG, size=300) == 0
    start_free = free_storage(system)
    text = pattern("smsg", 129)
    assert b.do("smsg", to="A", text=text.hex()) == {"ok": True}
    vmcf_gone(b, how, system)
    h = hdr(a.take())
    assert h.user == b"SYSTEM  " and h.buf == text
    assert free_storage(system) == start_free
