"""SMTP protocol (RFC 5321, 1870, 2034, 2920, 3030, 6152, 6531) against the
real daemon, with a raw socket so that every byte is ours."""

import re
import socket
import time

import pytest

from conftest import SMTPClosed, message, split_headers

EXTENSIONS = ["PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN",
              "CHUNKING"]
ENH = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


def start_tx(c, rcpt="alice@example.test", sender="s@remote.test"):
    c.ehlo()
    c.expect(f"MAIL FROM:<{sender}>", 250)
    c.expect(f"RCPT TO:<{rcpt}>", 250)


# ---------------------------------------------------------------- greeting


def test_greeting_and_ehlo(relais):
    c = relais.conn()
    assert c.greeting.code == 220, c.greeting
    assert c.greeting.texts[0].startswith("mx.test"), c.greeting
    r = c.ehlo()
    assert r.texts[0].startswith("mx.test"), r
    kws = {t.split()[0].upper(): t.split()[1:] for t in r.texts[1:] if t.strip()}
    for ext in EXTENSIONS:
        assert ext in kws, f"{ext} not advertised: {r}"
    # SIZE carries the limit in octets (1M)
    assert kws["SIZE"] and int(kws["SIZE"][0]) in (1000000, 1048576), r
    assert "STARTTLS" not in kws, "STARTTLS advertised without TLS configured"
    c.expect("QUIT", 221)
    assert c.wait_closed(5)


def test_helo(relais):
    c = relais.conn()
    r = c.expect("HELO client.test", 250)
    assert len(r.texts) == 1
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("QUIT", 221)


@pytest.mark.parametrize("verb", ["HELO", "EHLO"])
def test_helo_ehlo_without_domain_is_501(relais, verb):
    c = relais.conn()
    c.expect(verb, 501)
    c.expect(f"{verb} client.test", 250)


def test_ehlo_twice_resets_transaction(relais):
    c = relais.conn()
    start_tx(c)
    c.ehlo()
    c.expect("DATA", 503, "5.5.1")


def test_verbs_are_case_insensitive(relais):
    c = relais.conn()
    c.expect("ehlo client.test", 250)
    c.expect("mail from:<s@remote.test>", 250)
    c.expect("rcpt to:<alice@example.test>", 250)
    c.expect("rSeT", 250)
    c.expect("noop", 250)
    c.expect("quit", 221)


def test_enhanced_status_codes_on_every_reply(relais):
    c = relais.conn()
    c.ehlo()
    replies = [
        c.cmd("NOOP"), c.cmd("RSET"), c.cmd("VRFY alice"), c.cmd("FOOBAR"),
        c.cmd("RCPT TO:<alice@example.test>"), c.cmd("MAIL FROM:<s@remote.test>"),
        c.cmd("MAIL FROM:<s@remote.test>"), c.cmd("RCPT TO:<nobody@example.test>"),
        c.cmd("RCPT TO:<alice@example.test>"), c.cmd("DATA"),
    ]
    c.send(b"Subject: x\r\n\r\nbody\r\n.\r\n")
    replies.append(c.reply())
    replies.append(c.cmd("QUIT"))
    for r in replies:
        if r.code == 354:
            continue  # RFC 3463 has no class 3; 354 may carry no code
        assert r.enhanced is not None, f"no enhanced status code in {r}\n{c.transcript()}"
        assert r.enhanced[0] == str(r.code)[0], f"class mismatch in {r}"


# ---------------------------------------------------------------- verbs


def test_noop_rset_quit(relais):
    c = relais.conn()
    c.ehlo()
    c.expect("NOOP", 250, "2.0.0")
    c.expect("NOOP with an argument", 250)
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("RSET", 250)
    # the transaction is gone
    c.expect("DATA", 503, "5.5.1")
    c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
    c.expect("MAIL FROM:<s@remote.test>", 250)
    r = c.expect("QUIT", 221)
    assert r.enhanced == "2.0.0"
    assert c.wait_closed(5), "connection not closed after QUIT"


@pytest.mark.parametrize("arg", ["alice", "alice@example.test", "nobody@example.test", "x"])
def test_vrfy_is_252_whatever_the_user(relais, arg):
    c = relais.conn()
    c.ehlo()
    r = c.expect(f"VRFY {arg}", 252)
    assert r.enhanced and r.enhanced.startswith("2."), r


def test_expn_does_not_reveal(relais):
    c = relais.conn()
    c.ehlo()
    r1 = c.cmd("EXPN team@example.test")
    r2 = c.cmd("EXPN nobody@example.test")
    assert r1.code in (252, 502, 550), r1
    assert (r1.code, r1.text) == (r2.code, r2.text), "EXPN answers differ for list/non-list"
    assert "alice" not in r1.text and "bob" not in r1.text


def test_help(relais):
    c = relais.conn()
    c.ehlo()
    r = c.cmd("HELP")
    assert r.code in (211, 214), r
    r = c.cmd("HELP MAIL")
    assert r.code in (211, 214, 504), r
    c.expect("NOOP", 250)


def test_unknown_command_500_511(relais):
    c = relais.conn()
    c.ehlo()
    c.expect("FOOBAR baz", 500, "5.5.1")
    c.expect("MAILFROM:<a@b.test>", 500, "5.5.1")
    c.expect("NOOP", 250)


def test_starttls_and_auth_without_tls_refused(relais):
    c = relais.conn()
    c.ehlo()
    r = c.cmd("STARTTLS")
    assert r.code >= 400 and r.code != 220, r
    r = c.cmd("AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA==")
    assert r.code >= 500, f"AUTH on an mx listener without TLS must fail: {r}"
    c.expect("NOOP", 250)


# ---------------------------------------------------------------- MAIL/RCPT syntax


@pytest.mark.parametrize("line", [
    "MAIL FROM:alice@remote.test",
    "MAIL FROM:<alice@remote.test",
    "MAIL FROM:",
    "MAIL TO:<alice@remote.test>",
    "MAIL FROM:<a@@remote.test>",
    "MAIL FROM:<alice@remote.test.>",
])
def test_mail_syntax_errors_501(relais, line):
    c = relais.conn()
    c.ehlo()
    r = c.cmd(line)
    assert r.code == 501, f"{line!r} -> {r}"
    assert r.enhanced and r.enhanced.startswith("5.")
    c.expect("MAIL FROM:<alice@remote.test>", 250)


@pytest.mark.parametrize("line,codes", [
    ("RCPT TO:alice@example.test", (501,)),
    ("RCPT TO:<alice@example.test", (501,)),
    ("RCPT TO:", (501,)),
    ("RCPT FROM:<alice@example.test>", (501,)),
    ("RCPT TO:<>", (501, 553)),
])
def test_rcpt_syntax_errors_501(relais, line, codes):
    c = relais.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    r = c.cmd(line)
    assert r.code in codes, f"{line!r} -> {r}"
    c.expect("RCPT TO:<alice@example.test>", 250)


def test_unknown_mail_parameter(relais):
    c = relais.conn()
    c.ehlo()
    r = c.cmd("MAIL FROM:<s@remote.test> FROBNICATE=yes")
    assert r.code in (501, 555), r
    assert r.enhanced == "5.5.4", r
    c.expect("MAIL FROM:<s@remote.test> BODY=7BIT", 250)


def test_space_after_colon_tolerated(relais):
    c = relais.conn()
    c.ehlo()
    c.expect("MAIL FROM: <s@remote.test>", 250)
    c.expect("RCPT TO: <alice@example.test>", 250)


def test_source_route_accepted(relais):
    c = relais.conn()
    c.ehlo()
    c.expect("MAIL FROM:<@relay.test:s@remote.test>", 250)
    c.expect("RCPT TO:<@mx.test,@x.test:alice@example.test>", 250)


def test_utf8_address_needs_smtputf8(relais):
    c = relais.conn()
    c.ehlo()
    r = c.cmd("MAIL FROM:<jörg@remote.test>")
    assert 500 <= r.code < 600, r
    c.expect("MAIL FROM:<jörg@remote.test> SMTPUTF8", 250)


# ---------------------------------------------------------------- sequence


def test_sequence_errors_503(relais):
    c = relais.conn()
    c.ehlo()
    c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
    c.expect("DATA", 503, "5.5.1")
    c.expect("MAIL FROM:<s@remote.test>", 250)
    # no recipient yet: RFC 5321 3.3 allows 503 or 554 ("no valid recipients")
    c.expect("DATA", (503, 554), "5.5.1")
    c.expect("MAIL FROM:<s@remote.test>", 503, "5.5.1")  # nested MAIL
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send(b"Subject: seq\r\n\r\nok\r\n.\r\n")
    c.expect(None, 250)
    # after the message the transaction is over
    c.expect("RCPT TO:<alice@example.test>", 503, "5.5.1")
    c.expect("DATA", 503, "5.5.1")


def test_data_only_with_refused_recipients_is_503(relais):
    c = relais.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RCPT TO:<nobody@example.test>", 550, "5.1.1")
    r = c.cmd("DATA")
    assert r.code in (503, 554), r


def test_bdat_without_transaction_is_503(relais):
    c = relais.conn()
    c.ehlo()
    c.send(b"BDAT 5 LAST\r\nhello")
    r = c.reply()
    assert r.code == 503, f"{r}\n{c.transcript()}"
    c.expect("NOOP", 250)


# ---------------------------------------------------------------- pipelining


def test_pipelining_three_transactions(relais, unique):
    toks = [unique("pipe") for _ in range(3)]
    c = relais.conn()
    c.ehlo()
    c.send("MAIL FROM:<p1@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
           "RCPT TO:<bob@example.test>\r\nDATA\r\n")
    for code in (250, 250, 250, 354):
        c.expect(None, code)
    # end of message 1 + whole next command group in one write
    c.send(message(toks[0]) + ".\r\nMAIL FROM:<p2@remote.test>\r\n"
           "RCPT TO:<nobody@example.test>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n")
    for code in (250, 250, 550, 250, 354):
        c.expect(None, code)
    c.send(message(toks[1]) + ".\r\nRSET\r\nMAIL FROM:<p3@remote.test>\r\n"
           "RCPT TO:<carol@example.test>\r\nDATA\r\n")
    for code in (250, 250, 250, 250, 354):
        c.expect(None, code)
    c.send(message(toks[2]) + ".\r\nNOOP\r\nQUIT\r\n")
    for code in (250, 250, 221):
        c.expect(None, code)
    assert c.wait_closed(5)
    a = relais.maildir_messages("example.test", "alice", 1)
    b = relais.maildir_messages("example.test", "bob", 1)
    cm = relais.maildir_messages("example.test", "carol", 2)
    assert toks[0].encode() in a[0] and toks[0].encode() in b[0]
    assert sum(toks[1].encode() in m for m in cm) == 1
    assert sum(toks[2].encode() in m for m in cm) == 1
    rp = sorted(split_headers(m)[0][0] for m in cm)
    assert rp == ["Return-Path: <p2@remote.test>", "Return-Path: <p3@remote.test>"]


def test_client_that_does_not_read_its_replies(relais):
    # 60,000 pipelined EHLOs (about 9 MB of replies, more than the kernel
    # buffers on loopback hold) while the client reads nothing for a
    # second: relais's output backs up, it stops taking commands and goes
    # on as the client drains its replies; every reply arrives, complete
    # and in order, and the session still works afterwards
    import threading
    n = 60000
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 262144)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", relais.port))
    try:
        f = sock.makefile("rb")
        assert f.readline().startswith(b"220 ")
        t = threading.Thread(target=sock.sendall, args=(b"EHLO client.test\r\n" * n,),
                             daemon=True)
        t.start()
        time.sleep(1.0)
        finals = 0
        deadline = time.monotonic() + 60
        while finals < n:
            assert time.monotonic() < deadline, f"{finals} of {n} replies"
            ln = f.readline()
            assert ln.endswith(b"\r\n"), f"cut reply after {finals}: {ln!r}"
            assert ln.startswith(b"250"), ln
            if ln.startswith(b"250 "):
                finals += 1
        t.join(20)
        assert not t.is_alive()
        sock.sendall(b"QUIT\r\n")
        assert f.readline().startswith(b"221 ")
    finally:
        sock.close()


def test_pipelined_bdat_transactions_in_one_write(relais, unique):
    toks = [unique("bdatpipe") for _ in range(3)]
    blob = b""
    for i, t in enumerate(toks):
        body = message(t).encode()
        blob += (f"MAIL FROM:<b{i}@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
                 f"BDAT {len(body)} LAST\r\n").encode() + body
    blob += b"QUIT\r\n"
    c = relais.conn()
    c.ehlo()
    c.send(blob)
    for _ in toks:
        for code in (250, 250, 250):
            c.expect(None, code)
    c.expect(None, 221)
    msgs = relais.maildir_messages("example.test", "bob", 3)
    for t in toks:
        assert sum(t.encode() in m for m in msgs) == 1


# ---------------------------------------------------------------- SIZE


def test_size_declared_too_big_552(relais):
    c = relais.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test> SIZE=2000000", 552, "5.3.4")
    c.expect("MAIL FROM:<s@remote.test> SIZE=1000", 250)
    c.expect("RSET", 250)
    c.expect("MAIL FROM:<s@remote.test> SIZE=99999999999999999999999", (501, 552))


def test_size_syntax_error(relais):
    c = relais.conn()
    c.ehlo()
    r = c.cmd("MAIL FROM:<s@remote.test> SIZE=abc")
    assert r.code == 501, r


def test_body_too_big_552_at_end_of_data(relais, unique):
    tok = unique("big")
    c = relais.conn()
    start_tx(c)
    c.expect("DATA", 354)
    line = b"x" * 998 + b"\r\n"
    c.send(f"Subject: {tok}\r\n\r\n".encode())
    try:
        for _ in range(1200):  # ~1.2 MB > 1M
            c.send(line)
        c.send(b".\r\n")
    except OSError:
        pass  # the server may stop reading early; the reply is what counts
    r = c.reply(20)
    c.check(r, 552, "5.3.4")
    # session is usable afterwards
    c.expect("NOOP", 250)
    time.sleep(0.5)
    assert relais.find_token(tok) == []
    assert relais.log_events("received") == []


def test_body_just_under_limit_accepted(relais, unique):
    tok = unique("under")
    c = relais.conn()
    start_tx(c)
    c.expect("DATA", 354)
    c.send(f"Subject: {tok}\r\n\r\n".encode() + (b"y" * 998 + b"\r\n") * 900 + b".\r\n")
    c.expect(None, 250)
    [raw] = relais.maildir_messages("example.test", "alice")
    assert raw.count(b"y" * 998) == 900


def test_bdat_too_big_552(relais, unique):
    c = relais.conn()
    start_tx(c)
    line = b"z" * 998 + b"\r\n"          # legal lines: only the size is wrong
    body = line * 2000                     # 2 000 000 octets > 1M
    c.send(f"BDAT {len(body)} LAST\r\n".encode())
    try:
        for i in range(0, len(body), 65000):
            c.sock.sendall(body[i:i + 65000])
    except OSError:
        pass
    r = c.reply(20)
    c.check(r, 552, "5.3.4")
    # the chunk's octets must have been consumed, not read as commands
    assert c.quiet(0.5) == b"", c.transcript()
    c.expect("RSET", 250)


# ---------------------------------------------------------------- recipients


def test_max_recipients_452(relais_factory, unique):
    r = relais_factory(users=None, aliases=None).start()
    c = r.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    for i in range(5):
        c.expect(f"RCPT TO:<u{i}@example.test>", 250)
    c.expect("RCPT TO:<u5@example.test>", 452, "4.5.3")
    c.expect("RCPT TO:<u6@example.test>", 452, "4.5.3")
    c.expect("DATA", 354)
    tok = unique("maxrcpt")
    c.send(message(tok).encode() + b".\r\n")
    c.expect(None, 250)
    for i in range(5):
        assert tok.encode() in r.maildir_messages("example.test", f"u{i}")[0]
    time.sleep(0.3)
    for i in (5, 6):
        assert not r.maildir("example.test", f"u{i}").exists()
    assert r.log_events("received")[0]["rcpts"] == "5"


# ---------------------------------------------------------------- BDAT


def test_bdat_single_chunk(relais, unique):
    tok = unique("bdat")
    body = message(tok).encode()
    c = relais.conn()
    start_tx(c)
    c.send(f"BDAT {len(body)} LAST\r\n".encode() + body)
    c.expect(None, 250)
    c.expect("QUIT", 221)
    [raw] = relais.maildir_messages("example.test", "alice")
    lines, b = split_headers(raw)
    assert b == split_headers(body)[1]
    assert lines[0] == "Return-Path: <s@remote.test>"


def test_bdat_several_chunks_and_empty_last(relais, unique):
    tok = unique("chunks")
    body = message(tok, body="part one\r\n.not stuffed in BDAT\r\npart two\r\n").encode()
    parts = [body[:10], body[10:37], body[37:]]
    c = relais.conn()
    start_tx(c)
    for p in parts:
        c.send(f"BDAT {len(p)}\r\n".encode() + p)
        c.expect(None, 250)
    c.send(b"BDAT 0 LAST\r\n")
    c.expect(None, 250)
    [raw] = relais.maildir_messages("example.test", "alice")
    _, b = split_headers(raw)
    assert b"\n.not stuffed in BDAT\n" in b.replace(b"\r\n", b"\n")


def test_data_after_bdat_is_refused(relais):
    c = relais.conn()
    start_tx(c)
    c.send(b"BDAT 4\r\nabcd")
    c.expect(None, 250)
    r = c.cmd("DATA")
    assert r.code == 503, r


def test_bdat_bad_syntax(relais):
    c = relais.conn()
    start_tx(c)
    r = c.cmd("BDAT notanumber")
    assert r.code == 501, r


# ---------------------------------------------------------------- line length


def test_command_line_512_boundary(relais):
    c = relais.conn()
    c.ehlo()
    # 510 octets + CRLF = 512: allowed
    c.expect("NOOP " + "a" * 505, 250)
    # 511 octets + CRLF = 513: too long
    c.line("NOOP " + "a" * 506)
    try:
        r = c.reply()
    except SMTPClosed:
        pytest.fail("connection closed instead of 500 5.5.2\n" + c.transcript())
    c.check(r, 500, "5.5.2")


def test_long_command_line_500_552(relais):
    c = relais.conn()
    c.ehlo()
    c.line("MAIL FROM:<" + "a" * 600 + "@remote.test>")
    r = c.reply()
    c.check(r, 500, "5.5.2")
    # the tail of the long line must not be read as a command of its own
    assert c.quiet(0.5) == b"", c.transcript()
    try:
        c.expect("NOOP", 250)
    except SMTPClosed:
        pass  # closing after the error is acceptable
    # a new session works
    c2 = relais.conn()
    c2.ehlo()


def test_very_long_command_line_one_reply(relais):
    c = relais.conn()
    c.ehlo()
    c.send(b"NOOP " + b"b" * 20000 + b"\r\n")
    r = c.reply()
    c.check(r, 500, "5.5.2")
    extra = c.quiet(0.7)
    assert extra == b"" or c.eof, f"more than one reply to one long line: {extra!r}"


def test_path_too_long(relais):
    c = relais.conn()
    c.ehlo()
    local = "l" * 65  # RFC 5321 4.5.3.1.1: local part max 64
    r = c.cmd(f"MAIL FROM:<{local}@remote.test>")
    assert 500 <= r.code < 600, r


# ---------------------------------------------------------------- timeouts


def test_command_timeout_421(relais_factory):
    r = relais_factory(overrides={"limits": {"command_timeout": "2s"}}).start()
    c = r.conn()
    c.ehlo()
    t0 = time.monotonic()
    rep = c.reply(timeout=10)
    elapsed = time.monotonic() - t0
    c.check(rep, 421, "4.4.2")
    assert 1.5 <= elapsed <= 8, elapsed
    assert c.wait_closed(5), "connection not closed after 421"


def test_command_timeout_before_any_command(relais_factory):
    r = relais_factory(overrides={"limits": {"command_timeout": "1s"}}).start()
    c = r.conn()
    rep = c.reply(timeout=10)
    c.check(rep, 421, "4.4.2")
    assert c.wait_closed(5)


def test_activity_resets_command_timeout(relais_factory):
    r = relais_factory(overrides={"limits": {"command_timeout": "2s"}}).start()
    c = r.conn()
    c.ehlo()
    for _ in range(4):
        time.sleep(1.0)
        c.expect("NOOP", 250)


def test_data_timeout_421_and_nothing_delivered(relais_factory, unique):
    r = relais_factory(overrides={"limits": {"command_timeout": "1s",
                                             "data_timeout": "1s"}}).start()
    c = r.conn()
    start_tx(c)
    c.expect("DATA", 354)
    tok = unique("dtimeout")
    c.send(f"Subject: {tok}\r\n\r\npartial".encode())
    rep = c.reply(timeout=10)
    c.check(rep, 421, "4.4.2")
    assert c.wait_closed(5)
    time.sleep(0.5)
    assert r.find_token(tok) == []


# ---------------------------------------------------------------- connections


def test_max_connections_per_ip(relais_factory):
    r = relais_factory(overrides={"limits": {"max_connections_per_ip": "3"}}).start()
    conns = [r.conn() for _ in range(3)]
    for c in conns:
        assert c.greeting.code == 220
    extra = r.conn()
    assert extra.greeting.code == 421, extra.greeting
    assert extra.greeting.enhanced and extra.greeting.enhanced.startswith("4."), extra.greeting
    assert extra.wait_closed(5)
    conns[0].expect("QUIT", 221)
    conns[0].wait_closed(5)
    # a slot is free again (bounded wait for the server to notice the close)
    deadline = time.monotonic() + 5
    while True:
        c = r.conn()
        if c.greeting.code == 220:
            break
        assert time.monotonic() < deadline, "slot not released after QUIT"
        c.close()
        time.sleep(0.1)


def test_client_disconnect_mid_transaction_is_harmless(relais, unique):
    tok = unique("abort")
    for _ in range(5):
        c = relais.conn()
        start_tx(c)
        c.expect("DATA", 354)
        c.send(f"Subject: {tok}\r\n\r\nhalf a message".encode())
        c.close()
    c = relais.conn()
    start_tx(c)
    c.expect("QUIT", 221)
    time.sleep(0.5)
    assert relais.find_token(tok) == []
    assert relais.running()


def test_received_header_names_listener_and_id(relais, unique):
    tok = unique("rcvd")
    relais.send("s@remote.test", ["alice@example.test"], message(tok))
    [raw] = relais.maildir_messages("example.test", "alice")
    lines, _ = split_headers(raw)
    rec = [ln for ln in lines if ln.startswith("Received:")]
    assert len(rec) == 1, lines
    qid = relais.log_events("received")[0]["id"]
    assert "client.test" in rec[0], rec[0]        # the EHLO name
    assert "127.0.0.1" in rec[0], rec[0]          # the client address
    assert "mx.test" in rec[0], rec[0]            # by <hostname>
    assert f"id {qid}" in rec[0], rec[0]
    assert re.search(r";\s*\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}", rec[0]), rec[0]


def test_ipv6_listener(relais_factory, unique):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            port6 = s.getsockname()[1]
    except OSError:
        pytest.skip("::1 not available")
    r = relais_factory()
    r.write_config(overrides={"listener mx": {"address": f"127.0.0.1:{r.port} [::1]:{port6}"}})
    r.start()
    s6 = socket.create_connection(("::1", port6), timeout=10)
    try:
        s6.settimeout(10)
        assert s6.recv(1000).startswith(b"220 ")
    finally:
        s6.close()
    c = r.conn()
    c.ehlo()


def test_many_pipelined_commands_answered_in_order(relais):
    c = relais.conn()
    c.ehlo()
    n = 200
    c.send(b"".join(b"NOOP %d\r\n" % i for i in range(n)) + b"VRFY alice\r\n")
    for _ in range(n):
        c.expect(None, 250)
    c.expect(None, 252)
    c.expect("QUIT", 221)


def test_size_boundary(relais):
    c = relais.conn()
    r = c.ehlo()
    limit = int([t for t in r.texts if t.upper().startswith("SIZE")][0].split()[1])
    c.expect(f"MAIL FROM:<s@remote.test> SIZE={limit}", 250)
    c.expect("RSET", 250)
    c.expect(f"MAIL FROM:<s@remote.test> SIZE={limit + 1}", 552, "5.3.4")


def test_max_connections_global(relais_factory):
    r = relais_factory(overrides={"limits": {"max_connections": "2"}}).start()
    a, b = r.conn(), r.conn()
    assert a.greeting.code == 220 and b.greeting.code == 220
    extra = r.conn()
    assert extra.greeting.code == 421, extra.greeting
    assert extra.wait_closed(5)
    a.expect("NOOP", 250)


def test_relay_denied_for_untrusted_client(relais_factory):
    r = relais_factory(overrides={"relay": {"trusted_networks": "192.0.2.0/24"}}).start()
    c = r.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    rep = c.cmd("RCPT TO:<someone@elsewhere.test>")
    assert rep.code in (550, 551, 554), rep
    assert rep.enhanced and rep.enhanced.startswith("5.7."), rep
    # local domains are still accepted from anyone on an mx listener
    c.expect("RCPT TO:<alice@example.test>", 250)


def test_relay_allowed_for_trusted_client(relais):
    c = relais.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RCPT TO:<someone@elsewhere.test>", 250)
    c.expect("RSET", 250)


def test_empty_message_accepted(relais):
    c = relais.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RCPT TO:<bob@example.test>", 250)
    c.expect("DATA", 354)
    c.send(b".\r\n")
    c.expect(None, 250)
    [raw] = relais.maildir_messages("example.test", "bob")
    lines, _ = split_headers(raw)
    assert lines[0] == "Return-Path: <s@remote.test>"
    assert any(ln.startswith("Received:") for ln in lines)


def test_data_after_quit_is_ignored(relais):
    c = relais.conn()
    c.ehlo()
    c.send(b"QUIT\r\nNOOP\r\nNOOP\r\n")
    c.expect(None, 221)
    assert c.wait_closed(5)
    assert c.buf == b"", f"replies after QUIT: {c.buf!r}"


def test_bdat_chunks_summing_over_limit_552(relais, unique):
    tok = unique("bdatsum")
    line = b"q" * 998 + b"\r\n"
    chunk = f"Subject: {tok}\r\n\r\n".encode() + line * 400      # ~400 kB each
    c = relais.conn()
    start_tx(c)
    codes = []
    for i in range(3):                                          # ~1.2 MB in total
        last = " LAST" if i == 2 else ""
        c.send(f"BDAT {len(chunk)}{last}\r\n".encode() + chunk)
        codes.append(c.reply(20))
    assert codes[-1].code == 552 and codes[-1].enhanced == "5.3.4", codes
    assert all(r.code in (250, 552) for r in codes), codes
    c.expect("RSET", 250)
    time.sleep(0.5)
    assert relais.find_token(tok) == []


def conn_from(r, src):
    """A session from another loopback address (127.0.0.0/8 is all local)."""
    return r.conn(source=src)


def test_per_ip_limit_counts_each_address(relais_factory, unique):
    r = relais_factory(overrides={"limits": {"max_connections_per_ip": "2"}}).start()
    a = [conn_from(r, "127.0.0.2") for _ in range(2)]
    assert all(c.greeting.code == 220 for c in a)
    assert conn_from(r, "127.0.0.2").greeting.code == 421
    b = conn_from(r, "127.0.0.3")
    assert b.greeting.code == 220, "the limit of 127.0.0.2 was applied to 127.0.0.3"
    b.ehlo()
    tok = unique("srcip")
    b.expect("MAIL FROM:<s@remote.test>", 250)
    b.expect("RCPT TO:<alice@example.test>", 250)
    b.expect("DATA", 354)
    b.send(message(tok).encode() + b".\r\n")
    b.expect(None, 250)
    ev = r.log_events("received")
    assert ev[-1]["client"] == "127.0.0.3", ev[-1]
    [raw] = r.maildir_messages("example.test", "alice")
    assert b"127.0.0.3" in split_headers(raw)[0][2].encode()


def test_many_concurrent_sessions(relais_factory):
    """300 sessions open at once from 15 loopback addresses, all served."""
    r = relais_factory(overrides={"limits": {"max_connections_per_ip": "20"}}).start()
    conns = []
    for i in range(300):
        conns.append(conn_from(r, f"127.0.0.{10 + i % 15}"))
    assert all(c.greeting.code == 220 for c in conns)
    for c in conns:
        c.line("EHLO client.test")
    for c in conns:
        c.expect(None, 250)
    for c in conns:
        c.line("QUIT")
    for c in conns:
        c.expect(None, 221)
    assert r.running()
    c = r.conn()
    c.ehlo()


def test_command_timeout_with_partial_line(relais_factory):
    r = relais_factory(overrides={"limits": {"command_timeout": "1s"}}).start()
    c = r.conn()
    c.ehlo()
    c.send(b"NOOP half a command without CRLF")
    rep = c.reply(timeout=10)
    c.check(rep, 421, "4.4.2")
    assert c.wait_closed(5)


def test_sighup_storm_under_traffic(relais_factory, unique):
    import signal as _signal
    r = relais_factory().start()
    c = r.conn()
    c.ehlo()
    toks = []
    for i in range(20):
        r.signal(_signal.SIGHUP)
        tok = unique("hupstorm")
        c.expect("MAIL FROM:<s@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        c.expect("DATA", 354)
        c.send(message(tok).encode() + b".\r\n")
        c.expect(None, 250)
        toks.append(tok)
    msgs = r.maildir_messages("example.test", "alice", count=20, timeout=20)
    assert all(sum(t.encode() in m for m in msgs) == 1 for t in toks)
    time.sleep(0.3)
    assert r.running()
    assert r.log().count("event=config.reload.failed") == 0
