"""Milters (issue 15, part 1): relais as the MTA side of the Sendmail
milter protocol, version 6, against a milter written for the tests
(milter_peer.py): the events and macros it gets, its answers at each
stage (reject at RCPT refuses that recipient only, tempfail at MAIL,
custom reply codes, discard, quarantine on hold), its modifications at
the end of the message (headers added, changed, inserted, the body
replaced, recipients added and deleted) stored before the 250; a milter
that is down or does not answer, with default_action tempfail and
accept; the listener's own list and milter = no."""

import socket
import time

import pytest

from conftest import HOST, free_port, message, split_headers, wait_until
from milter_peer import MilterPeer


@pytest.fixture
def peer_factory():
    made = []

    def make(**kw):
        p = MilterPeer(**kw).start()
        made.append(p)
        return p
    yield make
    for p in made:
        p.stop()


def milter_relais(relais_factory, servers, start=True, milter=None,
                  listener=None, **kw):
    keys = {"servers": servers, "command_timeout": "5s",
            "content_timeout": "5s", "connect_timeout": "5s"}
    keys.update(milter or {})
    overrides = {"milter": keys}
    if listener:
        overrides["listener mx"] = listener
    r = relais_factory(overrides=overrides, **kw)
    return r.start() if start else r


def session(r):
    c = r.conn()
    c.expect("EHLO client.test", 250)
    return c


def test_events_macros_and_delivery(relais_factory, peer_factory, unique):
    peer = peer_factory()
    r = milter_relais(relais_factory, peer.address)
    tok = unique("ev")
    r.send("sender@remote.test", ["alice@example.test"],
           message(tok, extra_headers="X-Folded: one\r\n two\r\n"))
    raw = r.maildir_messages("example.test", "alice")[0]
    assert tok.encode() in raw
    st = peer.stages(1)
    for stage in ("optneg", "connect", "helo", "mail", "rcpt", "data",
                  "header", "eoh", "body", "eom"):
        assert stage in st, st
    # OPTNEG offered version 6
    assert peer.args("optneg")[0][0] == 6
    conn = peer.args("connect")[0]
    assert conn[0] == f"[{HOST}]" and conn[1] == "4" and conn[3] == HOST
    assert peer.args("helo")[0] == ["client.test"]
    assert peer.args("mail")[0][0] == "<sender@remote.test>"
    assert peer.args("rcpt")[0][0] == "<alice@example.test>"
    headers = dict((h[0], h[1]) for h in peer.args("header"))
    assert headers["Subject"] == f"test {tok}"
    # folded lines reach the milter joined by LF, the first space gone
    assert headers["X-Folded"] == "one\n two"
    # relais's own Received: is not shown to milters
    assert "Received" not in headers
    body = b"".join(a[0] for a in peer.args("body"))
    assert body == f"Hello, this is {tok}.\r\nSecond line.\r\n".encode()
    # macros
    assert peer.macro("j") == ["mx.test"]
    assert peer.macro("{client_addr}") == [HOST]
    assert peer.macro("{daemon_name}") == ["mx.test"]
    assert peer.macro("{mail_addr}") == ["sender@remote.test"]
    assert peer.macro("{rcpt_addr}") == ["alice@example.test"]
    qid = peer.macro("i")
    assert qid and all(q == qid[0] for q in qid)
    assert r.wait_log(rf"event=received id={qid[0]}")


def test_reject_at_rcpt_refuses_that_recipient(relais_factory, peer_factory,
                                              unique):
    peer = peer_factory(script={
        "rcpt": lambda a: "r" if a[0] == "<bob@example.test>" else "c"})
    r = milter_relais(relais_factory, peer.address)
    tok = unique("rcpt")
    c = session(r)
    c.expect("MAIL FROM:<sender@remote.test>", 250)
    c.expect("RCPT TO:<bob@example.test>", 550, "5.7.1")
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send(message(tok).encode() + b".\r\n")
    c.check(c.reply(), 250)
    c.expect("QUIT", 221)
    assert tok.encode() in r.maildir_messages("example.test", "alice")[0]
    assert r.maildir_files("example.test", "bob") == []
    assert r.wait_log(r"event=milter.reject .*stage=rcpt")


def test_tempfail_at_mail(relais_factory, peer_factory):
    peer = peer_factory(script={"mail": "t"})
    r = milter_relais(relais_factory, peer.address)
    c = session(r)
    rep = c.expect("MAIL FROM:<sender@remote.test>", 451, "4.7.1")
    # the transaction is gone: RCPT needs MAIL again
    c.expect("RCPT TO:<alice@example.test>", 503)
    c.expect("QUIT", 221)
    assert rep.code == 451
    # the milter that saw the MAIL is told the transaction is over (the
    # peer's thread records it on its own time)
    wait_until(lambda: "abort" in peer.stages(1), 10, what="an abort")


def test_custom_reply_codes(relais_factory, peer_factory):
    peer = peer_factory(script={
        "rcpt": ("y", "550 5.7.26 No mail for you, %% of the time"),
        "mail": lambda a: ("y", "421-4.7.0 Going away\r\n421 4.7.0 now")
        if "shut" in a[0] else "c"})
    r = milter_relais(relais_factory, peer.address)
    c = session(r)
    c.expect("MAIL FROM:<sender@remote.test>", 250)
    rep = c.expect("RCPT TO:<alice@example.test>", 550, "5.7.26")
    assert "No mail for you, % of the time" in rep.text
    c.expect("RSET", 250)
    rep = c.expect("MAIL FROM:<shut@remote.test>", 421)
    assert rep.texts == ["4.7.0 Going away", "4.7.0 now"]
    c.wait_closed()


def test_malformed_reply_code_is_default_action(relais_factory,
                                                 peer_factory):
    peer = peer_factory(script={"mail": ("y", "250 2.0.0 fine")})
    r = milter_relais(relais_factory, peer.address)
    c = session(r)
    c.expect("MAIL FROM:<sender@remote.test>", 451, "4.7.1")
    assert r.wait_log(r"event=milter.error .*reply code")


def test_eom_header_and_body_changes(relais_factory, peer_factory, unique):
    new_body = b"Replaced body line one\nline two without CR\r\n.dot line\r\n"
    peer = peer_factory(script={"eom": [
        ("h", "X-Milter", "added\n folded"),
        ("m", 1, "Subject", "changed subject"),
        ("m", 1, "X-Remove-Me", ""),
        ("i", 0, "X-Top", "first"),
        ("b", new_body),
        "c"]})
    r = milter_relais(relais_factory, peer.address)
    tok = unique("eom")
    r.send("sender@remote.test", ["alice@example.test"],
           message(tok, extra_headers="X-Remove-Me: yes\r\n"))
    raw = r.maildir_messages("example.test", "alice")[0]
    lines, body = split_headers(raw)
    # Return-Path: and Delivered-To: come from the Maildir delivery; the
    # inserted field is on top of what relais stored, its Received: too
    assert lines[2] == "X-Top: first", lines[:4]
    assert lines[3].startswith("Received: from client.test")
    assert "Subject: changed subject" in lines
    assert not any(ln.startswith("X-Remove-Me") for ln in lines)
    assert "X-Milter: added folded" in lines
    assert lines.index("X-Milter: added folded") > lines.index(f"Message-ID: <{tok}@remote.test>")
    assert body == b"Replaced body line one\nline two without CR\n.dot line\n"
    # the size logged is the stored one
    assert r.wait_log(r"event=received .*size=")


def test_large_body_replaced(relais_factory, peer_factory, unique):
    """A body past the in-memory threshold, in and out."""
    big = b"".join(b"line %06d of the new body\r\n" % i for i in range(20000))
    peer = peer_factory(script={"eom": [("b", big), "c"]})
    r = milter_relais(relais_factory, peer.address)
    tok = unique("big")
    old = "".join(f"old line {i}\r\n" for i in range(10000))
    r.send("sender@remote.test", ["alice@example.test"],
           message(tok, body=old))
    raw = r.maildir_messages("example.test", "alice")[0]
    _, body = split_headers(raw)
    assert body == big.replace(b"\r\n", b"\n")
    got = b"".join(a[0] for a in peer.args("body"))
    assert got == old.encode()
    assert max(len(a[0]) for a in peer.args("body")) <= 65535
    # no body file of the milters is left behind
    bodies = r.data_dir / "spool" / "bodies"
    wait_until(lambda: not any(bodies.iterdir()), 10, what="bodies removed")


def test_replaced_body_over_size_limit(relais_factory, peer_factory, unique):
    """max_message_size is 1M in the tests: a new body of 1.1 MB is
    refused, and the session goes on."""
    over = b"y" * 1000 + b"\r\n"
    peer = peer_factory(script={"eom": [("b", over * 1100), "c"]})
    r = milter_relais(relais_factory, peer.address)
    c = session(r)
    c.expect("MAIL FROM:<sender@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send(message(unique("over")).encode() + b".\r\n")
    c.check(c.reply(), 552, "5.3.4")
    c.expect("NOOP", 250)
    bodies = r.data_dir / "spool" / "bodies"
    wait_until(lambda: not any(bodies.iterdir()), 10, what="bodies removed")


def test_add_and_delete_recipients(relais_factory, peer_factory, unique):
    peer = peer_factory(script={"eom": [
        ("+", "<bob@example.test>"), ("-", "<alice@example.test>"),
        ("+", "nobody@example.test"), "c"]})
    r = milter_relais(relais_factory, peer.address)
    tok = unique("rcpts")
    r.send("sender@remote.test", ["alice@example.test", "carol@example.test"],
           message(tok))
    assert tok.encode() in r.maildir_messages("example.test", "bob")[0]
    assert tok.encode() in r.maildir_messages("example.test", "carol")[0]
    time.sleep(0.5)
    assert r.maildir_files("example.test", "alice") == []
    assert r.wait_log(r"event=milter.rcpt_refused .*unknown local")


def test_discard(relais_factory, peer_factory, unique):
    peer = peer_factory(script={"eom": "d"})
    r = milter_relais(relais_factory, peer.address)
    tok = unique("discard")
    c = session(r)
    c.expect("MAIL FROM:<sender@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send(message(tok).encode() + b".\r\n")
    c.check(c.reply(), 250)
    # the session goes on
    c.expect("MAIL FROM:<sender@remote.test>", 250)
    c.expect("QUIT", 221)
    assert r.wait_log(r"event=milter.discarded")
    time.sleep(0.5)
    assert r.find_token(tok) == []
    out = r.cli("queue", "list", "-c", str(r.conf_path))
    assert tok not in out.stdout
    # an abort after the discarded message, none for the completed one
    assert peer.stages(1).count("eom") == 1


def test_discard_at_rcpt_drops_whole_message(relais_factory, peer_factory,
                                             unique):
    peer = peer_factory(script={"rcpt": "d"})
    r = milter_relais(relais_factory, peer.address)
    tok = unique("drcpt")
    r.send("sender@remote.test", ["alice@example.test"], message(tok))
    assert r.wait_log(r"event=milter.discarded")
    assert "eom" not in peer.stages()
    assert r.find_token(tok) == []


def test_quarantine_holds_the_message(relais_factory, peer_factory, unique):
    peer = peer_factory(script={"eom": [("q", "looks odd"), "c"]})
    r = milter_relais(relais_factory, peer.address)
    tok = unique("quar")
    r.send("sender@remote.test", ["alice@example.test"], message(tok))
    m = r.wait_log(r"event=milter.quarantine id=(\S+)")
    qid = m.group(1) if hasattr(m, "group") else None
    time.sleep(0.5)
    assert r.find_token(tok) == []
    out = r.cli("queue", "list", "-c", str(r.conf_path))
    assert "held" in out.stdout, out.stdout
    if qid:
        rel = r.cli("queue", "release", qid, "-c", str(r.conf_path))
        assert rel.returncode == 0, rel.stderr
        r.cli("queue", "flush", "-c", str(r.conf_path))
        assert r.find_token(tok, timeout=15)


def test_reject_at_eom_and_data(relais_factory, peer_factory, unique):
    peer = peer_factory(script={"eom": "r", "data": lambda a: "c"})
    r = milter_relais(relais_factory, peer.address)
    c = session(r)
    c.expect("MAIL FROM:<sender@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send(message(unique("rej")).encode() + b".\r\n")
    c.check(c.reply(), 550, "5.7.1")
    # the next transaction gets an abort first, then works
    peer.script["eom"] = "c"
    peer.script["data"] = "t"
    c.expect("MAIL FROM:<sender@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 451, "4.7.1")
    c.expect("QUIT", 221)
    wait_until(lambda: "abort" in peer.stages(1), 10, what="an abort")


def test_bdat_refused_at_data(relais_factory, peer_factory, unique):
    peer = peer_factory(script={"data": "r"})
    r = milter_relais(relais_factory, peer.address)
    c = session(r)
    c.expect("MAIL FROM:<sender@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    body = message(unique("bdat")).encode()
    c.send(f"BDAT {len(body)} LAST\r\n".encode() + body)
    c.check(c.reply(), 550, "5.7.1")
    c.expect("NOOP", 250)


def test_bdat_through_milter(relais_factory, peer_factory, unique):
    peer = peer_factory(script={"eom": [("h", "X-Bdat", "seen"), "c"]})
    r = milter_relais(relais_factory, peer.address)
    tok = unique("bdat")
    c = session(r)
    c.expect("MAIL FROM:<sender@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    body = message(tok).encode()
    half = len(body) // 2
    c.send(f"BDAT {half}\r\n".encode() + body[:half])
    c.check(c.reply(), 250)
    c.send(f"BDAT {len(body) - half} LAST\r\n".encode() + body[half:])
    c.check(c.reply(), 250)
    c.expect("QUIT", 221)
    raw = r.maildir_messages("example.test", "alice")[0]
    assert b"X-Bdat: seen" in raw and tok.encode() in raw


def test_reject_at_connect_refuses_mail(relais_factory, peer_factory):
    peer = peer_factory(script={"connect": "r"})
    r = milter_relais(relais_factory, peer.address)
    c = session(r)
    c.expect("MAIL FROM:<sender@remote.test>", 550, "5.7.1")
    c.expect("QUIT", 221)
    assert peer.stages(1) == ["optneg", "connect"]


def test_shutdown_at_helo(relais_factory, peer_factory):
    peer = peer_factory(script={"helo": "4"})
    r = milter_relais(relais_factory, peer.address)
    c = r.conn()
    c.expect("EHLO client.test", 421)
    c.wait_closed()


def test_accept_at_connect_skips_milter(relais_factory, peer_factory, unique):
    peer = peer_factory(script={"connect": "a"})
    r = milter_relais(relais_factory, peer.address)
    tok = unique("acc")
    r.send("sender@remote.test", ["alice@example.test"], message(tok))
    assert r.find_token(tok, timeout=10)
    assert peer.stages(1) == ["optneg", "connect"]


def test_no_reply_flags_and_symlist(relais_factory, peer_factory, unique):
    """Events the milter said it will not answer are sent without waiting;
    its own macro lists replace the configured ones."""
    nr = 0x1000 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x80 | 0x40000 | 0x80000
    peer = peer_factory(protocol=nr, symlist={2: "{mail_addr} {auth_type}",
                                              5: "i j"},
                        script={"eom": [("h", "X-NR", "1"), "c"]})
    r = milter_relais(relais_factory, peer.address)
    tok = unique("nr")
    r.send("sender@remote.test", ["alice@example.test"], message(tok))
    raw = r.maildir_messages("example.test", "alice")[0]
    assert b"X-NR: 1" in raw
    assert peer.macro("{mail_addr}") == ["sender@remote.test"]
    # not asked for: not sent at MAIL
    assert all("{mail_host}" not in m for (_, cmd, m) in peer.macros if cmd == "M")
    assert peer.macro("j")  # at connect and at the end of the message


def test_two_milters_in_order(relais_factory, peer_factory, unique):
    """The second milter sees the first one's changes."""
    first = peer_factory(script={"eom": [("h", "X-First", "1"), "c"]})
    second = peer_factory(script={"eom": [("h", "X-Second", "2"), "c"]})
    r = milter_relais(relais_factory, f"{first.address}, {second.address}")
    tok = unique("two")
    r.send("sender@remote.test", ["alice@example.test"], message(tok))
    raw = r.maildir_messages("example.test", "alice")[0]
    assert raw.index(b"X-First: 1") < raw.index(b"X-Second: 2")
    assert ["X-First", "1"] in second.args("header")


@pytest.mark.parametrize("action,code", [("tempfail", 451), ("accept", 250),
                                         ("reject", 550)])
def test_milter_down(relais_factory, unique, action, code):
    port = free_port()  # nothing listens there
    r = milter_relais(relais_factory, f"inet:{HOST}:{port}",
                      milter={"default_action": action})
    tok = unique("down")
    c = session(r)
    c.expect("MAIL FROM:<sender@remote.test>", code)
    if code == 250:
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(message(tok).encode() + b".\r\n")
        c.check(c.reply(), 250)
        assert tok.encode() in r.maildir_messages("example.test", "alice")[0]
    c.expect("QUIT", 221)
    assert r.wait_log(r"event=milter.error .*milter=inet:")


def test_milter_unix_socket_down(relais_factory, tmp_path):
    r = milter_relais(relais_factory, f"unix:{tmp_path}/none.sock")
    c = session(r)
    c.expect("MAIL FROM:<sender@remote.test>", 451, "4.7.1")


def test_milter_times_out(relais_factory, peer_factory, unique):
    peer = peer_factory(script={"mail": "silent", "eom": "silent"})
    r = milter_relais(relais_factory, peer.address,
                      milter={"command_timeout": "1s", "content_timeout": "1s"})
    c = session(r)
    t0 = time.monotonic()
    c.expect("MAIL FROM:<sender@remote.test>", 451, "4.7.1")
    assert time.monotonic() - t0 < 30
    assert r.wait_log(r"event=milter.error .*error=\"timeout\"")
    # the failed milter keeps failing for this session
    c.expect("MAIL FROM:<sender@remote.test>", 451)
    c.expect("QUIT", 221)


def test_milter_times_out_at_eom_accept(relais_factory, peer_factory, unique):
    peer = peer_factory(script={"eom": "silent"})
    r = milter_relais(relais_factory, peer.address,
                      milter={"content_timeout": "1s",
                              "default_action": "accept"})
    tok = unique("eomto")
    r.send("sender@remote.test", ["alice@example.test"], message(tok))
    assert tok.encode() in r.maildir_messages("example.test", "alice")[0]


def test_listener_override_and_off(relais_factory, peer_factory, unique):
    used = peer_factory(script={"eom": [("h", "X-Which", "listener"), "c"]})
    unused = peer_factory()
    r = milter_relais(relais_factory, unused.address,
                      listener={"milters": used.address})
    tok = unique("lst")
    r.send("sender@remote.test", ["alice@example.test"], message(tok))
    assert b"X-Which: listener" in r.maildir_messages("example.test", "alice")[0]
    assert unused.connections == 0
    r.stop()
    r.overrides["listener mx"] = {"milter": "no"}
    r.write_config()
    r.start()
    tok = unique("off")
    r.send("sender@remote.test", ["bob@example.test"], message(tok))
    assert tok.encode() in r.maildir_messages("example.test", "bob")[0]
    assert unused.connections == 0 and used.connections == 1


def test_client_gone_while_milter_thinks(relais_factory, peer_factory):
    peer = peer_factory(script={"mail": [("sleep", 1.0), "c"]})
    r = milter_relais(relais_factory, peer.address)
    c = session(r)
    c.send(b"MAIL FROM:<sender@remote.test>\r\n")
    c.close()
    time.sleep(1.5)
    # the daemon is fine
    c = session(r)
    c.expect("QUIT", 221)


def test_check_config(relais_factory, tmp_path):
    r = relais_factory(overrides={"milter": {"servers": "tcp:1.2.3.4:5"}})
    out = r.cli("check-config", "-c", str(r.conf_path))
    assert out.returncode == 2
    assert "bad milter" in out.stderr


def test_unix_socket_milter(relais_factory, peer_factory, unique, tmp_path):
    peer = peer_factory(unix=tmp_path / "m.sock",
                        script={"eom": [("h", "X-Unix", "yes"), "c"]})
    r = milter_relais(relais_factory, peer.address)
    tok = unique("unix")
    r.send("sender@remote.test", ["alice@example.test"], message(tok))
    assert b"X-Unix: yes" in r.maildir_messages("example.test", "alice")[0]


def test_big_body_without_body_replies(relais_factory, peer_factory, unique):
    """A milter that does not answer body chunks (SMFIP_NR_BODY) gets the
    whole body, written as the socket takes it."""
    peer = peer_factory(protocol=0x80000)
    r = milter_relais(relais_factory, peer.address)
    tok = unique("nrbody")
    body = "".join(f"line {i:07d} {tok}\r\n" for i in range(12000))
    r.send("sender@remote.test", ["alice@example.test"],
           message(tok, body=body))
    raw = r.maildir_messages("example.test", "alice")[0]
    assert raw.endswith(f"line 0011999 {tok}\n".encode())
    got = b"".join(a[0] for a in peer.args("body"))
    assert got == body.encode()


def test_pipelined_commands_wait_for_milters(relais_factory, peer_factory,
                                            unique):
    peer = peer_factory(script={
        "mail": [("sleep", 0.3), "c"],
        "rcpt": lambda a: "r" if "bob" in a[0] else [("sleep", 0.2), "c"]})
    r = milter_relais(relais_factory, peer.address)
    tok = unique("pipe")
    c = session(r)
    c.send(b"MAIL FROM:<sender@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
           b"RCPT TO:<alice@example.test>\r\nDATA\r\n")
    c.check(c.reply(), 250)
    c.check(c.reply(), 550)
    c.check(c.reply(), 250)
    c.check(c.reply(), 354)
    c.send(message(tok).encode() + b".\r\nQUIT\r\n")
    c.check(c.reply(), 250)
    c.check(c.reply(), 221)
    assert tok.encode() in r.maildir_messages("example.test", "alice")[0]
    assert peer.stages(1).count("rcpt") == 2


def test_auth_macros(relais_factory, peer_factory, unique):
    import base64
    peer = peer_factory()
    r = milter_relais(relais_factory, peer.address,
                      start=False)
    r.overrides["auth"] = {"allow_plaintext_loopback": "yes"}
    r.write_config()
    r.start()
    c = session(r)
    cred = base64.b64encode(b"\0alice@example.test\0alice-secret").decode()
    c.expect(f"AUTH PLAIN {cred}", 235)
    c.expect("MAIL FROM:<alice@example.test>", 250)
    c.expect("QUIT", 221)
    wait_until(lambda: peer.macro("{auth_authen}"), 10, what="auth macros")
    assert peer.macro("{auth_authen}") == ["alice@example.test"]
    assert peer.macro("{auth_type}") == ["PLAIN"]


def test_starttls_helo_macros(relais_factory, peer_factory, tls_files):
    """After STARTTLS the milters get HELO again, with the TLS macros."""
    from conftest import tls_conn, tls_listeners
    peer = peer_factory()
    r = relais_factory()
    over = tls_listeners(r, tls_files, starttls="optional", implicit=False,
                         role="mx")
    over["milter"] = {"servers": peer.address}
    r.write_config(overrides=over)
    r.start()
    c = tls_conn(r.sub_port)
    c.expect("QUIT", 221)
    wait_until(lambda: len(peer.args("helo")) >= 2, 10, what="two HELO")
    assert peer.macro("{tls_version}")[-1].startswith("TLSv1.")
    assert peer.macro("{cipher}")
    assert int(peer.macro("{cipher_bits}")[-1]) >= 128


def test_change_sender_and_eom_tempfail_code(relais_factory, peer_factory,
                                             unique):
    peer = peer_factory(script={"eom": lambda a: None})
    state = {"n": 0}

    def eom(args):
        state["n"] += 1
        if state["n"] == 1:
            return [("e", "<bounces@example.test>"), "c"]
        return ("y", "452-4.3.1 Come back\r\n452 4.3.1 later")
    peer.script["eom"] = eom
    r = milter_relais(relais_factory, peer.address)
    tok = unique("from")
    r.send("sender@remote.test", ["alice@example.test"], message(tok))
    raw = r.maildir_messages("example.test", "alice")[0]
    assert raw.startswith(b"Return-Path: <bounces@example.test>")
    assert r.wait_log(r"event=milter.from .*from=<bounces@example.test>")
    c = session(r)
    c.expect("MAIL FROM:<sender@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send(message(unique("later")).encode() + b".\r\n")
    rep = c.reply()
    c.check(rep, 452)
    assert rep.texts == ["4.3.1 Come back", "4.3.1 later"]
    c.expect("QUIT", 221)
