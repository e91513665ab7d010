"""
Outbound routing (issue 3, part 1): MX by preference with fallback to the
next MX inside one attempt, implicit MX, null MX, NXDOMAIN and SERVFAIL,
all against the test DNS server and capture SMTP servers on 127.0.0.x.
"""

import re

from conftest import wait_until
from outbound_util import *  # noqa: F401,F403 (fixtures)


def outcome(r, qid, timeout=10):
    """The first delivered/deferred/bounced event of qid (waits for it)."""
    def find():
        return [e for name in ("delivered", "bounced", "deferred")
                for e in r.log_events(name) if e.get("id") == qid]
    return wait_until(find, timeout, what=f"an outcome for {qid}")[0]


def delivered_lines(relais, qid=None):
    evs = relais.log_events("delivered")
    return [e for e in evs if qid is None or e.get("id") == qid]


def test_preferred_mx_down_delivers_through_second(dns, peers, peer_port, outbound,
                                                   unique):
    # mx1 (preference 10) has an address but nothing listens there; mx2 (20)
    # is a capture server. A third, worse MX must not be needed.
    dns.set("remote.example", {"MX": [(20, "mx2.remote.example"), (10, "mx1.remote.example"),
                                   (30, "mx3.remote.example")]})
    dns.set("mx1.remote.example", {"A": ["127.0.0.2"]})
    dns.set("mx2.remote.example", {"A": ["127.0.0.3"]})
    dns.set("mx3.remote.example", {"A": ["127.0.0.4"]})
    mx2 = peers("127.0.0.3", name="mx2.remote.example")
    mx3 = peers("127.0.0.4", name="mx3.remote.example")
    r = outbound()
    tok = unique("mx2")
    qid = submit(r, "alice@example.test", ["bob@remote.example"], msg_text(tok))
    mx2.wait_messages(1)
    (t,) = mx2.messages
    assert t.sender == "alice@example.test"
    assert t.accepted_rcpts == ["bob@remote.example"]
    assert tok.encode() in t.data
    assert mx3.connections == 0, "the third MX was used though the second took the mail"
    m = wait_until(lambda: delivered_lines(r, qid), 10, what="event=delivered")[0]
    assert m["to"].strip("<>") == "bob@remote.example"
    assert "127.0.0.3" in m["relay"] and str(peer_port) in m["relay"], m
    assert m["status"] == "2.0.0"
    assert m["reply"].startswith("250"), m
    # the dead MX was tried first, within the same attempt (no deferral)
    assert not r.log_events("deferred"), r.log()[-2000:]
    assert ("mx1.remote.example", "A") in dns.queries
    wait_queue_empty(r)


def test_implicit_mx_uses_domain_address(dns, peers, outbound, unique):
    # no MX record: the domain's own A record is the mail exchanger
    dns.set("plain.example", {"A": ["127.0.0.5"]})
    peer = peers("127.0.0.5", name="plain.example")
    r = outbound()
    tok = unique("implicit")
    submit(r, "alice@example.test", ["carol@plain.example"], msg_text(tok, to="carol@plain.example"))
    peer.wait_messages(1)
    assert peer.messages[0].accepted_rcpts == ["carol@plain.example"]
    assert tok.encode() in peer.messages[0].data
    assert ("plain.example", "MX") in dns.queries
    wait_queue_empty(r)


def _failure_report(r, tok):
    msgs = reports(r, count=1, timeout=10)
    mine = report_for(msgs, tok)
    assert len(mine) == 1, f"expected one report about {tok}, got {len(mine)}"
    return mine[0], dsn_fields(mine[0])


def test_null_mx_bounces_at_once_5_1_10(dns, peers, outbound, unique):
    dns.set("nullmx.example", {"MX": [(0, "")], "A": ["127.0.0.6"]})
    trap = peers("127.0.0.6", name="nullmx.example")
    r = outbound(relay={"retry_min": "1h", "retry_max": "1h"})
    tok = unique("nullmx")
    qid = submit(r, "alice@example.test", ["dan@nullmx.example"], msg_text(tok, to="dan@nullmx.example"))
    m, d = _failure_report(r, tok)
    (rc,) = d["per_rcpt"]
    assert rc["Action"].strip().lower() == "failed"
    assert rc["Status"].strip() == "5.1.10"
    assert "dan@nullmx.example" in rc["Final-Recipient"]
    ev = [e for e in r.log_events("bounced") if e.get("id") == qid]
    assert ev and ev[0]["status"] == "5.1.10", r.log()[-2000:]
    assert trap.connections == 0, "connected to the A record of a null-MX domain"
    wait_queue_empty(r)


def test_nxdomain_bounces(dns, outbound, unique):
    # nothing at all for nosuch.example: NXDOMAIN
    r = outbound(relay={"retry_min": "1h", "retry_max": "1h"})
    tok = unique("nxd")
    qid = submit(r, "alice@example.test", ["eve@nosuch.example"], msg_text(tok, to="eve@nosuch.example"))
    m, d = _failure_report(r, tok)
    (rc,) = d["per_rcpt"]
    assert rc["Action"].strip().lower() == "failed"
    assert rc["Status"].strip().startswith("5.1."), rc["Status"]
    assert rc["Status"].strip() == "5.1.2", rc["Status"]
    assert "eve@nosuch.example" in rc["Final-Recipient"]
    ev = [e for e in r.log_events("bounced") if e.get("id") == qid]
    assert ev, r.log()[-2000:]
    wait_queue_empty(r)


def test_servfail_defers(dns, outbound, unique):
    dns.set("broken.example", "SERVFAIL")
    r = outbound(relay={"retry_min": "1h", "retry_max": "1h"})
    tok = unique("servfail")
    qid = submit(r, "alice@example.test", ["fay@broken.example"], msg_text(tok, to="fay@broken.example"))
    ev = wait_until(lambda: [e for e in r.log_events("deferred") if e.get("id") == qid],
                    10, what="event=deferred")
    assert ev[0]["status"].startswith("4."), ev[0]
    rows = rcpt_rows(r, "fay@broken.example")
    assert len(rows) == 1, queue_list(r)[1]
    assert rows[0]["qid"] == qid
    assert rows[0]["attempts"] >= 1
    assert not r.log_events("bounced"), "SERVFAIL must not bounce"
    assert not r.maildir_files("example.test", "alice"), "a report was sent for SERVFAIL"


def test_dns_timeout_defers(dns, outbound, unique):
    dns.set("slow.example", "TIMEOUT")
    r = outbound(relay={"retry_min": "1h", "retry_max": "1h"})
    tok = unique("timeout")
    qid = submit(r, "alice@example.test", ["gus@slow.example"], msg_text(tok, to="gus@slow.example"))
    ev = wait_until(lambda: [e for e in r.log_events("deferred") if e.get("id") == qid],
                    15, what="event=deferred after a DNS timeout")
    assert ev[0]["status"].startswith("4."), ev[0]
    assert len(rcpt_rows(r, "gus@slow.example")) == 1
    assert not r.log_events("bounced")


def test_all_mx_down_then_flush_delivers(dns, peers, peer_port, outbound, unique):
    # both MX down: deferred (connection trouble is temporary); once a
    # server is up, `relais queue flush` makes the mail due and it goes
    dns.set("later.example", {"MX": [(10, "a.later.example"), (20, "b.later.example")]})
    dns.set("a.later.example", {"A": ["127.0.0.7"]})
    dns.set("b.later.example", {"A": ["127.0.0.8"]})
    r = outbound(relay={"retry_min": "1h", "retry_max": "1h"})
    tok = unique("flush")
    qid = submit(r, "alice@example.test", ["hal@later.example"], msg_text(tok, to="hal@later.example"))
    wait_until(lambda: [e for e in r.log_events("deferred") if e.get("id") == qid],
               10, what="event=deferred")
    rows = rcpt_rows(r, "hal@later.example")
    assert rows and rows[0]["attempts"] >= 1, queue_list(r)[1]
    peer = peers("127.0.0.8", name="b.later.example")
    off = r.log_offset()
    out = r.cli("queue", "flush", "-c", str(r.conf_path))
    assert out.returncode == 0, out.stderr
    # the flushed message is tried again within about a second; it must
    # reach the server that is up now, not be deferred by the backoff the
    # failed first attempt put on later.example
    wait_until(lambda: peer.messages or [e for e in r.log_events("deferred", since=off)
                                         if e.get("id") == qid], 10,
               what="the flushed message to be tried again")
    assert peer.messages, "flushed, but deferred again without connecting: " + str(
        [ln for ln in r.log()[off:].splitlines() if qid in ln or "later" in ln])
    assert tok.encode() in peer.messages[0].data
    wait_queue_empty(r)


def test_special_use_test_domain_goes_to_configured_resolver(dns, peers, outbound, unique):
    # [dns] resolver = HOST:PORT sends every query to that server (issue 3,
    # part 1). RFC 6761 names such as .test are ordinary names there: a
    # test network, a lab or a private zone serves them. A resolver-side
    # default (unbound's built-in local zones) must not answer NXDOMAIN
    # for them and bounce the mail.
    dns.set("lab.test", {"MX": [(10, "mx.lab.test")]})
    dns.set("mx.lab.test", {"A": ["127.0.0.2"]})
    peer = peers("127.0.0.2", name="mx.lab.test")
    r = outbound(relay={"retry_min": "1h", "retry_max": "1h"})
    tok = unique("dottest")
    qid = submit(r, "alice@example.test", ["ivy@lab.test"], msg_text(tok, to="ivy@lab.test"))
    outcome(r, qid)
    assert peer.messages, (
        f"lab.test was not resolved through [dns] resolver (questions the test DNS "
        f"server saw: {dns.queries}); log:\n"
        + "\n".join(ln for ln in r.log().splitlines() if qid in ln or "lab.test" in ln))
    assert ("lab.test", "MX") in dns.queries


def test_4xx_greeting_moves_to_next_mx(dns, peers, outbound, unique):
    dns.set("busy.example", {"MX": [(10, "mx1.busy.example"), (20, "mx2.busy.example")]})
    dns.set("mx1.busy.example", {"A": ["127.0.0.2"]})
    dns.set("mx2.busy.example", {"A": ["127.0.0.3"]})
    mx1 = peers("127.0.0.2", name="mx1.busy.example")
    mx1.script["GREETING"] = "421 4.3.2 too busy, try later"
    mx2 = peers("127.0.0.3", name="mx2.busy.example")
    r = outbound(relay={"retry_min": "1h", "retry_max": "1h"})
    tok = unique("greet")
    qid = submit(r, "alice@example.test", ["jo@busy.example"], msg_text(tok, to="jo@busy.example"))
    ev = outcome(r, qid)
    assert ev["event"] == "delivered", ev
    assert mx1.connections == 1 and not mx1.transactions
    (t,) = mx2.messages
    assert tok.encode() in t.data


def test_mx_host_with_several_addresses_tries_the_next(dns, peers, outbound, unique):
    # one MX host, two A records: the first refuses connections
    dns.set("multi.example", {"MX": [(10, "mx.multi.example")]})
    dns.set("mx.multi.example", {"A": ["127.0.0.6", "127.0.0.7"]})
    peer6 = peers("127.0.0.7", name="mx.multi.example")
    r = outbound(relay={"retry_min": "1h", "retry_max": "1h"})
    tok = unique("multi")
    qid = submit(r, "alice@example.test", ["kim@multi.example"], msg_text(tok, to="kim@multi.example"))
    ev = outcome(r, qid)
    assert ev["event"] == "delivered", ev
    assert tok.encode() in peer6.messages[0].data
