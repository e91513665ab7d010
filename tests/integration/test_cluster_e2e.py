"""
test_cluster_e2e.py - a cluster end to end (docs/cluster.md): Debian's
haproxy (send-proxy-v2, roundrobin, SMTP health checks that send the PROXY
header) in front of two relais nodes A and B, each with a PROXY listener
on its own loopback address, sharing one Debian redis-server.

Everything a client does goes through HAProxy unless the test says
otherwise; the greeting names the node that answered (hostnames mx-a.test
and mx-b.test), and each message carries its own token in its Subject, so
every acknowledgement is matched with a delivery:

- a user with a daily limit of 10 gets exactly 10 messages accepted over
  sessions spread on both nodes, and exactly 10 are delivered;
- an address hard-bounced (550 5.1.1 from the remote MX, found through
  the test DNS server) on A is refused on B and never reaches the MX again;
- an AUTH brute-force ban from failures on A holds on B, for the real
  client address PROXY v2 carried (never HAProxy's own);
- Redis stopped and started while clients send: every message gets its
  250 (redis_down = open) and every one is delivered, once;
- A killed with kill -9 while clients send (the remote MX deferring, so
  A's queue holds what it acknowledged): clients retry onto B, and once A
  restarts on its data directory every message acknowledged by A or B is
  delivered, exactly once.
"""

import base64
import re
import threading
import time

import pytest

from capture_smtp import CaptureSMTP
from conftest import HOST, SMTPConn, SMTPClosed, free_port, wait_until
from dnsserver import DNSServer
from haproxy import Backend, haproxy  # noqa: F401 (fixture)
from redis_server import RedisServer

ADDRS = {"a": "127.0.0.31", "b": "127.0.0.32"}  # each node's PROXY listener
PEER = "127.0.0.2"                  # the MX of remote.example
ALICE = ("alice@example.test", "alice-secret")
BOB = ("bob@example.test", "bob-secret")
CAROL = ("example.test", "carol")
GREETING_RE = re.compile(r"\bmx-([ab])\.test\b")
SUBJECT_RE = re.compile(rb"^Subject: e2e (\S+)\r?$", re.M)


# --------------------------------------------------------------------------
# the cluster


class Cluster:
    """Nodes a and b, their Redis, HAProxy (hap), the test DNS server and
    the remote MX (peer)."""

    def __init__(self, a, b, redis, hap, dns, peer):
        self.a, self.b = a, b
        self.nodes = {"a": a, "b": b}
        self.redis, self.hap, self.dns, self.peer = redis, hap, dns, peer


@pytest.fixture
def cluster(relais_factory, tmp_path, haproxy):  # noqa: F811
    """make(limits=None) -> a started Cluster. Stopped at teardown in
    order: HAProxy, the nodes (their exit statuses and logs are checked by
    relais_factory), the MX, the DNS server, Redis."""
    stops = []

    def make(limits=None):
        redis = RedisServer(tmp_path / "redis")
        stops.append(redis.stop)
        redis.start()
        dns = DNSServer({
            "remote.example": {"MX": [(10, "mx.remote.example")]},
            "mx.remote.example": {"A": [PEER]},
        }).start()
        stops.append(dns.stop)
        peer_port = free_port(PEER)
        peer = CaptureSMTP(PEER, peer_port, name="mx.remote.example").start()
        stops.append(peer.stop)
        nodes = {}
        for name, addr in ADDRS.items():
            r = relais_factory(root=tmp_path / f"node-{name}", overrides={
                "server": {"node": name, "hostname": f"mx-{name}.test"},
                "listener pv": {"address": f"{addr}:{free_port(addr)}",
                                "role": "mx", "proxy_protocol": "yes",
                                "proxy_from": "127.0.0.1/32"},
                # a node records events, and so learns hard bounces, with
                # [http] (or [webhooks]) configured
                "http": {"address": f"{HOST}:{free_port()}"},
                "auth": {"allow_plaintext_loopback": "yes"},
                "cluster": {"redis": redis.address, "redis_down": "open",
                            "timeout": "1s"},
                "limits": dict(limits or {}),
                "dns": {"resolver": dns.address, "timeout": "2s"},
                "relay": {"outbound_port": str(peer_port),
                          "retry_min": "1s", "retry_max": "1s"},
            })
            r.pv = r.overrides["listener pv"]["address"]
            stops.append(lambda r=r: r.running() and r.stop(check=False))
            nodes[name] = r.start()
        for r in nodes.values():
            wait_until(lambda r=r: redis_state(r) == {"up"}, 10,
                       what="every Redis connection of a node up")
        hap = haproxy([backend(n, check=True, name=f"node-{k}")
                       for k, n in nodes.items()],
                      send_proxy="v2", smtpchk=True, inter="300ms")
        stops.append(hap.stop)
        return Cluster(nodes["a"], nodes["b"], redis, hap, dns, peer)

    yield make
    for stop in reversed(stops):
        stop()


def backend(r, **kw):
    """HAProxy's server line for node r's PROXY listener."""
    host, port = r.pv.rsplit(":", 1)
    return Backend(host, int(port), **kw)


def redis_state(r):
    """What node r's Redis connections (one per worker, and the
    subscriber) last logged: {"up"}, {"down"}, both, or nothing."""
    state = {}
    for m in re.finditer(r"event=cluster\.redis\.(up|down) conn=(\S+)",
                         r.log()):
        state[m.group(2)] = m.group(1)
    return set(state.values())


# --------------------------------------------------------------------------
# one message, one session


def body(token, sender, rcpt):
    return (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: e2e {token}\r\n"
            f"Message-ID: <{token}@e2e.test>\r\n\r\nThis is {token}.\r\n")


def plain(user, password):
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def attempt(port, token, rcpt, source, sender="alice@example.test",
            auth=None, host=HOST, timeout=10.0):
    """One session that sends one message: a dict with the node that
    greeted (a, b or None), the last reply's code and the step it answered
    (greeting, EHLO, AUTH, MAIL, RCPT, DATA, body), or outcome "cut" (the
    connection failed before the message was sent) or "unknown" (cut
    after the message was sent, before its reply)."""
    out = {"token": token, "node": None, "code": None, "step": "connect",
           "outcome": "cut", "text": ""}
    steps = [("EHLO", "EHLO client.test", 250)]
    if auth:
        steps.append(("AUTH", f"AUTH PLAIN {plain(*auth)}", 235))
    steps += [("MAIL", f"MAIL FROM:<{sender}>", 250),
              ("RCPT", f"RCPT TO:<{rcpt}>", 250),
              ("DATA", "DATA", 354),
              ("body", body(token, sender, rcpt) + ".", 250)]
    c = None
    try:
        c = SMTPConn(port, host=host, source=source, timeout=timeout,
                     read_greeting=False)
        out["step"] = "greeting"
        g = c.reply()
        m = GREETING_RE.search(g.text)
        out["node"] = m.group(1) if m else None
        out["code"], out["text"] = g.code, g.text
        if g.code != 220:
            out["outcome"] = "refused"
            return out
        for step, line, want in steps:
            out["step"] = step
            r = c.cmd(line)
            out["code"], out["text"] = r.code, r.text
            if r.code != want:
                out["outcome"] = "refused"
                c.cmd("QUIT")
                return out
        out["outcome"] = "acked"
        c.cmd("QUIT")
    except (SMTPClosed, OSError):
        if out["outcome"] != "acked":
            out["outcome"] = "unknown" if out["step"] == "body" else "cut"
    finally:
        if c is not None:
            c.close()
    return out


def tokens_in(datas):
    """token -> how many of the messages (bytes) carry it."""
    seen = {}
    for d in datas:
        for t in SUBJECT_RE.findall(d):
            t = t.decode()
            seen[t] = seen.get(t, 0) + 1
    return seen


def maildir_tokens(nodes, domain, user):
    return tokens_in(p.read_bytes() for r in nodes
                     for p in r.maildir_files(domain, user))


def peer_tokens(peer):
    return tokens_in(t.data for t in peer.messages)


class Load:
    """Client threads sending through port, one session per message, each
    from its own loopback address. A message not acknowledged is sent
    again (a new token per attempt), at most `tries` times. phase is what
    the test is doing, recorded with every attempt as it starts."""

    def __init__(self, port, rcpt, threads=3, auth=None, prefix="m",
                 per_thread=300, tries=40, seconds=60):
        self.port, self.rcpt, self.auth = port, rcpt, auth
        self.prefix, self.per_thread, self.tries = prefix, per_thread, tries
        self.deadline = time.monotonic() + seconds
        self.phase = "start"
        self.attempts = []      # every attempt's dict, in order
        self.unfinished = []    # (thread, n) never acknowledged
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(w,),
                                         daemon=True)
                        for w in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(30)
        assert not any(t.is_alive() for t in self.threads), "a client hangs"

    def _run(self, w):
        source = f"127.0.0.{60 + w}"
        for n in range(self.per_thread):
            if self.stopping.is_set() or time.monotonic() > self.deadline:
                return
            res = None
            for k in range(self.tries):
                if time.monotonic() > self.deadline:
                    break
                phase = self.phase
                res = attempt(self.port, f"{self.prefix}{w}x{n}x{k}",
                              self.rcpt, source, auth=self.auth,
                              sender=self.auth[0] if self.auth
                              else "load@example.test")
                res.update(msg=(w, n), phase=phase)
                with self.lock:
                    self.attempts.append(res)
                if res["outcome"] == "acked":
                    break
                time.sleep(0.1)
            if res is None or res["outcome"] != "acked":
                with self.lock:
                    self.unfinished.append((w, n))

    def acked(self, node=None, phase=None):
        with self.lock:
            return [a for a in self.attempts if a["outcome"] == "acked"
                    and (node is None or a["node"] == node)
                    and (phase is None or a["phase"] == phase)]

    def wait_acked(self, count, node=None, phase=None, timeout=20):
        try:
            wait_until(lambda: len(self.acked(node, phase)) >= count,
                       timeout, interval=0.05)
        except AssertionError:
            with self.lock:
                last = self.attempts[-6:]
            raise AssertionError(f"not {count} acknowledged (node {node}, "
                                 f"phase {phase}) within {timeout}s; the "
                                 f"last attempts: {last}")


# --------------------------------------------------------------------------
# the tests


def test_daily_limit_of_10_across_both_nodes(cluster):
    c = cluster(limits={"user_daily_limit": "10"})
    offs = {k: r.log_offset() for k, r in c.nodes.items()}
    src = "127.0.0.41"
    res = [attempt(c.hap.port, f"daily{i}", "carol@example.test", src,
                   auth=ALICE) for i in range(16)]
    codes = [(r["step"], r["code"]) for r in res]
    assert codes == [("body", 250)] * 10 + [("MAIL", 450)] * 6, res
    assert all("4.7.0" in r["text"] for r in res[10:]), res
    # roundrobin: the sessions alternated between the nodes, each of
    # which saw the real client through the PROXY v2 header
    assert {r["node"] for r in res} == {"a", "b"}, res
    seen = {}
    for k, r in c.nodes.items():
        seen[k] = len(re.findall(
            rf"event=smtp\.connect session=\d+ client={re.escape(src)} "
            rf"listener=pv proxy=127\.0\.0\.1\b", r.log()[offs[k]:]))
        assert seen[k] == sum(1 for x in res if x["node"] == k), (k, res)
    assert sum(seen.values()) == 16 and min(seen.values()) >= 6, seen
    refused_on = {k for k, r in c.nodes.items()
                  if r.log_events("limit.user_daily_limit", offs[k])}
    assert refused_on == {"a", "b"}, refused_on
    # exactly the 10 acknowledged are delivered, once, between the nodes
    acked = {r["token"] for r in res[:10]}

    def delivered():
        got = maildir_tokens([c.a, c.b], *CAROL)
        return got if set(got) >= acked else None
    got = wait_until(delivered, 15, what="the 10 messages in carol's Maildirs")
    for r in (c.a, c.b):
        r.wait_settled(10)
    got = maildir_tokens([c.a, c.b], *CAROL)
    assert got == {t: 1 for t in acked}, got
    keys = c.redis.cmd("KEYS", "relais:user:alice@example.test:*")
    assert keys, "no shared count in Redis"


def rcpt_probe(port, rcpt, source=HOST):
    """The reply to RCPT TO:<rcpt> in a session that then resets: nothing
    is sent."""
    c = SMTPConn(port, source=source)
    try:
        c.ehlo()
        c.expect("MAIL FROM:<alice@example.test>", 250)
        r = c.cmd(f"RCPT TO:<{rcpt}>")
        c.cmd("RSET")
        c.cmd("QUIT")
        return r
    finally:
        c.close()


def test_hard_bounce_on_a_suppresses_on_b(cluster):
    c = cluster()
    gone, ok = "gone@remote.example", "ok@remote.example"
    c.peer.script["RCPT"] = {gone: "550 5.1.1 no such user"}
    # learned on A: a real hard bounce from remote.example's MX
    res = attempt(c.a.port, "bounce0", gone, HOST)
    assert res["outcome"] == "acked" and res["node"] == "a", res
    wait_until(lambda: gone in (c.redis.cmd("SMEMBERS", "relais:suppress")
                                or []), 15, what=f"{gone} suppressed in Redis")
    assert c.peer.rcpt_count(gone) == 1
    # the bounce's log lines may come after its suppression reached Redis
    wait_until(lambda: c.a.log_events("bounced") and
               c.a.log_events("suppress.add"), 10,
               what="the bounce and the suppression logged on A")
    assert c.b.log_events("bounced") == []
    assert c.b.log_events("suppress.add") == []
    # B refuses it at RCPT: directly (once the change has reached B) ...
    r = wait_until(lambda: (lambda r: r if r.code == 550 else None)(
        rcpt_probe(c.b.port, gone)), 10, interval=0.2,
        what=f"{gone} refused on B")
    assert r.enhanced == "5.1.1" and "suppression" in r.text, r
    res = attempt(c.b.port, "direct-b", gone, HOST)
    assert res["node"] == "b" and (res["step"], res["code"]) == \
        ("RCPT", 550), res
    # ... and through HAProxy, on whichever node the session lands
    via = [attempt(c.hap.port, f"via{i}", gone, "127.0.0.42")
           for i in range(4)]
    assert {v["node"] for v in via} == {"a", "b"}, via
    for v in via:
        assert (v["step"], v["code"]) == ("RCPT", 550), v
        assert "suppression" in v["text"], v
    # another address of the domain still goes from both nodes to the MX
    okr = [attempt(c.hap.port, f"ok{i}", ok, "127.0.0.42") for i in range(2)]
    assert all(o["outcome"] == "acked" for o in okr), okr
    assert {o["node"] for o in okr} == {"a", "b"}, okr
    c.peer.wait_rcpts(ok, 2, timeout=15)
    for r in (c.a, c.b):
        r.wait_settled(10)
    # the suppressed address never reached the MX again
    assert c.peer.rcpt_count(gone) == 1
    assert peer_tokens(c.peer) == {"ok0": 1, "ok1": 1}


def test_bruteforce_ban_on_a_holds_on_b(cluster, haproxy):  # noqa: F811
    c = cluster(limits={"auth_failures_per_ip": "3",
                        "auth_failure_window": "1m", "auth_ban_time": "1m"})
    # a second HAProxy with A alone: the failures all land on A
    hap_a = haproxy([backend(c.a)], send_proxy="v2")
    src = "127.0.0.43"
    bad = plain(ALICE[0], "wrong")
    for i in range(3):
        conn = SMTPConn(hap_a.port, source=src)
        assert GREETING_RE.search(conn.greeting.text).group(1) == "a"
        conn.ehlo()
        r = conn.cmd(f"AUTH PLAIN {bad}")
        assert r.code == 535, r
        conn.close()
    c.a.wait_log(rf"event=cluster\.ban client={re.escape(src)} ", timeout=10)
    assert c.redis.cmd("EXISTS", f"relais:ban:{src}") == 1
    assert c.redis.cmd("EXISTS", f"relais:ban:{HOST}") == 0
    assert c.b.log_events("auth.failed") == []
    off_b = c.b.log_offset()
    # B refuses the client: directly ...
    conn = SMTPConn(c.b.port, source=src, read_greeting=False)
    r = conn.reply()
    conn.close()
    assert r.code == 421 and "mx-b.test" in r.text and \
        "authentication failures" in r.text, r
    # ... and through HAProxy, on both nodes
    via = [attempt(c.hap.port, f"ban{i}", "carol@example.test", src)
           for i in range(4)]
    assert {v["node"] for v in via} == {"a", "b"}, via
    for v in via:
        assert (v["step"], v["code"]) == ("greeting", 421), v
        assert "authentication failures" in v["text"], v
    c.b.wait_log(rf"event=limit\.auth_failures_per_ip client={re.escape(src)}"
                 r" listener=pv banned=yes", timeout=5, since=off_b)
    # another client through HAProxy is served by both
    other = [attempt(c.hap.port, f"other{i}", "carol@example.test",
                     "127.0.0.44") for i in range(2)]
    assert [o["outcome"] for o in other] == ["acked", "acked"], other
    assert {o["node"] for o in other} == {"a", "b"}, other


def test_redis_stopped_mid_run_mail_flows_nothing_lost(cluster):
    c = cluster(limits={"user_daily_limit": "1000"})
    load = Load(c.hap.port, "carol@example.test", threads=2, auth=BOB,
                prefix="r").start()
    try:
        load.wait_acked(6)
        c.redis.stop()
        wait_until(lambda: all(redis_state(r) == {"down"} for r in (c.a, c.b)),
                   10, what="both nodes without Redis")
        load.phase = "down"
        load.wait_acked(4, "a", "down")
        load.wait_acked(4, "b", "down")
        c.redis.start()
        wait_until(lambda: all(redis_state(r) == {"up"} for r in (c.a, c.b)),
                   15, what="both nodes back on Redis")
        load.phase = "back"
        load.wait_acked(4, "a", "back")
        load.wait_acked(4, "b", "back")
    finally:
        load.stop()
    # the shared count again
    assert c.redis.cmd("KEYS", "relais:user:bob@example.test:*")
    # every attempt got its 250: Redis away is never a refusal here
    bad = [a for a in load.attempts if a["outcome"] != "acked"]
    assert not bad, bad
    assert not load.unfinished
    acked = {a["token"] for a in load.attempts}
    for r in (c.a, c.b):
        r.wait_settled(15)
    got = maildir_tokens([c.a, c.b], *CAROL)
    assert got == {t: 1 for t in acked}, (
        sorted(acked - set(got)), {t: n for t, n in got.items() if n != 1})


def test_kill9_node_a_under_load(cluster):
    c = cluster()
    gate = threading.Event()     # the MX defers every recipient until set
    c.peer.script["RCPT"] = lambda sess, arg: \
        None if gate.is_set() else "451 4.3.0 not yet"
    load = Load(c.hap.port, "sink@remote.example", threads=4,
                prefix="k").start()
    try:
        load.wait_acked(8, "a")
        load.wait_acked(4, "b")
        c.a.kill9()
        killed_at = time.monotonic()
        load.phase = "killed"    # attempts started from here on
        load.wait_acked(12, "b", "killed")
        wait_until(lambda: time.monotonic() - killed_at > 1.5, 3)
    finally:
        load.stop()
    outcomes = [(x["msg"], x["node"], x["step"], x["code"], x["outcome"])
                for x in load.attempts]
    assert not load.unfinished, outcomes
    assert not [x for x in load.attempts
                if x["code"] is not None and x["code"] >= 500], outcomes
    assert not load.acked("a", "killed"), outcomes
    # clients whose attempt failed at the kill were served by B
    failed = {x["msg"] for x in load.attempts if x["outcome"] != "acked"}
    assert failed, f"no client saw the kill: {outcomes}"
    assert [x for x in load.acked("b", "killed") if x["msg"] in failed], \
        outcomes
    # nothing reached the MX yet: A's queue holds what it acknowledged
    assert peer_tokens(c.peer) == {}
    by_a = {x["token"] for x in load.acked("a")}
    acked = {x["token"] for x in load.acked()}
    c.a.start()
    restarted_at = time.monotonic()
    gate.set()
    try:
        wait_until(lambda: set(peer_tokens(c.peer)) >= acked, 30,
                   interval=0.2, what="every acknowledged message at the MX")
    except AssertionError:
        missing = sorted(acked - set(peer_tokens(c.peer)))
        raise AssertionError(f"{len(missing)} of {len(acked)} acknowledged "
                             f"messages lost: {missing}")
    for r in (c.a, c.b):
        r.wait_settled(20)
    got = peer_tokens(c.peer)
    dups = {t: n for t, n in got.items() if t in acked and n != 1}
    assert not dups, dups
    # what A acknowledged before the kill, A delivered once restarted
    sent_by = {}
    for t in c.peer.messages:
        for tok in SUBJECT_RE.findall(t.data):
            sent_by[tok.decode()] = (t.session.ehlo_name, t.time)
    late = {t: sent_by[t] for t in by_a
            if sent_by[t][0] != "mx-a.test" or sent_by[t][1] < restarted_at}
    assert by_a and not late, late
