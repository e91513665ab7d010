"""SMTP smuggling and hostile input (issue 2: bare LF / bare CR refused,
only CRLF.CRLF ends DATA, line limits, bounded memory)."""

import socket
import time

import pytest

from conftest import SMTPClosed, message, split_headers, vm_rss_kb

# Each vector is a would-be end of data other than <CRLF>.<CRLF>.
END_VECTORS = {
    "lf-dot-lf": b"\n.\n",
    "lf-dot-crlf": b"\n.\r\n",
    "cr-dot-lf": b"\r.\n",
    "crlf-dot-lf": b"\r\n.\n",
    "cr-dot-crlf": b"\r.\r\n",
    "crlf-dot-cr": b"\r\n.\r",
    "lf-dot-cr": b"\n.\r",
}


def open_data(relais, rcpt="alice@example.test"):
    c = relais.conn()
    c.ehlo()
    c.expect("MAIL FROM:<victim@remote.test>", 250)
    c.expect(f"RCPT TO:<{rcpt}>", 250)
    c.expect("DATA", 354)
    return c


def barrier(relais, unique):
    """Send a clean message to carol and wait for it, then until every
    message relais accepted (event=received) is finished (event=removed):
    anything accepted before the barrier has been delivered by then."""
    tok = unique("barrier")
    relais.send("b@remote.test", ["carol@example.test"], message(tok))
    relais.find_token(tok, timeout=10)
    relais.wait_settled()


@pytest.mark.parametrize("name", list(END_VECTORS))
def test_data_smuggling_vector_refused(relais, unique, name):
    vec = END_VECTORS[name]
    tok_outer = unique("outer")
    tok_inner = unique("smuggled")
    c = open_data(relais)
    c.send(f"From: <victim@remote.test>\r\nSubject: {tok_outer}\r\n\r\nfirst part".encode()
           + vec
           + b"MAIL FROM:<attacker@remote.test>\r\n"
             b"RCPT TO:<bob@example.test>\r\n"
             b"DATA\r\n"
           + f"From: <ceo@example.test>\r\nSubject: {tok_inner}\r\n\r\nsmuggled\r\n".encode())
    # the bare sequence did not end the data: the server says nothing yet
    early = c.quiet(1.0)
    assert early == b"", (f"server answered before the real end of data "
                          f"(vector {vec!r}):\n{c.transcript()}")
    c.send(b"\r\n.\r\n")
    try:
        r = c.reply(15)
    except SMTPClosed:
        pytest.fail(f"connection closed without a reply at end of data\n{c.transcript()}")
    assert 500 <= r.code < 600, (f"message with {vec!r} in DATA was accepted: {r}\n"
                                 f"{c.transcript()}")
    extra = c.quiet(0.7)
    assert extra == b"" or extra.startswith(b"421"), \
        f"more replies after the refusal (smuggled commands ran?): {extra!r}\n{c.transcript()}"
    if not c.eof and not extra:
        # back in command state, not inside a smuggled transaction
        c.expect("RCPT TO:<bob@example.test>", 503)
        c.expect("NOOP", 250)
    barrier(relais, unique)
    assert relais.find_token(tok_outer) == [], "refused message was delivered"
    assert relais.find_token(tok_inner) == [], "smuggled message was delivered"
    assert not any(e.get("from") == "<attacker@remote.test>"
                   for e in relais.log_events("received"))


@pytest.mark.parametrize("bad", [b"bare\nLF", b"bare\rCR", b"trailing CR\r", b"\n",
                                 b"two\n\nLFs"])
def test_bare_lf_or_cr_inside_data_refused(relais, unique, bad):
    tok = unique("bare")
    c = open_data(relais)
    c.send(f"Subject: {tok}\r\n\r\nline one\r\n".encode() + bad + b"\r\nlast line\r\n.\r\n")
    r = c.reply(15)
    assert 500 <= r.code < 600, f"{bad!r} in DATA accepted: {r}\n{c.transcript()}"
    barrier(relais, unique)
    assert relais.find_token(tok) == []


def test_bare_lf_in_headers_refused(relais, unique):
    tok = unique("hdr")
    c = open_data(relais)
    c.send(f"Subject: {tok}\nX-Injected: yes\r\n\r\nbody\r\n.\r\n".encode())
    r = c.reply(15)
    assert 500 <= r.code < 600, f"{r}\n{c.transcript()}"
    barrier(relais, unique)
    assert relais.find_token(tok) == []


def test_clean_message_after_refused_one_in_same_session(relais, unique):
    c = open_data(relais)
    c.send(b"Subject: bad\r\n\r\nx\n.\ny\r\n.\r\n")
    r = c.reply(15)
    assert 500 <= r.code < 600, r
    if c.quiet(0.3) or c.eof:
        c = relais.conn()
        c.ehlo()
    tok = unique("clean")
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send(message(tok).encode() + b".\r\n")
    c.expect(None, 250)
    [raw] = relais.maildir_messages("example.test", "alice")
    assert tok.encode() in raw


# ------------------------------------------------------------ commands


@pytest.mark.parametrize("wire", [
    b"NOOP\nNOOP\r\n",
    b"NOOP\rNOOP\r\n",
    b"MAIL FROM:<attacker@remote.test>\nRCPT TO:<bob@example.test>\r\n",
    b"MAIL FROM:<attacker@remote.test>\rRCPT TO:<bob@example.test>\r\n",
    b"RSET\r\r\n",
])
def test_bare_lf_or_cr_in_command_refused(relais, wire):
    c = relais.conn()
    c.ehlo()
    c.send(wire)
    got = c.quiet(1.5)
    c.buf = b""  # the replies above are consumed
    # Either one or more 5xx replies (and the session goes on), or 5xx and close.
    assert got, f"no reply to {wire!r}\n{c.transcript()}"
    codes = [ln[:3] for ln in got.split(b"\r\n") if ln]
    assert codes and all(cd.startswith(b"5") for cd in codes), \
        f"{wire!r} was interpreted: {got!r}\n{c.transcript()}"
    assert all(ln[:3] != b"250" for ln in got.split(b"\r\n")), got
    if not c.eof:
        # no transaction was opened by the smuggled MAIL
        try:
            c.expect("RCPT TO:<bob@example.test>", 503)
        except SMTPClosed:
            pass


def test_bare_lf_command_does_not_open_transaction(relais, unique):
    c = relais.conn()
    c.ehlo()
    tok = unique("cmdsmuggle")
    c.send(b"MAIL FROM:<attacker@remote.test>\nRCPT TO:<bob@example.test>\nDATA\n"
           + f"Subject: {tok}\n\nhi\n.\n".encode() + b"QUIT\r\n")
    got = c.quiet(2.0)
    assert b"354" not in got and b"\n250" not in b"\n" + got, \
        f"smuggled commands were accepted: {got!r}"
    barrier(relais, unique)
    assert relais.find_token(tok) == []


# ------------------------------------------------------------ line lengths


def test_text_line_1000_octets_accepted(relais, unique):
    tok = unique("line1000")
    c = open_data(relais)
    c.send(f"Subject: {tok}\r\n\r\n".encode() + b"a" * 998 + b"\r\n.\r\n")
    c.expect(None, 250)
    [raw] = relais.maildir_messages("example.test", "alice")
    assert b"a" * 998 in raw


@pytest.mark.parametrize("n", [999, 1500, 70000])
def test_text_line_over_1000_octets_refused(relais, unique, n):
    tok = unique("longline")
    c = open_data(relais)
    c.send(f"Subject: {tok}\r\n\r\nshort\r\n".encode() + b"b" * n + b"\r\nafter\r\n.\r\n")
    r = c.reply(15)
    assert 500 <= r.code < 600, f"{n}-octet text line accepted: {r}"
    extra = c.quiet(0.5)
    assert extra == b"", f"extra output: {extra!r}"
    barrier(relais, unique)
    assert relais.find_token(tok) == []


def test_long_header_line_refused(relais, unique):
    tok = unique("longhdr")
    c = open_data(relais)
    c.send(f"Subject: {tok}\r\nX-Long: ".encode() + b"h" * 1200 + b"\r\n\r\nbody\r\n.\r\n")
    r = c.reply(15)
    assert 500 <= r.code < 600, r
    barrier(relais, unique)
    assert relais.find_token(tok) == []


# ------------------------------------------------------------ 100 MB line

RSS_BOUND_KB = 64 * 1024


def stream_line(c, relais, total, chunk=1 << 20):
    """Stream `total` octets of one line without CRLF; return (sent, peak
    VmRSS seen in kB). Stops early if the server closes."""
    buf = b"A" * chunk
    sent, peak = 0, 0
    deadline = time.monotonic() + 90
    c.sock.settimeout(30)
    while sent < total:
        assert time.monotonic() < deadline, "streaming took too long"
        try:
            c.sock.sendall(buf)
        except (BrokenPipeError, ConnectionResetError):
            break
        except socket.timeout:
            pytest.fail(f"daemon stopped reading for 30 s after {sent} octets "
                        f"without closing the connection")
        sent += chunk
        if sent % (8 * chunk) == 0:
            peak = max(peak, vm_rss_kb(relais.pid))
    peak = max(peak, vm_rss_kb(relais.pid))
    return sent, peak


def warm_up(relais, unique):
    tok = unique("warm")
    relais.send("w@remote.test", ["carol@example.test"], message(tok))
    relais.find_token(tok, timeout=10)


def test_100mb_line_in_data_bounded_memory(relais, unique):
    warm_up(relais, unique)
    before = vm_rss_kb(relais.pid)
    c = open_data(relais)
    c.send(b"Subject: huge\r\n\r\n")
    sent, peak = stream_line(c, relais, 100 << 20)
    outcome = "closed"
    try:
        c.sock.sendall(b"\r\n.\r\n")
        r = c.reply(30)
        outcome = str(r)
        assert 500 <= r.code < 600, f"100 MB line accepted: {r}"
    except (OSError, SMTPClosed):
        pass
    after = vm_rss_kb(relais.pid)
    print(f"100MB DATA line: sent={sent} before={before}kB peak={peak}kB after={after}kB "
          f"outcome={outcome}")
    assert peak - before < RSS_BOUND_KB, f"VmRSS grew from {before} kB to {peak} kB"
    assert after - before < RSS_BOUND_KB
    assert relais.running()
    c.close()
    # a new session is served
    c2 = relais.conn()
    c2.ehlo()
    tok = unique("afterhuge")
    c2.expect("MAIL FROM:<s@remote.test>", 250)
    c2.expect("RCPT TO:<alice@example.test>", 250)
    c2.expect("DATA", 354)
    c2.send(message(tok).encode() + b".\r\n")
    c2.expect(None, 250)
    assert relais.find_token(tok, timeout=10)
    assert not any(b"AAAAAAAAAAAAAAAA" in p.read_bytes() for p in relais.all_mail_files())


def test_100mb_command_line_bounded_memory(relais, unique):
    warm_up(relais, unique)
    before = vm_rss_kb(relais.pid)
    c = relais.conn()
    c.ehlo()
    c.send(b"NOOP ")
    sent, peak = stream_line(c, relais, 100 << 20)
    try:
        c.sock.sendall(b"\r\n")
        got = c.quiet(2.0)
        # any reply must be an error, never a 250 for the monster NOOP
        assert got == b"" or got.startswith(b"5") or got.startswith(b"421"), got[:200]
        assert b"\n250" not in got and not got.startswith(b"250"), got[:200]
    except OSError:
        pass
    after = vm_rss_kb(relais.pid)
    print(f"100MB command line: sent={sent} before={before}kB peak={peak}kB after={after}kB")
    assert peak - before < RSS_BOUND_KB, f"VmRSS grew from {before} kB to {peak} kB"
    assert after - before < RSS_BOUND_KB
    assert relais.running()
    c.close()
    c2 = relais.conn()
    c2.ehlo()
    c2.expect("NOOP", 250)


def test_100mb_bdat_chunk_bounded_memory(relais, unique):
    """A BDAT chunk far over the size limit is consumed (or the connection
    closed) without buffering it."""
    warm_up(relais, unique)
    before = vm_rss_kb(relais.pid)
    c = relais.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    total = 100 << 20
    c.send(f"BDAT {total} LAST\r\n".encode())
    sent, peak = stream_line(c, relais, total)
    if sent >= total:
        try:
            r = c.reply(30)
            assert 500 <= r.code < 600, r
        except (OSError, SMTPClosed):
            pass
    after = vm_rss_kb(relais.pid)
    print(f"100MB BDAT: sent={sent} before={before}kB peak={peak}kB after={after}kB")
    assert peak - before < RSS_BOUND_KB
    assert relais.running()
    c2 = relais.conn()
    c2.ehlo()


@pytest.mark.parametrize("wire", [b"NOOP\x00\r\n", b"MAIL FROM:<a\x00b@remote.test>\r\n",
                                  b"EHLO client\x01.test\r\n"])
def test_control_characters_in_command_refused(relais, wire):
    c = relais.conn()
    c.ehlo()
    c.send(wire)
    try:
        r = c.reply()
    except SMTPClosed:
        pytest.fail(f"connection closed without a reply to {wire!r}")
    assert r.code in (500, 501), r
    if not c.quiet(0.3) and not c.eof:
        c.expect("NOOP", 250)


def test_crlf_dot_crlf_inside_bdat_is_data(relais, unique):
    tok = unique("bdatdot")
    inner = unique("inner")
    body = (f"Subject: {tok}\r\n\r\nbefore\r\n.\r\nMAIL FROM:<evil@remote.test>\r\n"
            f"RCPT TO:<bob@example.test>\r\nDATA\r\nSubject: {inner}\r\n\r\nx\r\n.\r\n"
            f"after\r\n").encode()
    c = relais.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.send(f"BDAT {len(body)} LAST\r\n".encode() + body)
    c.expect(None, 250)
    assert c.quiet(0.5) == b"", c.transcript()
    [raw] = relais.maildir_messages("example.test", "alice")
    assert b"\n.\r\nMAIL FROM:<evil@remote.test>" in raw or \
        b"\n.\nMAIL FROM:<evil@remote.test>" in raw
    assert raw.rstrip().endswith(b"after")
    barrier(relais, unique)
    assert relais.find_token(inner) == [relais.maildir_files("example.test", "alice")[0]]


def test_bdat_refused_chunk_is_consumed_not_executed(relais):
    # a BDAT that is refused (no transaction) still carries its octets;
    # they must be skipped, never read as commands (RFC 3030 section 2)
    c = relais.conn()
    c.ehlo()
    payload = b"MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
    c.send(f"BDAT {len(payload)} LAST\r\n".encode() + payload)
    r = c.reply()
    assert r.code == 503, r
    extra = c.quiet(0.7)
    assert extra == b"", f"chunk octets were executed as commands: {extra!r}\n{c.transcript()}"
    c.expect("RCPT TO:<bob@example.test>", 503)


# ------------------------------------------------------------ segment boundaries


def send_segments(c, parts, pause=0.15):
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for p in parts:
        c.send(p)
        time.sleep(pause)


def test_end_of_data_split_across_segments(relais, unique):
    tok = unique("seg")
    c = open_data(relais)
    send_segments(c, [f"Subject: {tok}\r\n\r\nline one\r".encode(), b"\n.",
                      b".dot line\r\n", b"last line\r\n", b".", b"\r", b"\n"])
    c.expect(None, 250)
    [raw] = relais.maildir_messages("example.test", "alice")
    _, body = split_headers(raw)
    assert body == b"line one\n.dot line\nlast line\n", body


def test_bare_cr_at_segment_end_refused(relais, unique):
    tok = unique("segcr")
    c = open_data(relais)
    send_segments(c, [f"Subject: {tok}\r\n\r\nline one\r".encode(), b"X\r\n", b".\r\n"])
    r = c.reply(15)
    assert 500 <= r.code < 600, f"bare CR split over segments accepted: {r}"
    barrier(relais, unique)
    assert relais.find_token(tok) == []


def test_smuggled_end_split_across_segments(relais, unique):
    tok = unique("segsmug")
    c = open_data(relais)
    send_segments(c, [f"Subject: {tok}\r\n\r\nhello\n".encode(), b".", b"\n",
                      b"MAIL FROM:<evil@remote.test>\r\n"])
    assert c.quiet(1.0) == b"", c.transcript()
    c.send(b"\r\n.\r\n")
    r = c.reply(15)
    assert 500 <= r.code < 600, r
    barrier(relais, unique)
    assert relais.find_token(tok) == []


def test_command_split_across_segments(relais):
    c = relais.conn()
    send_segments(c, [b"EH", b"LO client.test\r", b"\n"])
    c.expect(None, 250)
    send_segments(c, [b"NOOP\r", b"\nNO", b"OP\r\n"])
    c.expect(None, 250)
    c.expect(None, 250)
    send_segments(c, [b"NOOP\r", b"NOOP\r\n"])
    r = c.reply()
    assert r.code == 500, f"bare CR across segments not refused: {r}"
