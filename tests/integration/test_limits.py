"""Abuse limits (issue 4): each [limits] key triggers, is logged
(event=limit.KEY), and the daemon keeps serving other clients. Clients
use distinct loopback addresses (127.0.0.2, .3) as distinct IPs."""

import time

import pytest

from conftest import SMTPClosed, SMTPConn, tls_conn, tls_listeners
from test_auth import ALICE_PLAIN, plain


def conn(r, source, **kw):
    c = SMTPConn(r.port, source=source, **kw)
    r.conns.append(c)
    return c


def test_max_connections(relais_factory):
    r = relais_factory(overrides={"limits": {"max_connections": "2"}}).start()
    a, b = conn(r, "127.0.0.2"), conn(r, "127.0.0.3")
    extra = conn(r, "127.0.0.4")
    assert extra.greeting.code == 421 and extra.greeting.enhanced == "4.7.0"
    assert extra.wait_closed(5)
    r.wait_log(r"event=limit\.max_connections client=127\.0\.0\.4")
    a.expect("QUIT", 221)
    assert a.wait_closed(5)
    deadline = time.monotonic() + 5
    while conn(r, "127.0.0.4").greeting.code != 220:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    b.expect("NOOP", 250)


def test_max_connections_per_ip(relais_factory):
    r = relais_factory(overrides={"limits": {"max_connections_per_ip": "2"}}).start()
    held = [conn(r, "127.0.0.2") for _ in range(2)]
    extra = conn(r, "127.0.0.2")
    assert extra.greeting.code == 421 and extra.greeting.enhanced == "4.7.0"
    r.wait_log(r"event=limit\.max_connections_per_ip client=127\.0\.0\.2")
    other = conn(r, "127.0.0.3")
    assert other.greeting.code == 220
    for c in held:
        c.expect("NOOP", 250)


def test_connections_per_ip_per_minute(relais_factory):
    r = relais_factory(overrides={"limits": {"connections_per_ip_per_minute": "3"}})
    r.start()
    for _ in range(3):
        c = conn(r, "127.0.0.2")
        assert c.greeting.code == 220
        c.expect("QUIT", 221)
    c = conn(r, "127.0.0.2")
    assert c.greeting.code == 421 and c.greeting.enhanced == "4.7.0", c.greeting
    assert c.wait_closed(5)
    r.wait_log(r"event=limit\.connections_per_ip_per_minute client=127\.0\.0\.2")
    # one token comes back every 20 s; others are served at once
    other = conn(r, "127.0.0.3")
    assert other.greeting.code == 220
    other.expect("NOOP", 250)


def test_max_errors_per_session(relais_factory):
    r = relais_factory(overrides={"limits": {"max_errors_per_session": "3"}}).start()
    c = conn(r, "127.0.0.2")
    c.expect("FOO", 500)
    c.expect("BAR", 500)
    rep = c.cmd("BAZ")
    if rep.code == 500:
        rep = c.reply()
    assert rep.code == 421, rep
    assert c.wait_closed(5)
    r.wait_log(r"event=limit\.max_errors_per_session .*client=127\.0\.0\.2 errors=3")
    c = conn(r, "127.0.0.2")
    c.expect("FOO", 500)
    c.expect("NOOP", 250)


def test_max_errors_default_is_20(relais):
    c = relais.conn()
    for _ in range(19):
        c.expect("FOO", 500)
    c.expect("NOOP", 250)
    c.line("FOO")
    codes = []
    try:
        while True:
            codes.append(c.reply(timeout=5).code)
    except SMTPClosed:
        pass
    assert codes[-1] == 421, codes


def test_user_daily_limit(relais_factory, tls_files):
    r = relais_factory()
    over = tls_listeners(r, tls_files, implicit=False)
    over["limits"] = {"user_daily_limit": "2"}
    r.write_config(overrides=over)
    r.start()
    c = tls_conn(r.sub_port)
    c.expect(f"AUTH PLAIN {ALICE_PLAIN}", 235)
    for i in range(2):
        c.expect("MAIL FROM:<alice@example.test>", 250)
        c.expect("RCPT TO:<bob@example.test>", 250)
        c.expect("DATA", 354)
        c.send(f"Subject: {i}\r\n\r\nx\r\n.\r\n")
        c.expect(None, 250)
    c.expect("MAIL FROM:<alice@example.test>", 450, "4.7.0")
    r.wait_log(r"event=limit\.user_daily_limit .*user=alice@example\.test limit=2")
    # a new session of the same user is limited too; another user is not
    c = tls_conn(r.sub_port)
    c.expect(f"AUTH PLAIN {ALICE_PLAIN}", 235)
    c.expect("MAIL FROM:<alice@example.test>", 450)
    b = tls_conn(r.sub_port)
    b.expect(f"AUTH PLAIN {plain('bob@example.test', 'bob-secret')}", 235)
    b.expect("MAIL FROM:<bob@example.test>", 250)


def test_max_session_time(relais_factory):
    r = relais_factory(overrides={"limits": {"max_session_time": "2s"}}).start()
    c = conn(r, "127.0.0.2")
    c.ehlo()
    t = time.monotonic()
    got = None
    while time.monotonic() - t < 8:
        try:
            rep = c.cmd("NOOP", timeout=5)
        except SMTPClosed:
            break
        if rep.code == 421:
            got = rep
            break
        time.sleep(0.3)
    assert got is not None and got.enhanced == "4.4.2", got
    took = time.monotonic() - t
    assert 1.5 < took < 5, took
    assert c.wait_closed(5)
    r.wait_log(r"event=limit\.max_session_time .*client=127\.0\.0\.2 seconds=2")
    other = conn(r, "127.0.0.3")
    other.expect("NOOP", 250)


def test_limits_config_keys(relais_factory):
    r = relais_factory(overrides={"limits": {"max_errors_per_session": "0"}})
    out = r.cli("check-config", "-c", str(r.conf_path))
    assert out.returncode == 2 and "max_errors_per_session" in out.stderr
    r.write_config(overrides={"limits": {
        "connections_per_ip_per_minute": "60", "auth_failures_per_ip": "5",
        "auth_failure_window": "10m", "auth_ban_time": "5m",
        "auth_ban_max_time": "1d", "user_daily_limit": "500",
        "max_session_time": "30m", "max_errors_per_session": "10"}})
    out = r.cli("check-config", "-c", str(r.conf_path))
    assert out.returncode == 0, out.stderr


def test_privileges_dropped(relais_factory, tls_files):
    """Started as root with [server] user, relais runs as that user with
    its group only; its files are private to it."""
    import os
    import pwd
    import stat
    if os.geteuid() != 0:
        pytest.skip("needs root")
    nobody = pwd.getpwnam("nobody")
    r = relais_factory()
    over = tls_listeners(r, None, implicit=True)
    over["server"] = {"user": "nobody"}
    r.write_config(overrides=over)
    r.start()
    r.wait_log(rf"event=server\.privileges user=nobody uid={nobody.pw_uid}\b")
    status = open(f"/proc/{r.pid}/status").read()
    ids = {ln.split(":")[0]: ln.split()[1:] for ln in status.splitlines()
           if ln.split(":")[0] in ("Uid", "Gid", "Groups")}
    assert ids["Uid"] == [str(nobody.pw_uid)] * 4, ids
    assert ids["Gid"] == [str(nobody.pw_gid)] * 4, ids
    assert ids["Groups"] in ([str(nobody.pw_gid)], []), ids
    for p in (r.data_dir / "tls" / "selfsigned.key", r.data_dir / "spool"):
        st = os.stat(p)
        assert st.st_uid == nobody.pw_uid, p
        assert stat.S_IMODE(st.st_mode) & 0o077 == 0, (p, oct(st.st_mode))
    c = tls_conn(r.tls_port, implicit=True)
    c.expect("NOOP", 250)
    c.expect("QUIT", 221)


def test_root_without_user_warns(relais):
    import os
    if os.geteuid() != 0:
        pytest.skip("needs root")
    relais.wait_log(r"level=warning event=server\.privileges user=root .*full root privileges")
