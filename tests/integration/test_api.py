"""
test_api.py - the HTTP sending API of [http] through the real daemon:
sending as JSON (with attachments) and as message/rfc822, each bad input
with its status and nothing spooled, API keys (missing, wrong, revoked,
another domain, the per-IP ban), idempotency keys, kill -9 right after a
202, and pulling events.
"""

import email
import email.policy
import signal

import pytest

from api_util import *  # noqa: F401,F403
from conftest import wait_until


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def nothing_spooled(r):
    assert spool_rows(r, "SELECT count(*) FROM messages")[0][0] == 0
    assert list((r.data_dir / "spool" / "bodies").iterdir()) == []


def test_send_json_to_maildir(api_relais, unique):
    r, api = api_relais()
    tok = unique("json")
    st, hd, body = api.send({
        "from": {"email": "alice@example.test", "name": "Alice Exämple"},
        "to": ["bob@example.test", "Carol <carol@example.test>"],
        "bcc": "dave@other.test",
        "subject": f"Grüße {tok}",
        "text": f"plain {tok} – ünïcode\n",
        "html": f"<p>html {tok}</p>",
        "headers": {"X-Campaign": "spring"},
        "tags": ["welcome"],
        "metadata": {"user": "42"},
    })
    assert st == 202, body
    assert body["id"] and len(body["recipients"]) == 3
    assert {x["status"] for x in body["recipients"]} == {"queued"}
    raw = r.maildir_messages("example.test", "bob")[0]
    m = parse(raw)
    assert m["Subject"] == f"Grüße {tok}"
    assert m["From"].addresses[0].display_name == "Alice Exämple"
    assert m["X-Campaign"] == "spring"
    assert m["Message-ID"] and m["Date"]
    assert m["Bcc"] is None and b"dave@other.test" not in raw.split(b"\r\n\r\n")[0]
    assert m.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_content() for p in m.iter_parts()}
    assert f"plain {tok} – ünïcode" in parts["text/plain"]
    assert f"<p>html {tok}</p>" in parts["text/html"]
    assert b"Received: from api (key app" in raw
    r.maildir_messages("example.test", "carol")
    r.maildir_messages("other.test", "dave")
    # the message is gone from the queue once delivered
    wait_until(lambda: api.req("GET", f"/v1/messages/{body['id']}")[0] == 404, 10)


def test_send_attachments(api_relais, unique):
    r, api = api_relais()
    blob = bytes(range(256)) * 40
    st, _, body = api.send({
        "from": "alice@example.test", "to": "bob@example.test",
        "subject": unique("att"), "text": "see attached",
        "attachments": [{"filename": "data.bin", "content_type":
                         "application/octet-stream", "content": b64(blob)},
                        {"filename": "résumé.txt", "content_type": "text/plain",
                         "content": b64("hello\n")}],
    })
    assert st == 202, body
    m = parse(r.maildir_messages("example.test", "bob")[0])
    assert m.get_content_type() == "multipart/mixed"
    atts = {a.get_filename(): a.get_content() for a in m.iter_attachments()}
    assert atts["data.bin"] == blob
    assert atts["résumé.txt"].replace("\r\n", "\n") == "hello\n"


def test_send_raw_rfc822(api_relais, unique):
    r, api = api_relais()
    tok = unique("raw")
    msg = (f"From: Alice <alice@example.test>\nTo: bob@example.test\n"
           f"Subject: raw {tok}\n\nbody {tok}\n")
    st, _, body = api.req("POST", "/v1/messages?to=bob@example.test,carol@example.test",
                          body=msg, ctype="message/rfc822")
    assert st == 202, body
    assert [x["address"] for x in body["recipients"]] == ["bob@example.test",
                                                          "carol@example.test"]
    raw = r.maildir_messages("example.test", "bob")[0]
    assert f"body {tok}".encode() in raw
    m = parse(raw)
    assert m["Message-ID"] and m["Date"], "Date and Message-ID added"
    # stored in the spool with CRLF (the Maildir copy uses LF)
    assert spool_rows(r, "SELECT count(*) FROM messages")[0][0] in (0, 1)


BAD = [
    ("not json", b"{nope", "application/json", 400, ""),
    ("bad address", {"from": "alice@example.test", "to": ["not an address"],
                     "subject": "x", "text": "x"}, None, 400, "to[0]"),
    ("no recipient", {"from": "alice@example.test", "to": [], "subject": "x",
                      "text": "x"}, None, 400, "to"),
    ("header injection", {"from": "alice@example.test", "to": "bob@example.test",
                          "subject": "x", "text": "x",
                          "headers": {"X-A": "v\r\nBcc: evil@remote.example"}},
     None, 400, "headers.X-A"),
    ("unknown key", {"from": "alice@example.test", "to": "bob@example.test",
                     "subject": "x", "text": "x", "bcc ": "eve@remote.example"},
     None, 400, "bcc "),
    ("unknown local user", {"from": "alice@example.test", "to": "nobody@example.test",
                            "subject": "x", "text": "x"}, None, 400, "to[0]"),
    ("too big", {"from": "alice@example.test", "to": "bob@example.test",
                 "subject": "x", "text": "x" * (1024 * 1024 + 10)}, None, 413, None),
    ("raw without to", "From: alice@example.test\r\n\r\nx\r\n", "message/rfc822",
     400, "to"),
    ("wrong type", "hello", "text/plain", 415, "Content-Type"),
]


@pytest.mark.parametrize("name,body,ctype,status,field", BAD, ids=[b[0] for b in BAD])
def test_bad_input_nothing_spooled(api_relais, name, body, ctype, status, field):
    r, api = api_relais()
    st, _, ans = api.send(body, ctype=ctype)
    assert st == status, ans
    assert ans["error"]["status"] == status and ans["error"]["message"]
    if field is not None:
        assert ans["error"].get("field", "").startswith(field), ans
    nothing_spooled(r)


def test_raw_too_big(api_relais):
    r, api = api_relais()
    msg = "From: alice@example.test\r\nSubject: big\r\n\r\n" + ("y" * 998 + "\r\n") * 1100
    st, _, ans = api.req("POST", "/v1/messages?to=bob@example.test", body=msg,
                         ctype="message/rfc822")
    assert st == 413, ans
    nothing_spooled(r)


def test_keys_missing_wrong_revoked_domain(api_relais):
    r, api = api_relais()
    msg = {"from": "alice@example.test", "to": "bob@example.test",
           "subject": "k", "text": "k"}
    st, hd, ans = api.send(msg, token=None)
    assert st == 401 and "error" in ans and "www-authenticate" in hd
    st, _, ans = api.send(msg, token=api.token[:-4] + "AAAA")
    assert st == 401, ans
    off = r.log_offset()
    other = new_key(r, "other", "other.test")
    wait_keys_read(r, api, off)     # the running daemon reads the keys file again
    st, _, ans = api.send(msg, token=other)
    assert st == 403 and ans["error"]["field"] == "from", ans
    st, _, ans = api.send(dict(msg, **{"from": "dave@other.test"}), token=other)
    assert st == 202, ans
    out = r.cli("apikey", "revoke", "other", "-c", str(r.conf_path))
    assert out.returncode == 0, out.stderr
    wait_until(lambda: api.send(msg, token=other)[0] == 401, 10)
    nothing_from_alice = spool_rows(r, "SELECT count(*) FROM messages WHERE sender = ?",
                                    ("alice@example.test",))
    assert nothing_from_alice[0][0] == 0
    # read endpoints want a key too
    assert api.req("GET", "/v1/queue", token=None)[0] == 401
    assert api.req("GET", "/v1/events", token="relais_nope")[0] == 401


def test_failed_keys_ban_the_address(api_relais):
    r, api = api_relais(extra={"limits": {"auth_failures_per_ip": "3",
                                          "auth_ban_time": "1m"}})
    for _ in range(3):
        assert api.req("GET", "/v1/queue", token="relais_00000000_bad")[0] == 401
    st, hd, ans = api.req("GET", "/v1/queue")
    assert st == 429 and "retry-after" in hd, ans
    r.wait_log(r"event=limit.auth_failures_per_ip .*source=http")


def test_idempotency_key(api_relais, unique):
    r, api = api_relais()
    tok = unique("idem")
    msg = {"from": "alice@example.test", "to": "bob@example.test",
           "subject": tok, "text": tok}
    h = {"Idempotency-Key": f"order-{tok}"}
    st1, _, a1 = api.send(msg, headers=h)
    st2, hd2, a2 = api.send(msg, headers=h)
    assert st1 == st2 == 202 and a1 == a2
    assert hd2.get("idempotent-replayed") == "true"
    r.maildir_messages("example.test", "bob")
    r.wait_settled()    # everything accepted is delivered
    assert len(r.find_token(tok)) == 1
    # another key's same Idempotency-Key is another request
    off = r.log_offset()
    k2 = new_key(r, "app2", "example.test")
    wait_keys_read(r, api, off)
    st3, _, a3 = api.send(msg, headers=h, token=k2)
    assert st3 == 202 and a3["id"] != a1["id"]


def test_kill9_after_202_loses_nothing(api_relais, unique):
    r, api = api_relais(extra={"relay": {"retry_min": "1s"}})
    toks = [unique("k9") for _ in range(15)]
    for t in toks:
        st, _, ans = api.send({"from": "alice@example.test", "to": "bob@example.test",
                               "subject": t, "text": t})
        assert st == 202, ans
    r.kill9()
    r.start()
    for t in toks:
        assert r.find_token(t, timeout=15), f"{t} lost"


def test_events_pull(api_relais, unique):
    r, api = api_relais()
    tok = unique("ev")
    st, _, ans = api.send({"from": "alice@example.test", "to": "bob@example.test",
                           "subject": tok, "text": tok, "tags": ["t1"],
                           "metadata": {"k": "v"}})
    assert st == 202
    qid = ans["id"]

    def types():
        _, _, ev = api.req("GET", "/v1/events?since=0")
        return [e for e in ev["events"] if e.get("message_id") == qid]
    evs = wait_until(lambda: (lambda t: t if {e["type"] for e in t} >=
                              {"received", "delivered"} else None)(types()), 10)
    assert all(e["recipient"] == "bob@example.test" for e in evs)
    assert evs[0]["tags"] == ["t1"] and evs[0]["metadata"] == {"k": "v"}
    _, _, page = api.req("GET", f"/v1/events?since={evs[0]['id']}")
    assert all(e["id"] > evs[0]["id"] for e in page["events"])
    assert api.req("GET", "/v1/events?since=-1")[0] == 400


def test_unknown_routes(api_relais):
    r, api = api_relais()
    assert api.req("GET", "/v1/nothing")[0] == 404
    assert api.req("DELETE", "/v1/messages")[0] == 405


def test_https_required(api_relais, tls_files, unique):
    import http.client
    import json
    import ssl
    crt, key = tls_files["main"]
    r, api = api_relais(extra={"http": {"tls": "required"},
                               "tls": {"certificate": str(crt), "key": str(key)}})
    ctx = ssl.create_default_context(cafile=str(tls_files["ca"]))
    tok = unique("tls")
    conn = http.client.HTTPSConnection("127.0.0.1", api.port, context=ctx, timeout=20)
    try:
        conn.request("POST", "/v1/messages", body=json.dumps({
            "from": "alice@example.test", "to": "bob@example.test",
            "subject": tok, "text": tok}),
            headers={"Authorization": f"Bearer {api.token}",
                     "Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 202, resp.read()
        resp.read()
    finally:
        conn.close()
    raw = r.maildir_messages("example.test", "bob")[0]
    assert b"with HTTPS id" in raw
    # plain HTTP on the same port gets no answer
    try:
        st = api.req("GET", "/healthz", token=None, timeout=5)[0]
    except Exception:
        st = None
    assert st != 200
