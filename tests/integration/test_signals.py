"""Signals: SIGHUP reloads the config keeping connections; a bad config is
refused and the old one kept; SIGTERM stops gracefully (issue 2, item 8)."""

import signal
import time

import pytest

from conftest import SMTPClosed, message


def rcpt_many(c, n, domain="example.test", prefix="u"):
    c.expect("MAIL FROM:<s@remote.test>", 250)
    codes = [c.cmd(f"RCPT TO:<{prefix}{i}@{domain}>").code for i in range(n)]
    c.expect("RSET", 250)
    return codes


def fresh(r):
    c = r.conn()
    c.ehlo()
    return c


def no_users(**kw):
    return dict(users=None, aliases=None, **kw)


def test_sighup_changes_max_recipients(relais_factory, unique):
    r = relais_factory(**no_users()).start()
    old = r.conn()
    old.ehlo()
    assert rcpt_many(fresh(r), 6) == [250] * 5 + [452]

    r.write_config(overrides={"limits": {"max_recipients": "2"}})
    assert r.reload() == "event=config.reload"
    assert r.running()

    c = r.conn()
    c.ehlo()
    assert rcpt_many(c, 3) == [250, 250, 452]

    # the connection opened before the reload still works end to end
    tok = unique("oldconn")
    old.expect("MAIL FROM:<s@remote.test>", 250)
    old.expect("RCPT TO:<keeper@example.test>", 250)
    old.expect("DATA", 354)
    old.send(message(tok).encode() + b".\r\n")
    old.expect(None, 250)
    old.expect("QUIT", 221)
    assert tok.encode() in r.maildir_messages("example.test", "keeper")[0]


def test_sighup_adds_local_domain(relais_factory, unique):
    # no trusted network covers 127.0.0.1 here, so a non-local domain is
    # refused as relaying; after the reload it is local and delivered
    r = relais_factory(**no_users(overrides={"relay": {"trusted_networks": "192.0.2.0/24"}}))
    r.start()
    old = r.conn()
    old.ehlo()
    c = r.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    rep = c.cmd("RCPT TO:<newbie@new.test>")
    assert 500 <= rep.code < 600, f"relaying to new.test allowed before reload: {rep}"
    c.expect("QUIT", 221)

    r.domains = "example.test other.test new.test"
    r.write_config()
    assert r.reload() == "event=config.reload"

    tok = unique("newdomain")
    assert r.send("s@remote.test", ["newbie@new.test"], message(tok, to="newbie@new.test")) == {}
    [raw] = r.maildir_messages("new.test", "newbie")
    assert tok.encode() in raw

    # the old connection is still alive
    old.expect("NOOP", 250)
    old.expect("MAIL FROM:<s@remote.test>", 250)
    old.expect("RCPT TO:<x@example.test>", 250)
    old.expect("QUIT", 221)


def test_sighup_rereads_users_file(relais, unique):
    c = relais.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RCPT TO:<erin@example.test>", 550, "5.1.1")
    c.expect("QUIT", 221)
    from conftest import users_file_text
    users = dict(relais.users)
    users["erin@example.test"] = "erin-secret"
    relais.users_path.write_text(users_file_text(users))
    assert relais.reload() == "event=config.reload"
    tok = unique("erin")
    assert relais.send("s@remote.test", ["erin@example.test"], message(tok)) == {}
    assert tok.encode() in relais.maildir_messages("example.test", "erin")[0]


@pytest.mark.parametrize("bad", [
    "[server]\nhostname = mx.test\nbogus_key = 1\n",
    "this is not ini at all\n",
    None,  # a bad value in an otherwise valid config
])
def test_sighup_bad_config_keeps_old(relais_factory, bad):
    r = relais_factory(**no_users()).start()
    if bad is None:
        bad = r.config_text({"limits": {"max_recipients": "2", "max_message_size": "lots"}})
    r.write_config(text=bad)
    assert r.reload() == "event=config.reload.failed"
    time.sleep(0.3)
    assert r.running(), "daemon died on a bad config reload"
    # old limits still apply, the listener still answers
    c = r.conn()
    c.ehlo()
    assert rcpt_many(c, 6) == [250] * 5 + [452]
    # a good config afterwards is taken
    r.write_config(overrides={"limits": {"max_recipients": "3"}})
    assert r.reload() == "event=config.reload"
    c2 = r.conn()
    c2.ehlo()
    assert rcpt_many(c2, 4) == [250, 250, 250, 452]


def test_sighup_repeated(relais_factory):
    r = relais_factory(**no_users()).start()
    for i in range(5):
        r.write_config(overrides={"limits": {"max_recipients": str(2 + i % 2)}})
        assert r.reload() == "event=config.reload"
    c = r.conn()
    c.ehlo()
    assert rcpt_many(c, 4) == [250, 250, 452, 452]


def test_sigterm_idle_session_gets_421_and_exit_0(relais):
    c = relais.conn()
    c.ehlo()
    c2 = relais.conn()  # not even EHLO yet
    t0 = time.monotonic()
    relais.signal(signal.SIGTERM)
    r = c.reply(timeout=15)
    c.check(r, 421, "4.3.2")
    assert c.wait_closed(10)
    r2 = c2.reply(timeout=15)
    c2.check(r2, 421, "4.3.2")
    relais.proc.wait(20)
    assert relais.proc.returncode == 0, relais.run_log()[-2000:]
    assert time.monotonic() - t0 < 20
    relais.stop()  # records the exit status for the teardown check


def test_sigterm_no_sessions_exit_0(relais):
    t0 = time.monotonic()
    assert relais.stop(timeout=15) == 0
    assert time.monotonic() - t0 < 10
    # listener closed
    with pytest.raises(OSError):
        relais.conn(timeout=2)


def test_sigterm_lets_data_finish(relais, unique):
    tok = unique("inflight")
    c = relais.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send(f"Subject: {tok}\r\n\r\nfirst half\r\n".encode())
    time.sleep(0.2)
    relais.signal(signal.SIGTERM)
    time.sleep(0.5)
    c.send(b"second half\r\n.\r\n")
    try:
        r = c.reply(15)
    except SMTPClosed:
        pytest.fail("session in DATA was cut off by SIGTERM\n" + c.transcript())
    c.check(r, 250)
    relais.proc.wait(20)
    assert relais.proc.returncode == 0
    relais.stop()
    # acknowledged before the stop: delivered now or after the restart
    if not relais.find_token(tok):
        relais.start()
    hits = relais.find_token(tok, timeout=10)
    assert len(hits) == 1, "message acknowledged during shutdown was lost"


def test_sigterm_then_restart_same_data_dir(relais, unique):
    tok = unique("persist")
    assert relais.send("s@remote.test", ["bob@example.test"], message(tok)) == {}
    relais.maildir_messages("example.test", "bob")
    relais.stop()
    relais.start()
    tok2 = unique("persist2")
    assert relais.send("s@remote.test", ["bob@example.test"], message(tok2)) == {}
    msgs = relais.maildir_messages("example.test", "bob", count=2)
    assert len(msgs) == 2
    time.sleep(0.3)
    assert len(relais.find_token(tok)) == 1, "message redelivered after restart"


def test_sigterm_under_load_loses_nothing(relais, unique):
    """SIGTERM while 5 sessions send: exit 0; every acknowledged message is
    delivered (now or after a restart), none twice."""
    import smtplib
    import threading
    from conftest import CLIENT_NAME, HOST

    acked, lock = [], threading.Lock()
    stop_at = time.monotonic() + 30

    def worker(w):
        try:
            s = smtplib.SMTP(HOST, relais.port, local_hostname=CLIENT_NAME, timeout=15)
        except OSError:
            return
        for i in range(200):
            if time.monotonic() > stop_at:
                break
            tok = unique(f"load{w}")
            try:
                s.sendmail("l@remote.test", ["alice@example.test"], message(tok))
            except (OSError, smtplib.SMTPException):
                break
            with lock:
                acked.append(tok)
        try:
            s.close()
        except Exception:
            pass

    ts = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(5)]
    for t in ts:
        t.start()
    deadline = time.monotonic() + 20
    while len(acked) < 30 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(acked) >= 30
    relais.signal(signal.SIGTERM)
    for t in ts:
        t.join(40)
    assert not any(t.is_alive() for t in ts)
    relais.proc.wait(30)
    assert relais.proc.returncode == 0, relais.run_log()[-2000:]
    relais.stop()
    relais.start()
    want = set(acked)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        blobs = [p.read_bytes() for p in relais.all_mail_files()]
        if all(any(t.encode() in b for b in blobs) for t in want):
            break
        time.sleep(0.25)
    time.sleep(0.5)
    blobs = [p.read_bytes() for p in relais.all_mail_files()]
    counts = {t: sum(t.encode() in b for b in blobs) for t in want}
    lost = [t for t, n in counts.items() if n == 0]
    dup = [t for t, n in counts.items() if n > 1]
    assert not lost, f"{len(lost)} of {len(want)} acknowledged messages lost"
    assert not dup, f"{len(dup)} messages delivered twice"


def test_sighup_rereads_aliases_file(relais, unique):
    c = relais.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RCPT TO:<sales@example.test>", 550, "5.1.1")
    c.expect("QUIT", 221)
    relais.aliases_path.write_text(relais.aliases_path.read_text()
                                   + "sales@example.test: bob@example.test\n")
    assert relais.reload() == "event=config.reload"
    tok = unique("sales")
    assert relais.send("s@remote.test", ["sales@example.test"], message(tok)) == {}
    assert tok.encode() in relais.maildir_messages("example.test", "bob")[0]
