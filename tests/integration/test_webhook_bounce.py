"""
Webhooks for a remote delivery refused for good: a local capture server
(the MX of remote.example in the test's DNS) answers 550 5.1.1 at RCPT;
the receiver gets a "bounced" event with the status and the reply, and
the address is on the suppression list (table suppressions).
"""

import sqlite3

from conftest import wait_until
from outbound_util import *  # noqa: F401,F403 (fixtures)
from webhook_util import *  # noqa: F401,F403

SENDER = "alice@example.test"
RCPT = "bob@remote.example"


def suppressions(r):
    db = sqlite3.connect(f"file:{r.data_dir}/spool/queue.db?mode=ro", uri=True)
    try:
        return db.execute("SELECT addr, reason, source FROM suppressions"
                          ).fetchall()
    finally:
        db.close()


def test_bounce_event_and_suppression(dns, peers, outbound, receivers, unique):
    dns.set("remote.example", {"MX": [(10, "mx.remote.example")]})
    dns.set("mx.remote.example", {"A": ["127.0.0.2"]})
    peer = peers("127.0.0.2", name="mx.remote.example")
    peer.script["RCPT"] = {RCPT: "550 5.1.1 no such user bob"}
    rx = receivers()
    r = outbound(extra=hook_conf(rx.url))
    tok = unique("bounce")
    qid = submit(r, SENDER, [RCPT], msg_text(tok, to=RCPT))

    def bounced(events):
        return [e for e in events if e["message_id"] == qid
                and e["type"] == "bounced"]
    rx.wait_events(bounced, what=f"a bounced event for {qid}")
    evs = rx.events()
    (b,) = bounced(evs)
    assert b["recipient"] == RCPT, b
    assert b["status"] == "5.1.1", b
    assert "550" in b["reply"] and "no such user bob" in b["reply"], b
    assert "relay" in b, b
    assert [e["type"] for e in evs if e["message_id"] == qid] == \
        ["received", "bounced"], evs
    for p in rx.posts:
        verify_signature(p)
    rows = wait_until(lambda: [x for x in suppressions(r) if x[0] == RCPT], 10,
                      what=f"{RCPT} in the suppressions table")
    assert rows[0][2] == "bounce", rows
    assert "550" in (rows[0][1] or ""), rows
    r.stop()
