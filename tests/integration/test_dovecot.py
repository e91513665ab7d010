"""Dovecot interoperability (issue 2): Debian's dovecot-imapd reads the
Maildir relais writes, authenticating against the same passwd-file.

Dovecot never runs mail processes as root ("Mail access not allowed for
root"), so when the tests run as root the mailbox owner is the system
account `mail` (or `nobody`):
  - test_imap_fetch_* : relais runs as root (no [server] user); the test
    hands the delivered Maildir to that account (chown), as an install with a
    separate vmail owner would;
  - test_imap_fetch_with_privilege_drop : relais itself drops to that
    account ([server] user), so no chown is needed.
Everything lives in a world-traversable directory under /tmp because
pytest's tmp dirs are 0700 root.
"""

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import DEFAULT_USERS, free_port, message, split_headers

DOVECOT = "/usr/sbin/dovecot"

pytestmark = pytest.mark.skipif(not os.path.exists(DOVECOT), reason="dovecot not installed")


def mail_account():
    if os.getuid() != 0:
        return os.getuid(), os.getgid(), None
    for name in ("mail", "nobody"):
        try:
            pw = pwd.getpwnam(name)
            return pw.pw_uid, pw.pw_gid, name
        except KeyError:
            continue
    pytest.skip("no unprivileged account for Dovecot's mail processes")


@pytest.fixture
def shared_dir():
    d = Path(tempfile.mkdtemp(prefix="relais-dv-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Dovecot:
    def __init__(self, root, users_path, mail_root, uid, gid):
        self.root = root
        self.port = free_port()
        self.run = root / "run"
        self.run.mkdir(parents=True)
        (root / "state").mkdir()
        self.log = root / "dovecot.log"
        self.conf = root / "dovecot.conf"
        self.conf.write_text(f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {self.run}
state_dir = {root}/state
log_path = {self.log}
info_log_path = {self.log}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
# the test logs in with a wrong password, then again with the right one:
# no delay on the failure, and no penalty for the address on the next
# login (anvil's penalty socket closed, see below)
auth_failure_delay = 0
default_internal_user = {"dovecot" if _has("dovecot") else pwd.getpwuid(uid).pw_name}
default_login_user = {"dovenull" if _has("dovenull") else pwd.getpwuid(uid).pw_name}
first_valid_uid = {min(uid, 1000) or 1}
first_valid_gid = 0
mail_location = maildir:{mail_root}/%d/%n
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT username_format=%u {users_path}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {users_path}
  override_fields = uid={uid} gid={gid} home={mail_root}/%d/%n
}}
service auth {{
  user = root
}}
# no authentication penalty per address (Dovecot's brute-force brake)
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace")
                pytest.fail(f"dovecot exited {self.proc.returncode}: {out}\n{self.logtext()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.settimeout(5)
                    if s.recv(200).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"dovecot did not listen within 15 s\n{self.logtext()}")

    def logtext(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(5)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()


def _has(user):
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


@pytest.fixture
def dovecot_factory(shared_dir):
    made = []

    def make(users_path, mail_root, uid, gid):
        d = Dovecot(shared_dir / f"dovecot{len(made)}", users_path, mail_root, uid, gid)
        made.append(d)
        return d.start()
    yield make
    for d in made:
        d.stop()


def hand_over(path, uid, gid):
    """chown -R the delivered tree to the mail account (root runs only)."""
    if os.getuid() != 0:
        return
    for p in [path, *path.rglob("*")]:
        os.chown(p, uid, gid)


def imap_fetch_all(port, user, password):
    m = imaplib.IMAP4("127.0.0.1", port, timeout=15)
    try:
        typ, _ = m.login(user, password)
        assert typ == "OK"
        typ, _ = m.select("INBOX")
        assert typ == "OK"
        typ, data = m.search(None, "ALL")
        assert typ == "OK"
        out = []
        for num in data[0].split():
            typ, fd = m.fetch(num, "(RFC822)")
            assert typ == "OK"
            out.append(fd[0][1])
        return out
    finally:
        try:
            m.logout()
        except Exception:
            pass


def test_imap_fetch_relais_delivery(shared_dir, relais_factory, dovecot_factory, unique):
    uid, gid, _ = mail_account()
    r = relais_factory(root=shared_dir / "relais").start()
    os.chmod(r.root, 0o755)
    tok = unique("imap")
    body = f"Hello over IMAP, {tok}.\r\nSecond line with ümlaut.\r\n"
    sent = message(tok, body=body, extra_headers="Content-Type: text/plain; charset=utf-8\r\n")
    assert r.send("sender@remote.test", ["alice@example.test"], sent.encode()) == {}
    r.maildir_messages("example.test", "alice")

    os.chmod(r.data_dir, 0o755)
    (r.data_dir / "mail").chmod(0o755)
    hand_over(r.data_dir / "mail", uid, gid)
    dv = dovecot_factory(r.users_path, r.data_dir / "mail", uid, gid)

    msgs = imap_fetch_all(dv.port, "alice@example.test", DEFAULT_USERS["alice@example.test"])
    assert len(msgs) == 1, dv.logtext()
    lines, got_body = split_headers(msgs[0])
    assert got_body == split_headers(sent.encode())[1]
    assert f"Subject: test {tok}" in lines
    assert lines[0] == "Return-Path: <sender@remote.test>"
    assert any(ln.lower() == "delivered-to: alice@example.test" for ln in lines)

    # a wrong password is refused by Dovecot reading the same passwd-file
    with pytest.raises(imaplib.IMAP4.error):
        imap_fetch_all(dv.port, "alice@example.test", "wrong-password")

    # new mail delivered while Dovecot has the mailbox indexed shows up too
    tok2 = unique("imap2")
    assert r.send("sender@remote.test", ["alice@example.test"],
                  message(tok2).encode()) == {}
    r.maildir_messages("example.test", "alice", count=2)
    hand_over(r.data_dir / "mail", uid, gid)
    msgs = imap_fetch_all(dv.port, "alice@example.test", DEFAULT_USERS["alice@example.test"])
    assert len(msgs) == 2
    assert sum(tok2.encode() in m for m in msgs) == 1


def test_imap_fetch_other_domain_user(shared_dir, relais_factory, dovecot_factory, unique):
    uid, gid, _ = mail_account()
    r = relais_factory(root=shared_dir / "relais").start()
    os.chmod(r.root, 0o755)
    tok = unique("dave")
    assert r.send("s@remote.test", ["Dave@Other.Test"], message(tok).encode()) == {}
    r.maildir_messages("other.test", "dave")
    os.chmod(r.data_dir, 0o755)
    (r.data_dir / "mail").chmod(0o755)
    hand_over(r.data_dir / "mail", uid, gid)
    dv = dovecot_factory(r.users_path, r.data_dir / "mail", uid, gid)
    msgs = imap_fetch_all(dv.port, "dave@other.test", DEFAULT_USERS["dave@other.test"])
    assert len(msgs) == 1 and tok.encode() in msgs[0], dv.logtext()


def test_imap_fetch_with_privilege_drop(shared_dir, relais_factory, dovecot_factory, unique):
    uid, gid, name = mail_account()
    if name is None:
        pytest.skip("privilege drop needs root")
    root = shared_dir / "relais"
    root.mkdir()
    os.chmod(root, 0o755)
    r = relais_factory(root=root, overrides={"server": {"user": name}})
    for p in (r.data_dir, r.users_path, r.aliases_path):
        os.chown(p, uid, gid)
    r.start()
    tok = unique("dropped")
    assert r.send("s@remote.test", ["bob@example.test"], message(tok).encode()) == {}
    [raw] = r.maildir_messages("example.test", "bob")
    f = r.maildir_files("example.test", "bob")[0]
    assert f.stat().st_uid == uid, "delivered file not owned by the [server] user"
    dv = dovecot_factory(r.users_path, r.data_dir / "mail", uid, gid)
    msgs = imap_fetch_all(dv.port, "bob@example.test", DEFAULT_USERS["bob@example.test"])
    assert len(msgs) == 1 and tok.encode() in msgs[0], dv.logtext()
