"""SMTP AUTH through Dovecot's auth service (issue 15, part 3): relais with
[auth] backend = dovecot against Debian's real Dovecot, started here with
a minimal config (no mail protocols, only the auth-client socket, a
passwd-file passdb).

Dovecot's users are not relais's: relais's own users file keeps other
passwords, so a 235 proves the answer came from Dovecot. Covered: PLAIN
and LOGIN (relais decodes LOGIN and asks Dovecot with PLAIN), mail
accepted and delivered after it, wrong password and unknown user (535,
counted for auth_failures_per_ip), a user Dovecot refuses with
`nologin`, the identity Dovecot returns (user=) used for
sender_login_check, plaintext AUTH on loopback (`secured`), Dovecot
stopped (454 and one event=auth.dovecot line per attempt, not counted
as a failure) and started again, and a socket that never answers or
speaks something else (454 within dovecot_timeout).

Dovecot's processes run as its own accounts, so its files live in a
world-traversable directory under /tmp (pytest's tmp dirs are 0700).
"""

import base64
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import message, tls_conn, tls_listeners

DOVECOT = "/usr/sbin/dovecot"

pytestmark = pytest.mark.skipif(not os.path.exists(DOVECOT),
                                reason="dovecot not installed")

# Dovecot's users: none of these passwords is in relais's users file
DV_USERS = {
    "alice@example.test": "{PLAIN}dv-alice",
    "erin@example.test": "{PLAIN}dv-erin",
    # a user whose password is right but who may not log in
    "frank@example.test": "{PLAIN}dv-frank::::::nologin",
}


def plain(user, pw):
    return base64.b64encode(f"\0{user}\0{pw}".encode()).decode()


def b64(s):
    return base64.b64encode(s.encode()).decode()


def _account(name, fallback):
    try:
        pwd.getpwnam(name)
        return name
    except KeyError:
        return fallback


class Dovecot:
    """A Dovecot with only its auth service and one auth-client socket."""

    def __init__(self, root):
        self.root = root
        self.socket = root / "auth-client"
        self.log = root / "dovecot.log"
        self.conf = root / "dovecot.conf"
        users = root / "users"
        users.write_text("".join(
            f"{u}:{p}\n" if "::" in p else f"{u}:{p}::::::\n"
            for u, p in DV_USERS.items()))
        me = pwd.getpwuid(os.getuid()).pw_name
        (root / "run").mkdir()
        (root / "state").mkdir()
        self.conf.write_text(f"""\
protocols = none
base_dir = {root}/run
state_dir = {root}/state
log_path = {self.log}
info_log_path = {self.log}
ssl = no
auth_mechanisms = plain login
default_internal_user = {_account("dovecot", me)}
default_login_user = {_account("dovenull", me)}
passdb {{
  driver = passwd-file
  args = username_format=%u {users}
}}
userdb {{
  driver = static
  args = uid={os.getuid()} gid={os.getgid()} home={root}/home
}}
service auth {{
  user = {me}
  unix_listener {self.socket} {{
    mode = 0666
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
            if self.answers():
                return self
            time.sleep(0.1)
        pytest.fail(f"dovecot's auth socket did not answer within 15 s\n{self.logtext()}")

    def answers(self):
        """The socket gives a handshake ending in DONE."""
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(str(self.socket))
                s.sendall(b"VERSION\t1\t2\nCPID\t1\n")
                got = b""
                while b"\nDONE\n" not in got:
                    chunk = s.recv(4096)
                    if not chunk:
                        return False
                    got += chunk
                return True
        except OSError:
            return False

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
        self.proc = None


@pytest.fixture
def dovecot():
    root = Path(tempfile.mkdtemp(prefix="relais-dva-", dir="/tmp"))
    os.chmod(root, 0o755)
    d = Dovecot(root)
    yield d.start()
    d.stop()
    shutil.rmtree(root, ignore_errors=True)


def relais_with(relais_factory, tls_files, socket_path, auth=None, limits=None):
    r = relais_factory()
    over = tls_listeners(r, tls_files)
    over["auth"] = {"backend": "dovecot", "dovecot_socket": str(socket_path),
                    **(auth or {})}
    if limits:
        over["limits"] = limits
    r.write_config(overrides=over)
    return r.start()


def sub(r, implicit=False, **kw):
    c = tls_conn(r.tls_port if implicit else r.sub_port, implicit=implicit, **kw)
    r.conns.append(c)
    return c


def test_plain_and_login_then_mail_is_delivered(relais_factory, tls_files, dovecot, unique):
    r = relais_with(relais_factory, tls_files, dovecot.socket)
    # AUTH PLAIN with Dovecot's password; relais's own is refused
    c = sub(r)
    assert "AUTH PLAIN LOGIN" in c.ehlo().texts
    c.expect(f"AUTH PLAIN {plain('alice@example.test', 'alice-secret')}", 535, "5.7.8")
    c.expect(f"AUTH PLAIN {plain('alice@example.test', 'dv-alice')}", 235, "2.7.0")
    tok = unique("dva")
    c.expect("MAIL FROM:<alice@example.test>", 250)
    c.expect("RCPT TO:<bob@example.test>", 250)
    c.expect("DATA", 354)
    c.send(message(tok, sender="alice@example.test", to="bob@example.test") + ".\r\n")
    c.expect(None, 250)
    [raw] = r.maildir_messages("example.test", "bob")
    assert tok.encode() in raw
    r.wait_log(r"event=auth\.success .*user=alice@example\.test")

    # AUTH LOGIN, with the user name as initial response and without
    c = sub(r, implicit=True)
    rep = c.expect("AUTH LOGIN", 334)
    assert base64.b64decode(rep.texts[0]) == b"Username:"
    c.expect(b64("erin@example.test"), 334)
    c.expect(b64("dv-erin"), 235)
    c.expect("MAIL FROM:<erin@example.test>", 250)
    c = sub(r)
    c.expect(f"AUTH LOGIN {b64('erin@example.test')}", 334)
    c.expect(b64("wrong"), 535, "5.7.8")
    # no Dovecot problem was logged
    assert r.log_events("auth.dovecot") == []


def test_wrong_passwords_count_for_the_ban(relais_factory, tls_files, dovecot):
    r = relais_with(relais_factory, tls_files, dovecot.socket,
                    limits={"auth_failures_per_ip": "3", "auth_ban_time": "1h"})
    c = tls_conn(r.tls_port, implicit=True, source="127.0.0.2")
    r.conns.append(c)
    c.expect(f"AUTH PLAIN {plain('alice@example.test', 'guess')}", 535, "5.7.8")
    c.expect(f"AUTH PLAIN {plain('nobody@example.test', 'x')}", 535, "5.7.8")
    # right password, but Dovecot says nologin: refused all the same
    c.expect(f"AUTH PLAIN {plain('frank@example.test', 'dv-frank')}", 535, "5.7.8")
    rep = c.reply()
    assert rep.code == 421 and rep.enhanced == "4.7.0", rep
    assert c.wait_closed(5)
    r.wait_log(r"event=limit\.auth_failures_per_ip client=127\.0\.0\.2 ")
    assert len(r.log_events("auth.failed")) == 3
    # others are served
    o = sub(r, implicit=True, source="127.0.0.3")
    o.expect(f"AUTH PLAIN {plain('alice@example.test', 'dv-alice')}", 235)


def test_sender_login_check_with_dovecot_identity(relais_factory, tls_files, dovecot):
    r = relais_with(relais_factory, tls_files, dovecot.socket)
    c = sub(r)
    # Dovecot lower-cases the name (auth_username_format = %Lu) and
    # returns it as user=: that is who the client is from now on
    c.expect(f"AUTH PLAIN {plain('Erin@Example.TEST', 'dv-erin')}", 235)
    r.wait_log(r"event=auth\.success .*user=erin@example\.test login=Erin@Example\.TEST")
    c.expect("MAIL FROM:<bob@example.test>", 553, "5.7.1")
    c.expect("MAIL FROM:<erin@example.test>", 250)
    c.expect("RSET", 250)
    # aliases of relais's aliases file pointing at the Dovecot user
    c = sub(r)
    c.expect(f"AUTH PLAIN {plain('alice@example.test', 'dv-alice')}", 235)
    c.expect("MAIL FROM:<info@example.test>", 250)
    c.expect("RSET", 250)
    c.expect("MAIL FROM:<erin@example.test>", 553, "5.7.1")
    r.wait_log(r"event=auth\.sender_mismatch .*user=alice@example\.test")


def test_plaintext_on_loopback_is_secured(relais_factory, tls_files, dovecot):
    # Dovecot refuses plaintext PLAIN unless the request says `secured`
    # (disable_plaintext_auth = yes, its default): relais says so for
    # loopback clients, whom allow_plaintext_loopback lets in
    r = relais_with(relais_factory, tls_files, dovecot.socket,
                    auth={"allow_plaintext_loopback": "yes"})
    c = r.conn()
    assert "AUTH PLAIN LOGIN" in c.ehlo().texts
    c.expect(f"AUTH PLAIN {plain('alice@example.test', 'dv-alice')}", 235)


def test_dovecot_down_is_a_temporary_failure(relais_factory, tls_files, dovecot):
    r = relais_with(relais_factory, tls_files, dovecot.socket,
                    limits={"auth_failures_per_ip": "1", "auth_ban_time": "1h"})
    dovecot.stop()
    c = sub(r)
    for _ in range(2):
        c.expect(f"AUTH PLAIN {plain('alice@example.test', 'dv-alice')}", 454, "4.7.0")
    lines = r.log_events("auth.dovecot")
    assert len(lines) == 2, lines
    assert lines[0]["error"].startswith("connect: "), lines[0]
    assert lines[0]["socket"] == str(dovecot.socket)
    # not an authentication failure: no ban with a limit of 1
    assert r.log_events("auth.failed") == []
    c.expect("NOOP", 250)
    # back: the next attempt connects again
    dovecot.start()
    c.expect(f"AUTH PLAIN {plain('alice@example.test', 'dv-alice')}", 235)


class FakeAuthServer:
    """A unix socket that accepts and then sends `reply` (or nothing)."""

    def __init__(self, path, reply=None):
        self.path = str(path)
        self.reply = reply
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.conns = []
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)
            if self.reply is not None:
                try:
                    conn.sendall(self.reply)
                except OSError:
                    pass

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def fake_dir():
    d = Path(tempfile.mkdtemp(prefix="relais-dvf-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("reply,error", [
    (None, "timed out"),
    (b"220 lmtp.example LMTP ready\r\n", "not a Dovecot auth-client socket"),
    (b"VERSION\t1\t2\nMECH\tLOGIN\nDONE\n", "Dovecot does not offer PLAIN"),
    (b"VERSION\t1\t2\nMECH\tPLAIN\nDONE\nFAIL\t1\tcode=temp_fail\n", "temporary failure"),
])
def test_bad_or_silent_socket(relais_factory, tls_files, fake_dir, reply, error):
    fake = FakeAuthServer(fake_dir / "auth", reply)
    try:
        r = relais_with(relais_factory, tls_files, fake.path,
                        auth={"dovecot_timeout": "1s"})
        c = sub(r)
        t0 = time.monotonic()
        c.expect(f"AUTH PLAIN {plain('alice@example.test', 'dv-alice')}", 454, "4.7.0",
                 timeout=15)
        assert time.monotonic() - t0 < 10
        [line] = r.log_events("auth.dovecot")
        assert line["error"].startswith(error), line
        # the session goes on
        c.expect("NOOP", 250)
    finally:
        fake.stop()


def test_stop_during_a_check(relais_factory, tls_files, fake_dir):
    # SIGTERM while a check waits on a silent socket: relais answers or
    # closes, exits 0 within the check's deadline, and frees everything
    # (the teardown looks for sanitizer reports)
    fake = FakeAuthServer(fake_dir / "auth")
    try:
        r = relais_with(relais_factory, tls_files, fake.path,
                        auth={"dovecot_timeout": "3s"})
        c = sub(r)
        c.send(f"AUTH PLAIN {plain('alice@example.test', 'dv-alice')}\r\n")
        wait = time.monotonic() + 5
        while not fake.conns and time.monotonic() < wait:
            time.sleep(0.05)
        assert fake.conns, "relais did not connect"
        t0 = time.monotonic()
        assert r.stop() == 0
        assert time.monotonic() - t0 < 10
    finally:
        fake.stop()
