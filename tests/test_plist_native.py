"""The parameter lists' C part (shmcp._iparml, csrc/pyext/iparml.c): the
fields read and write the image big-endian, the buffers set their lengths,
and misuse is a clear Python error, never a crash or a leak."""
import copy
import gc
import pickle
import sys
import weakref

import pytest

from shmcp import CompPlist, MsgPlist, PathPlist
from shmcp._iparml import Buffer, Field, Image


def test_fields_are_big_endian_at_their_offsets():
    p = MsgPlist(pathid=0x0102, msgid=0x03040506, trgcls=0xA0B0C0D0, flags1=0x80)
    b = bytes(p)
    assert b[0:2] == b"\x01\x02" and b[2] == 0x80
    assert b[4:8] == b"\x03\x04\x05\x06" and b[8:12] == b"\xa0\xb0\xc0\xd0"
    assert (p.pathid, p.msgid, p.trgcls, p.flags1) == (0x0102, 0x03040506, 0xA0B0C0D0, 0x80)
    p.msgid = 0xFFFFFFFF
    assert p.msgid == 0xFFFFFFFF and bytes(p)[4:8] == b"\xff" * 4


def test_buffers_set_their_length_fields_and_none_keeps_them():
    p = MsgPlist(bf1=b"12345", bf2=bytearray(9))
    assert (p.bf1len, p.bf2len) == (5, 9)
    p.bf1 = memoryview(bytes(64))[::2]  # non-contiguous: its size in bytes
    assert p.bf1len == 32
    p.bf1 = None
    assert p.bf1 is None and p.bf1len == 32
    with pytest.raises(TypeError, match="bf2 must be a bytes-like object"):
        p.bf2 = 12


def test_misuse_is_a_python_error():
    p = PathPlist()
    with pytest.raises(AttributeError, match="cannot be deleted"):
        del p.pathid
    with pytest.raises(AttributeError, match="cannot be deleted"):
        del p.bf1
    p._b = b"not a bytearray"
    with pytest.raises(TypeError, match="40-byte image"):
        p.pathid
    with pytest.raises(TypeError, match="not a parameter list"):
        Field(0, 2).__get__(object())
    with pytest.raises(ValueError, match="1, 2 or 4 bytes"):
        Field(0, 3)
    with pytest.raises(ValueError, match="outside the image"):
        Field(38, 4)
    with pytest.raises(ValueError):
        Buffer(3, 12)
    with pytest.raises(ValueError, match="40 bytes, not 39"):
        Image._of(bytes(39))


def test_copy_and_pickle_make_a_new_image():
    buf = bytearray(8)
    p = CompPlist(msgid=7, audit=0x1234)
    p.bf2 = buf
    for q in (copy.copy(p), pickle.loads(pickle.dumps(p))):
        assert type(q) is CompPlist and q == p and q._b is not p._b
        q.msgid = 8
        assert p.msgid == 7
    assert copy.copy(p).bf2 is buf


def test_cycles_through_a_buffer_are_collected():
    class Holder(bytearray):
        pass
    p = MsgPlist()
    h = Holder(16)
    h.plist = p  # plist -> buffer -> plist
    p.bf1 = h
    gone = weakref.ref(h)
    del p, h
    gc.collect()
    assert gone() is None


def test_construction_sets_fields_and_lengths_last():
    # the C base's __init__: every keyword through its descriptor, in any
    # order, bf1len / bf2len after the buffers whose size they override
    p = MsgPlist(bf1len=3, bf1=bytearray(10), pathid=7, bf2len=1, bf2=b"abcdef", trgcls=5)
    assert (p.bf1len, p.bf2len, p.pathid, p.trgcls) == (3, 1, 7, 5)
    assert PathPlist(vmid="server").vmid == b"SERVER  "
    with pytest.raises(TypeError, match=r"MsgPlist has no field 'vmid'; fields: pathid, flags1"):
        MsgPlist(pathid=1, vmid="X")
    with pytest.raises(TypeError, match="keyword arguments only"):
        MsgPlist(1)
    with pytest.raises(ValueError, match=r"MsgPlist.pathid=65536 is out of range"):
        MsgPlist(pathid=65536)
    with pytest.raises(AttributeError):
        CompPlist(bf1len=3)  # no such length field in a CompPlist


def test_a_dropped_list_leaves_nothing_to_the_next():
    """Dropped parameter lists keep their memory for the next (a free list):
    the next starts from zeros or from its own image, and an image someone
    still holds is never written by another list."""
    held = []
    for i in range(200):  # more than the free list keeps
        p = MsgPlist._of(bytes([i % 256]) * 40)
        p.bf1 = bytearray(3)
        if i % 3 == 0:
            held.append((bytes(p), p._b))  # its image outlives it
    del p
    for image, b in held:
        assert b == image and image[0] == image[39]
    fresh = [MsgPlist() for _ in range(200)]
    assert all(bytes(q) == bytes(40) and q.bf1 is None and q.bf2 is None for q in fresh)
    assert all(q._b is not b for q in fresh for _, b in held)
    del fresh
    copies = [CompPlist._of(bytes(range(40))) for _ in range(100)]
    assert all(type(q) is CompPlist and bytes(q) == bytes(range(40)) for q in copies)
    for image, b in held:
        assert b == image


class _WithDict(MsgPlist):
    pass  # no __slots__: a dict, not the free list's layout


def test_a_subclass_with_a_dict_gets_a_list_of_its_own():
    for _ in range(3):
        dropped = [MsgPlist._of(bytes(40)) for _ in range(100)]
        del dropped
        q = _WithDict(pathid=5)
        q.note = "kept"
        assert q.note == "kept" and q.pathid == 5 and weakref.ref(q)() is q


class _Numbered(MsgPlist):
    __slots__ = ()

    def __init__(self, seq: int, **fields: object) -> None:
        super().__init__(**fields)
        self.trgcls = seq


def test_a_class_with_its_own_init_or_new_is_called_the_usual_way():
    # the classes' calls go straight to the C base, unless a class has its
    # own __init__ or __new__ (then Python's call, with its arguments)
    p = _Numbered(7, pathid=3, bf1=b"abcd", bf1len=2)
    assert (p.pathid, p.trgcls, p.bf1len) == (3, 7, 2)

    class Late(MsgPlist):
        __slots__ = ()

    assert Late(msgid=5).msgid == 5
    Late.__init__ = lambda self, **fields: MsgPlist.__init__(self, pathid=9)
    assert (Late(msgid=5).pathid, Late(msgid=5).msgid) == (9, 0)

    class Made(CompPlist):
        __slots__ = ()

        def __new__(cls, **fields: object) -> "Made":
            return CompPlist.__new__(cls)

    assert type(Made(pathid=4)) is Made and Made(pathid=4).pathid == 4
    with pytest.raises(TypeError, match="keyword arguments only"):
        PathPlist(1, pathid=2)
    with pytest.raises(TypeError, match=r"PathPlist has no field 'msgid'"):
        PathPlist(**{"pathid": 1, "msgid": 2})


def test_a_class_with_a_finalizer_is_finalized_every_time():
    seen = []

    class Noted(MsgPlist):
        __slots__ = ()

        def __del__(self) -> None:
            seen.append(self.pathid)

    for i in range(5):
        Noted(pathid=i)
    assert seen == [0, 1, 2, 3, 4]


def test_dropping_lists_of_every_kind_of_class_keeps_their_types_whole():
    """The parameter-list classes drop their instances by a dealloc of
    their own (not CPython's generic one): the class's reference goes with
    each instance, also for a subclass of such a class that has a dict or
    slots of its own, whose dict and weak references are cleared."""
    class Plain(MsgPlist):
        __slots__ = ()

    class Dicted(Plain):
        pass

    class Slotted(Dicted):
        __slots__ = ("extra",)

    gone = []
    gc.collect()
    counts = [sys.getrefcount(c) for c in (Plain, Dicted, Slotted, MsgPlist, CompPlist)]
    for i in range(2000):
        a, b, c = Plain(pathid=1), Dicted(pathid=2), Slotted(pathid=3)
        b.note, c.extra = [i], c  # c refers to itself: the GC frees it
        if i % 500 == 0:
            weakref.finalize(b, gone.append, i)
        d = CompPlist._of(bytes(40))
        assert (a.pathid, b.pathid, c.pathid, d.type) == (1, 2, 3, 0)
        del a, b, c, d
    gc.collect()
    assert gone == [0, 500, 1000, 1500]
    assert [sys.getrefcount(c) for c in (Plain, Dicted, Slotted, MsgPlist, CompPlist)] == counts


def test_a_finalizer_given_to_a_class_later_runs():
    class Late(MsgPlist):
        __slots__ = ()

    ran = []
    Late(pathid=1)  # dropped before the class had one
    Late.__del__ = lambda self: ran.append(self.pathid)
    Late(pathid=2)
    gc.collect()
    assert ran == [2]
    assert MsgPlist(pathid=3).pathid == 3  # the other classes' lists are untouched


def test_the_calls_tell_a_parameter_list_from_anything_else():
    class Dicted(MsgPlist):
        pass

    for plist in (MsgPlist(), Dicted(), CompPlist(), PathPlist()):
        plist.flags1 = 1
        assert plist.flags1 == 1
    with pytest.raises(TypeError, match="not a parameter list"):
        MsgPlist.flags1.__set__(object(), 1)
    with pytest.raises(TypeError, match="not a parameter list"):
        MsgPlist.bf1.__set__(object(), b"x")


def test_lists_holding_only_bytes_are_left_to_reference_counting():
    """The collector does not track the library's parameter lists (the
    interrupts' and the programs' own) while they hold only bytes,
    bytearrays or None; once given anything that could close a cycle they
    are tracked, and such a cycle is collected."""
    c = CompPlist._of(bytes(40))
    p = MsgPlist(pathid=1, bf1=b"data", bf2=bytearray(8))
    assert not gc.is_tracked(c) and not gc.is_tracked(p)

    class Area(bytearray):
        pass

    class Holder:
        pass

    gone = []
    for give in ("bf1", "bf2", "_cb", "_bf1", "_bf2"):
        for plist in (CompPlist._of(bytes(40)), MsgPlist(pathid=2), PathPlist()):
            if give in ("bf1", "bf2"):
                held = Area(4)  # a bytearray of a class of its own refers back
            else:
                held = Holder()
            held.plist = plist
            setattr(plist, give, held)
            assert gc.is_tracked(plist), (give, type(plist).__name__)
            weakref.finalize(held, gone.append, give)
            del held, plist
    gc.collect()
    assert sorted(gone) == sorted(["bf1", "bf2", "_cb", "_bf1", "_bf2"] * 3)

    class Own(MsgPlist):  # a program's class of its own: tracked as usual
        __slots__ = ()

    assert gc.is_tracked(Own())


def test_the_base_asked_to_set_itself_up_as_a_subclass_still_drops_its_lists():
    """Image.__init_subclass__() called on Image itself (a static type,
    whose lists hold no reference to it) must not give it the heap
    classes' dealloc, which releases a type reference with each list: its
    count would run down and the type be freed under the module (a
    segfault).  In a child process: the failure kills the interpreter."""
    import subprocess
    code = ("import sys\n"
            "from shmcp._iparml import Image\n"
            "Image.__init_subclass__()\n"
            "before = sys.getrefcount(Image)\n"
            "for i in range(1000):\n"
            "    Image()\n"
            "print(before - sys.getrefcount(Image))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout) == (0, "0\n"), done.stderr
