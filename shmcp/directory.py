"""The directory: CP's user directory, as a TOML file given at IPL.

    [default]                 # userids not listed (absent: the embedded default)
    iucv = ["ANY"]            # may connect to any VM
    [SERVER]
    iucv = ["ALLOW"]          # any VM may connect to it
    maxconn = 200
    [CLIENT]
    iucv = ["SERVER", "*MSG"] # may connect to these only
    msglimit = 10             # ceiling for IPMSGLIM on its paths
    priority = false          # no priority messages on its paths

An entry inherits every statement it does not make from [default] (and,
without one, from the embedded default), so stating maxconn for a user never
widens whom it may connect to.  The embedded default lets every VM connect to
every VM, with maxconn 64, msglimit 255 and priority permitted.  A malformed file is refused with a
DirectoryError naming the line.  docs/reference.md, "8. The directory", is
the user's description.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace

from ._native import ffi, lib
from .errors import ShmcpError

_USERID = re.compile(r"[A-Z0-9@#$]{1,8}")
_SERVICE = re.compile(r"\*[A-Z0-9@#$]{1,7}")
_KEYS = {"iucv", "msglimit", "priority", "maxconn"}


class DirectoryError(ShmcpError, ValueError):
    """A directory file that cannot be used; the message names the line."""


@dataclass
class Entry:
    """One userid's directory statements."""
    userid: str                      # "" for the [default] entry
    iucv: list[str] = field(default_factory=lambda: ["ANY"])
    msglimit: int = lib.SHMCP_DIR_MSGLIMIT_DEFAULT
    priority: bool = True
    maxconn: int = lib.SHMCP_MAXCONN_DEFAULT


def _line_of(text: str, table: str, key: str | None = None) -> int:
    """The line of ``[table]`` (or of ``key`` in it) in ``text``, 1-based."""
    lines = text.splitlines()
    header = re.compile(r"\s*\[\s*\"?" + re.escape(table) + r"\"?\s*\]")
    for i, line in enumerate(lines):
        if header.match(line):
            if key is None:
                return i + 1
            for j in range(i + 1, len(lines)):
                if lines[j].lstrip().startswith("["):
                    break
                if re.match(r"\s*" + re.escape(key) + r"\s*=", lines[j]):
                    return j + 1
            return i + 1
    return 1


def parse(text: str, source: str = "<directory>", max_conn: int | None = None) -> list[Entry]:
    """The entries of directory ``text``; DirectoryError naming the line if
    it is malformed.  ``max_conn``: the system's ceiling for maxconn."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DirectoryError(f"{source}: {exc}") from None

    def bad(table: str, key: str | None, what: str) -> DirectoryError:
        return DirectoryError(f"{source}, line {_line_of(text, table, key)}: {what}")

    # [default] first, wherever it stands: every other entry starts from a
    # copy of it, so a statement an entry does not make is inherited.
    tables = sorted(doc.items(), key=lambda item: item[0].lower() != "default")
    default = Entry("")
    entries = []
    for table, body in tables:
        if not isinstance(body, dict):
            raise bad(table, None, f"{table!r} must be a table like [{table}], not a value")
        userid = "" if table.lower() == "default" else table.upper()
        if userid and not _USERID.fullmatch(userid):
            raise bad(table, None, f"[{table}] is not a userid (1-8 of A-Z 0-9 @ # $)")
        entry = replace(default, userid=userid, iucv=list(default.iucv))
        for key, value in body.items():
            if key not in _KEYS:
                raise bad(table, key, f"unknown statement {key!r} in [{table}]; "
                                      f"known: {', '.join(sorted(_KEYS))}")
            if key == "iucv":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise bad(table, key, "iucv must be a list of strings")
                names = [v.upper() for v in value]
                for name in names:
                    if name not in ("ANY", "ALLOW") and not _USERID.fullmatch(name) \
                            and not _SERVICE.fullmatch(name):
                        raise bad(table, key, f"iucv target {name!r} is not ANY, ALLOW, a userid "
                                              "or a *SERVICE")
                entry.iucv = names
            elif key == "priority":
                if not isinstance(value, bool):
                    raise bad(table, key, "priority must be true or false")
                entry.priority = value
            else:
                top = lib.SHMCP_MSGLIM_MAX if key == "msglimit" else (max_conn or lib.SHMCP_MAX_CONN_LIMIT)
                if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
                    raise bad(table, key, f"{key} must be a whole number from 1 to {top}")
                setattr(entry, key, value)
        if not userid:
            default = entry
        entries.append(entry)
    return entries


def load(path: str, max_conn: int | None = None) -> list[Entry]:
    """Read and parse the directory file at ``path``."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise DirectoryError(f"directory {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise DirectoryError(f"directory {path}: not UTF-8 text") from None
    return parse(text, path, max_conn)


def install(handle: "ffi.CData", entries: list[Entry]) -> None:
    """Put ``entries`` into a freshly IPLed system's storage."""
    from .errors import check

    cents = ffi.new("struct shmcp_dir_entry[]", max(1, len(entries)))
    names: list[bytes] = []
    for i, e in enumerate(entries):
        c = cents[i]
        ffi.memmove(c.userid, e.userid.encode().ljust(8), 8)
        flags = lib.SHMCP_DIR_DEFAULT if not e.userid else 0
        targets = [n for n in e.iucv if n not in ("ANY", "ALLOW")]
        flags |= lib.SHMCP_DIR_ANY if "ANY" in e.iucv else 0
        flags |= lib.SHMCP_DIR_ALLOW if "ALLOW" in e.iucv else 0
        flags |= lib.SHMCP_DIR_PRIORITY if e.priority else 0
        c.flags = flags
        c.msglimit = e.msglimit
        c.maxconn = e.maxconn
        c.ntargets = len(targets)
        c.first_target = len(names)
        names.extend(n.encode().ljust(8) for n in targets)
    blob = b"".join(names) or bytes(8)
    check(lib.shmcp_iucv_set_directory(handle, cents, len(entries), blob, len(names)),
          "installing the directory")


__all__ = ["Entry", "DirectoryError", "parse", "load", "install"]
