"""Systems: CP's storage as one POSIX shared-memory segment per system name.

``ipl`` creates one, ``System.attach`` maps an existing one into this
process (``shutdown``, which logs this process's VM off first, is
shmcp.session's).  The segment is created exclusively with
mode 0600; an existing object with the wrong header or another owner is
refused with an error that names the system.
"""
from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import posix_ipc

from . import directory as _directory
from ._native import ffi, lib
from .errors import CorruptSegment, ShmcpError, SystemNotUp, check, core_error

if TYPE_CHECKING:
    from .snapshot import Snapshot

DEFAULT_SYSTEM = "SHMCP"
_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_NAME_MAX = lib.SHMCP_SYSNAME_MAX - 1
_SHM_DIR = "/dev/shm"  # where Linux keeps POSIX shared-memory objects
WATCHDOG_MS = 250  # a dead VM is logged off within this (and well under 1 s)


def system_name(system: str | None) -> str:
    """The system name to use: ``system``, else $SHMCP_SYSTEM, else "SHMCP".

    Raises ValueError for a name that is empty, too long, or has a character
    outside ``A-Z a-z 0-9 _ . -`` (a slash would leave /dev/shm)."""
    name = system if system is not None else os.environ.get("SHMCP_SYSTEM") or DEFAULT_SYSTEM
    if not isinstance(name, str):
        raise TypeError(f"system name must be a str, not {type(name).__name__}")
    if not name:
        raise ValueError("system name is empty")
    if len(name) > _NAME_MAX:
        raise ValueError(f"system name {name!r} is longer than {_NAME_MAX} characters")
    if not _NAME.fullmatch(name):
        bad = sorted({c for c in name if not _NAME.fullmatch(c)})
        raise ValueError(
            f"system name {name!r} has characters {''.join(bad)!r}; "
            "allowed are letters, digits, '_', '.' and '-'"
        )
    return name


def shm_name(name: str) -> str:
    """The POSIX shared-memory object of system ``name`` (/dev/shm/shmcp.NAME)."""
    return f"/shmcp.{name}"


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


_LIMITS = {
    # keyword: (default, minimum, maximum)
    "max_vms": (lib.SHMCP_MAX_VMS_DEFAULT, 1, lib.SHMCP_MAX_VMS_LIMIT),
    "queue_size": (lib.SHMCP_QUEUE_DEFAULT, lib.SHMCP_QUEUE_MIN, lib.SHMCP_QUEUE_LIMIT),
    "storage": (lib.SHMCP_STORAGE_DEFAULT, lib.SHMCP_STORAGE_MIN, lib.SHMCP_STORAGE_LIMIT),
    "spin_us": (lib.SHMCP_SPIN_NS_DEFAULT // 1000, 0, lib.SHMCP_SPIN_NS_LIMIT // 1000),
    "max_conn": (lib.SHMCP_MAX_CONN_DEFAULT, 1, lib.SHMCP_MAX_CONN_LIMIT),
    "max_msgs": (lib.SHMCP_MAX_MSGS_DEFAULT, 1, lib.SHMCP_MAX_MSGS_LIMIT),
}


def make_limits(limits: dict) -> "ffi.CData":
    """Check IPL keywords and build the core's limits (queue_size and storage
    rounded up to powers of two)."""
    values = {}
    for key, value in limits.items():
        if key not in _LIMITS:
            raise TypeError(f"ipl() got an unknown limit {key!r}; known: {', '.join(_LIMITS)}")
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"limit {key} must be an int, not {type(value).__name__}")
        _, lo, hi = _LIMITS[key]
        if not lo <= value <= hi:
            raise ValueError(f"limit {key}={value} is out of range {lo}..{hi}")
        values[key] = value
    get = lambda k: values.get(k, _LIMITS[k][0])  # noqa: E731
    lim = ffi.new("struct shmcp_limits *")
    lim.max_vms = get("max_vms")
    lim.queue_size = _pow2(get("queue_size"))
    lim.storage = _pow2(get("storage"))
    lim.spin_ns = get("spin_us") * 1000
    lim.max_conn = get("max_conn")
    lim.max_msgs = get("max_msgs")
    return lim


class System:
    """This process's mapping of one system.  Not shared across fork."""

    def __init__(self, name: str, handle: "ffi.CData") -> None:
        self.name = name
        self._h = handle
        self._pid = os.getpid()
        lim = ffi.new("struct shmcp_limits *")
        lib.shmcp_read_limits(handle, lim)
        self.max_vms = lim.max_vms
        self.queue_size = lim.queue_size
        self.storage = lim.storage
        self.spin_ns = lim.spin_ns

    @classmethod
    def attach(cls, system: str | None = None) -> "System":
        """Map the existing system; SystemNotUp if there is none."""
        name = system_name(system)
        try:
            shm = posix_ipc.SharedMemory(shm_name(name))
        except posix_ipc.ExistentialError:
            raise SystemNotUp(f"system {name} is not up") from None
        except posix_ipc.PermissionsError:
            raise ShmcpError(f"system {name}: its segment belongs to another user") from None
        try:
            rc = ffi.new("int *")
            handle = lib.shmcp_attach(shm.fd, name.encode(), rc)
        finally:
            shm.close_fd()
        if handle == ffi.NULL:
            raise core_error(rc[0], f"system {name} (segment {shm_name(name)})")
        return cls(name, handle)

    @property
    def handle(self) -> "ffi.CData":
        """The core's handle of the mapped system, for the core's own calls;
        ShmcpError once detached."""
        if self._h is None:
            raise ShmcpError(f"system {self.name} is detached")
        return self._h

    def detach(self) -> None:
        """Unmap the system from this process (idempotent)."""
        handle, self._h = self._h, None  # taken at once: two threads may detach
        if handle is not None and self._pid == os.getpid():
            lib.shmcp_detach(handle)

    @property
    def down(self) -> bool:
        """Whether the system was shut down (its VMs are being logged off)."""
        return bool(lib.shmcp_is_down(self.handle))

    def live_count(self) -> int:
        """Log off the VMs whose process died; return how many remain."""
        return check(lib.shmcp_live_count(self.handle), f"system {self.name}")

    def storage_free(self) -> int:
        """Bytes of message storage free now."""
        return lib.shmcp_storage_free(self.handle)

    def logoff_count(self) -> int:
        """LOGOFFs completed since IPL (each logon's hook runs once)."""
        return lib.shmcp_logoff_count(self.handle)

    def lock_repairs(self) -> int:
        """How often a process died holding the control lock and was repaired."""
        return lib.shmcp_lock_repairs(self.handle)

    def names(self) -> list[tuple[str, int]]:
        """(userid, pid) of each VM logged on whose process lives, in table
        order (one that died is left out before CP has logged it off)."""
        info = ffi.new("struct shmcp_vminfo *")
        out = []
        for slot in range(self.max_vms):
            lib.shmcp_vminfo(self.handle, slot, info)
            if info.state == lib.SHMCP_VM_ACTIVE and \
                    lib.shmcp_vm_alive(self.handle, slot, info.gen) == 1:
                out.append((ffi.string(info.userid, 8).decode().rstrip(), info.pid))
        return out

    def snapshot(self, timeout: float | None = None) -> "Snapshot":
        """The operator's view: a read-only copy of the system's tables
        (shmcp.snapshot); ``timeout`` bounds the wait for the control lock."""
        from .snapshot import take
        return take(self, timeout)

    def __enter__(self) -> "System":
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()


def ipl(system: str | None = None, *, directory: str | os.PathLike[str] | None = None,
        **limits: int) -> None:
    """IPL a system: create its segment with ``limits`` (max_vms, queue_size,
    storage, spin_us, max_conn, max_msgs) and the directory file
    ``directory`` (TOML, see shmcp.directory; None: the embedded default).
    A system that is up is an error, unless no VM of it is alive (all died,
    or none logged on), in which case the stale segment is recovered:
    replaced by the new one."""
    name = system_name(system)
    if directory is not None and not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"directory must be a path, not {type(directory).__name__}")
    entries = None
    if directory is not None:
        entries = _directory.load(os.fspath(directory),
                                  limits.get("max_conn", lib.SHMCP_MAX_CONN_LIMIT))
        if "max_conn" not in limits:  # room for the largest maxconn it grants
            limits["max_conn"] = max([lib.SHMCP_MAX_CONN_DEFAULT] + [e.maxconn for e in entries])
    lim = make_limits(limits)
    for _ in range(3):
        try:
            create(name, lim, entries)
            return
        except posix_ipc.ExistentialError:
            pass
        try:
            with System.attach(name) as old:
                if not old.down and (live := old.live_count()) > 0:
                    raise ShmcpError(f"system {name} is already up, with {live} virtual "
                                     f"machine{'s' if live > 1 else ''} logged on; logon joins "
                                     f"it, shutdown ends it")
                # every VM is dead (or it was shut down): recover the segment
                lib.shmcp_mark_down(old.handle)
                remove(name)
        except SystemNotUp:
            continue
    raise ShmcpError(f"system {name}: IPL raced with another IPL three times; try again")


def create(name: str, lim: "ffi.CData", directory: list | None = None) -> None:
    """Format a new segment under a private name, install the directory,
    then link it into place: the system appears whole or not at all, so a VM
    attaching while another IPLs never sees a half-written one.
    Raises posix_ipc.ExistentialError if the system exists."""
    private = f"{shm_name(name)}.ipl{os.getpid()}"
    shm = posix_ipc.SharedMemory(private, posix_ipc.O_CREX, mode=0o600, size=0)
    try:
        rc = lib.shmcp_format(shm.fd, lim, name.encode())
        if rc:
            raise core_error(rc, f"system {name}: IPL")
        if directory:
            rc_p = ffi.new("int *")
            handle = lib.shmcp_attach(shm.fd, name.encode(), rc_p)
            if handle == ffi.NULL:
                raise core_error(rc_p[0], f"system {name}: IPL")
            try:
                _directory.install(handle, directory)
            finally:
                lib.shmcp_detach(handle)
        try:
            os.link(_SHM_DIR + private, _SHM_DIR + shm_name(name))
        except FileExistsError:
            raise posix_ipc.ExistentialError(f"system {name} exists") from None
    finally:
        shm.close_fd()
        shm.unlink()


def remove(name: str) -> None:
    """Unlink system ``name``'s segment, if there is one (mappings stay valid)."""
    try:
        posix_ipc.unlink_shared_memory(shm_name(name))
    except posix_ipc.ExistentialError:
        pass


__all__ = ["System", "ipl", "remove", "system_name", "shm_name", "DEFAULT_SYSTEM",
           "CorruptSegment"]
