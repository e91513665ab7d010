"""
test_cluster_sites.py - site suspensions shared by two nodes through
Redis (docs/cluster.md): `relais queue suspend` on node A holds the site
on node B too (B's mail for it waits, B's queue says why), `relais queue
resume` on A lets B deliver at once; a suspension a [backoff] rule sets on
A (a 421 from the site) holds B back as well; a node started later reads
the suspensions in force from Redis.
"""
import re
import time

import pytest

from conftest import wait_until
from outbound_util import *  # noqa: F401,F403
from redis_server import redis  # noqa: F401 (a fixture)

SITE = "mx.remote.example"


@pytest.fixture
def site(dns, peers):
    dns.set("remote.example", {"MX": [(10, SITE)]})
    dns.set(SITE, {"A": ["127.0.0.2"]})
    return peers("127.0.0.2")


def node(outbound, tmp_path, redis, name, extra=None, start=True):
    over = {"server": {"node": name},
            "cluster": {"redis": redis.address, "timeout": "1s"}}
    for sec, kv in (extra or {}).items():
        over.setdefault(sec, {}).update(kv)
    r = outbound(root=tmp_path / name, extra=over, start=start,
                 relay={"retry_min": "1s", "retry_max": "2s"})
    if start:
        r.wait_log(r"event=cluster\.redis\.up conn=w0-sub ", timeout=10)
    return r


def queue(r, *args):
    p = r.cli("queue", *args, "-c", str(r.conf_path))
    assert p.returncode == 0, p.stderr
    return p.stdout


def site_state(r):
    for ln in queue(r, "list", "--site").splitlines()[1:]:
        m = re.match(r"^(\S+)\s+(\d+)\s+(\S+)\s+(.*)$", ln)
        if m and m.group(1) == SITE:
            return m.group(4)
    return None


def test_operator_suspend_and_resume_hold_on_every_node(outbound, tmp_path,
                                                        redis, site):
    a = node(outbound, tmp_path, redis, "a")
    b = node(outbound, tmp_path, redis, "b")
    off = b.log_offset()
    out = queue(a, "suspend", SITE, "--for", "10m", "--reason",
                "provider maintenance")
    assert "suspended until" in out, out
    b.wait_log(r"event=cluster\.site\.applied site=mx\.remote\.example"
               r" until=[1-9]", timeout=10, since=off)
    b.wait_log(r"event=site\.suspend site=mx\.remote\.example until=\d+"
               r" source=operator", timeout=10, since=off)
    assert redis.cmd("HEXISTS", "relais:sites", SITE) == 1
    wait_until(lambda: (site_state(b) or "").startswith("suspended until"),
               10, what="B's queue says suspended")
    assert "(manual) provider maintenance" in site_state(b)

    # B's mail for the site waits
    b.send("alice@example.test", ["bob@remote.example"],
           msg_text("held-on-b"))
    time.sleep(2)
    assert site.delivered_to("bob@remote.example") == []

    # resumed on A: B delivers it without waiting for its retry time
    off = b.log_offset()
    queue(a, "resume", SITE)
    b.wait_log(r"event=site\.resume site=mx\.remote\.example until=0"
               r" source=operator", timeout=10, since=off)
    site.wait_rcpts("bob@remote.example", 1, timeout=15)
    assert redis.cmd("HEXISTS", "relais:sites", SITE) == 0
    # each word was told once: no echo between the nodes
    time.sleep(1)
    assert len(a.log_events("cluster.site.published")) == 2
    assert b.log_events("cluster.site.published") == []


def test_backoff_suspension_on_a_holds_b(outbound, tmp_path, redis, site):
    rule = {"backoff busy": {"match": "^421", "action": "suspend",
                             "suspend_time": "1m"}}
    a = node(outbound, tmp_path, redis, "a", extra=rule)
    b = node(outbound, tmp_path, redis, "b", extra=rule)
    site.script["RCPT"] = {"bob@remote.example": "421 4.7.0 too busy"}
    a.send("alice@example.test", ["bob@remote.example"], msg_text("busy-a"))
    a.wait_log(r"event=site\.suspend\b[^\n]*site=mx\.remote\.example",
               timeout=20)
    b.wait_log(r"event=site\.suspend site=mx\.remote\.example until=\d+"
               r" manual=no", timeout=10)
    # B holds its mail for the site although the site never refused B
    b.send("alice@example.test", ["carol@remote.example"],
           msg_text("held-on-b"))
    time.sleep(2)
    assert site.delivered_to("carol@remote.example") == []
    assert "(auto)" in (site_state(b) or ""), site_state(b)

    # a node started now learns it from Redis
    c = node(outbound, tmp_path, redis, "c", extra=rule)
    c.wait_log(r"event=cluster\.site\.applied site=mx\.remote\.example",
               timeout=10)
    c.send("alice@example.test", ["dave@remote.example"],
           msg_text("held-on-c"))
    time.sleep(2)
    assert site.delivered_to("dave@remote.example") == []
    assert (site_state(c) or "").startswith("suspended until"), \
        site_state(c)


def test_resume_missed_while_down_is_caught_up(outbound, tmp_path, redis,
                                               site):
    a = node(outbound, tmp_path, redis, "a")
    b = node(outbound, tmp_path, redis, "b")
    queue(a, "suspend", SITE, "--for", "1h", "--reason", "audit")
    b.wait_log(r"event=site\.suspend site=mx\.remote\.example until=\d+"
               r" source=operator", timeout=10)
    b.send("alice@example.test", ["bob@remote.example"],
           msg_text("waits-on-b"))
    b.stop()
    # resumed on A while B is down: B never hears the message
    queue(a, "resume", SITE)
    a.wait_log(r"event=cluster\.site\.published site=mx\.remote\.example"
               r" until=0", timeout=10)
    off = b.log_offset()
    b.start()
    # B reapplies its suspension at start, then finds the cluster holds
    # it no more: lifted, and B's mail goes
    b.wait_log(r"event=cluster\.site\.applied site=mx\.remote\.example"
               r" until=0", timeout=15, since=off)
    site.wait_rcpts("bob@remote.example", 1, timeout=15)
    assert (site_state(b) or "active") == "active", site_state(b)
