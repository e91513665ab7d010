"""The sandbox (issue 11, part 4): once started, relais serve has
no_new_privs, a seccomp filter and Landlock file rules. A read outside the
allowed paths fails even for root (/etc/shadow included), a reload naming
a file in a new directory is refused while the same reload works with
`[server] sandbox = no`, and a system call outside the allow list ends
the daemon with a log line."""

import ctypes
import os
import platform
import pwd
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from conftest import message, wait_until

# the number of execve on the machines we run on
EXECVE_NR = {"x86_64": 59, "aarch64": 221}
NR_LANDLOCK_CREATE_RULESET = 444    # same number on every architecture


def landlock_abi():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    r = libc.syscall(ctypes.c_long(NR_LANDLOCK_CREATE_RULESET), None,
                     ctypes.c_size_t(0), ctypes.c_uint32(1))
    return r if r > 0 else 0


needs_landlock = pytest.mark.skipif(landlock_abi() == 0,
                                    reason="the kernel has no Landlock")


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            k, _, v = ln.partition(":")
            out[k] = v.strip()
    return out


def outside_aliases(tmp_path_factory):
    """A valid aliases file, world-readable, in a directory the running
    daemon was not given: only the sandbox can keep it out."""
    d = tmp_path_factory.mktemp("outside")
    d.chmod(0o755)
    p = d / "aliases"
    p.write_text("moved@example.test: bob@example.test\n")
    p.chmod(0o644)
    return p


@needs_landlock
def test_started_daemon_is_sandboxed(relais, unique):
    tok = unique("sandbox")
    st = proc_status(relais.pid)
    assert st["NoNewPrivs"] == "1"
    assert st["Seccomp"] == "2"
    ll = relais.log_events("sandbox.landlock")
    assert ll and ll[0]["enforced"] == "yes", relais.run_log()[-2000:]
    assert int(ll[0]["abi"]) == landlock_abi()
    sc = relais.log_events("sandbox.seccomp")
    assert sc and sc[0]["enforced"] == "yes"
    # and it still does its job: a message through SMTP into a Maildir
    relais.send("sender@remote.test", ["alice@example.test"],
                message(tok))
    assert tok.encode() in relais.maildir_messages("example.test",
                                                      "alice")[0]


def test_sandbox_no_leaves_the_daemon_alone(relais_factory):
    r = relais_factory(overrides={"server": {"sandbox": "no"}}).start()
    st = proc_status(r.pid)
    assert st["Seccomp"] == "0"
    assert r.log_events("sandbox.off")
    assert not r.log_events("sandbox.landlock")


@needs_landlock
def test_worker_thread_cannot_read_etc_shadow(relais_factory):
    """A thread started after the sandbox (as the workers are) opens
    /etc/shadow: EACCES. As root, file modes would have let it."""
    r = relais_factory(env={"RELAIS_SANDBOX_SELFTEST": "open"}).start()
    ev = r.log_events("sandbox.selftest")
    assert ev and ev[0]["path"] == "/etc/shadow", r.run_log()[-2000:]
    assert ev[0]["result"] == "denied"
    assert ev[0]["errno"] == "13"   # EACCES, from Landlock
    assert r.running()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to read /etc/shadow")
def test_without_sandbox_root_reads_etc_shadow(relais_factory):
    """The control: the same thread without the sandbox opens it, so the
    EACCES above is the sandbox's, not the file's mode."""
    r = relais_factory(overrides={"server": {"sandbox": "no"}},
                       env={"RELAIS_SANDBOX_SELFTEST": "open"}).start()
    ev = r.log_events("sandbox.selftest")
    assert ev and ev[0]["result"] == "opened"


@needs_landlock
def test_reload_naming_etc_shadow_is_refused(relais_factory, unique):
    tok = unique("sandbox")
    r = relais_factory().start()
    r.write_config(overrides={"local": {"aliases": "/etc/shadow"}})
    assert r.reload() == "event=config.reload.failed"
    fail = r.log_events("config.reload.failed")[-1]
    assert "/etc/shadow" in fail["error"]
    assert "Permission denied" in fail["error"]
    assert r.running()
    # the old aliases still work
    r.send("sender@remote.test", ["info@example.test"], message(tok))
    assert tok.encode() in r.maildir_messages("example.test", "alice")[0]


@needs_landlock
def test_reload_of_file_outside_allowed_tree_is_refused(relais_factory,
                                                       tmp_path_factory):
    """A world-readable aliases file in a directory the daemon was not
    started with: the reload fails with EACCES and the old table stays."""
    aliases = outside_aliases(tmp_path_factory)
    r = relais_factory().start()
    r.write_config(overrides={"local": {"aliases": str(aliases)}})
    assert r.reload() == "event=config.reload.failed"
    fail = r.log_events("config.reload.failed")[-1]
    assert str(aliases) in fail["error"]
    assert "Permission denied" in fail["error"]
    assert r.running()
    c = r.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RCPT TO:<info@example.test>", 250)     # old table
    c.expect("RCPT TO:<moved@example.test>", 550)    # new one not loaded
    c.expect("QUIT", 221)


def test_same_reload_works_without_sandbox(relais_factory, tmp_path_factory,
                                           unique):
    tok = unique("sandbox")
    aliases = outside_aliases(tmp_path_factory)
    r = relais_factory(overrides={"server": {"sandbox": "no"}}).start()
    r.write_config(overrides={"server": {"sandbox": "no"},
                              "local": {"aliases": str(aliases)}})
    assert r.reload() == "event=config.reload"
    r.send("sender@remote.test", ["moved@example.test"], message(tok))
    assert tok.encode() in r.maildir_messages("example.test", "bob")[0]


@needs_landlock
def test_mailboxes_outside_data_dir_still_delivered(relais_factory, tmp_path,
                                                    unique):
    tok = unique("sandbox")
    tpl = str(tmp_path / "vmail" / "%d" / "%u")
    r = relais_factory(mailboxes=tpl).start()
    r.send("sender@remote.test", ["alice@example.test"], message(tok))
    assert tok.encode() in r.maildir_messages("example.test", "alice")[0]


def nobody_exists():
    try:
        pwd.getpwnam("nobody")
        return True
    except KeyError:
        return False


@needs_landlock
@pytest.mark.skipif(os.geteuid() != 0 or not nobody_exists(),
                    reason="needs root and a nobody user")
@pytest.mark.parametrize("sandbox", ["yes", "no"])
def test_dropped_to_user_and_sandboxed(relais_factory, unique, sandbox):
    """Started as root with [server] user = nobody: the uid drop, then the
    sandbox; mail is delivered, and a reload naming a file nobody may read
    but outside the allowed paths is refused by the sandbox (and accepted
    with sandbox = no)."""
    tok = unique("sandbox")
    # pytest's tmp_path is 0700 root: nobody could not reach its data
    root = Path(tempfile.mkdtemp(prefix="relais-sandbox-", dir="/tmp"))
    try:
        root.chmod(0o755)
        # readable by nobody through file modes: /tmp, 0755, 0644
        (root / "outside").mkdir(mode=0o755)
        aliases = root / "outside" / "aliases"
        aliases.write_text("moved@example.test: bob@example.test\n")
        aliases.chmod(0o644)
        srv = {"user": "nobody", "sandbox": sandbox}
        r = relais_factory(root=root / "relais", overrides={"server": srv})
        r.root.chmod(0o755)
        r.start()
        st = proc_status(r.pid)
        nobody = pwd.getpwnam("nobody").pw_uid
        assert st["Uid"].split() == [str(nobody)] * 4
        assert st["Seccomp"] == ("2" if sandbox == "yes" else "0")
        r.send("sender@remote.test", ["alice@example.test"], message(tok))
        assert tok.encode() in r.maildir_messages("example.test", "alice")[0]
        r.write_config(overrides={"server": srv,
                                  "local": {"aliases": str(aliases)}})
        if sandbox == "no":
            assert r.reload() == "event=config.reload"
        else:
            assert r.reload() == "event=config.reload.failed"
            assert "Permission denied" in r.log_events(
                "config.reload.failed")[-1]["error"]
        r.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_forbidden_syscall_ends_the_daemon(relais_factory):
    """execve is not in the allow list: SIGSYS, one log line naming it,
    and the process ends (killed by SIGSYS)."""
    r = relais_factory(env={"RELAIS_SANDBOX_SELFTEST": "execve"})
    r.start(expect_ready=False)
    wait_until(lambda: r.proc.poll() is not None, 20,
               what="relais to die of SIGSYS")
    assert r.proc.returncode == -signal.SIGSYS, r.run_log()[-2000:]
    v = r.log_events("sandbox.violation")
    assert v, r.run_log()[-2000:]
    nr = EXECVE_NR.get(platform.machine())
    if nr is not None:
        assert v[0]["syscall"] == str(nr)
    assert "event=sandbox.selftest call=execve result=failed" not in r.run_log()
    assert "event=server.ready" not in r.run_log()
