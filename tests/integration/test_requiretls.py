"""
REQUIRETLS and "TLS-Required: No" (RFC 8689, issue 14 item 4).

Inbound: REQUIRETLS is offered in EHLO on TLS sessions only (after
STARTTLS, or on an implicit-TLS listener); MAIL FROM ... REQUIRETLS is
refused 530 5.7.10 on a clear session, 555 after HELO, 501 with a value,
and taken under TLS; "TLS-Required: No" in the header section marks the
message tls_optional unless REQUIRETLS was given (then the field is
ignored and stays in the message). `relais queue show` and GET
/v1/messages/ID show both flags; a REQUIRETLS message to a local mailbox is
delivered; a report about a REQUIRETLS message carries its header section
only, whatever RET asked, and is queued with REQUIRETLS itself.

Outbound (the delivery agent's part; these need it): a REQUIRETLS message
to a domain with neither DANE nor an MTA-STS policy bounces at once with
5.7.30, and so does one to a `[tls_policy] ... = verify` domain (a WebPKI
certificate alone does not satisfy REQUIRETLS); a "TLS-Required: No"
message to a `dane` domain whose DNS is insecure is delivered anyway.
"""

import re
import smtplib

import pytest

from api_util import *  # noqa: F401,F403
from conftest import (CLIENT_NAME, HOST, message, split_headers, tls_client_context,
                      tls_conn, tls_listeners, tls_wrap, wait_until)
from outbound_util import *  # noqa: F401,F403

SENDER = "alice@example.test"


def ehlo_keywords(r):
    return {t.split()[0].upper() for t in r.texts[1:] if t.strip()}


def tls_over(r, tls_files):
    """Overrides: the mx listener offers STARTTLS with the test
    certificate; a submission and a submissions (implicit) listener."""
    over = tls_listeners(r, tls_files)
    over["listener mx"] = {"tls": "optional"}
    return over


@pytest.fixture
def rtls(relais_factory, tls_files):
    r = relais_factory()
    r.write_config(overrides=tls_over(r, tls_files))
    return r.start()


def block_mailbox(r, user="carol"):
    """A regular file where user's Maildir should be: local delivery to
    them is deferred, so their messages stay in the queue."""
    p = r.maildir("example.test", user)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("not a directory\n")


def queue_show(r, qid):
    out = r.cli("queue", "show", qid, "-c", str(r.conf_path))
    assert out.returncode == 0, out.stderr
    return out.stdout


def received_id(r, since=0):
    ev = wait_until(lambda: r.log_events("received", since), 10,
                    what="event=received")
    return ev[-1]["id"]


def starttls(c):
    c.expect("STARTTLS", 220, "2.0.0")
    tls_wrap(c, tls_client_context(), server_hostname="mx.test")
    return c.ehlo()


def send_tls(r, sender, rcpts, msg, mail_options=("REQUIRETLS",), rcpt_options=()):
    """One message over STARTTLS with smtplib; returns the queue id."""
    if isinstance(msg, str):
        msg = msg.encode()
    s = smtplib.SMTP(HOST, r.port, local_hostname=CLIENT_NAME, timeout=20)
    try:
        s.ehlo()
        s.starttls(context=tls_client_context())
        code, resp = s.ehlo()
        assert code == 250 and b"REQUIRETLS" in resp, resp
        code, resp = s.mail(sender, list(mail_options))
        assert code == 250, f"MAIL: {code} {resp!r}"
        for rc in rcpts:
            code, resp = s.rcpt(rc, list(rcpt_options))
            assert code in (250, 251), f"RCPT {rc}: {code} {resp!r}"
        code, resp = s.data(msg)
        assert code == 250, f"DATA: {code} {resp!r}"
        return re.search(rb"queued as (\S+)", resp).group(1).decode()
    finally:
        try:
            s.quit()
        except Exception:
            s.close()


# ---------------------------------------------------------------- inbound


def test_ehlo_offers_requiretls_only_under_tls(rtls, tls_files):
    c = rtls.conn()
    assert "REQUIRETLS" not in ehlo_keywords(c.ehlo())
    assert "REQUIRETLS" in ehlo_keywords(starttls(c))
    c.expect("QUIT", 221)
    # the STARTTLS submission listener: the same
    c = tls_conn(rtls.sub_port, ehlo=False)
    assert "REQUIRETLS" in ehlo_keywords(c.ehlo())
    c.expect("QUIT", 221)
    # implicit TLS: from the first EHLO
    c = tls_conn(rtls.tls_port, implicit=True, ehlo=False)
    assert "REQUIRETLS" in ehlo_keywords(c.ehlo())
    c.expect("QUIT", 221)


def test_mail_requiretls_refused_without_tls(rtls, unique):
    c = rtls.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test> REQUIRETLS", 530, "5.7.10")
    c.expect("MAIL FROM:<s@remote.test> SIZE=10 requiretls", 530, "5.7.10")
    # the session goes on: no transaction was opened
    c.expect("RCPT TO:<alice@example.test>", 503)
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RSET", 250)
    # syntax before policy: a value or a repeat is a syntax error
    c.expect("MAIL FROM:<s@remote.test> REQUIRETLS=YES", 501, "5.5.4")
    c.expect("MAIL FROM:<s@remote.test> REQUIRETLS REQUIRETLS", 501, "5.5.4")
    c.expect("QUIT", 221)
    # not offered after HELO, even under TLS: refused as any parameter is
    c = rtls.conn()
    starttls(c)
    c.expect("HELO client.test", 250)
    c.expect("MAIL FROM:<s@remote.test> REQUIRETLS", 555, "5.5.4")
    c.expect("QUIT", 221)
    assert not rtls.log_events("received")


def test_mail_requiretls_under_tls_and_queue_show(rtls, unique):
    block_mailbox(rtls)
    tok = unique("rtls")
    c = rtls.conn()
    starttls(c)
    c.expect("MAIL FROM:<s@remote.test> REQUIRETLS", 250, "2.1.0")
    c.expect("RCPT TO:<carol@example.test>", 250)
    c.expect("DATA", 354)
    # with REQUIRETLS the field is ignored (RFC 8689 4.1), and kept
    c.send(message(tok, to="carol@example.test",
                   extra_headers="TLS-Required: No\r\n").encode() + b".\r\n")
    c.expect(None, 250)
    c.expect("QUIT", 221)
    qid = received_id(rtls)
    ev = [e for e in rtls.log_events("received") if e["id"] == qid][0]
    assert ev.get("requiretls") == "yes", ev
    rtls.wait_log(r"event=deferred [^\n]*id=" + re.escape(qid), timeout=15)
    out = queue_show(rtls, qid)
    assert "requiretls: yes\n" in out, out
    assert "tls-required:" not in out, out
    assert "TLS-Required: No" in out, out


@pytest.mark.parametrize("field", ["TLS-Required: No", "tls-required:no",
                                   "TLS-Required:\r\n No"])
def test_tls_required_no_marks_tls_optional(rtls, unique, field):
    block_mailbox(rtls)
    tok = unique("topt")
    # a clear session: the field needs no TLS
    assert rtls.send("s@remote.test", ["carol@example.test"],
                     message(tok, to="carol@example.test",
                             extra_headers=field + "\r\n")) == {}
    qid = received_id(rtls)
    rtls.wait_log(r"event=deferred [^\n]*id=" + re.escape(qid), timeout=15)
    out = queue_show(rtls, qid)
    assert "tls-required: no\n" in out, out
    assert "requiretls:" not in out, out


def test_other_tls_required_values_mean_nothing(rtls, unique):
    block_mailbox(rtls)
    tok = unique("tyes")
    # a "TLS-Required: No" in the body is not a header field
    body = "TLS-Required: No\r\n"
    assert rtls.send("s@remote.test", ["carol@example.test"],
                     message(tok, to="carol@example.test", body=body,
                             extra_headers="TLS-Required: Yes\r\n"
                             "X-TLS-Required: No\r\n")) == {}
    qid = received_id(rtls)
    rtls.wait_log(r"event=deferred [^\n]*id=" + re.escape(qid), timeout=15)
    out = queue_show(rtls, qid)
    assert "tls-required:" not in out and "requiretls:" not in out, out


def test_requiretls_message_to_local_mailbox_is_delivered(rtls, unique):
    tok = unique("local")
    send_tls(rtls, "s@remote.test", ["alice@example.test"], message(tok))
    raw = rtls.maildir_messages("example.test", "alice")[0]
    assert tok.encode() in raw
    headers, _ = split_headers(raw)
    rec = [h for h in headers if h.startswith("Received:")][0]
    assert "with ESMTPS id" in rec, rec


def test_api_requiretls_and_tls_optional(api_relais, unique):
    r, api = api_relais()
    block_mailbox(r)
    st, _, ans = api.send({"from": SENDER, "to": "carol@example.test",
                           "subject": "api", "text": "x", "requiretls": True})
    assert st == 202, ans
    st, _, m = api.req("GET", f"/v1/messages/{ans['id']}")
    assert st == 200 and m["requiretls"] is True and m["tls_optional"] is False, m
    assert "requiretls: yes\n" in queue_show(r, ans["id"])
    st, _, ans = api.send({"from": SENDER, "to": "carol@example.test",
                           "subject": "api", "text": "x",
                           "headers": {"TLS-Required": "No"}})
    assert st == 202, ans
    st, _, m = api.req("GET", f"/v1/messages/{ans['id']}")
    assert st == 200 and m["requiretls"] is False and m["tls_optional"] is True, m
    st, _, ans = api.send({"from": SENDER, "to": "carol@example.test",
                           "text": "x", "requiretls": "yes"})
    assert st == 400 and ans["error"]["field"] == "requiretls", ans
    # a raw message: ?requiretls=true
    raw = message(unique("raw"), sender=SENDER, to="carol@example.test")
    st, _, ans = api.req("POST", "/v1/messages?to=carol@example.test&requiretls=true",
                         body=raw, ctype="message/rfc822")
    assert st == 202, ans
    st, _, m = api.req("GET", f"/v1/messages/{ans['id']}")
    assert st == 200 and m["requiretls"] is True, m


def test_report_about_requiretls_message_is_headers_only(outbound, tls_files, unique):
    # remote.example does not exist (the test DNS server has no data):
    # the recipient bounces, RET=FULL asked for the whole message
    r = outbound(start=False)
    r.write_config(overrides={**r.overrides, **tls_over(r, tls_files)})
    r.start()
    tok = unique("ndr")
    qid = send_tls(r, SENDER, ["bob@remote.example"],
                   msg_text(tok, body=f"secret body {tok}\r\n"),
                   mail_options=("REQUIRETLS", "RET=FULL"))
    (m,) = report_for(reports(r, count=1, timeout=20), tok)
    d = dsn_fields(m)
    (rc,) = d["per_rcpt"]
    assert rc["Action"].strip() == "failed", rc
    assert d["original"].get_content_type() == "text/rfc822-headers", \
        d["original"].get_content_type()
    assert f"secret body {tok}".encode() not in m.raw
    assert f"Message-ID: <{tok}@example.test>".encode() in m.raw
    ev = [e for e in r.log_events("dsn") if e.get("orig_id") == qid]
    assert ev and ev[0].get("requiretls") == "yes", ev


# ---------------------------------------------------------------- outbound
# These exercise the delivery agent's REQUIRETLS handling
# (src/deliver/deliver_remote.c).


def rtls_outbound(outbound, tls_files, relay=None, extra=None):
    r = outbound(relay=relay, extra=extra, start=False)
    over = dict(r.overrides)
    over.update(tls_over(r, tls_files))
    over["dns"] = {**over.get("dns", {}), "trust_anchor": "none"}
    r.write_config(overrides=over)
    return r.start()


def one_mx(dns, domain="remote.example", mx="mx.remote.example", host="127.0.0.2"):
    dns.set(domain, {"MX": [(10, mx)]})
    dns.set(mx, {"A": [host]})


def bounce_status(r, tok):
    (m,) = report_for(reports(r, count=1, timeout=20), tok)
    (rc,) = dsn_fields(m)["per_rcpt"]
    return rc["Status"].strip(), m


def test_requiretls_without_dane_or_sts_bounces_5730(dns, peers, outbound, tls_files,
                                                     unique):
    one_mx(dns)
    # the peer offers TLS and REQUIRETLS: still no DANE, no MTA-STS
    peer = peers("127.0.0.2", name="mx.remote.example", tls=tls_files["main"],
                 requiretls=True)
    r = rtls_outbound(outbound, tls_files, relay={"retry_min": "1h", "retry_max": "1h"})
    tok = unique("nodane")
    qid = send_tls(r, SENDER, ["bob@remote.example"], msg_text(tok))
    status, m = bounce_status(r, tok)
    assert status == "5.7.30", m.raw.decode(errors="replace")
    assert not [e for e in r.log_events("deferred") if e.get("id") == qid], \
        "deferred instead of bounced at once"
    assert not peer.transactions, peer.transcript()


def test_requiretls_to_verify_policy_domain_bounces_5730(dns, peers, outbound, tls_files,
                                                         unique):
    # mx.test: a name the test certificate holds, signed by the test CA
    one_mx(dns, mx="mx.test")
    peer = peers("127.0.0.2", name="mx.test", tls=tls_files["main"], requiretls=True)
    r = rtls_outbound(outbound, tls_files,
                      relay={"retry_min": "1h", "retry_max": "1h",
                             "ca_file": str(tls_files["ca"])},
                      extra={"tls_policy": {"remote.example": "verify"}})
    # without REQUIRETLS the verified peer gets the message: the policy works
    ctl = unique("verified")
    submit(r, SENDER, ["bob@remote.example"], msg_text(ctl))
    (t,) = peer.wait_messages(1)
    assert t.tls and ctl.encode() in t.data
    # with it, a WebPKI certificate is not DANE or MTA-STS (RFC 8689 4.2.1)
    tok = unique("verify")
    qid = send_tls(r, SENDER, ["bob@remote.example"], msg_text(tok))
    status, m = bounce_status(r, tok)
    assert status == "5.7.30", m.raw.decode(errors="replace")
    assert not [e for e in r.log_events("deferred") if e.get("id") == qid]
    assert len(peer.transactions) == 1, peer.transcript()


def test_tls_required_no_ignores_dane_policy(dns, peers, outbound, tls_files, unique):
    # [tls_policy] dane, but the DNS is not signed (trust_anchor = none):
    # the policy cannot be met
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")  # no STARTTLS at all
    r = rtls_outbound(outbound, tls_files,
                      relay={"retry_min": "1h", "retry_max": "1h"},
                      extra={"tls_policy": {"remote.example": "dane"}})
    held = unique("held")
    held_qid = submit(r, SENDER, ["bob@remote.example"], msg_text(held))
    wait_until(lambda: [e for e in r.log_events("deferred") if e.get("id") == held_qid],
               15, what="the dane policy deferring a message")
    tok = unique("optional")
    submit(r, SENDER, ["bob@remote.example"],
           msg_text(tok, extra_headers="TLS-Required: No\r\n"))
    (t,) = peer.wait_messages(1, timeout=15)
    assert tok.encode() in t.data and not t.tls
    assert held.encode() not in t.data
    assert not r.log_events("bounced")
