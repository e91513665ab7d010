"""
Priority and pool of a message (issue 13 part 4): X-Relais-Priority: high
from a trusted or authenticated client jumps ahead of the queue, and
X-Relais-Pool: NAME chooses its [pool]; both fields are taken out of the
message. An untrusted client's fields are neither honoured nor touched.
The API takes "priority" and "pool" (400 for anything else), and a
tenant's pool applies to its messages.
"""
import re
import smtplib

from api_util import API, new_key
from conftest import CLIENT_NAME, HOST, free_port, wait_until
from outbound_util import *  # noqa: F401,F403 (fixtures)

SENDER = "alice@example.test"
POOLS = {"pool warm": {"addresses": "127.0.0.1"},
         "pool cold": {"addresses": "127.0.0.1"}}


def one_mx(dns, domain="remote.example", host="127.0.0.2"):
    dns.set(domain, {"MX": [(10, f"mx.{domain}")]})
    dns.set(f"mx.{domain}", {"A": [host]})


def send(r, token, headers="", to="bob@remote.example", login=None):
    s = smtplib.SMTP(HOST, r.port, local_hostname=CLIENT_NAME, timeout=20)
    try:
        s.ehlo()
        if login:
            s.login(*login)
        code, resp = s.mail(SENDER)
        assert code == 250, resp
        code, resp = s.rcpt(to)
        assert code == 250, resp
        code, resp = s.data(msg_text(token, to=to, extra_headers=headers).encode())
        assert code == 250, resp
        return re.search(rb"queued as (\S+)", resp).group(1).decode()
    finally:
        s.quit()


def subject_of(tx):
    return tx.data.split(b"Subject: outbound ")[1].split(b"\r\n")[0].decode()


def test_high_priority_first(dns, peers, outbound, peer_port, unique):
    one_mx(dns)
    # the peer is down: every message is deferred, the destination backs off
    r = outbound(relay={"retry_min": "1h", "retry_max": "1h",
                        "max_connections_per_domain": "1"})
    tok = unique("prio")
    for i in range(50):
        send(r, f"{tok}-n{i:02d}")
    qid = send(r, f"{tok}-high", headers="X-Relais-Priority: high\r\n")
    r.wait_log(rf"event=smtp\.class id={qid} tenant=- pool=- priority=high")

    def all_deferred():
        rows, _ = queue_list(r)
        return len(rows) == 51 and all(x["status"] == "queued" for x in rows)
    wait_until(all_deferred, 30, interval=0.2, what="51 deferred recipients")
    # stored with its priority, the high message the last to arrive
    peer = peers("127.0.0.2", name="mx.remote.example")
    out = r.cli("queue", "flush", "-c", str(r.conf_path))
    assert out.returncode == 0, out.stderr
    peer.wait_messages(51, timeout=60)
    order = [subject_of(t) for t in peer.messages]
    assert sorted(order) == sorted([f"{tok}-n{i:02d}" for i in range(50)] +
                                   [f"{tok}-high"])
    assert f"{tok}-high" in order[:3], order[:10]
    high = [t for t in peer.messages if subject_of(t) == f"{tok}-high"][0]
    assert b"X-Relais-Priority" not in high.data
    wait_queue_empty(r, timeout=20)


def test_pool_header_trusted_and_tenant(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    extra = dict(POOLS)
    extra["auth"] = {"allow_plaintext_loopback": "yes"}
    extra["tenant shop"] = {"users": "alice@example.test", "pool": "cold"}
    r = outbound(extra=extra)
    tok = unique("pool")
    qid = send(r, f"{tok}-1", headers="X-Relais-Pool: warm\r\n"
               "X-Relais-Priority: high\r\n")
    r.wait_log(rf"event=smtp\.class id={qid} tenant=- pool=warm priority=high")
    # an unknown pool: ignored, logged, the field still taken out
    qid2 = send(r, f"{tok}-2", headers="X-Relais-Pool: nowhere\r\n")
    r.wait_log(rf"event=smtp\.pool_ignored session=\d+ id={qid2}"
               r" pool=\"nowhere\"")
    # the tenant's pool, unless the client names one
    qid3 = send(r, f"{tok}-3", login=("alice@example.test", "alice-secret"))
    r.wait_log(rf"event=smtp\.class id={qid3} tenant=shop pool=cold"
               r" priority=normal")
    qid4 = send(r, f"{tok}-4", headers="X-Relais-Pool: WARM\r\n",
                login=("alice@example.test", "alice-secret"))
    r.wait_log(rf"event=smtp\.class id={qid4} tenant=shop pool=warm")
    peer.wait_messages(4, timeout=30)
    for t in peer.messages:
        assert b"X-Relais-Pool" not in t.data, t.data
        assert b"X-Relais-Priority" not in t.data, t.data
    assert qid2 not in " ".join(
        ln for ln in r.log().splitlines() if "event=smtp.class" in ln)


def test_untrusted_fields_not_honoured(relais_factory, unique):
    over = dict(POOLS)
    over["relay"] = {"trusted_networks": "192.0.2.0/24"}
    r = relais_factory(overrides=over)
    r.start()
    tok = unique("untrusted")
    s = smtplib.SMTP(HOST, r.port, local_hostname=CLIENT_NAME, timeout=20)
    s.sendmail("someone@remote.test", ["alice@example.test"],
               f"Subject: {tok}\r\nX-Relais-Pool: warm\r\n"
               f"X-Relais-Priority: high\r\n\r\nbody\r\n")
    s.quit()
    data = r.maildir_messages("example.test", "alice", count=1)[0]
    data = data.encode() if isinstance(data, str) else data
    assert b"X-Relais-Pool: warm" in data
    assert b"X-Relais-Priority: high" in data
    assert "event=smtp.class" not in r.log()


def test_api_priority_and_pool(relais_factory):
    port = free_port()
    over = dict(POOLS)
    over["http"] = {"address": f"{HOST}:{port}"}
    over["tenant shop"] = {"api_keys": "app", "pool": "cold"}
    r = relais_factory(overrides=over)
    token = new_key(r, "app", "example.test")
    r.start()
    api = API(port, token)
    base = {"from": "alice@example.test", "to": "bob@example.test",
            "subject": "p", "text": "hello"}
    st, _, body = api.send(dict(base, priority="urgent"))
    assert st == 400 and body["error"]["field"] == "priority", body
    st, _, body = api.send(dict(base, priority=1))
    assert st == 400 and body["error"]["field"] == "priority", body
    st, _, body = api.send(dict(base, pool="nowhere"))
    assert st == 400 and body["error"]["field"] == "pool", body
    assert "no such pool" in body["error"]["message"]
    st, _, body = api.send(dict(base, pool="bad name"))
    assert st == 400 and body["error"]["field"] == "pool", body
    st, _, body = api.send(dict(base, priority="high", pool="warm"))
    assert st == 202, body
    r.wait_log(rf"event=http\.accepted id={body['id']} .*tenant=shop"
               r" pool=warm priority=high")
    st, _, body = api.send(dict(base, priority="normal"))
    assert st == 202, body
    line = r.wait_log(rf"event=http\.accepted id={body['id']} .*tenant=shop"
                      r" pool=cold")
    # message/rfc822: ?priority= and ?pool=
    raw = ("From: alice@example.test\r\nTo: bob@example.test\r\n"
           "Subject: raw\r\n\r\nhello\r\n")
    st, _, body = api.req("POST", "/v1/messages?to=bob@example.test"
                          "&priority=high&pool=warm", body=raw,
                          ctype="message/rfc822")
    assert st == 202, body
    r.wait_log(rf"event=http\.accepted id={body['id']} .*pool=warm"
               r" priority=high")
    st, _, body = api.req("POST", "/v1/messages?to=bob@example.test"
                          "&priority=soon", body=raw, ctype="message/rfc822")
    assert st == 400, body
