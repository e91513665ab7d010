"""
Webhooks ([webhooks], src/http/webhook.c): delivery events POSTed in
signed JSON batches to a receiver on loopback, retried with a back-off
until a 2xx, never lost across a restart or kill -9, at least once.
Every daemon runs with the sandbox on (the default).
"""

import re
import signal
import sqlite3
import time

from conftest import HOST, free_port, message, wait_until
from outbound_util import submit
from webhook_util import *  # noqa: F401,F403 (fixtures and helpers)

TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def kinds(events, qid):
    return sorted(e["type"] for e in events if e["message_id"] == qid)


def has_all(qids, types=("delivered", "received")):
    want = sorted(types)

    def check(events):
        return all(kinds(events, q) == want for q in qids)
    return check


def cursor(r):
    db = sqlite3.connect(f"file:{r.data_dir}/spool/queue.db?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM meta WHERE name = 'webhook_cursor'"
                         ).fetchone()
        return row[0] if row else 0
    finally:
        db.close()


def event_rows(r):
    db = sqlite3.connect(f"file:{r.data_dir}/spool/queue.db?mode=ro", uri=True)
    try:
        return db.execute("SELECT id, type, qid FROM events ORDER BY id").fetchall()
    finally:
        db.close()


def test_received_and_delivered_signed(relais_factory, receivers, unique):
    rx = receivers(keepalive=True)
    # a host name, not an address: libcurl's resolver (a thread, /etc/hosts)
    # under the sandbox
    url = f"http://localhost:{rx.port}/hook"
    r = relais_factory(overrides=hook_conf(url)).start()
    assert "event=webhook.start" in r.run_log()
    tok = unique("hook")
    qid = submit(r, "sender@remote.test", ["alice@example.test"],
                 message(tok, to="alice@example.test"))
    assert qid
    r.maildir_messages("example.test", "alice")
    evs = rx.wait_events(has_all([qid]), what=f"received+delivered of {qid}")

    for p in rx.posts:
        t = verify_signature(p)
        assert abs(t - time.time()) < 300
        assert p.headers["Content-Type"] == "application/json"
        assert p.headers["User-Agent"].startswith("relais/")
        assert p.json is not None and set(p.json) == {"events"}, p.body
    received = [e for e in evs if e["message_id"] == qid and e["type"] == "received"]
    delivered = [e for e in evs if e["message_id"] == qid and e["type"] == "delivered"]
    assert len(received) == 1 and len(delivered) == 1, evs
    rc, dl = received[0], delivered[0]
    for e in (rc, dl):
        assert isinstance(e["id"], int) and e["id"] > 0
        assert TS_RE.match(e["timestamp"]), e
        assert e["recipient"] == "alice@example.test", e
        assert None not in e.values(), e
    assert rc["id"] < dl["id"]
    assert rc["sender"] == "sender@remote.test", rc
    assert rc["relay"] == "mx", rc          # the listener it came in on
    assert dl["status"].startswith("2."), dl
    assert "reply" in dl and "relay" in dl, dl
    assert "tags" not in rc and "metadata" not in rc   # not sent by the API
    # more mail: a later batch, on the kept-alive connection
    tok2 = unique("hook")
    qid2 = submit(r, "sender@remote.test", ["bob@example.test"],
                  message(tok2, to="bob@example.test"))
    evs = rx.wait_events(has_all([qid, qid2]), what=f"the events of {qid2}")
    assert len(rx.posts) >= 2
    # the cursor follows what was accepted
    wait_until(lambda: cursor(r) >= dl["id"], 10, what="the cursor stored")
    r.stop()
    assert "event=webhook.stopped" in r.run_log()


def test_retry_same_batch_until_2xx(relais_factory, receivers, unique):
    # 500, then a redirect (not followed: the target sees nothing), 503,
    # then 200; mail that arrives meanwhile waits for the next batch
    target = receivers()
    rx = receivers(answers=[500, (302, {"Location": target.url}), 503, 200])
    r = relais_factory(overrides=hook_conf(rx.url, retry_max="2s")).start()
    qids = []

    def send():
        tok = unique("retry")
        qids.append(submit(r, "sender@remote.test", ["bob@example.test"],
                           message(tok, to="bob@example.test")))
        r.maildir_messages("example.test", "bob", count=len(qids))

    send()
    wait_until(lambda: rx.posts, 10, what="the first POST")
    send()
    send()
    rx.wait_events(has_all(qids), timeout=30, what="every event after the retries")
    fails = r.log_events("webhook.fail")
    assert [f["status"] for f in fails] == ["500", "302", "503"], fails
    # back-off doubles from 1 s up to retry_max (2 s)
    assert [f["retry_in"] for f in fails] == ["1s", "2s", "2s"], fails
    # the failed batch was sent again as it was, without what came since
    assert rx.posts[0].ids == rx.posts[1].ids == rx.posts[2].ids == rx.posts[3].ids
    assert rx.posts[3].status == 200
    assert qids[1] not in {e["message_id"] for e in rx.posts[0].events}
    assert len(rx.posts) >= 5
    assert target.posts == [], "a redirect was followed"
    # nothing lost, nothing twice among the accepted posts
    evs = rx.events()
    ids = [i for p in rx.ok_posts() for i in p.ids]
    assert len(ids) == len(set(ids)), ids
    assert [e["id"] for e in evs] == [row[0] for row in event_rows(r)]
    r.stop()


def test_timeout_then_retry(relais_factory, receivers, unique):
    # the first answer comes after [webhooks] timeout: a failure, then the
    # batch again
    rx = receivers(hold=4)
    r = relais_factory(overrides=hook_conf(rx.url, timeout="1s")).start()
    tok = unique("slow")
    qid = submit(r, "sender@remote.test", ["alice@example.test"],
                 message(tok, to="alice@example.test"))
    f = r.wait_log(r"event=webhook\.fail status=0 error=[^\n]*", timeout=10)
    assert "timed out" in f.group(0).lower(), f.group(0)
    rx.wait_events(has_all([qid]), what="the events after the timeout")
    assert rx.posts[1].ids[:len(rx.posts[0].ids)] == rx.posts[0].ids
    r.stop()


def test_receiver_down_across_restarts(relais_factory, unique):
    port = free_port()
    url = f"http://localhost:{port}/hook"
    r = relais_factory(overrides=hook_conf(url, retry_max="1s")).start()
    qids = []

    def send(n):
        for _ in range(n):
            tok = unique("down")
            qids.append(submit(r, "sender@remote.test", ["carol@example.test"],
                               message(tok, to="carol@example.test")))
        r.maildir_messages("example.test", "carol", count=len(qids))

    send(3)
    r.wait_log(r"event=webhook\.fail status=0 error=", timeout=10)
    r.stop()                    # SIGTERM while the receiver is down
    r.start()
    send(3)
    r.wait_log(r"event=webhook\.fail status=0", timeout=10,
               since=len(r.log()) - len(r.run_log()))
    # wait until the last message's delivered event is in the spool
    wait_until(lambda: sum(1 for row in event_rows(r) if row[1] == "delivered")
               == len(qids), 10, what="every delivered event stored")
    r.kill9()                   # and kill -9
    assert cursor(r) == 0
    rx = Receiver(port=port).start()
    try:
        r.start()
        evs = rx.wait_events(has_all(qids), timeout=30,
                             what="every event of 6 messages")
        got = sorted((e["message_id"], e["type"]) for e in evs)
        want = sorted((q, t) for q in qids for t in ("received", "delivered"))
        assert got == want
        assert [e["id"] for e in evs] == [row[0] for row in event_rows(r)]
        for p in rx.posts:
            verify_signature(p)
        r.stop()
    finally:
        rx.stop()


def test_kill9_during_post_sends_the_batch_again(relais_factory, receivers,
                                                 unique):
    # the receiver holds its answer to the first POST; relais dies before
    # it comes: after the restart the same events come again (same ids)
    rx = receivers(hold=20)
    r = relais_factory(overrides=hook_conf(rx.url, timeout="30s")).start()
    tok = unique("again")
    qid = submit(r, "sender@remote.test", ["alice@example.test"],
                 message(tok, to="alice@example.test"))
    r.maildir_messages("example.test", "alice")
    wait_until(lambda: rx.posts, 10, what="the first POST")
    first = rx.posts[0].ids
    assert first
    wait_until(lambda: sum(1 for row in event_rows(r) if row[2] == qid) == 2,
               10, what="both events stored")
    r.kill9()
    rx.released.set()
    r.start()
    again = wait_until(lambda: [p for p in rx.posts[1:] if p.status == 200
                                and set(first) <= set(p.ids)], 20,
                       what=f"batch {first} sent again")
    assert rx.posts[0].ids == again[0].ids[:len(first)]
    rx.wait_events(has_all([qid]), what="the events after the restart")
    r.stop()


def test_https_verifies_the_certificate(relais_factory, receivers, tls_files,
                                        unique):
    # a certificate from a CA the system does not trust: refused
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    crt, key = tls_files["main"]
    ctx.load_cert_chain(str(crt), str(key))
    rx = receivers(tls=ctx)
    r = relais_factory(overrides=hook_conf(rx.url)).start()
    tok = unique("tls")
    submit(r, "sender@remote.test", ["alice@example.test"],
           message(tok, to="alice@example.test"))
    f = r.wait_log(r"event=webhook\.fail status=0 error=[^\n]*", timeout=15)
    assert re.search(r"certificate|SSL", f.group(0)), f.group(0)
    assert rx.posts == []
    r.stop()
