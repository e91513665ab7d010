"""relais reload (issue 15, part 4): the command finds the daemon through
DATA_DIR/relais.pid, sends SIGHUP and reports what the daemon made of it
(DATA_DIR/reload.status): exit 0 and what changed, or exit 1 and the
FILE:LINE error of a refused configuration, or exit 2 when no daemon runs.

- under load: SMTP clients send continuously over several sessions at
  once while the configuration is reloaded 20 times (two valid files
  that differ in a limit and in the aliases file): no session fails,
  every message answered 250 is in the mailbox, 20 reloads reported ok;
- broken files (syntax, unknown key, missing certificate, shaping file
  with a bad regular expression) are refused, each logged once, and the
  daemon goes on with the settings it had;
- a new user can AUTH, a new alias routes, a new certificate is served on
  STARTTLS (its serial number) after a reload;
- a changed shaping file applies to the next delivery;
- keys that only a restart applies are named in a warning.
"""

import base64
import re
import subprocess
import threading
import time

import pytest

from conftest import (HOST, SMTPConn, message, tls_client_context, tls_conn,
                      tls_listeners, users_file_text, DEFAULT_USERS,
                      DEFAULT_ALIASES, wait_until)
from shaping_util import *  # noqa: F401,F403 (the shaping fixture)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SENDER = "load@remote.test"


def reload_cmd(r, timeout=30):
    p = r.cli("reload", "-c", str(r.conf_path), timeout=timeout)
    assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr
    return p


def plain(user, password):
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


# --------------------------------------------------------------------------
# (a) under load


class LoadClients:
    """`n` threads, each opening SMTP sessions one after the other and
    sending `per_session` messages to alice@example.test in each, until
    stop() (or their bounds). acked: tokens answered 250; failures: what
    went wrong (exceptions, unexpected replies), with the transcript."""

    def __init__(self, port, n=4, per_session=5, max_sessions=400, deadline=60):
        self.port = port
        self.per_session = per_session
        self.max_sessions = max_sessions
        self.deadline = time.monotonic() + deadline
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.acked = []
        self.failures = []
        self.sessions = 0
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(n)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(60)
        assert not any(t.is_alive() for t in self.threads), "a client hangs"

    def session(self, idx, s):
        c = SMTPConn(self.port, timeout=20)
        try:
            c.check(c.greeting, 220)
            c.ehlo()
            for k in range(self.per_session):
                tok = f"load-{idx}-{s}-{k}-{time.monotonic_ns()}"
                c.expect(f"MAIL FROM:<{SENDER}>", 250)
                c.expect("RCPT TO:<alice@example.test>", 250)
                c.expect("DATA", 354)
                c.send(message(tok, sender=SENDER).encode() + b".\r\n")
                c.expect(None, 250)
                with self.lock:
                    self.acked.append(tok)
            c.expect("QUIT", 221)
        except Exception as e:
            with self.lock:
                self.failures.append(f"client {idx} session {s}: {e!r}\n"
                                     f"{c.transcript()}")
        finally:
            c.close()

    def run(self, idx):
        for s in range(self.max_sessions):
            if self.stopping.is_set() or time.monotonic() > self.deadline:
                return
            self.session(idx, s)
            with self.lock:
                self.sessions += 1


def test_reload_under_load(relais_factory):
    r = relais_factory()
    other = r.root / "aliases-b"
    other.write_text(DEFAULT_ALIASES + "sales@example.test: bob@example.test\n")
    configs = [
        {"limits": {"max_recipients": "5"},
         "local": {"aliases": str(r.aliases_path)}},
        {"limits": {"max_recipients": "6"},
         "local": {"aliases": str(other)}},
    ]
    r.write_config(overrides=configs[0])
    r.start()
    load = LoadClients(r.port).start()
    try:
        wait_until(lambda: len(load.acked) >= 20, 30, what="load to start")
        outs = []
        for i in range(20):
            r.write_config(overrides=configs[(i + 1) % 2])
            p = reload_cmd(r)
            outs.append(p)
            assert p.returncode == 0, f"reload {i}: {p.stdout}{p.stderr}"
            time.sleep(0.05)
        # keep sending a little after the last reload
        n = len(load.acked)
        wait_until(lambda: len(load.acked) >= n + 10, 30, what="load after reloads")
    finally:
        load.stop()
    assert load.failures == [], "\n\n".join(load.failures[:3])
    for i, p in enumerate(outs):
        assert p.stdout.startswith(f"reload ok: {r.conf_path}\n"), p.stdout
        assert "changed: local.aliases,limits.max_recipients\n" in p.stdout, p.stdout
        assert p.stderr == "", p.stderr
    assert len(r.log_events("config.reload")) == 20
    assert r.log_events("config.reload.failed") == []
    # every message answered 250 is in the mailbox, once
    acked = set(load.acked)
    assert len(acked) == len(load.acked)
    wait_until(lambda: len(r.maildir_files("example.test", "alice")) >= len(acked),
               60, what=f"{len(acked)} messages delivered")
    got = set()
    for f in r.maildir_files("example.test", "alice"):
        m = re.search(rb"Message-ID: <(load-[^@>]+)@remote\.test>", f.read_bytes())
        assert m, f
        got.add(m.group(1).decode())
    assert got == acked, (f"{len(acked - got)} acknowledged not delivered, "
                          f"{len(got - acked)} delivered not acknowledged")
    print(f"{load.sessions} sessions, {len(acked)} messages, 20 reloads")


# --------------------------------------------------------------------------
# (b) broken configurations are refused


LOCAL_RCPTS = ["alice@example.test", "bob@example.test", "carol@example.test",
               "dave@other.test", "info@example.test"]


def rcpt_limit_holds(r, n):
    """the (n+1)th RCPT of a transaction is refused, the nth accepted"""
    c = r.conn()
    c.ehlo()
    c.expect(f"MAIL FROM:<{SENDER}>", 250)
    for rcpt in LOCAL_RCPTS[:n]:
        c.expect(f"RCPT TO:<{rcpt}>", 250)
    c.expect(f"RCPT TO:<{LOCAL_RCPTS[n]}>", 452)
    c.expect("QUIT", 221)


def test_bad_config_refused(relais_factory, tls_files):
    r = relais_factory()
    shaping = r.root / "shaping.conf"
    shaping.write_text("[site big]\nmatch = big.test\n"
                       "[backoff slow]\nmatch = ^421 .*rate\n")
    over = tls_listeners(r, tls_files, implicit=False)
    over["relay"] = {"trusted_networks": "127.0.0.0/8", "shaping": str(shaping)}
    over["limits"] = {"max_recipients": "3"}
    r.write_config(overrides=over)
    r.start()
    good = r.config_text()
    # what a broken file would change if it were taken: the limit
    changed = {**over, "limits": {"max_recipients": "7"}}
    text = r.config_text(changed)
    lines = text.count("\n")
    missing = dict(changed, tls={"certificate": str(r.root / "nope.crt"),
                                 "key": str(tls_files["main"][1])})
    cases = [
        ("syntax", text + "this is not a key\n", None,
         rf"^{re.escape(str(r.conf_path))}:{lines + 1}: expected 'key = value'"),
        ("unknown key", text.replace("[limits]\n", "[limits]\nmax_hops = 3\n"), None,
         rf"^{re.escape(str(r.conf_path))}:\d+: unknown key 'max_hops' in \[limits\]"),
        ("missing certificate", r.config_text(missing), None,
         rf"{re.escape(str(r.root / 'nope.crt'))}.*(No such file|cannot)"),
        ("bad regex", text, "[backoff slow]\nmatch = ^421 (rate\n",
         rf"^{re.escape(str(shaping))}:2: match: bad regular expression"),
    ]
    for name, conf_text, shaping_text, want in cases:
        off = r.log_offset()
        r.write_config(text=conf_text)
        if shaping_text is not None:
            old_shaping = shaping.read_text()
            shaping.write_text(shaping_text)
        p = reload_cmd(r)
        assert p.returncode == 1, f"{name}: {p.returncode} {p.stdout}{p.stderr}"
        first = p.stderr.splitlines()[0]
        assert re.search(want, first), f"{name}: {p.stderr}"
        assert "reload refused" in p.stderr, p.stderr
        fails = r.log_events("config.reload.failed", since=off)
        assert len(fails) == 1, f"{name}: {fails}"
        assert fails[0]["error"] == first, (fails, first)
        assert r.log_events("config.reload", since=off) == []
        assert r.running()
        # the running configuration stays: 3 recipients, not 7
        rcpt_limit_holds(r, 3)
        if shaping_text is not None:
            shaping.write_text(old_shaping)
    # the good file again: taken, nothing changed
    r.write_config(text=good)
    p = reload_cmd(r)
    assert p.returncode == 0, p.stderr
    assert "changed: nothing" in p.stdout, p.stdout
    # and a message still goes through end to end
    c = r.conn()
    c.ehlo()
    c.expect(f"MAIL FROM:<{SENDER}>", 250)
    c.expect("RCPT TO:<bob@example.test>", 250)
    c.expect("DATA", 354)
    c.send(message("after-bad", sender=SENDER, to="bob@example.test").encode() + b".\r\n")
    c.expect(None, 250)
    r.maildir_messages("example.test", "bob")


def test_no_daemon_and_usage(relais_factory):
    r = relais_factory()
    p = reload_cmd(r)
    assert p.returncode == 2, p.stderr
    assert "not running" in p.stderr, p.stderr
    p = r.cli("reload", "extra", "-c", str(r.conf_path))
    assert p.returncode == 2 and "usage: relais reload" in p.stderr, p.stderr
    # a pid file left by a daemon that is gone (its number now someone
    # else's: ours) is not a running daemon
    (r.data_dir / "relais.pid").write_text(f"{subprocess.os.getpid()}\n")
    p = reload_cmd(r)
    assert p.returncode == 2, p.stderr
    (r.data_dir / "relais.pid").unlink()
    # the daemon's own pid file: there while it runs, gone after
    r.start()
    assert (r.data_dir / "relais.pid").read_text() == f"{r.pid}\n"
    r.stop()
    assert not (r.data_dir / "relais.pid").exists()
    assert not (r.data_dir / "reload.status").exists()


# --------------------------------------------------------------------------
# (c) users, aliases and certificates


def serial_of_pem(path):
    out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", str(path)],
                         capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.strip()


def serial_of_der(der):
    out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-inform", "DER"],
                         input=der, capture_output=True, timeout=30, check=True)
    return out.stdout.decode().strip()


def starttls_serial(r):
    c = tls_conn(r.sub_port, ctx=tls_client_context())
    serial = serial_of_der(c.sock.getpeercert(binary_form=True))
    c.expect("QUIT", 221)
    c.close()
    return serial


def auth_code(r, user, password):
    c = tls_conn(r.sub_port, ctx=tls_client_context())
    rep = c.cmd(f"AUTH PLAIN {plain(user, password)}")
    c.close()
    return rep.code


def test_users_aliases_certificate_follow_reload(relais_factory, tls_files):
    r = relais_factory()
    over = tls_listeners(r, tls_files, implicit=False)
    r.write_config(overrides=over)
    r.start()
    main_serial = serial_of_pem(tls_files["main"][0])
    new_serial = serial_of_pem(tls_files["sni"][0])
    assert main_serial != new_serial
    assert starttls_serial(r) == main_serial
    assert auth_code(r, "erin@example.test", "erin-secret") == 535
    c = r.conn()
    c.ehlo()
    c.expect(f"MAIL FROM:<{SENDER}>", 250)
    c.expect("RCPT TO:<sales@example.test>", 550)
    c.expect("QUIT", 221)
    # a session opened before the reload goes on with what it had
    before = tls_conn(r.sub_port, ctx=tls_client_context())

    users = dict(DEFAULT_USERS, **{"erin@example.test": "erin-secret"})
    r.users_path.write_text(users_file_text(users))
    r.aliases_path.write_text(DEFAULT_ALIASES + "sales@example.test: bob@example.test\n")
    crt, key = tls_files["sni"]
    over["tls"] = {"certificate": str(crt), "key": str(key)}
    r.write_config(overrides=over)
    p = reload_cmd(r)
    assert p.returncode == 0, p.stderr
    assert "changed: tls.certificate,tls.key\n" in p.stdout, p.stdout

    assert starttls_serial(r) == new_serial
    assert auth_code(r, "erin@example.test", "erin-secret") == 235
    c = r.conn()
    c.ehlo()
    c.expect(f"MAIL FROM:<{SENDER}>", 250)
    c.expect("RCPT TO:<sales@example.test>", 250)
    c.expect("DATA", 354)
    c.send(message("alias-new", sender=SENDER, to="sales@example.test").encode()
           + b".\r\n")
    c.expect(None, 250)
    c.expect("QUIT", 221)
    assert b"alias-new" in r.maildir_messages("example.test", "bob")[0]
    before.expect("NOOP", 250)
    before.expect("QUIT", 221)


# --------------------------------------------------------------------------
# (d) the shaping file


def test_shaping_file_follows_reload(shaping, unique):
    shaping.mx("split.test", "127.0.0.7")
    sink = shaping.sink("127.0.0.7")
    rules = "[site split]\nmatch = split.test\nmax_recipients_per_message = {}\n"
    r = shaping.relais(shaping_file=rules.format(10))
    path = shaping.tmp_path / "shaping.conf"
    rcpts = [f"r{i}@split.test" for i in range(4)]

    def send(tok):
        submit_many(r.port, [("alice@example.test", rcpts,
                              f"From: <alice@example.test>\r\nSubject: {tok}\r\n"
                              f"Message-ID: <{tok}@example.test>\r\n\r\n{tok}\r\n")],
                    conns=1)

    send(unique("one"))
    sink.wait_count(1, timeout=20)
    assert len(sink.messages[0].rcpts) == 4
    path.write_text(rules.format(2))
    p = reload_cmd(r)
    assert p.returncode == 0, p.stderr
    assert "site[split].max_recipients_per_message" in p.stdout, p.stdout
    send(unique("two"))
    sink.wait_count(3, timeout=20)
    time.sleep(0.3)
    assert sink.count() == 3, sink.messages
    assert [len(m.rcpts) for m in sink.messages[1:]] == [2, 2]


# --------------------------------------------------------------------------
# keys that need a restart


def test_restart_keys_named(relais_factory):
    r = relais_factory()
    r.start()
    over = {"server": {"threads": "3"},
            "dns": {"timeout": "3s"},
            "limits": {"max_recipients": "9"}}
    r.write_config(overrides=over)
    p = reload_cmd(r)
    assert p.returncode == 0, p.stderr
    assert "changed: server.threads,limits.max_recipients,dns.timeout\n" in p.stdout, \
        p.stdout
    assert ("warning: these keys keep their start values until relais serve is"
            " restarted: server.threads,dns.timeout") in p.stderr, p.stderr
    ev = r.log_events("config.reload")[-1]
    assert ev["level"] == "warning" and ev["restart_needed"] == \
        "server.threads,dns.timeout", ev
    # a later reload names them again: they still differ from the start
    p = reload_cmd(r)
    assert "changed: nothing" in p.stdout and "server.threads" in p.stderr, p
