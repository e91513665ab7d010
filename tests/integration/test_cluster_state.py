"""
test_cluster_state.py - two relais nodes sharing their limits and lists
through one Redis ([cluster] redis): the user daily limit and a tenant
quota hold exactly across both nodes, an address suppressed on one node is
refused on the other, the connections per address and minute count both
nodes, an AUTH brute-force ban set on one node holds on the
other; with Redis gone mail still flows (redis_down = open) or limited
actions get 451 4.3.0 and never a 5xx (closed); Redis back, the nodes
share again.
"""
import re
import smtplib

from api_util import API, new_key
from conftest import (CLIENT_NAME, HOST, SMTPConn, free_port, message,
                      wait_until)
from redis_server import redis  # noqa: F401 (a fixture)

ALICE = ("alice@example.test", "alice-secret")
BOB = ("bob@example.test", "bob-secret")


def nodes(relais_factory, tmp_path, rs, down="open", limits=None,
          extra=None):
    out = []
    for name in ("a", "b"):
        over = {
            "server": {"node": name},
            "auth": {"allow_plaintext_loopback": "yes"},
            "cluster": {"redis": rs.address, "redis_down": down,
                        "timeout": "1s"},
            "limits": dict(limits or {}),
        }
        for k, v in (extra or {}).items():
            over[k] = v
        r = relais_factory(root=tmp_path / f"node-{name}", overrides=over)
        r.start()
        out.append(r)
    for r in out:
        r.wait_log(r"event=cluster\.redis\.up conn=w0 ", timeout=10)
    return out


def login(r, user=ALICE):
    s = smtplib.SMTP(HOST, r.port, local_hostname=CLIENT_NAME, timeout=20)
    s.ehlo()
    s.login(*user)
    r.smtps.append(s)
    return s


def try_send(s, sender, rcpt, token):
    """One message on an open session: the first refusal's code, or 250."""
    code, _ = s.mail(sender)
    if code != 250:
        s.rset()
        return code
    code, _ = s.rcpt(rcpt)
    if code != 250:
        s.rset()
        return code
    code, _ = s.data(message(token))
    return code


def test_user_daily_limit_across_nodes(relais_factory, tmp_path, redis):
    a, b = nodes(relais_factory, tmp_path, redis,
                 limits={"user_daily_limit": "10"})
    sa, sb = login(a), login(b)
    codes = [try_send(sa if i % 2 == 0 else sb, ALICE[0],
                      "carol@example.test", f"daily-{i}") for i in range(20)]
    assert codes.count(250) == 10, codes
    assert set(codes) == {250, 450}, codes
    # the refusals come once the shared count is full, on both nodes
    assert codes[:10] == [250] * 10, codes


def test_tenant_quota_across_nodes(relais_factory, tmp_path, redis):
    tenant = {"users": "alice@example.test bob@example.test",
              "messages_per_day": "6"}
    a, b = nodes(relais_factory, tmp_path, redis,
                 extra={"tenant shop": tenant})
    sa, sb = login(a, ALICE), login(b, BOB)
    codes = []
    for i in range(12):
        s, who = (sa, ALICE) if i % 2 == 0 else (sb, BOB)
        codes.append(try_send(s, who[0], "carol@example.test",
                              f"tenant-{i}"))
    assert codes.count(250) == 6, codes
    assert set(codes) == {250, 451}, codes
    keys = redis.cmd("KEYS", "relais:quota:shop:md:*")
    assert len(keys) == 1 and redis.cmd("GET", keys[0]) == "6", keys


def test_suppression_learned_on_a_refused_on_b(relais_factory, tmp_path,
                                               redis):
    a, b = nodes(relais_factory, tmp_path, redis)
    out = a.cli("suppress", "add", "gone@remote.example", "-c",
                str(a.conf_path))
    assert out.returncode == 0, out.stderr

    def refused_on_b():
        s = smtplib.SMTP(HOST, b.port, local_hostname=CLIENT_NAME,
                         timeout=10)
        try:
            s.ehlo()
            s.mail("alice@example.test")
            code, resp = s.rcpt("gone@remote.example")
            return code == 550 and b"suppression" in resp
        finally:
            s.quit()

    wait_until(refused_on_b, 15, interval=0.3, what="suppressed on b")
    members = redis.cmd("SMEMBERS", "relais:suppress")
    assert members == ["gone@remote.example"]
    # removed on a: sent again on b
    out = a.cli("suppress", "remove", "gone@remote.example", "-c",
                str(a.conf_path))
    assert out.returncode == 0, out.stderr
    wait_until(lambda: not refused_on_b(), 15, interval=0.3,
               what="unsuppressed on b")


def test_bruteforce_ban_on_a_holds_on_b(relais_factory, tmp_path, redis):
    a, b = nodes(relais_factory, tmp_path, redis, limits={
        "auth_failures_per_ip": "3", "auth_failure_window": "1m",
        "auth_ban_time": "1m"})
    src = "127.0.0.7"
    for i in range(3):
        c = a.conn(source=src)
        c.ehlo()
        r = c.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==")
        assert r.code == 535, r
        c.close()
    wait_until(lambda: redis.cmd("EXISTS", "relais:ban:" + src) == 1, 5,
               what="ban in redis")
    c = b.conn(source=src, read_greeting=False)
    r = c.reply()
    assert r.code == 421 and "authentication failures" in r.text, r
    # another address is not banned on b
    c = b.conn(source="127.0.0.8")
    assert c.ehlo().code == 250


def test_connection_rate_counts_both_nodes(relais_factory, tmp_path, redis):
    # 4 a minute from one address: each node alone would let 3 + 3 in
    a, b = nodes(relais_factory, tmp_path, redis, limits={
        "connections_per_ip_per_minute": "4"})
    src = "127.0.0.9"
    greetings = []
    for node in (a, b, a, b, a, b):
        c = node.conn(source=src, read_greeting=False)
        greetings.append(c.reply())
        c.close()
    codes = [g.code for g in greetings]
    assert codes == [220, 220, 220, 220, 421, 421], greetings
    assert "per minute" in greetings[4].text, greetings[4]
    assert redis.cmd("EXISTS", "relais:connrate:" + src) == 1
    # another address has its own minute, on both nodes
    for node in (a, b):
        c = node.conn(source="127.0.0.10")
        assert c.ehlo().code == 250
        c.close()
    assert redis.cmd("EXISTS", "relais:connrate:127.0.0.10") == 1


def test_api_tenant_quota_across_nodes(relais_factory, tmp_path, redis):
    keys = tmp_path / "api-keys"
    apis = []
    for name in ("a", "b"):
        port = free_port()
        r = relais_factory(root=tmp_path / f"api-{name}", overrides={
            "server": {"node": name},
            "http": {"address": f"{HOST}:{port}", "keys": str(keys)},
            "cluster": {"redis": redis.address, "timeout": "1s"},
            "tenant shop": {"api_keys": "app", "messages_per_hour": "3"}})
        if name == "a":
            token = new_key(r, "app", "example.test")
        r.start()
        r.wait_log(r"event=cluster\.redis\.up conn=http ", timeout=10)
        apis.append((r, API(port, token)))
    msg = {"from": "alice@example.test", "to": "bob@example.test",
           "subject": "q", "text": "hello"}
    answers = [apis[i % 2][1].send(msg) for i in range(6)]
    codes = [st for st, _, _ in answers]
    assert codes.count(202) == 3, answers
    assert set(codes) == {202, 429}, answers
    st, hd, body = [x for x in answers if x[0] == 429][0]
    assert int(hd["retry-after"]) > 0
    assert body["error"]["limit"] == "messages_per_hour", body
    assert body["error"]["tenant"] == "shop", body
    # the shared counter holds the three
    mh = [k for k in redis.cmd("KEYS", "relais:quota:shop:mh:*")]
    assert len(mh) == 1 and redis.cmd("GET", mh[0]) == "3", mh
    for r, _ in apis:
        r.wait_settled()
    assert len(apis[0][0].maildir_files("example.test", "bob")) + \
        len(apis[1][0].maildir_files("example.test", "bob")) == 3

    # Redis away, redis_down = open: each node's own counters decide
    redis.stop()
    apis[1][0].wait_log(r"event=cluster\.redis\.down conn=http ",
                        timeout=10)
    # b took one of the three (requests 0 and 2 went to a): two more
    codes = [apis[1][1].send(msg)[0] for _ in range(3)]
    assert codes == [202, 202, 429], codes


def test_api_tenant_quota_redis_down_closed(relais_factory, tmp_path, redis):
    port = free_port()
    r = relais_factory(root=tmp_path / "api-closed", overrides={
        "http": {"address": f"{HOST}:{port}"},
        "cluster": {"redis": redis.address, "timeout": "1s",
                    "redis_down": "closed"},
        "tenant shop": {"api_keys": "app", "messages_per_hour": "3"}})
    api = API(port, new_key(r, "app", "example.test"))
    other = API(port, new_key(r, "other", "example.test"))
    r.start()
    r.wait_log(r"event=cluster\.redis\.up conn=http ", timeout=10)
    msg = {"from": "alice@example.test", "to": "bob@example.test",
           "subject": "q", "text": "hello"}
    assert api.send(msg)[0] == 202
    redis.stop()
    r.wait_log(r"event=cluster\.redis\.down conn=http ", timeout=10)
    st, hd, body = api.send(msg)
    assert st == 503 and hd["retry-after"] == "60", body
    assert "quotas cannot be checked" in body["error"]["message"]
    # a key of no tenant is not held up, and nothing was lost
    assert other.send(msg)[0] == 202
    r.wait_settled()
    assert len(r.maildir_files("example.test", "bob")) == 2


def redis_all_up(r):
    """Every Redis connection of node r (one per worker, and the
    subscriber) last logged up."""
    state = {}
    for m in re.finditer(r"event=cluster\.redis\.(up|down) conn=(\S+)",
                         r.log()):
        state[m.group(2)] = m.group(1)
    return bool(state) and all(v == "up" for v in state.values())


def test_redis_down_open_then_back(relais_factory, tmp_path, redis):
    a, b = nodes(relais_factory, tmp_path, redis,
                 limits={"user_daily_limit": "100"})
    sa, sb = login(a, BOB), login(b, BOB)
    assert try_send(sa, BOB[0], "carol@example.test", "pre-a") == 250
    redis.stop()
    for r in (a, b):
        r.wait_log(r"event=cluster\.redis\.down conn=w", timeout=10)
    accepted = {a: 1, b: 0}
    for i in range(6):
        r, s = (a, sa) if i % 2 == 0 else (b, sb)
        assert try_send(s, BOB[0], "carol@example.test", f"down-{i}") == 250
        accepted[r] += 1
    # nothing acknowledged is lost
    for r in (a, b):
        r.maildir_messages("example.test", "carol", count=accepted[r],
                           timeout=15)
    redis.start()
    wait_until(lambda: all(redis_all_up(r) for r in (a, b)), 15,
               what="reconnected")
    sa2 = login(a, BOB)
    assert try_send(sa2, BOB[0], "carol@example.test", "back") == 250
    keys = redis.cmd("KEYS", "relais:user:bob@example.test:*")
    assert len(keys) == 1, keys


def test_redis_down_closed_451_never_5xx(relais_factory, tmp_path, redis):
    a, b = nodes(relais_factory, tmp_path, redis, down="closed",
                 limits={"user_daily_limit": "100"})
    redis.stop()
    for r in (a, b):
        r.wait_log(r"event=cluster\.redis\.down conn=w", timeout=10)
    for r in (a, b):
        s = login(r, BOB)
        code, resp = s.mail(BOB[0])
        assert code == 451 and b"4.3.0" in resp, (code, resp)
        # what no limit guards still flows: mail to a local user
        u = smtplib.SMTP(HOST, r.port, local_hostname=CLIENT_NAME,
                         timeout=10)
        r.smtps.append(u)
        assert u.sendmail("x@remote.example", ["carol@example.test"],
                          message("closed-unlimited")) == {}
    redis.start()
    wait_until(lambda: all(redis_all_up(r) for r in (a, b)), 15,
               what="reconnected")
    for r in (a, b):
        s = login(r, BOB)
        assert try_send(s, BOB[0], "carol@example.test", "closed-back") == 250
