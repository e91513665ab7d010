"""
Outbound 8BITMIME and SMTPUTF8 (issue 3, part 2): an 8-bit body and UTF-8
addresses, relayed to peers with and without those extensions. Capture
servers that do not advertise an extension refuse its parameter (555), as
a strict server does.
"""

import email
import email.policy

from conftest import wait_until
from outbound_util import *  # noqa: F401,F403 (fixtures)

SENDER = "alice@example.test"
BODY8 = "Grüße aus Köln – ça marche, naïve café.\r\nZweite Zeile: äöü ß €.\r\n"


def one_mx(dns, domain="remote.example", host="127.0.0.2"):
    dns.set(domain, {"MX": [(10, f"mx.{domain}")]})
    dns.set(f"mx.{domain}", {"A": [host]})


def eightbit_message(tok, to="bob@remote.example", sender=SENDER):
    return (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: 8bit {tok}\r\n"
            f"Message-ID: <{tok}@example.test>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: 8bit\r\n\r\n{BODY8}").encode("utf-8")


def body_text(data):
    m = email.message_from_bytes(data, policy=email.policy.default)
    return m.get_content()


def test_8bit_body_to_peer_with_8bitmime(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example", eightbitmime=True)
    r = outbound()
    tok = unique("8bit")
    submit(r, SENDER, ["bob@remote.example"], eightbit_message(tok),
           mail_options=["BODY=8BITMIME"])
    (t,) = peer.wait_messages(1)
    assert str(t.mail_params.get("BODY", "")).upper() == "8BITMIME", t.mail_params
    assert BODY8.encode("utf-8") in t.data, "8-bit body altered"
    wait_queue_empty(r)


def test_8bit_body_to_peer_without_8bitmime(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example", eightbitmime=False)
    r = outbound()
    tok = unique("8bit-no")
    qid = submit(r, SENDER, ["bob@remote.example"], eightbit_message(tok),
                 mail_options=["BODY=8BITMIME"])
    (t,) = peer.wait_messages(1)
    assert "BODY" not in t.mail_params, \
        f"BODY= sent to a peer without 8BITMIME: {t.mail_params}"
    # delivered as it is (what Postfix does) or converted to 7bit: either
    # way the text the recipient reads is unchanged
    got = body_text(t.data).replace("\r\n", "\n").rstrip()
    assert got == BODY8.replace("\r\n", "\n").rstrip(), got
    wait_queue_empty(r)
    assert [e for e in r.log_events("delivered") if e.get("id") == qid]


def test_7bit_message_without_body_param(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example", eightbitmime=True)
    r = outbound()
    submit(r, SENDER, ["bob@remote.example"], msg_text(unique("7bit")))
    (t,) = peer.wait_messages(1)
    assert str(t.mail_params.get("BODY", "7BIT")).upper() == "7BIT", t.mail_params


def test_smtputf8_addresses_to_peer_with_smtputf8(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example", smtputf8=True)
    r = outbound()
    tok = unique("utf8")
    rcpt = "jürgen@remote.example"
    sender = "émile@example.test"
    msg = eightbit_message(tok, to=rcpt, sender=sender)
    submit(r, sender, [rcpt], msg, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    (t,) = peer.wait_messages(1)
    assert "SMTPUTF8" in t.mail_params, t.mail_params
    assert t.sender == sender
    assert t.accepted_rcpts == [rcpt]
    assert BODY8.encode("utf-8") in t.data
    assert f"<{rcpt}>".encode("utf-8") in t.data
    wait_queue_empty(r)


def test_smtputf8_needed_peer_without_bounces_5_6_7(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example", smtputf8=False)
    r = outbound()
    tok = unique("utf8-no")
    rcpt = "jürgen@remote.example"
    qid = submit(r, SENDER, [rcpt], eightbit_message(tok, to=rcpt),
                 mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    ev = wait_until(lambda: [e for e in r.log_events("bounced") if e.get("id") == qid], 10,
                    what="event=bounced")
    assert ev[0]["status"] == "5.6.7", ev[0]
    assert not peer.transactions or not [t for t in peer.transactions if t.data], \
        "a message that needs SMTPUTF8 was transferred to a peer without it"
    (m,) = reports(r, count=1)
    assert m.get_content_type() == "multipart/report"
    assert b"Status: 5.6.7" in m.raw
    assert tok.encode() in m.raw
    wait_queue_empty(r)


def test_smtputf8_flag_ascii_message_to_peer_without(dns, peers, outbound, unique):
    # the client asked for SMTPUTF8 but neither the addresses nor the
    # headers need it: the message is relayed without the parameter
    # (RFC 6531 3.4: a client that knows the message does not need
    # SMTPUTF8 SHOULD NOT send it; only a message that needs it bounces)
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example", smtputf8=False)
    r = outbound()
    tok = unique("utf8-ascii")
    qid = submit(r, SENDER, ["bob@remote.example"], msg_text(tok),
                 mail_options=["SMTPUTF8"])
    ev = wait_until(lambda: [e for n in ("delivered", "bounced", "deferred")
                             for e in r.log_events(n) if e.get("id") == qid], 10,
                    what="an outcome")
    assert ev[0]["event"] == "delivered", ev[0]
    (t,) = peer.wait_messages(1)
    assert "SMTPUTF8" not in t.mail_params
    assert tok.encode() in t.data
