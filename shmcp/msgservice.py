"""The *MSG CP system service: CP's messages as IUCV messages.

A VM that CONNECTs to ``*MSG`` (``iucv.connect(PathPlist(vmid="*MSG"))``)
gets the connection-complete interrupt at once and from then on receives
CP's messages on that path: one-way IUCV messages (pending-message
interrupt 09) whose target class says what kind each is (``CLASS_MSG`` = 1
for MSG, ``CLASS_SMSG`` = 4 for SMSG) and whose text starts with the
sender's 8-byte userid; ``split()`` takes one apart.  ``msg()`` (also ``shmcp.msg``) is CP's MSG
command; ``shmcp.smsg`` takes the same path when the target has one (CP's
``SET SMSG IUCV``), else VMCF's.  See docs/design.md, "*MSG", and docs/decisions.md.
"""
from __future__ import annotations

from typing import Any, Callable

from ._native import lib
from .errors import NotLoggedOn, core_error
from .machine import current, userid_bytes
from .system import System, system_name

CLASS_MSG = lib.SHMCP_MSG_CLASS_MSG
CLASS_WNG = lib.SHMCP_MSG_CLASS_WNG
CLASS_SMSG = lib.SHMCP_MSG_CLASS_SMSG
TEXT_MAX = lib.SHMCP_MSG_TEXT_MAX
SERVICE = "*MSG"


def text_bytes(text: str | bytes, what: str) -> bytes:
    """``text`` as sent (str as UTF-8), checked against the 129-byte limit:
    ValueError beyond it, nothing is cut."""
    if isinstance(text, str):
        text = text.encode("utf-8")
    if not isinstance(text, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} text must be str or bytes, not {type(text).__name__}")
    text = bytes(text)
    if len(text) > TEXT_MAX:
        raise ValueError(f"{what} text is {len(text)} bytes; at most {TEXT_MAX} are allowed")
    return text


def addresses(userid: str | bytes, issuer: str | bytes | None, what: str) -> tuple[bytes, bytes]:
    """The target (``*``: this VM) and the issuer (default: this VM, else
    OPERATOR) as 8-byte userids."""
    vm = current()
    if isinstance(userid, str) and userid.strip() == "*":
        if vm is None:
            raise ValueError(f"{what} *: this process is not logged on as a virtual machine")
        userid = vm.userid8
    target = userid_bytes(userid)
    who = userid_bytes(issuer) if issuer is not None else vm.userid8 if vm else userid_bytes("OPERATOR")
    return target, who


def on_system(system: str | None, fn: Callable[[Any], int]) -> tuple[str, int]:
    """Run ``fn(handle)`` on the system named (default: this VM's, else
    $SHMCP_SYSTEM / SHMCP); returns (system name, what fn returned)."""
    vm = current()
    name = vm.system if system is None and vm is not None else system_name(system)
    if vm is not None and vm.system == name:
        return name, fn(vm.handle)
    with System.attach(name) as sysobj:
        return name, fn(sysobj.handle)


# the core's codes for a target that does not take the message
NOT_RECEIVING_CODES = (lib.SHMCP_E_NOMSGPATH, lib.SHMCP_E_MSGQUIESCED)


def raise_for(rc: int, what: str, target: bytes, system: str) -> None:
    """The exception for shmcp_msg_deliver's return code ``rc``, if any (errors' funnel)."""
    tname = target.decode().rstrip()
    if rc == lib.SHMCP_E_NOTLOGGED:  # the target, not this VM: said so
        raise NotLoggedOn(f"{what}: {tname} not logged on to system {system}")
    if rc < 0:
        raise core_error(rc, f"{what}: {tname}" if rc in NOT_RECEIVING_CODES else f"{what} to {tname}")


def msg(userid: str | bytes, text: str | bytes, *, system: str | None = None,
        issuer: str | bytes | None = None) -> None:
    """CP's MSG command through *MSG: deliver ``text`` (at most 129 bytes; a
    str is sent UTF-8 encoded) to VM ``userid`` (``*``: this VM) as a
    class 1 message on its *MSG path, the text preceded by the issuer's
    userid.  ``issuer`` defaults to this process's VM, else OPERATOR.
    Raises NotLoggedOn; NotReceiving when the target has no *MSG path
    (rc 5) or quiesced it (rc 9); StorageExhausted / QueueFull when CP
    cannot take it; ValueError for text that is too long (nothing is cut)."""
    data = text_bytes(text, "MSG")
    target, who = addresses(userid, issuer, "MSG")
    name, rc = on_system(system, lambda h: lib.shmcp_msg_deliver(
        h, who, target, CLASS_MSG, data, len(data)))
    raise_for(rc, "MSG", target, name)


def split(data: bytes | bytearray | memoryview) -> tuple[str, bytes]:
    """A *MSG message's data as (sender userid, text)."""
    data = bytes(data)
    if len(data) < 8:
        raise ValueError(f"a *MSG message starts with an 8-byte userid; this one has {len(data)} bytes")
    return data[:8].decode("ascii", "replace").rstrip(), data[8:]


__all__ = ["CLASS_MSG", "CLASS_SMSG", "CLASS_WNG", "SERVICE", "TEXT_MAX", "msg", "split"]
