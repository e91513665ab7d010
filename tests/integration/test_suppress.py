"""
test_suppress.py - the suppression list: a hard bounce (550 5.1.1 at
RCPT) puts its recipient on the list; the next API send to it is not
attempted and gets a `suppressed` event, SMTP submission answers 550 5.1.1
at RCPT; the list is read and changed over HTTP and with relais suppress.
"""

import smtplib

import pytest

from api_util import *  # noqa: F401,F403
from conftest import CLIENT_NAME, HOST, wait_until
from outbound_util import *  # noqa: F401,F403


@pytest.fixture
def bouncing(api_relais, outbound, dns, peers):
    dns.set("remote.example", {"MX": [(10, "mx.remote.example")]})
    dns.set("mx.remote.example", {"A": ["127.0.0.2"]})
    peer = peers("127.0.0.2")
    peer.script["RCPT"] = {"gone@remote.example": "550 5.1.1 no such user"}
    r, api = api_relais(factory=outbound)
    return r, api, peer


def events(api, qid):
    _, _, ev = api.req("GET", "/v1/events?since=0&limit=1000")
    return [e for e in ev["events"] if e.get("message_id") == qid]


def test_bounce_then_suppressed(bouncing):
    r, api, peer = bouncing
    st, _, a = api.send({"from": "alice@example.test", "to": "gone@remote.example",
                         "subject": "first", "text": "x"})
    assert st == 202
    q1 = a["id"]
    wait_until(lambda: any(e["type"] == "bounced" for e in events(api, q1)), 15)
    st, _, s = api.req("GET", "/v1/suppressions/gone@remote.example")
    assert st == 200 and s["suppressed"], s
    tries = peer.rcpt_count("gone@remote.example")
    # a second send: not attempted, a suppressed event; others still go
    st, _, a = api.send({"from": "alice@example.test",
                         "to": ["gone@remote.example", "ok@remote.example"],
                         "subject": "second", "text": "x"})
    assert st == 202, a
    status = {x["address"]: x["status"] for x in a["recipients"]}
    assert status == {"gone@remote.example": "suppressed",
                      "ok@remote.example": "queued"}
    q2 = a["id"]
    wait_until(lambda: any(e["type"] == "suppressed" and
                           e["recipient"] == "gone@remote.example"
                           for e in events(api, q2)), 10)
    peer.wait_rcpts("ok@remote.example", 1, timeout=15)
    assert peer.rcpt_count("gone@remote.example") == tries
    # only suppressed recipients: nothing queued
    st, _, a = api.send({"from": "alice@example.test", "to": "gone@remote.example",
                         "subject": "third", "text": "x"})
    assert st == 422 and a["recipients"][0]["status"] == "suppressed"
    # SMTP submission from a trusted client: refused at RCPT
    s = smtplib.SMTP(HOST, r.port, local_hostname=CLIENT_NAME, timeout=10)
    try:
        s.ehlo()
        s.mail("alice@example.test")
        code, resp = s.rcpt("gone@remote.example")
        assert code == 550 and b"5.1.1" in resp and b"suppression" in resp
    finally:
        s.quit()


def test_list_api_and_cli(bouncing):
    r, api, peer = bouncing
    st, _, a = api.req("POST", "/v1/suppressions", body={"address": "x@Remote.Example",
                                                          "reason": "asked"})
    assert st == 201, a
    st, _, lst = api.req("GET", "/v1/suppressions")
    assert [x["address"] for x in lst["suppressions"]] == ["x@remote.example"]
    assert lst["suppressions"][0]["source"] == "api"
    out = r.cli("suppress", "list", "-c", str(r.conf_path))
    assert out.returncode == 0 and "x@remote.example" in out.stdout
    out = r.cli("suppress", "add", "y@remote.example", "-c", str(r.conf_path))
    assert out.returncode == 0, out.stderr
    # the daemon reloads the list the CLI changed
    s = smtplib.SMTP(HOST, r.port, local_hostname=CLIENT_NAME, timeout=10)
    try:
        s.ehlo()

        def refused():
            s.rset()
            s.mail("alice@example.test")
            return s.rcpt("y@remote.example")[0] == 550
        wait_until(refused, 10, interval=0.3)
    finally:
        s.quit()
    st, _, a = api.req("DELETE", "/v1/suppressions/x@remote.example")
    assert st == 200, a
    assert api.req("DELETE", "/v1/suppressions/x@remote.example")[0] == 404
    out = r.cli("suppress", "remove", "y@remote.example", "-c", str(r.conf_path))
    assert out.returncode == 0
    out = r.cli("suppress", "remove", "y@remote.example", "-c", str(r.conf_path))
    assert out.returncode == 1
    assert api.req("POST", "/v1/suppressions", body={"address": "bad"})[0] == 400
