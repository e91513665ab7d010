"""
Outbound outcomes per recipient (issue 3, parts 3 and 4): 4xx retried with
backoff, 5xx bounced with one RFC 3464 report per message naming only the
failed recipients, 552 after DATA, max_queue_lifetime expiry, one delay
warning, SIZE refusal, 452 for some recipients, double bounces and the
inbound DSN parameters (NOTIFY, RET, ENVID, ORCPT).
"""

import email.utils
import time

from conftest import wait_until
from outbound_util import *  # noqa: F401,F403 (fixtures)

SENDER = "alice@example.test"


def one_mx(dns, domain="remote.example", host="127.0.0.2"):
    dns.set(domain, {"MX": [(10, f"mx.{domain}")]})
    dns.set(f"mx.{domain}", {"A": [host]})


def events(r, name, qid):
    return [e for e in r.log_events(name) if e.get("id") == qid]


def removed(r, qid):
    return any(e.get("id") == qid for e in r.log_events("removed"))


def wait_removed(r, qid, timeout=10):
    wait_until(lambda: removed(r, qid), timeout, what=f"event=removed id={qid}")


def settle_reports(r, n, user="alice", domain="example.test"):
    """The Maildir holds exactly n messages, and still n a moment later."""
    msgs = reports(r, user=user, domain=domain, count=n) if n else []
    wait_until(lambda: not [e for e in r.log_events("dsn")
                            if not removed(r, e.get("id"))], 10,
               what="every queued report delivered")
    files = r.maildir_files(domain, user)
    assert len(files) == n, f"{len(files)} message(s) in {user}'s Maildir, expected {n}"
    return msgs


def dsn_actions(m):
    return [b["Action"].strip().lower() for b in dsn_fields(m)["per_rcpt"]]


# ---------------------------------------------------------------- retries


def test_451_twice_then_250_delivered_on_third_attempt(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    peer.script["RCPT"] = {"bob@remote.example": [
        "451 4.3.0 try again later (1)", "451 4.3.0 try again later (2)",
        "250 2.1.5 ok"]}
    r = outbound(relay={"retry_min": "1s", "retry_max": "2s"})
    tok = unique("retry")
    t0 = time.monotonic()
    qid = submit(r, SENDER, ["bob@remote.example"], msg_text(tok))
    peer.wait_rcpts("bob@remote.example", 2, timeout=10)
    # between the 2nd and the 3rd attempt: deferred, twice, with the reply
    row = wait_until(lambda: [x for x in rcpt_rows(r, "bob@remote.example")
                              if x["attempts"] == 2], 3, interval=0.1,
                     what="queue list showing 2 attempts")[0]
    assert "451" in row["last"], row
    peer.wait_messages(1, timeout=10)
    wait_removed(r, qid)
    assert time.monotonic() - t0 < 15
    assert peer.rcpt_count("bob@remote.example") == 3
    assert len(peer.messages) == 1, "delivered more than once"
    assert tok.encode() in peer.messages[0].data
    d = events(r, "deferred", qid)
    assert len(d) == 2, d
    assert all(e["status"].startswith("4.") and "451" in e["reply"] for e in d), d
    (ok,) = events(r, "delivered", qid)
    assert ok["reply"].startswith("250"), ok
    # backoff: the attempts are spread out (1s, then 2s, at one-second
    # scheduler resolution), not hammered
    times = [t.time for t in peer.transactions]
    assert len(times) == 3, peer.transcript()
    assert times[2] - times[1] >= 1.0, times
    assert times[2] - times[0] >= 1.9, times
    assert not r.maildir_files("example.test", "alice"), "a report for a delivered message"


def test_550_for_one_rcpt_250_for_other_one_bounce_naming_first(dns, peers, outbound,
                                                               unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    peer.script["RCPT"] = {"bob@remote.example": "550 5.1.1 no such user bob"}
    r = outbound()
    tok = unique("mixed")
    qid = submit(r, SENDER, ["bob@remote.example", "carol@remote.example"],
                 msg_text(tok, to="bob@remote.example, carol@remote.example"))
    peer.wait_messages(1)
    assert peer.messages[0].accepted_rcpts == ["carol@remote.example"]
    wait_removed(r, qid)
    (b,) = events(r, "bounced", qid)
    assert b["to"].strip("<>") == "bob@remote.example" and b["status"] == "5.1.1", b
    (dl,) = events(r, "delivered", qid)
    assert dl["to"].strip("<>") == "carol@remote.example"
    (m,) = settle_reports(r, 1)
    d = dsn_fields(m)
    assert len(d["per_rcpt"]) == 1, d["per_rcpt"]
    (rc,) = d["per_rcpt"]
    assert "bob@remote.example" in rc["Final-Recipient"]
    assert rc["Action"].strip().lower() == "failed"
    assert rc["Status"].strip() == "5.1.1"
    assert "550" in rc["Diagnostic-Code"] and "no such user bob" in rc["Diagnostic-Code"]
    assert "carol@remote.example" not in str(d["parts"][1]), \
        "the delivered recipient is named in the report"
    assert tok.encode() in m.raw
    assert peer.rcpt_count("bob@remote.example") == 1, "5xx recipient retried"


def test_552_after_data_bounces_every_recipient_of_transaction(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    peer.script["EOD"] = "552 5.3.4 message too big for this mailbox"
    r = outbound()
    tok = unique("eod552")
    qid = submit(r, SENDER, ["bob@remote.example", "carol@remote.example"], msg_text(tok))
    wait_removed(r, qid)
    assert len(peer.transactions) == 1, peer.transcript()
    assert peer.transactions[0].data is not None, "DATA was not sent"
    b = events(r, "bounced", qid)
    assert sorted(e["to"].strip("<>") for e in b) == ["bob@remote.example",
                                                     "carol@remote.example"], b
    assert all(e["status"] == "5.3.4" for e in b), b
    (m,) = settle_reports(r, 1)
    d = dsn_fields(m)
    finals = sorted(x["Final-Recipient"].split(";")[1].strip() for x in d["per_rcpt"])
    assert finals == ["bob@remote.example", "carol@remote.example"]
    for x in d["per_rcpt"]:
        assert x["Action"].strip().lower() == "failed"
        assert x["Status"].strip() == "5.3.4"
        assert "552" in x["Diagnostic-Code"]


# ---------------------------------------------------------------- the report


def test_bounce_is_valid_rfc3464_report(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    peer.script["RCPT"] = {"bob@remote.example": "550 5.1.1 <bob@remote.example>: unknown"}
    r = outbound()
    tok = unique("rfc3464")
    before = time.time() - 2
    qid = submit(r, SENDER, ["bob@remote.example"], msg_text(tok),
                 mail_options=["RET=FULL", "ENVID=env-" + tok],
                 rcpt_options=["NOTIFY=FAILURE",
                               "ORCPT=rfc822;bob.orig@remote.example"])
    wait_removed(r, qid)
    (m,) = settle_reports(r, 1)
    after = time.time() + 2

    # envelope and top-level headers
    assert m["Return-Path"].strip() == "<>", "report not sent from the null sender"
    assert m["Delivered-To"].strip() == SENDER
    assert m["From"] and m["Date"] and m["Message-ID"], m.raw[:600]
    assert email.utils.parsedate_to_datetime(m["Date"]) is not None
    assert "alice@example.test" in m["To"]
    assert m["Auto-Submitted"] and m["Auto-Submitted"].strip().lower().startswith("auto-replied")
    assert m.get_content_type() == "multipart/report"
    assert m.get_param("report-type") == "delivery-status"
    assert m["MIME-Version"].strip() == "1.0"
    assert not m.defects, m.defects

    d = dsn_fields(m)
    assert "bob@remote.example" in d["text"]
    pm = d["per_message"]
    assert pm["Reporting-MTA"].replace(" ", "").lower() == "dns;mx.test"
    arr = email.utils.parsedate_to_datetime(pm["Arrival-Date"]).timestamp()
    assert before <= arr <= after, pm["Arrival-Date"]
    assert pm["Original-Envelope-Id"].strip() == "env-" + tok

    (rc,) = d["per_rcpt"]
    assert rc["Original-Recipient"].replace(" ", "").lower() == \
        "rfc822;bob.orig@remote.example"
    assert rc["Final-Recipient"].replace(" ", "").lower() == "rfc822;bob@remote.example"
    assert rc["Action"].strip().lower() == "failed"
    assert rc["Status"].strip() == "5.1.1"
    rm = rc["Remote-MTA"].replace(" ", "").lower()
    assert rm.startswith("dns;"), rm
    assert "mx.remote.example" in rm or "127.0.0.2" in rm, rm
    dc = rc["Diagnostic-Code"]
    assert dc.replace(" ", "").lower().startswith("smtp;550"), dc
    assert "unknown" in dc
    lad = email.utils.parsedate_to_datetime(rc["Last-Attempt-Date"]).timestamp()
    assert before <= lad <= after

    orig = d["original"]
    assert orig is not None and orig.get_content_type() == "message/rfc822"
    inner = orig.get_payload()[0]
    assert inner["Subject"] == f"outbound {tok}"
    assert inner["Message-ID"] == f"<{tok}@example.test>"
    assert f"Hello, this is {tok}." in inner.get_payload()


def test_ret_hdrs_returns_headers_only(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    peer.script["RCPT"] = {"bob@remote.example": "550 5.1.1 unknown"}
    r = outbound()
    tok = unique("hdrs")
    body_tok = unique("secretbody")
    qid = submit(r, SENDER, ["bob@remote.example"],
                 msg_text(tok, body=f"the body {body_tok}\r\n"), mail_options=["RET=HDRS"])
    wait_removed(r, qid)
    (m,) = settle_reports(r, 1)
    d = dsn_fields(m)
    assert d["original"] is not None
    assert d["original"].get_content_type() == "text/rfc822-headers"
    assert f"outbound {tok}".encode() in m.raw
    assert body_tok.encode() not in m.raw, "RET=HDRS report carries the body"


def test_null_sender_is_never_bounced(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    peer.script["RCPT"] = {"bob@remote.example": "550 5.1.1 unknown"}
    r = outbound()
    tok = unique("nullsender")
    qid = submit(r, "", ["bob@remote.example"], msg_text(tok))
    wait_removed(r, qid)
    assert events(r, "bounced", qid)
    wait_until(lambda: [e for e in r.log_events("dsn.dropped")
                        if e.get("orig_id") == qid], 5, what="event=dsn.dropped")
    assert not [e for e in r.log_events("dsn") if e.get("orig_id") == qid]
    assert not r.all_mail_files(), "a report about a bounce was delivered"


def test_double_bounce_goes_to_postmaster(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    peer.script["RCPT"] = {"bob@remote.example": "550 5.1.1 unknown"}
    r = outbound(relay={"postmaster": "carol@example.test"})
    tok = unique("double")
    qid = submit(r, "", ["bob@remote.example"], msg_text(tok))
    wait_removed(r, qid)
    (m,) = settle_reports(r, 1, user="carol")
    assert tok.encode() in m.raw
    assert dsn_actions(m) == ["failed"]
    assert not r.maildir_files("example.test", "alice")
    assert len(peer.transactions) == 1, "the double bounce went back out"


# ---------------------------------------------------------------- lifetime


def test_max_queue_lifetime_expiry_bounces(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    peer.script["RCPT"] = {"bob@remote.example": "451 4.2.1 mailbox busy"}
    r = outbound(relay={"max_queue_lifetime": "3s", "delay_warning": "0"})
    tok = unique("expire")
    t0 = time.monotonic()
    qid = submit(r, SENDER, ["bob@remote.example"], msg_text(tok))
    wait_removed(r, qid, timeout=15)
    elapsed = time.monotonic() - t0
    # one-second resolution: arrival and "now" are whole seconds
    assert elapsed >= 1.9, f"bounced after {elapsed:.1f}s, lifetime is 3s"
    assert peer.rcpt_count("bob@remote.example") >= 2, "not retried before expiry"
    (b,) = events(r, "bounced", qid)
    assert b["to"].strip("<>") == "bob@remote.example"
    (m,) = settle_reports(r, 1)
    (rc,) = dsn_fields(m)["per_rcpt"]
    assert rc["Action"].strip().lower() == "failed"
    assert "451" in rc["Diagnostic-Code"] or "mailbox busy" in m.raw.decode("utf-8", "replace")
    assert tok.encode() in m.raw
    assert not peer.messages


def test_delay_warning_sent_once(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    peer.script["RCPT"] = {"bob@remote.example": ["451 4.2.1 busy"] * 5 + ["250 2.1.5 ok"]}
    r = outbound(relay={"delay_warning": "1s", "max_queue_lifetime": "1h"})
    tok = unique("delay")
    qid = submit(r, SENDER, ["bob@remote.example"], msg_text(tok))
    peer.wait_messages(1, timeout=20)
    wait_removed(r, qid)
    assert peer.rcpt_count("bob@remote.example") == 6
    (m,) = settle_reports(r, 1)
    d = dsn_fields(m)
    (rc,) = d["per_rcpt"]
    assert rc["Action"].strip().lower() == "delayed"
    assert rc["Status"].strip().startswith("4."), rc["Status"]
    assert "bob@remote.example" in rc["Final-Recipient"]
    assert tok.encode() in m.raw
    dsns = [e for e in r.log_events("dsn") if e.get("orig_id") == qid]
    assert [e["kind"] for e in dsns] == ["delayed"], dsns


# ---------------------------------------------------------------- client


def test_452_defers_only_those_recipients(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    peer.script["RCPT"] = {"carol@remote.example": ["452 4.5.3 too many recipients", "250 ok"]}
    r = outbound()
    tok = unique("452")
    rcpts = ["bob@remote.example", "carol@remote.example", "dan@remote.example"]
    qid = submit(r, SENDER, rcpts, msg_text(tok))
    peer.wait_messages(2, timeout=10)
    wait_removed(r, qid)
    first, second = peer.messages
    assert first.accepted_rcpts == ["bob@remote.example", "dan@remote.example"]
    assert second.accepted_rcpts == ["carol@remote.example"]
    assert [a for a, _, _ in second.rcpts] == ["carol@remote.example"]
    (d,) = events(r, "deferred", qid)
    assert d["to"].strip("<>") == "carol@remote.example"
    assert not r.maildir_files("example.test", "alice")


def test_peer_size_limit_refused_before_transfer(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example", size=2000)
    r = outbound()
    tok = unique("size")
    big = "".join(f"line {i:05d} of a message bigger than the peer's SIZE\r\n"
                  for i in range(200))
    qid = submit(r, SENDER, ["bob@remote.example"], msg_text(tok, body=big))
    wait_removed(r, qid)
    assert not [t for t in peer.transactions if t.data is not None], \
        "the message was sent to a peer whose SIZE is smaller"
    for t in peer.transactions:
        assert int(t.mail_params.get("SIZE", 0)) > 2000
    (b,) = events(r, "bounced", qid)
    assert b["status"] == "5.3.4", b
    (m,) = settle_reports(r, 1)
    (rc,) = dsn_fields(m)["per_rcpt"]
    assert rc["Status"].strip() == "5.3.4"


def test_size_parameter_sent_at_mail(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example", size=10_000_000)
    r = outbound()
    tok = unique("sizeparam")
    text = msg_text(tok)
    submit(r, SENDER, ["bob@remote.example"], text)
    (t,) = peer.wait_messages(1)
    assert "SIZE" in t.mail_params, t.mail_params
    # RFC 1870: the size declared is the size of what is sent after the
    # 354, so it covers the Received: header relais added too
    assert len(t.data) > len(text)
    assert int(t.mail_params["SIZE"]) >= len(t.data), \
        (f"MAIL SIZE={t.mail_params['SIZE']} but {len(t.data)} octets followed; "
         f"relais sent {[ln for ln in t.session.commands() if ln.startswith('MAIL')]}")


def test_pipelining_mail_rcpt_data_in_one_write(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    r = outbound()
    submit(r, SENDER, ["bob@remote.example", "carol@remote.example"], msg_text(unique("pipe")))
    peer.wait_messages(1)
    s = peer.sessions[0]
    reads = {ln.split(":")[0].split(" ")[0].upper(): n for n, ln in s.lines
             if ln.upper().startswith(("MAIL", "RCPT", "DATA"))}
    mail_read = [n for n, ln in s.lines if ln.upper().startswith("MAIL")][0]
    data_read = [n for n, ln in s.lines if ln.upper() == "DATA"][0]
    rcpt_reads = [n for n, ln in s.lines if ln.upper().startswith("RCPT")]
    assert mail_read == data_read and set(rcpt_reads) == {mail_read}, \
        f"MAIL/RCPT/DATA not pipelined: {s.lines} {reads}"


def test_helo_fallback_without_ehlo(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example", ehlo=False)
    r = outbound()
    tok = unique("helo")
    submit(r, SENDER, ["bob@remote.example"], msg_text(tok))
    (t,) = peer.wait_messages(1)
    verbs = t.session.verbs()
    assert verbs[:2] == ["EHLO", "HELO"], verbs
    assert t.mail_params == {}, f"ESMTP parameters sent after HELO: {t.mail_params}"


def test_dot_stuffing(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    r = outbound()
    tok = unique("dots")
    body = ".leading dot\r\n..two dots\r\n.\r\nend\r\n"
    submit(r, SENDER, ["bob@remote.example"], msg_text(tok, body=body))
    (t,) = peer.wait_messages(1)
    assert t.data.endswith(body.encode()), t.data[-200:]
    assert b"\r\n..leading dot\r\n...two dots\r\n..\r\nend\r\n" in t.raw_data


# ---------------------------------------------------------------- inbound DSN


def test_notify_never_no_report(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example", dsn=False)
    peer.script["RCPT"] = {"bob@remote.example": "550 5.1.1 unknown"}
    r = outbound()
    qid = submit(r, SENDER, ["bob@remote.example"], msg_text(unique("never")),
                 rcpt_options=["NOTIFY=NEVER"])
    wait_removed(r, qid)
    assert events(r, "bounced", qid)
    time.sleep(0.5)  # a report would be queued in the same commit as the bounce
    assert not [e for e in r.log_events("dsn") if e.get("orig_id") == qid]
    assert not r.all_mail_files()


def test_notify_success_relayed_to_peer_without_dsn(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example", dsn=False)
    r = outbound()
    tok = unique("success")
    qid = submit(r, SENDER, ["bob@remote.example"], msg_text(tok),
                 rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
    (t,) = peer.wait_messages(1)
    assert "NOTIFY" not in t.rcpts[0][1], "DSN parameters sent to a peer without DSN"
    wait_removed(r, qid)
    (m,) = settle_reports(r, 1)
    d = dsn_fields(m)
    (rc,) = d["per_rcpt"]
    assert rc["Action"].strip().lower() == "relayed", rc["Action"]
    assert rc["Status"].strip().startswith("2."), rc["Status"]


def test_dsn_parameters_passed_to_peer_with_dsn(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example", dsn=True)
    r = outbound()
    tok = unique("dsnpass")
    submit(r, SENDER, ["bob@remote.example"], msg_text(tok),
           mail_options=["RET=HDRS", "ENVID=e-" + tok],
           rcpt_options=["NOTIFY=SUCCESS,DELAY",
                         "ORCPT=rfc822;bob.o@remote.example"])
    (t,) = peer.wait_messages(1)
    assert t.mail_params.get("RET", "").upper() == "HDRS", t.mail_params
    assert t.mail_params.get("ENVID") == "e-" + tok, t.mail_params
    (addr, params, _), = t.rcpts
    assert sorted(params.get("NOTIFY", "").upper().split(",")) == ["DELAY", "SUCCESS"], params
    assert params.get("ORCPT", "").lower() == "rfc822;bob.o@remote.example", params


def test_notify_success_local_delivery_report(outbound, unique):
    r = outbound()
    tok = unique("localok")
    qid = submit(r, SENDER, ["bob@example.test"], msg_text(tok, to="bob@example.test"),
                 mail_options=["ENVID=loc-" + tok], rcpt_options=["NOTIFY=SUCCESS"])
    r.maildir_messages("example.test", "bob", 1)
    wait_removed(r, qid)
    (m,) = settle_reports(r, 1)
    d = dsn_fields(m)
    (rc,) = d["per_rcpt"]
    assert rc["Action"].strip().lower() == "delivered", rc["Action"]
    assert rc["Status"].strip().startswith("2."), rc["Status"]
    assert "bob@example.test" in rc["Final-Recipient"]
    assert d["per_message"]["Original-Envelope-Id"].strip() == "loc-" + tok


def test_connection_lost_at_data_is_retried(dns, peers, outbound, unique):
    # the peer closes the connection instead of answering DATA: a
    # temporary failure; the next attempt delivers, once
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    peer.script["DATA"] = ["DROP", None]
    r = outbound()
    tok = unique("drop")
    qid = submit(r, SENDER, ["bob@remote.example"], msg_text(tok))
    peer.wait_messages(1, timeout=10)
    wait_removed(r, qid)
    (d,) = events(r, "deferred", qid)
    assert d["status"].startswith("4."), d
    assert len(peer.messages) == 1
    assert peer.sessions[0].dropped
    assert not r.maildir_files("example.test", "alice")
