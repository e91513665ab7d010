"""
outbound_util.py - shared pieces of the outbound delivery tests
(tests/integration/test_outbound*.py).

Fixtures (import them into a test module with
`from outbound_util import *`):
  dns          a started DNSServer (dnsserver.py) with an empty zone,
               stopped at teardown.
  peer_port    one TCP port free on 127.0.0.2 ... 127.0.0.9: every capture
               server of the test listens on it, and relais's
               [relay] outbound_port is set to it.
  peers        peers(host, **kw) -> a started CaptureSMTP on host:peer_port;
               every one is stopped at teardown.
  outbound     outbound(**relay_keys) -> a started Relais whose [dns] and
               [relay] sections point at dns and peer_port, with small retry
               settings (retry_min = retry_max = 1s unless given).

Functions: submit() sends one message to relais with smtplib (ESMTP options
for MAIL and RCPT), queue_list() runs `relais queue list` and parses it,
reports() waits for delivery reports in a local Maildir and parses them
with Python's email package, dsn_fields() splits a report into its parts.
"""

import email
import email.policy
import re
import smtplib
import time

import pytest

from capture_smtp import CaptureSMTP, shared_port
from conftest import CLIENT_NAME, HOST, wait_until
from dnsserver import DNSServer

PEER_HOSTS = [f"127.0.0.{i}" for i in range(2, 10)]

__all__ = ["dns", "peer_port", "peers", "outbound", "submit", "queue_list",
           "reports", "dsn_fields", "report_for", "msg_text", "wait_queue_empty",
           "PEER_HOSTS", "rcpt_rows"]


@pytest.fixture
def dns():
    server = DNSServer({}).start()
    yield server
    server.stop()


@pytest.fixture
def peer_port():
    return shared_port(PEER_HOSTS)


@pytest.fixture
def peers(peer_port):
    made = []

    def make(host, **kw):
        p = CaptureSMTP(host, kw.pop("port", peer_port), **kw).start()
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop()


@pytest.fixture
def outbound(relais_factory, dns, peer_port):
    def make(relay=None, extra=None, start=True, **kw):
        over = {
            "dns": {"resolver": dns.address, "timeout": "2s"},
            "relay": {"trusted_networks": "127.0.0.0/8",
                      "outbound_port": str(peer_port),
                      "retry_min": "1s", "retry_max": "1s"},
        }
        over["relay"].update(relay or {})
        for sec, keys in (extra or {}).items():
            over.setdefault(sec, {}).update(keys)
        r = relais_factory(overrides=over, **kw)
        if start:
            r.start()
        return r
    return make


def msg_text(token, sender="alice@example.test", to="bob@remote.example",
             subject=None, body=None, extra_headers=""):
    subject = subject or f"outbound {token}"
    body = body if body is not None else f"Hello, this is {token}.\r\nSecond line.\r\n"
    return (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Date: Mon, 02 Jan 2023 10:00:00 +0000\r\n"
            f"Message-ID: <{token}@example.test>\r\n{extra_headers}\r\n{body}")


def submit(relais, sender, rcpts, msg, mail_options=(), rcpt_options=()):
    """One message through relais's mx listener; asserts every recipient was
    accepted. msg: str or bytes."""
    if isinstance(msg, str):
        msg = msg.encode("utf-8")
    s = smtplib.SMTP(HOST, relais.port, local_hostname=CLIENT_NAME, timeout=20)
    try:
        s.ehlo()
        code, resp = s.mail(sender, list(mail_options))
        assert code == 250, f"MAIL: {code} {resp!r}"
        for r in rcpts:
            code, resp = s.rcpt(r, list(rcpt_options))
            assert code in (250, 251), f"RCPT {r}: {code} {resp!r}"
        code, resp = s.data(msg)
        assert code == 250, f"DATA: {code} {resp!r}"
        m = re.search(rb"queued as (\S+)", resp)
        return m.group(1).decode() if m else None
    finally:
        try:
            s.quit()
        except Exception:
            s.close()


def queue_list(relais):
    """`relais queue list` -> (rows, full output). Each row: dict with qid,
    status, attempts, sender, rcpt, last."""
    out = relais.cli("queue", "list", "-c", str(relais.conf_path))
    assert out.returncode == 0, f"queue list failed: {out.stderr}"
    rows = []
    for ln in out.stdout.splitlines():
        m = re.match(r"^(\S+)\s+(\S+)\s+(\d+)\s+(.*?)<([^>]*)> -> <([^>]*)>\s*(.*)$", ln)
        if m and m.group(1) != "ID":
            rows.append({"qid": m.group(1), "status": m.group(2),
                         "attempts": int(m.group(3)), "times": m.group(4).strip(),
                         "sender": m.group(5), "rcpt": m.group(6),
                         "last": m.group(7)})
    return rows, out.stdout


def rcpt_rows(relais, rcpt):
    rows, _ = queue_list(relais)
    return [r for r in rows if r["rcpt"].lower() == rcpt.lower()]


def wait_queue_empty(relais, timeout=10.0):
    def empty():
        rows, out = queue_list(relais)
        return out if not rows else None
    try:
        return wait_until(empty, timeout, interval=0.2, what="an empty queue")
    except AssertionError:
        raise AssertionError("queue not empty:\n" + queue_list(relais)[1]
                             + "\nlog tail:\n" + relais.log()[-3000:])


def reports(relais, user="alice", domain="example.test", count=1, timeout=10.0):
    """Wait for at least count messages in user@domain's Maildir and return
    them parsed (email.message.Message, compat32 policy) with their raw
    bytes as .raw."""
    raws = relais.maildir_messages(domain, user, count=count, timeout=timeout)
    out = []
    for raw in raws:
        m = email.message_from_bytes(raw, policy=email.policy.compat32)
        m.raw = raw
        out.append(m)
    return out


def report_for(msgs, orig_token):
    return [m for m in msgs if orig_token.encode() in m.raw]


def dsn_fields(m):
    """Check the structure of an RFC 3464 report and return its pieces:
    {"text": str, "per_message": Message, "per_rcpt": [Message],
     "original": Message part (message/rfc822 or text/rfc822-headers)}"""
    assert m.get_content_type() == "multipart/report", m.get_content_type()
    assert m.get_param("report-type") == "delivery-status", m["Content-Type"]
    parts = m.get_payload()
    assert isinstance(parts, list) and len(parts) >= 2, parts
    assert parts[0].get_content_maintype() == "text", parts[0].get_content_type()
    assert parts[1].get_content_type() == "message/delivery-status", \
        parts[1].get_content_type()
    blocks = parts[1].get_payload()
    assert isinstance(blocks, list) and len(blocks) >= 2, \
        f"delivery-status blocks: {blocks!r}"
    return {"text": parts[0].get_payload(decode=True).decode("utf-8", "replace"),
            "per_message": blocks[0], "per_rcpt": blocks[1:],
            "original": parts[2] if len(parts) > 2 else None,
            "parts": parts}


def now():
    return time.monotonic()
