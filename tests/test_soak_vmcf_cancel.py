"""The soak's VMCF CANCEL (issue 13): a SEND/RECV whose sink has RECEIVEd
it and not yet answered is CANCELed with RC 11.  Only its reply part is
canceled, yet the message ends there: no RESPONSE will ever come, and the
sink's late REPLY gets RC 12.  The soak VM once took only RC 0 as the end
of a canceled message, so such a message stayed outstanding and the soak's
drain reported it lost (a source waiting, a sink that "never answered")."""
from __future__ import annotations

import pytest

from shmcp import vmcf as V
from soak import check
from soak_vm import SoakVM
from test_vmcf import auth, hdr
from vmcf_vms import running


@pytest.fixture
def sink(system):
    with running("B") as (b,):
        auth(b)
        yield b


@pytest.fixture
def source(system, tmp_path):
    """The soak's VM as source A, in this process, its ledger in tmp_path."""
    vm = SoakVM("A", ["B"], str(tmp_path / "A.0"), end_at=0, seed=13)
    yield vm
    vm.f.close()


def test_reply_canceled_after_receive_is_the_outcome(source, sink, tmp_path):
    seq = source.vmcf_send("B", two=True, prio=False)
    assert list(source.outstanding) == [seq]
    h = hdr(sink.take())
    assert (h.func, h.mid) == (V.VMCPSENR, seq)
    assert sink.diag(V.VMCPRECV, user="A", mid=seq, size=h.lena)["rc"] == 0

    source.op_vmcf_cancel()  # the soak's own CANCEL: its one message
    assert sink.rc(V.VMCPREPL, user="A", mid=seq, data="ff") == V.RC_MESSAGE_NOT_FOUND
    assert source.vm.wait(timeout=0) is None, "RC 11: no RESPONSE comes"
    assert source.outstanding == {}, "RC 11 ended the message: nothing left to wait for"
    assert source.ops["vmcf reply canceled"] == 1, dict(source.ops)

    source.end()
    problems: list[str] = []
    figures = check(str(tmp_path), problems)
    assert problems == []
    assert figures["lost"] == 0 and figures["reply canceled (RC 11)"] == 1


def test_cancel_before_receive_withdraws(source, sink, tmp_path):
    """RC 0, the message withdrawn before the sink touched it: an outcome
    too, and its SEND interrupt is never shown to the sink."""
    seq = source.vmcf_send("B", two=True, prio=False)
    source.op_vmcf_cancel()
    assert source.ops["vmcf canceled"] == 1 and source.outstanding == {}
    assert sink.take() == {"none": True}
    assert sink.rc(V.VMCPREPL, user="A", mid=seq, data="ff") == V.RC_MESSAGE_NOT_FOUND

    source.end()
    problems: list[str] = []
    figures = check(str(tmp_path), problems)
    assert problems == [] and figures["purged"] == 1
