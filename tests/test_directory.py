"""The directory (docs/reference.md, "8. The directory"): authorisation,
maxconn, msglimit, priority, errors."""
from __future__ import annotations

import pytest

import shmcp
from shmcp import PathPlist, iucv
from shmcp.directory import DirectoryError, parse
from vms import Child

DIRECTORY = """\
[default]
iucv = ["SERVER"]
maxconn = 2

[SERVER]
iucv = ["ALLOW"]
maxconn = 100
msglimit = 20

[ROOT]
iucv = ["ANY"]
priority = false
"""


@pytest.fixture
def directory(tmp_path):
    path = tmp_path / "directory.toml"
    path.write_text(DIRECTORY)
    return str(path)


def connect(vmid: str, **fields) -> PathPlist:
    plist = PathPlist(vmid=vmid, **fields)
    iucv.connect(plist)
    return plist


def test_directory_authorises_and_limits(system, directory):
    shmcp.ipl(system, directory=directory)
    server = Child("idle", "SERVER", "hang")
    other = Child("idle", "OTHER", "hang")
    try:
        server.expect("READY")
        other.expect("READY")
        with shmcp.logon("client"):
            iucv.dclbfr(PathPlist())
            assert iucv.query() == (0, 40, 2)           # maxconn of [default]
            assert connect("client").rcode == 15         # not in its list, no ALLOW: not even itself
            assert connect("other").rcode == 12          # not declared is found first
            # SERVER has not declared a buffer: authorisation passed, rc 12
            assert connect("server").rcode == 12
    finally:
        server.kill()
        other.kill()


def test_allow_lets_anyone_connect_and_limits_apply(system, directory):
    shmcp.ipl(system, directory=directory)
    with shmcp.logon("server") as vm:
        iucv.dclbfr(PathPlist())
        assert iucv.query()[2] == 100
        p = connect("server", msglim=200)                # SERVER to itself: ALLOW
        assert p.rcode == 0
        pending = vm.wait(5)
        assert pending.msglim == 20                      # capped by MSGLIMIT 20
        acc = PathPlist(pathid=pending.pathid, msglim=0)
        assert iucv.accept(acc) == 0 and acc.msglim == 20


def test_priority_needs_the_directory(system, directory):
    shmcp.ipl(system, directory=directory)
    with shmcp.logon("root") as vm:
        iucv.dclbfr(PathPlist())
        connect("root", flags1=iucv.IPPRTY)
        pending = vm.wait(5)
        acc = PathPlist(pathid=pending.pathid, flags1=iucv.IPPRTY)
        assert iucv.accept(acc) == 0
        assert not acc.flags1 & iucv.IPPRTY              # ROOT: priority = false
        done = vm.wait(5)
        assert done.type == 2 and not done.flags1 & iucv.IPPRTY


def test_embedded_default_lets_everyone_connect(system):
    with shmcp.logon("anyone") as vm:
        iucv.dclbfr(PathPlist())
        assert iucv.query() == (0, 40, 64)
        p = connect("anyone", flags1=iucv.IPPRTY, msglim=255)
        assert p.rcode == 0 and vm.wait(5).msglim == 255


@pytest.mark.parametrize("text, line, message", [
    ('[A]\niucv = "ANY"\n', 2, "iucv must be a list"),
    ('[A]\nmaxconn = 0\n', 2, "maxconn must be a whole number"),
    ('[A]\n\nmsglimit = 256\n', 3, "msglimit must be a whole number from 1 to 255"),
    ('[A]\npriority = "yes"\n', 2, "priority must be true or false"),
    ('[A]\ncolour = 1\n', 2, "unknown statement 'colour'"),
    ('[TOOLONGNAME]\n', 1, "not a userid"),
    ('[A]\niucv = ["B-C"]\n', 2, "'B-C' is not ANY"),
    ('X = 1\n', 1, "must be a table"),
    ('[A]\niucv = [ANY]\n', 2, "line 2"),
])
def test_malformed_directory_is_refused_naming_the_line(system, tmp_path, text, line, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(DirectoryError, match=message) as err:
        shmcp.ipl(system, directory=str(path))
    assert f"line {line}" in str(err.value)
    assert isinstance(err.value, ValueError)
    assert shmcp.shutdown(system) is False, "nothing may be IPLed"


def test_missing_directory_file(system, tmp_path):
    with pytest.raises(DirectoryError, match="No such file"):
        shmcp.ipl(system, directory=str(tmp_path / "absent.toml"))


def test_parse_keeps_the_statements():
    entries = {e.userid: e for e in parse(DIRECTORY)}
    assert entries[""].iucv == ["SERVER"] and entries[""].maxconn == 2
    assert entries["SERVER"].iucv == ["ALLOW"] and entries["SERVER"].msglimit == 20
    assert entries["ROOT"].priority is False


def test_entry_inherits_what_it_does_not_state_from_default():
    """An entry that states only maxconn must not widen whom it may connect to."""
    entries = {e.userid: e for e in parse('[default]\niucv = []\nmsglimit = 7\n'
                                          '[BOB]\nmaxconn = 4\n'
                                          '[AMY]\niucv = ["BOB"]\n')}
    assert entries["BOB"].iucv == [] and entries["BOB"].maxconn == 4
    assert entries["BOB"].msglimit == 7 and entries["AMY"].msglimit == 7
    assert entries["AMY"].iucv == ["BOB"] and entries["AMY"].maxconn == entries[""].maxconn


def test_default_after_the_entries_is_inherited_too():
    entries = {e.userid: e for e in parse('[BOB]\nmaxconn = 4\n[default]\npriority = false\n')}
    assert entries["BOB"].priority is False and entries["BOB"].iucv == ["ANY"]


def test_entry_without_iucv_cannot_connect_where_default_forbids(system, tmp_path):
    path = tmp_path / "directory.toml"
    path.write_text('[default]\niucv = []\n[BOB]\nmaxconn = 4\n')
    shmcp.ipl(system, directory=str(path))
    with shmcp.logon("bob"):
        iucv.dclbfr(PathPlist())
        assert iucv.query()[2] == 4
        assert connect("bob").rcode == 15                # [default] iucv = []: not even itself
