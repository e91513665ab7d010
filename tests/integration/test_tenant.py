"""
Tenants and their quotas (issue 13 part 4): a [tenant] gathers SMTP AUTH
users and API keys; messages_per_hour/day and recipients_per_hour/day hold
exactly (also under concurrent sessions), with 451 4.7.1 (messages) and
452 4.5.3 (recipients) at RCPT naming the tenant, the limit and the
window, and 429 with Retry-After in the API; the usage survives a restart;
`relais stats` and /metrics show the counters.
"""
import re
import smtplib
import threading

from api_util import API, new_key
from conftest import CLIENT_NAME, HOST, free_port, message

ALICE = ("alice@example.test", "alice-secret")
BOB = ("bob@example.test", "bob-secret")


def tenant_relais(relais_factory, tenant, http=False, **kw):
    over = {"auth": {"allow_plaintext_loopback": "yes"},
            "tenant shop": tenant}
    port = None
    if http:
        port = free_port()
        over["http"] = {"address": f"{HOST}:{port}"}
    r = relais_factory(overrides=over, **kw)
    return r, port


def login(r, user=ALICE):
    s = smtplib.SMTP(HOST, r.port, local_hostname=CLIENT_NAME, timeout=20)
    s.ehlo()
    s.login(*user)
    r.smtps.append(s)
    return s


def one_message(s, sender, rcpts, token):
    """MAIL, RCPT..., DATA on an open session: (accepted rcpts, refusals
    [(code, text)], DATA code or None)."""
    code, resp = s.mail(sender)
    assert code == 250, resp
    ok, refused = [], []
    for rc in rcpts:
        code, resp = s.rcpt(rc)
        if code == 250:
            ok.append(rc)
        else:
            refused.append((code, resp.decode()))
    if not ok:
        s.rset()
        return ok, refused, None
    code, _ = s.data(message(token))
    return ok, refused, code


def stats(r):
    out = r.cli("stats", "-c", str(r.conf_path))
    assert out.returncode == 0, out.stderr
    rows = {}
    for ln in out.stdout.splitlines():
        f = ln.split()
        if len(f) == 7 and f[1] in ("hour", "day"):
            rows[(f[0], f[1])] = f[3:]
    return rows, out.stdout


def test_messages_per_day_exact_concurrent_and_restart(relais_factory, unique):
    r, port = tenant_relais(relais_factory, {
        "users": "alice@example.test bob@example.test",
        "messages_per_day": "10"}, http=True)
    r.start()
    tok = unique("quota")
    results = []
    lock = threading.Lock()

    def sender(user, n, k):
        s = login(r, user)
        for i in range(n):
            got = one_message(s, user[0], ["carol@example.test"],
                              f"{tok}-{k}-{i}")
            with lock:
                results.append(got)
        s.quit()

    # 15 messages from 5 concurrent sessions of the tenant's two users
    threads = [threading.Thread(target=sender, args=(ALICE if k % 2 else BOB, 3, k))
               for k in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 15
    accepted = [x for x in results if x[2] == 250]
    refused = [x for x in results if x[2] is None]
    assert len(accepted) == 10, results
    assert len(refused) == 5, results
    for _, ref, _ in refused:
        code, text = ref[0]
        assert code == 451, ref
        assert text.startswith("4.7.1 "), text
        assert ("tenant shop has reached its limit of 10 messages per day;"
                " try again later") in text, text
    r.wait_log(r"event=rcpt\.reject reason=quota .*tenant=shop"
               r" limit=messages_per_day:10")
    r.maildir_messages("example.test", "carol", count=10)

    rows, text = stats(r)
    assert rows[("shop", "day")] == ["10", "10", "10", "-"], text
    assert rows[("shop", "hour")][0] == "10", text

    api = API(port)
    st, _, body = api.req("GET", "/metrics", token=None)
    assert st == 200
    body = body.decode() if isinstance(body, bytes) else body
    assert 'relais_tenant_messages_total{tenant="shop"} 10' in body
    assert 'relais_tenant_recipients_total{tenant="shop"} 10' in body

    # a restart does not reset the day
    r.stop()
    r.start()
    s = login(r)
    ok, ref, code = one_message(s, ALICE[0], ["carol@example.test"], f"{tok}-11")
    assert code is None and ref[0][0] == 451, ref
    assert "limit of 10 messages per day" in ref[0][1]
    s.quit()
    rows, text = stats(r)
    assert rows[("shop", "day")][0] == "10", text


def test_recipients_per_hour_and_release(relais_factory, unique):
    r, _ = tenant_relais(relais_factory, {
        "users": "alice@example.test", "recipients_per_hour": "3"})
    r.start()
    tok = unique("rq")
    s = login(r)
    # two recipients, then RSET: given back
    assert s.mail(ALICE[0])[0] == 250
    assert s.rcpt("bob@example.test")[0] == 250
    assert s.rcpt("carol@example.test")[0] == 250
    s.rset()
    ok, ref, code = one_message(s, ALICE[0], ["bob@example.test",
                                "carol@example.test"], f"{tok}-1")
    assert code == 250 and not ref
    ok, ref, code = one_message(s, ALICE[0], ["bob@example.test",
                                "carol@example.test"], f"{tok}-2")
    assert ok == ["bob@example.test"] and code == 250
    assert ref[0][0] == 452, ref
    assert ref[0][1].startswith("4.5.3 ")
    assert ("tenant shop has reached its limit of 3 recipients per hour;"
            " try again later") in ref[0][1]
    s.quit()
    rows, text = stats(r)
    assert rows[("shop", "hour")] == ["2", "-", "3", "3"], text
    assert rows[("shop", "day")] == ["2", "-", "3", "-"], text
    # a user of no tenant is not counted
    s = login(r, BOB)
    ok, ref, code = one_message(s, BOB[0], ["carol@example.test"] * 2, f"{tok}-3")
    assert code == 250 and not ref
    s.quit()


def test_api_key_tenant_429(relais_factory):
    port = free_port()
    r = relais_factory(overrides={
        "http": {"address": f"{HOST}:{port}"},
        "tenant shop": {"api_keys": "app", "messages_per_hour": "2",
                        "recipients_per_day": "100"}})
    token = new_key(r, "app", "example.test")
    other = new_key(r, "other", "example.test")
    r.start()
    api = API(port, token)
    msg = {"from": "alice@example.test", "to": "bob@example.test",
           "subject": "q", "text": "hello"}
    for _ in range(2):
        st, _, body = api.send(msg)
        assert st == 202, body
    st, hd, body = api.send(msg)
    assert st == 429, body
    assert int(hd["retry-after"]) > 0
    assert int(hd["retry-after"]) <= 3600
    err = body["error"]
    assert err["status"] == 429
    assert err["limit"] == "messages_per_hour"
    assert err["limit_value"] == 2
    assert err["window"] == "hour"
    assert err["tenant"] == "shop"
    assert "tenant shop has reached its limit of 2 messages per hour" in err["message"]
    # another key, of no tenant: not limited
    st, _, body = API(port, other).send(msg)
    assert st == 202, body
    rows, text = stats(r)
    assert rows[("shop", "hour")][:2] == ["2", "2"], text
    assert rows[("shop", "day")][2:] == ["2", "100"], text


def test_stats_without_spool(relais_factory):
    r, _ = tenant_relais(relais_factory, {"users": "alice@example.test",
                                          "messages_per_hour": "5"})
    rows, text = stats(r)
    assert rows[("shop", "hour")] == ["0", "5", "0", "-"], text
    assert "1 tenant" in text


OLD_SCHEMA = """
CREATE TABLE messages(id INTEGER PRIMARY KEY, qid TEXT NOT NULL UNIQUE,
 sender TEXT NOT NULL, arrival INTEGER NOT NULL, size INTEGER NOT NULL,
 body BLOB, body_file INTEGER NOT NULL DEFAULT 0, client TEXT, helo TEXT,
 listener TEXT, envid TEXT, ret INTEGER NOT NULL DEFAULT 0,
 smtputf8 INTEGER NOT NULL DEFAULT 0, body8 INTEGER NOT NULL DEFAULT 0,
 prefix BLOB, junk INTEGER NOT NULL DEFAULT 0);
CREATE TABLE recipients(id INTEGER PRIMARY KEY, msg_id INTEGER NOT NULL,
 addr TEXT NOT NULL, orig TEXT NOT NULL, orcpt TEXT,
 notify INTEGER NOT NULL DEFAULT 0, transport INTEGER NOT NULL,
 status INTEGER NOT NULL DEFAULT 0, leased INTEGER NOT NULL DEFAULT 0,
 warned INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
 next_attempt INTEGER NOT NULL, last_attempt INTEGER, last_reply TEXT);
CREATE INDEX recipients_due ON recipients(next_attempt)
 WHERE status = 0 AND leased = 0;
"""


def test_spool_of_an_older_relais_migrates(relais_factory, unique):
    import sqlite3
    import time
    r, _ = tenant_relais(relais_factory, {"users": "alice@example.test"})
    tok = unique("old")
    (r.data_dir / "spool" / "bodies").mkdir(parents=True)
    db = sqlite3.connect(r.data_dir / "spool" / "queue.db")
    db.executescript(OLD_SCHEMA)
    body = f"Subject: {tok}\r\n\r\nqueued by an older relais\r\n".encode()
    db.execute("INSERT INTO messages(qid, sender, arrival, size, body)"
               " VALUES('1d00000000000001', 'x@remote.test', ?, ?, ?)",
               (int(time.time()), len(body), body))
    db.execute("INSERT INTO recipients(msg_id, addr, orig, transport,"
               " next_attempt) VALUES(1, 'alice@example.test',"
               " 'alice@example.test', 0, 0)")
    db.commit()
    db.close()
    r.start()
    r.wait_log(r"event=spool\.migrate table=recipients column=priority")
    got = r.maildir_messages("example.test", "alice", count=1)[0]
    assert tok in (got if isinstance(got, str) else got.decode())
    db = sqlite3.connect(f"file:{r.data_dir}/spool/queue.db?mode=ro", uri=True)
    cols = [c[1] for c in db.execute("PRAGMA table_info(messages)")]
    idx = [i[0] for i in db.execute("SELECT name FROM sqlite_master"
                                    " WHERE type = 'index'")]
    db.close()
    assert {"tenant", "pool", "priority"} <= set(cols)
    assert "recipients_due_high" in idx
    # and the tenant's counters work on it
    s = login(r)
    assert one_message(s, ALICE[0], ["bob@example.test"], f"{tok}-2")[2] == 250
    s.quit()
    rows, text = stats(r)
    assert rows[("shop", "day")][0] == "1", text
