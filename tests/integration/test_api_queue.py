"""
test_api_queue.py - inspecting and steering the queue over HTTP: a
message that its remote peer defers shows its recipient's state, attempts
and last reply (GET /v1/messages/ID, GET /v1/queue), and hold, release,
flush, bounce and DELETE act on it through the queue manager.
"""

import pytest

from api_util import *  # noqa: F401,F403
from conftest import wait_until
from outbound_util import *  # noqa: F401,F403


@pytest.fixture
def deferring(api_relais, outbound, dns, peers):
    dns.set("remote.example", {"MX": [(10, "mx.remote.example")]})
    dns.set("mx.remote.example", {"A": ["127.0.0.2"]})
    peer = peers("127.0.0.2")
    peer.script["RCPT"] = {"bob@remote.example": "451 4.3.0 try later"}
    r, api = api_relais(factory=outbound, relay={"retry_min": "1h",
                                                 "retry_max": "1h"})
    return r, api, peer


def send(api, to, subject="q"):
    st, _, ans = api.send({"from": "alice@example.test", "to": to,
                           "subject": subject, "text": "x"})
    assert st == 202, ans
    return ans["id"]


def rcpt(api, qid):
    st, _, m = api.req("GET", f"/v1/messages/{qid}")
    assert st == 200, m
    return m["recipients"][0]


def test_message_state_and_queue_list(deferring):
    r, api, peer = deferring
    qid = send(api, "bob@remote.example")
    x = wait_until(lambda: (lambda x: x if x["attempts"] >= 1 else None)(rcpt(api, qid)),
                   15)
    assert x["state"] == "queued" and "451" in x["last_reply"]
    assert x["address"] == "bob@remote.example" and x["next_attempt"]
    st, _, q = api.req("GET", "/v1/queue")
    assert st == 200 and [m["id"] for m in q["messages"]] == [qid]
    assert q["messages"][0]["sender"] == "alice@example.test"
    assert api.req("GET", "/v1/messages/NOSUCHID")[0] == 404


def test_queue_pages(deferring):
    r, api, peer = deferring
    ids = [send(api, "bob@remote.example", f"p{i}") for i in range(5)]
    seen, after = [], 0
    for _ in range(10):
        st, _, q = api.req("GET", f"/v1/queue?limit=2&after={after}")
        assert st == 200
        seen += [m["id"] for m in q["messages"]]
        if q["next"] is None:
            break
        after = q["next"]
    assert seen == ids
    assert api.req("GET", "/v1/queue?limit=0")[0] == 400


def test_hold_release_flush(deferring):
    r, api, peer = deferring
    qid = send(api, "bob@remote.example")
    wait_until(lambda: rcpt(api, qid)["attempts"] >= 1, 15)
    st, _, a = api.req("POST", f"/v1/queue/{qid}/hold")
    assert st == 200 and a["recipients"] == 1, a
    assert rcpt(api, qid)["state"] == "held"
    st, _, a = api.req("POST", f"/v1/queue/{qid}/flush")
    assert st == 200 and a["recipients"] == 0, "held: nothing to flush"
    peer.script["RCPT"] = {}
    st, _, a = api.req("POST", f"/v1/queue/{qid}/release")
    assert st == 200 and a["recipients"] == 1
    peer.wait_rcpts("bob@remote.example", 1, timeout=15)
    wait_until(lambda: api.req("GET", f"/v1/messages/{qid}")[0] == 404, 15)
    assert api.req("POST", f"/v1/queue/{qid}/nope")[0] == 404


def test_bounce_and_delete(deferring):
    r, api, peer = deferring
    q1 = send(api, "bob@remote.example", "b1")
    q2 = send(api, "bob@remote.example", "b2")
    # a recipient in a delivery attempt right now is not bounced
    wait_until(lambda: rcpt(api, q1)["attempts"] >= 1, 15)
    st, _, a = api.req("POST", f"/v1/queue/{q1}/bounce")
    assert st == 200 and a["recipients"] == 1, a
    wait_until(lambda: api.req("GET", f"/v1/messages/{q1}")[0] == 404, 15)
    # the sender gets the report
    r.maildir_messages("example.test", "alice")

    def bounced():
        _, _, ev = api.req("GET", "/v1/events?since=0")
        return [e for e in ev["events"] if e.get("message_id") == q1 and
                e["type"] == "bounced"]
    wait_until(bounced, 10)
    # the operator's bounce says nothing about the address: not suppressed
    assert api.req("GET", "/v1/suppressions/bob@remote.example")[0] == 404
    st, _, a = api.req("DELETE", f"/v1/queue/{q2}")
    assert st == 200 and a["action"] == "delete"
    assert api.req("GET", f"/v1/messages/{q2}")[0] == 404
    assert api.req("DELETE", f"/v1/queue/{q2}")[0] == 404
