"""
MTA-STS in outbound delivery (RFC 8461, issue 14): the delivery agent asks
the policy service (src/tlspol/sts.c) for the recipient domain's policy
and, in enforce mode, hands mail only to an MX host the policy names that
shows a certificate valid for that name (WebPKI, [relay] ca_file).

Every test runs on loopback: the test DNS server (MX, _mta-sts TXT,
mta-sts.DOMAIN), Debian's nginx serving the policy with a test CA
(stsweb.py), and capture SMTP sinks with STARTTLS on 127.0.0.2 whose
certificates come from the same CA (or another name, or self-signed).
DNSSEC is off ([dns] trust_anchor = none), so DANE plays no part.
"""

import re
import ssl
import time

import pytest

from conftest import wait_until
from dnsserver import DNSServer
from outbound_util import *  # noqa: F401,F403 (fixtures)
from stsweb import STSWeb

SENDER = "alice@example.test"
WEB_IP = "127.0.0.20"
MX_IP = "127.0.0.2"


@pytest.fixture
def dns():
    # a TTL of 1 s, so that a record the test changes is seen at once
    server = DNSServer({}, ttl=1).start()
    yield server
    server.stop()


@pytest.fixture
def web(tmp_path):
    w = STSWeb(tmp_path / "web")
    yield w
    w.stop()


def policy(domain, mode="enforce", mx=None, max_age=86400):
    mx = [f"mx.{domain}"] if mx is None else mx
    return ("version: STSv1\n" f"mode: {mode}\n" +
            "".join(f"mx: {m}\n" for m in mx) + f"max_age: {max_age}\n")


def publish(dns, web, domain, body, txt_id="1", **web_kw):
    """MX, _mta-sts TXT and the policy host of domain; the policy served
    by nginx (not started here)"""
    dns.set(domain, {"MX": [(10, f"mx.{domain}")]})
    dns.set(f"mx.{domain}", {"A": [MX_IP]})
    dns.set(f"_mta-sts.{domain}", {"TXT": [f"v=STSv1; id={txt_id};"]})
    dns.set(f"mta-sts.{domain}", {"A": [WEB_IP]})
    web.add(domain, WEB_IP, policy=body, **web_kw)


def sink_cert(web, domain, kind):
    """the MX host's certificate: good (the CA, its name), wrong_name
    (the CA, another name), self_signed (its name, no CA)"""
    if kind == "good":
        return web.cert(f"mx.{domain}")
    if kind == "wrong_name":
        return web.cert(f"other.{domain}")
    return web.cert(f"mx.{domain}", self_signed=True)


def start_relais(outbound, web, **relay):
    return outbound(relay={"ca_file": str(web.ca), **relay},
                    extra={"dns": {"trust_anchor": "none"}})


def delivered(r, qid):
    return [e for e in r.log_events("delivered") if e.get("id") == qid]


def held_for_sts(r, rcpt, timeout=15):
    """wait until the queue shows rcpt waiting with an MTA-STS reason"""
    def held():
        return [x for x in rcpt_rows(r, rcpt) if "MTA-STS" in x["last"]]
    try:
        return wait_until(held, timeout, interval=0.2,
                          what=f"{rcpt} held by MTA-STS")[0]
    except AssertionError:
        raise AssertionError("no MTA-STS reason in the queue:\n" +
                             queue_list(r)[1] + "\nlog tail:\n" +
                             r.log()[-3000:])


def ssl_server_ctx(crt, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    return ctx


# ------------------------------------------------------------------ enforce


def test_enforce_matching_mx_valid_cert_delivered(dns, web, peers, outbound,
                                                  unique):
    d = "good.example"
    publish(dns, web, d, policy(d))
    web.start()
    peer = peers(MX_IP, name=f"mx.{d}", tls=sink_cert(web, d, "good"))
    r = start_relais(outbound, web)
    tok = unique("sts-good")
    qid = submit(r, SENDER, [f"bob@{d}"], msg_text(tok, to=f"bob@{d}"))
    (t,) = peer.wait_messages(1, timeout=20)
    assert t.tls and tok.encode() in t.data
    wait_until(lambda: delivered(r, qid), 10, what="event=delivered")
    assert len(web.fetches(d)) == 1, web.fetches(d)
    ev = r.log_events("sts.policy")
    assert len(ev) == 1 and ev[0]["domain"] == d and \
        ev[0]["mode"] == "enforce" and ev[0]["max_age"] == "86400" and \
        ev[0]["id"] == "1", ev
    wait_queue_empty(r)


@pytest.mark.parametrize("kind", ["wrong_name", "self_signed"])
def test_enforce_bad_certificate_never_delivered(dns, web, peers, outbound,
                                                 unique, kind):
    d = f"{kind.replace('_', '-')}.example"
    publish(dns, web, d, policy(d))
    web.start()
    peer = peers(MX_IP, name=f"mx.{d}", tls=sink_cert(web, d, kind))
    r = start_relais(outbound, web)
    qid = submit(r, SENDER, [f"bob@{d}"], msg_text(unique("sts-bad"),
                                                   to=f"bob@{d}"))
    row = held_for_sts(r, f"bob@{d}")
    assert row["qid"] == qid
    # a few more attempts (retry_max 1s): still never handed over
    time.sleep(2.5)
    assert not peer.transactions, \
        f"MAIL sent to a peer with a {kind} certificate:\n{peer.transcript()}"
    assert "MAIL" not in [v for s in peer.sessions for v in s.verbs()]
    assert not delivered(r, qid) and not r.log_events("bounced")
    assert rcpt_rows(r, f"bob@{d}"), queue_list(r)[1]


def test_enforce_mx_not_in_policy_never_delivered(dns, web, peers, outbound,
                                                  unique):
    d = "nomatch.example"
    publish(dns, web, d, policy(d, mx=[f"mail.{d}", f"*.other.{d}"]))
    web.start()
    # a perfectly good server, but not one the policy names
    peer = peers(MX_IP, name=f"mx.{d}", tls=sink_cert(web, d, "good"))
    r = start_relais(outbound, web)
    qid = submit(r, SENDER, [f"bob@{d}"], msg_text(unique("sts-mx"),
                                                   to=f"bob@{d}"))
    row = held_for_sts(r, f"bob@{d}")
    assert row["qid"] == qid
    assert re.search(r"MX|not in (the )?policy", row["last"]), row
    time.sleep(1.5)
    assert not peer.transactions, peer.transcript()
    assert not delivered(r, qid)


# ------------------------------------------------------- testing and none


def test_testing_mode_bad_certificate_delivered(dns, web, peers, outbound,
                                                unique):
    d = "testing.example"
    publish(dns, web, d, policy(d, mode="testing"))
    web.start()
    peer = peers(MX_IP, name=f"mx.{d}", tls=sink_cert(web, d, "wrong_name"))
    r = start_relais(outbound, web)
    tok = unique("sts-testing")
    qid = submit(r, SENDER, [f"bob@{d}"], msg_text(tok, to=f"bob@{d}"))
    (t,) = peer.wait_messages(1, timeout=20)
    assert tok.encode() in t.data
    wait_until(lambda: delivered(r, qid), 10, what="event=delivered")
    assert r.log_events("sts.policy")[0]["mode"] == "testing"


def test_mode_none_delivered_opportunistically(dns, web, peers, outbound,
                                               unique):
    d = "modenone.example"
    publish(dns, web, d, policy(d, mode="none", mx=[]))
    web.start()
    peer = peers(MX_IP, name=f"mx.{d}", tls=sink_cert(web, d, "self_signed"))
    r = start_relais(outbound, web)
    tok = unique("sts-none")
    submit(r, SENDER, [f"bob@{d}"], msg_text(tok, to=f"bob@{d}"))
    (t,) = peer.wait_messages(1, timeout=20)
    assert t.tls and tok.encode() in t.data
    assert r.log_events("sts.policy")[0]["mode"] == "none"


# ------------------------------------------------ a bad policy is no policy


@pytest.mark.parametrize("kind", ["unparsable", "content_type", "404",
                                  "redirect"])
def test_bad_policy_treated_as_none(dns, web, peers, outbound, unique, kind):
    d = f"badpol-{kind.replace('_', '-')}.example"
    kw = {}
    body = policy(d)
    if kind == "unparsable":
        body = f"version: STSv1\nmode: enforce\nmx: mx.{d}\n"  # no max_age
    elif kind == "content_type":
        kw["content_type"] = "text/html"
    elif kind == "404":
        kw["status"] = 404
    elif kind == "redirect":
        kw["redirect"] = f"https://mta-sts.{d}/elsewhere.txt"
    publish(dns, web, d, body, **kw)
    web.start()
    # a certificate enforce would refuse: delivered all the same
    peer = peers(MX_IP, name=f"mx.{d}", tls=sink_cert(web, d, "wrong_name"))
    r = start_relais(outbound, web)
    tok = unique("sts-badpol")
    qid = submit(r, SENDER, [f"bob@{d}"], msg_text(tok, to=f"bob@{d}"))
    (t,) = peer.wait_messages(1, timeout=20)
    assert tok.encode() in t.data
    wait_until(lambda: delivered(r, qid), 10, what="event=delivered")
    ev = r.log_events("sts.fail")
    assert len(ev) == 1 and ev[0]["domain"] == d and ev[0]["error"], ev
    assert not r.log_events("sts.policy")


# -------------------------------------------------------------------- cache


def test_cached_policy_outlives_server_and_txt(dns, web, peers, outbound,
                                               unique):
    d = "cached.example"
    publish(dns, web, d, policy(d))
    web.start()
    good = sink_cert(web, d, "good")
    bad = sink_cert(web, d, "wrong_name")
    peer = peers(MX_IP, name=f"mx.{d}", tls=good)
    r = start_relais(outbound, web)
    submit(r, SENDER, [f"bob@{d}"], msg_text(unique("sts-c1"), to=f"bob@{d}"))
    peer.wait_messages(1, timeout=20)
    assert len(web.fetches(d)) == 1
    # the policy's server and its TXT record go, and the MX host now
    # shows a certificate for another name (a new sink: the connection
    # relais validated and keeps open a few seconds goes with the old
    # one): the cached enforce policy still holds the next message back
    web.stop()
    dns.remove(f"_mta-sts.{d}")
    dns.remove(f"mta-sts.{d}")
    peer.stop()
    peer = peers(MX_IP, name=f"mx.{d}", tls=bad)
    qid = submit(r, SENDER, [f"bob@{d}"], msg_text(unique("sts-c2"),
                                                   to=f"bob@{d}"))
    row = held_for_sts(r, f"bob@{d}")
    assert row["qid"] == qid
    time.sleep(1.5)
    assert not peer.transactions, "the second message was handed over"
    assert len(web.fetches(d)) == 1


def test_expired_policy_without_server_is_no_policy(dns, web, peers, outbound,
                                                    unique):
    d = "expired.example"
    # enforce, max_age 2 s, and the MX is not in the policy: held
    publish(dns, web, d, policy(d, mx=[f"mail.{d}"], max_age=2))
    web.start()
    peer = peers(MX_IP, name=f"mx.{d}", tls=sink_cert(web, d, "good"))
    r = start_relais(outbound, web)
    tok = unique("sts-exp")
    qid = submit(r, SENDER, [f"bob@{d}"], msg_text(tok, to=f"bob@{d}"))
    held_for_sts(r, f"bob@{d}")
    assert not peer.transactions
    # the server goes: once the policy's 2 s have passed nothing enforces
    # it any more, and the next attempt delivers
    web.stop()
    stopped = time.monotonic()
    (t,) = peer.wait_messages(1, timeout=30)
    assert tok.encode() in t.data
    assert t.time >= stopped, "delivered while the policy was in force"
    wait_until(lambda: delivered(r, qid), 10, what="event=delivered")
    assert r.log_events("sts.fail"), "no failed refresh logged"


def test_policy_survives_restart(dns, web, peers, outbound, unique):
    d = "restart.example"
    publish(dns, web, d, policy(d))
    web.start()
    bad = sink_cert(web, d, "wrong_name")
    peer = peers(MX_IP, name=f"mx.{d}", tls=sink_cert(web, d, "good"))
    r = start_relais(outbound, web)
    submit(r, SENDER, [f"bob@{d}"], msg_text(unique("sts-r1"), to=f"bob@{d}"))
    peer.wait_messages(1, timeout=20)
    wait_until(lambda: r.log_events("sts.policy"), 5, what="event=sts.policy")
    r.stop()
    # policy server down, wrong certificate: only the stored policy can
    # keep the message back after the restart
    web.stop()
    peer.ssl_ctx = ssl_server_ctx(*bad)
    r.start()
    assert "event=sts.load policies=1" in r.run_log(), r.run_log()[-2000:]
    qid = submit(r, SENDER, [f"bob@{d}"], msg_text(unique("sts-r2"),
                                                   to=f"bob@{d}"))
    row = held_for_sts(r, f"bob@{d}")
    assert row["qid"] == qid
    time.sleep(1.5)
    assert len(peer.messages) == 1, "delivered after the restart"
    assert len(web.fetches(d)) == 1
