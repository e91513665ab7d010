#!/usr/bin/python3
"""
session_seeds.py - write the seed corpus of fuzz_session
(tests/fuzz/corpus/fuzz_session/seed-*): the client side of each golden
transcript (tests/integration/transcripts/*.txt), plus hand-written
dialogues for what the transcripts do not reach (AUTH, STARTTLS, DKIM
signing, the failing and the late spool, SIGTERM, split writes).

Each seed is two option octets and the client's bytes; see the comment at
the top of fuzz_session.c for the option bits. Run from the top of the
repository: /usr/bin/python3 tests/fuzz/session_seeds.py
"""

import base64
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent.parent
TRANSCRIPTS = TOP / "tests/integration/transcripts"
OUT = TOP / "tests/fuzz/corpus/fuzz_session"

sys.path.insert(0, str(TOP / "tests/integration"))
from test_transcripts import unescape  # noqa: E402

# octet 0
MX_NET, MX_LO, SUB_LO, SUB_NET, PLAIN_LO6, SUBREQ_LO, MX_MAPPED, TRUSTED = range(8)
SPOOL_FAIL, SMALL, STOP, NO_EOF, LATE = 0x08, 0x10, 0x20, 0x40, 0x80


def client_bytes(transcript):
    """The octets the client sends in a transcript, in order."""
    out = bytearray()
    for line in transcript.read_text().splitlines():
        line = line.replace("$TOKEN", "fuzz0001")
        if line == "C:" or line.startswith("C: "):
            out += line[3:].encode() + b"\r\n"
        elif line.startswith("C< "):
            out += unescape(line[3:])
        elif line.startswith("BDAT-LAST"):
            text = unescape(line[10:])
            out += b"BDAT %d LAST\r\n" % len(text) + text
        elif line.startswith("BDAT "):
            text = unescape(line[5:])
            out += b"BDAT %d\r\n" % len(text) + text
    return bytes(out)


def crlf(*lines):
    return b"".join(l.encode() + b"\r\n" for l in lines)


def plain(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" +
                            password.encode()).decode()


def rep(c, n):
    """n copies of octet c (n a multiple of 8), in the harness's FF FF
    HI LO X notation"""
    return b"\xff\xff" + bytes([n // 8 >> 8, n // 8 & 0xff]) + c


def b64(s):
    return base64.b64encode(s.encode()).decode()


MSG = ("From: alice@example.test", "To: bob@example.test",
       "Subject: seed", "", "..dot", "body", ".")

HAND = {
    "auth-plain": (SUB_LO, 0, crlf(
        "EHLO c.test", "AUTH PLAIN " + plain("alice@example.test", "secret"),
        "MAIL FROM:<alice@example.test>", "RCPT TO:<someone@remote.test>",
        "DATA", *MSG, "QUIT")),
    "auth-login": (SUB_LO, 0, crlf(
        "EHLO c.test", "AUTH LOGIN", b64("bob@example.test"), b64("secret"),
        "MAIL FROM:<team@example.test>", "MAIL FROM:<bob@example.test>",
        "RCPT TO:<alice@example.test>", "BDAT 5 LAST") + b"a\r\nb\r" +
        crlf("QUIT")),
    "auth-fail-ban": (SUB_LO | SMALL, 0, crlf(
        "EHLO c.test", "AUTH PLAIN " + plain("alice@example.test", "wrong"),
        "AUTH PLAIN", plain("nopass@example.test", "secret"),
        "AUTH LOGIN", "*", "AUTH PLAIN " + plain("x@y", "busy"),
        "AUTH PLAIN =", "AUTH CRAM-MD5")),
    "auth-daily-limit": (SUB_LO | SMALL, 9, crlf(
        "EHLO c.test", "AUTH PLAIN " + plain("alice@example.test", "secret"),
        "MAIL FROM:<alice@example.test>", "RCPT TO:<bob@example.test>",
        "DATA", *MSG, "MAIL FROM:<alice@example.test>", "QUIT")),
    "starttls": (MX_NET, 0, crlf("EHLO c.test", "STARTTLS", "NOOP") +
                 b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"),
    "starttls-required": (SUBREQ_LO, 0, crlf(
        "EHLO c.test", "MAIL FROM:<a@b.test>", "AUTH PLAIN x",
        "STARTTLS now", "STARTTLS")),
    "dkim-sign": (MX_LO, 0, crlf(
        "EHLO c.test", "MAIL FROM:<alice@example.test> BODY=8BITMIME",
        "RCPT TO:<x@remote.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;x@remote.test",
        "RCPT TO:<team@example.test>", "DATA", *MSG, "QUIT")),
    "spool-fail": (TRUSTED | SPOOL_FAIL, 0, crlf(
        "HELO c.test", "MAIL FROM:<>", "RCPT TO:<postmaster>", "DATA",
        "Subject: x", "", "x", ".", "RSET", "QUIT")),
    "late-pipelined": (MX_NET | LATE | NO_EOF, 0, crlf(
        "EHLO c.test", "MAIL FROM:<a@remote.test>", "RCPT TO:<info@example.test>",
        "DATA", *MSG, "MAIL FROM:<b@remote.test> SIZE=10",
        "RCPT TO:<x@other.test>", "BDAT 3 LAST") + b"x\r\n" + crlf("NOOP")),
    "late-gone": (MX_NET | LATE, 0, crlf(
        "EHLO c.test", "MAIL FROM:<a@remote.test>", "RCPT TO:<bob@example.test>",
        "DATA", *MSG)),
    "sigterm-in-data": (MX_MAPPED | STOP | NO_EOF, 0, crlf(
        "EHLO c.test", "MAIL FROM:<a@remote.test>", "RCPT TO:<bob@example.test>",
        "DATA", "Subject: x")),
    "split-writes": (PLAIN_LO6, 3, crlf(
        "EHLO c.test", "MAIL FROM:<a@remote.test> SMTPUTF8",
        "RCPT TO:<loop1@example.test>", "RCPT TO:<ext@example.test>",
        "RCPT TO:<dave@other.test>", "DATA", "Subject: s", "",
        "." * 1200, "..", ".", "QUIT")),
    "huge-lines": (SUB_NET | SMALL, 0, b"EHLO " + b"h" * 700 + b"\r\n" +
                   crlf("EHLO c.test", "AUTH PLAIN x", "MAIL FROM:<a@b.test>") +
                   b"NOOP\rNOOP\nNOOP\r\n" + b"x" * 600 + b"\r" + b"\n"),
    "bdat-sequence": (MX_NET | SMALL, 1, crlf(
        "EHLO c.test", "BDAT 4") + b"abcd" + crlf(
        "MAIL FROM:<a@remote.test>", "BDAT 2") + b"xy" + crlf(
        "RCPT TO:<bob@example.test>", "RCPT TO:<alice@example.test>",
        "RCPT TO:<carol@example.test>", "BDAT 1200") + b"y" * 1200 +
        crlf("BDAT 0 LAST", "RSET", "BDAT x", "DATA")),
    "huge-command": (MX_NET, 0, crlf("EHLO c.test") + b"NOOP " +
                     rep(b"n", 300000) + crlf("", "NOOP", "QUIT")),
    "huge-text": (MX_LO, 200, crlf(
        "EHLO c.test", "MAIL FROM:<a@remote.test>", "RCPT TO:<bob@example.test>",
        "DATA", "Subject: big", "") + rep(b"x", 5000) + crlf("") +
        (rep(b"y", 992) + b"\r\n") * 4 + crlf(".", "QUIT")),
    "big-bdat": (MX_NET, 0, crlf(
        "EHLO c.test", "MAIL FROM:<a@remote.test>", "RCPT TO:<bob@example.test>",
        "BDAT 200000") + rep(b"z", 200000) + crlf("BDAT 0 LAST", "QUIT")),
    "big-header-sub": (SUB_LO | SMALL, 0, crlf(
        "EHLO c.test", "AUTH PLAIN " + plain("alice@example.test", "secret"),
        "MAIL FROM:<alice@example.test>", "RCPT TO:<bob@example.test>",
        "DATA") + (b"X-H: " + rep(b"h", 800) + b"\r\n") * 90 +
        crlf("", "b", ".", "QUIT")),
    # regression: an empty message from an authenticated user made the
    # header fix-up compute NULL + 0 (UBSan, smtp_server_header_flush)
    "regress-empty-submission": (SUB_LO, 0, crlf(
        "EHLO c.test", "AUTH PLAIN " + plain("alice@example.test", "secret"),
        "MAIL FROM:<alice@example.test>", "RCPT TO:<bob@example.test>",
        "DATA", ".", "QUIT")),
    # regression: 300 KB pipelined behind a message waiting for the spool
    # filled the input to its high-water mark, where libevent ran the read
    # callback without end (smtp_server_read_gate)
    "regress-pipelined-past-mark": (MX_NET | LATE | NO_EOF, 0, crlf(
        "EHLO c.test", "MAIL FROM:<a@remote.test>", "RCPT TO:<bob@example.test>",
        "DATA", *MSG) + b"NOOP " + rep(b"p", 300000) + crlf("", "QUIT")),
}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    n = 0
    for t in sorted(TRANSCRIPTS.glob("*.txt")):
        (OUT / f"seed-{t.stem}").write_bytes(bytes([MX_LO, 0]) +
                                             client_bytes(t))
        n += 1
    for name, (opt, step, body) in HAND.items():
        (OUT / f"seed-{name}").write_bytes(bytes([opt, step]) + body)
        n += 1
    print(f"{n} seeds in {OUT.relative_to(TOP)}")


if __name__ == "__main__":
    main()
