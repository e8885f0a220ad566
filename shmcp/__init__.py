"""shmcp: IBM VM/370's inter-virtual-machine communication for Python processes.

Each OS process logs on as a virtual machine; CP's storage lives in POSIX
shared memory; external interrupts arrive as real signals (SIGIUCV =
SIGUSR1, SIGVMCF = SIGUSR2).  See README.md and docs/.
"""
from ._version import __version__
from .errors import (
    AlreadyLoggedOn,
    CorruptSegment,
    IUCVError,
    NotLoggedOn,
    ProgramCheck,
    QueueFull,
    ShmcpError,
    StorageExhausted,
    SystemDown,
    SystemNotUp,
    VMCFError,
)
from .errors import NotReceiving
from .interrupt import FACILITIES, IUCV, VMCF, Interrupt
from .machine import VirtualMachine, current, userid_bytes
from .session import OwnedSystem, ipl, logon, shutdown
from .plist import CompPlist, MsgPlist, PathPlist
from . import iucv, vmcf
from .sasc import (iucvacc, iucvclr, iucvconn, iucvpurg, iucvqs, iucvrecv, iucvrej, iucvresm,
                   iucvrply, iucvsend, iucvset, iucvsevr, iucvtcmp)
from .signals import SIGIUCV, SIGVMCF, sigblock, siginfo, sigmask, sigpause, sigsetmask
from .system import System
from .vmcf import Vmcmhdr, Vmcparm, smsg
from .msgservice import msg
from .errors import (ConnectionRefused, MessageLimitExceeded, MessageRejected, NotAuthorized,
                     PathQuiesced, PathSevered, ReplyTruncated)
from . import pythonic  # noqa: F401  (gives VirtualMachine connect, accept ...)
from .pythonic.events import Event
from .pythonic.message import Message
from .pythonic.path import Path, Pending

# The runtime presents and shows each facility's interrupts through the
# facility's own functions; the facilities sit above it, so they are
# installed here, the one place that sees every layer.
FACILITIES[IUCV] = iucv.FACILITY
FACILITIES[VMCF] = vmcf.FACILITY

__all__ = [
    "__version__",
    "AlreadyLoggedOn", "CorruptSegment", "IUCVError", "NotLoggedOn", "ProgramCheck",
    "QueueFull", "ShmcpError", "StorageExhausted", "SystemDown", "SystemNotUp", "VMCFError",
    "IUCV", "VMCF", "Interrupt", "PathPlist", "MsgPlist", "CompPlist", "iucv", "vmcf",
    "VirtualMachine", "current", "logon", "userid_bytes",
    "SIGIUCV", "SIGVMCF", "sigblock", "siginfo", "sigmask", "sigpause", "sigsetmask",
    "System", "OwnedSystem", "ipl", "shutdown",
    "iucvset", "iucvclr", "iucvconn", "iucvacc", "iucvsevr", "iucvsend", "iucvrecv", "iucvrply",
    "iucvrej", "iucvpurg", "iucvtcmp", "iucvqs", "iucvresm",
]
__all__ += ["NotReceiving", "Vmcparm", "Vmcmhdr", "smsg"]
__all__ += ["msg"]
__all__ += ["ConnectionRefused", "MessageLimitExceeded", "MessageRejected", "NotAuthorized",
            "PathQuiesced", "PathSevered", "ReplyTruncated", "Event", "Message", "Path", "Pending"]
