"""
Per-destination traffic shaping (issue 13, docs/shaping.md): sites and MX
rollup, connection limits, message rates spaced evenly, back-off rules
that throttle a site without burning attempts, a slow site that does not
hold up the others, recipients per message, deliveries per connection
and source address pools.

Every test sets up its own DNS zone (MX records pointing at loopback
addresses), SMTP sinks on those addresses (shaping_util.py) and a relais
whose [relay] outbound_port is the sinks' port. The assertions are about
what the sinks saw (counts, connections, windows), never about speed:
limits are checked with a margin for scheduling jitter.
"""

import time

from conftest import wait_until
from outbound_util import queue_list
from shaping_util import *  # noqa: F401,F403 (the shaping fixture)

SENDER = "alice@example.test"     # a local mailbox: reports would land there


def msg(token, to):
    return (f"From: <{SENDER}>\r\nTo: <{to}>\r\nSubject: shaping {token}\r\n"
            f"Date: Mon, 02 Jan 2023 10:00:00 +0000\r\n"
            f"Message-ID: <{token}@example.test>\r\n\r\nbody of {token}\r\n").encode()


def items_for(domain, n, tok):
    """n one-recipient messages to u000@domain, u001@domain, ..."""
    out = []
    for i in range(n):
        rcpt = f"u{i:03d}@{domain}"
        out.append((SENDER, [rcpt], msg(f"{tok}-{domain}-{i:03d}", rcpt)))
    return out


def interleave(*lists):
    out = []
    for i in range(max(len(x) for x in lists)):
        for x in lists:
            if i < len(x):
                out.append(x[i])
    return out


def no_reports(r):
    """Nothing bounced: no DSN in the sender's Maildir, no bounce events."""
    files = r.maildir_files("example.test", "alice")
    assert not files, f"{len(files)} report(s) to the sender:\n" + \
        files[0].read_bytes().decode("utf-8", "replace")[:2000]
    assert not r.log_events("bounced"), r.log_events("bounced")[:3]


def wait_empty(r, timeout=15):
    def empty():
        rows, out = queue_list(r)
        return out if not rows else None
    try:
        wait_until(empty, timeout, interval=0.3, what="an empty queue")
    except AssertionError:
        raise AssertionError("queue not empty:\n" + queue_list(r)[1][-3000:]
                             + "\nlog tail:\n" + r.log()[-3000:])


def expect_all(sink, want, what):
    """The sink holds every recipient of want exactly once."""
    got = sorted(sink.recipients())
    assert got == sorted(a.lower() for a in want), \
        f"{what}: lost or duplicated recipients; {sink.summary()}"


def test_mx_rollup_shares_one_connection_limit(shaping, unique):
    # a.test and b.test both use mx.shared.test: one site, so one limit of
    # 2 connections for the two domains together (the per-domain limit of
    # [relay] would allow 10 to each)
    shaping.mx("a.test", "127.0.0.2", "mx.shared.test")
    shaping.mx("b.test", "127.0.0.2", "mx.shared.test")
    sink = shaping.sink("127.0.0.2", data_delay=0.15)
    r = shaping.relais({"site default": {"connection_limit": "2"}},
                       relay={"max_connections_per_domain": "10"})
    tok = unique("rollup")
    a = items_for("a.test", 20, tok)
    b = items_for("b.test", 20, tok)
    submit_many(r.port, interleave(a, b), conns=4)
    sink.wait_count(40, timeout=45)
    wait_empty(r)
    expect_all(sink, [x[1][0] for x in a + b], "rollup")
    print(sink.summary())
    assert sink.max_active <= 2, \
        f"{sink.max_active} connections at once to one site, limit 2; {sink.summary()}"
    no_reports(r)


def test_message_rate_is_spaced(shaping, unique):
    shaping.mx("slow.test", "127.0.0.3")
    sink = shaping.sink("127.0.0.3")
    r = shaping.relais({"site slow": {"match": "slow.test",
                                      "max_message_rate": "5/s"}})
    tok = unique("rate")
    n = 15
    items = items_for("slow.test", n, tok)
    submit_many(r.port, items, conns=4)
    sink.wait_count(n, timeout=40)
    wait_empty(r)
    expect_all(sink, [x[1][0] for x in items], "rate")
    times = sink.message_times()
    peak = max_in_window(times, 1.0)
    span = max(times) - min(times)
    print(f"{sink.summary()}; at most {peak} in 1 s, first to last {span:.2f} s")
    assert peak <= 6, f"{peak} messages within one second at 5/s"
    # evenly spaced: n messages at 5/s take (n - 1) / 5 s from the first
    # to the last (2.8 s for 15; a burst would not): at least 73% of that
    least = 0.73 * (n - 1) / 5
    assert span >= least, f"{n} messages at 5/s within {span:.2f} s (< {least:.2f} s)"
    no_reports(r)


def test_backoff_throttles_without_burning_attempts(shaping, unique):
    # the sink takes 10 messages per 2 s and answers "421 4.7.28 rate
    # limited" beyond; the [backoff] rule throttles the site: deferred
    # without an attempt, then delivered, nothing bounced
    shaping.mx("busy.test", "127.0.0.4")
    sink = shaping.sink("127.0.0.4", rate_limit=(10, 2.0))
    r = shaping.relais({
        "site busy": {"match": "busy.test", "max_message_rate": "10/s"},
        "backoff ratelimit": {"match": "^421.*rate", "action": "throttle",
                              "suspend_time": "2s", "rate_factor": "50",
                              "rate_increase": "20", "recover_interval": "2s"},
    }, relay={"retry_min": "1s", "retry_max": "1s"})
    tok = unique("backoff")
    # 30 messages: 10 at once, the 11th refused, a throttle to 5/s, a lift
    # to 7/s and a cut again (about 9 s)
    n = 30
    items = items_for("busy.test", n, tok)
    submit_many(r.port, items, conns=4)
    r.wait_log(r"event=site\.(throttle|suspend)\b[^\n]*site=busy\b", timeout=20)
    # sample the queue while the site is throttled: the attempts counted
    # never exceed the transactions the sink really refused
    most = 0
    deadline = time.monotonic() + 60
    while sink.count() < n and time.monotonic() < deadline:
        rows, _ = queue_list(r)
        most = max(most, sum(x["attempts"] for x in rows))
        time.sleep(0.3)
    sink.wait_count(n, timeout=5)
    wait_empty(r)
    expect_all(sink, [x[1][0] for x in items], "backoff")
    ev = r.log_events("site.throttle") + r.log_events("site.suspend")
    print(f"{sink.summary()}; most attempts in the queue at once {most}; "
          f"{len(ev)} throttle/suspend events; "
          f"{len(r.log_events('deferred'))} deferred events")
    assert ev and all(e.get("site") == "busy" for e in ev), ev[:3]
    assert most <= sink.refused_mail, \
        f"{most} attempts counted for {sink.refused_mail} refused transactions"
    # accepted transactions never exceeded what the sink allows
    accepted = sink.message_times()
    assert max_in_window(accepted, 2.0) <= 10
    no_reports(r)


def test_slow_site_does_not_hold_up_others(shaping, unique):
    shaping.mx("slowsite.test", "127.0.0.5")
    shaping.mx("fast.test", "127.0.0.6")
    slow = shaping.sink("127.0.0.5")
    fast = shaping.sink("127.0.0.6")
    r = shaping.relais({"site slowsite": {"match": "slowsite.test",
                                          "max_message_rate": "2/s"}})
    tok = unique("fair")
    # 12 at 2/s: more than the 8 the site holds (4 s of its rate), so
    # some go back to the queue, and 5.5 s from the first to the last
    a = items_for("slowsite.test", 12, tok)
    b = items_for("fast.test", 100, tok)
    # the slow site's messages first: they are ahead in the queue
    submit_many(r.port, a + b, conns=2)
    fast.wait_count(100, timeout=40)
    slow.wait_count(12, timeout=40)
    wait_empty(r)
    expect_all(fast, [x[1][0] for x in b], "fast site")
    expect_all(slow, [x[1][0] for x in a], "slow site")
    fast_done = max(m.end for m in fast.messages)
    slow_done = max(m.end for m in slow.messages)
    print(f"fast site done {slow_done - fast_done:.2f} s before the slow one; "
          f"{fast.summary()}; {slow.summary()}")
    assert fast_done < slow_done, \
        "the unlimited site finished after the one limited to 2/s"
    assert max_in_window(slow.message_times(), 1.0) <= 3
    no_reports(r)


def test_max_recipients_per_message_splits(shaping, unique):
    shaping.mx("split.test", "127.0.0.7")
    sink = shaping.sink("127.0.0.7")
    r = shaping.relais({"site split": {"match": "split.test",
                                       "max_recipients_per_message": "2"}})
    tok = unique("split")
    rcpts = [f"r{i}@split.test" for i in range(5)]
    submit_many(r.port, [(SENDER, rcpts, msg(tok, rcpts[0]))], conns=1)
    sink.wait_count(3, timeout=20)
    wait_empty(r)
    time.sleep(0.5)
    print(sink.summary(), sink.messages)
    assert sink.count() == 3, f"{sink.count()} transactions for 5 recipients at 2 each"
    assert all(1 <= len(m.rcpts) <= 2 for m in sink.messages), sink.messages
    expect_all(sink, rcpts, "split")
    assert all(tok.encode() in m.data for m in sink.messages)
    no_reports(r)


def test_max_deliveries_per_connection(shaping, unique):
    # *.conn.test matches the MX host mx.conn.test (any name below)
    shaping.mx("conn.test", "127.0.0.8", "mx.conn.test")
    sink = shaping.sink("127.0.0.8")
    r = shaping.relais({"site perconn": {"match": "*.conn.test",
                                         "max_deliveries_per_connection": "3"}})
    tok = unique("perconn")
    items = items_for("conn.test", 9, tok)
    submit_many(r.port, items, conns=1)
    sink.wait_count(9, timeout=30)
    wait_empty(r)
    expect_all(sink, [x[1][0] for x in items], "per connection")
    per_conn = {}
    for m in sink.messages:
        per_conn[m.conn] = per_conn.get(m.conn, 0) + 1
    print(sink.summary(), per_conn)
    assert max(per_conn.values()) <= 3, per_conn
    assert len(per_conn) >= 3, f"9 messages over {len(per_conn)} connections"
    no_reports(r)


def test_pool_source_addresses(shaping, unique):
    # the shaping sections come from a file named by [relay] shaping
    shaping.mx("pool.test", "127.0.0.9")
    sink = shaping.sink("127.0.0.9", data_delay=0.1)
    r = shaping.relais(shaping_file=(
        "[pool p]\naddresses = 127.0.0.20 127.0.0.21\n\n"
        "[site pooled]\nmatch = pool.test\npool = p\nconnection_limit = 1\n"))
    tok = unique("pool")
    items = items_for("pool.test", 12, tok)
    submit_many(r.port, items, conns=4)
    sink.wait_count(12, timeout=30)
    wait_empty(r)
    expect_all(sink, [x[1][0] for x in items], "pool")
    print(sink.summary())
    assert set(sink.sources) <= {"127.0.0.20", "127.0.0.21"}, sink.sources
    src = {m.source for m in sink.messages}
    assert src <= {"127.0.0.20", "127.0.0.21"}, src
    # one connection per source address at most
    assert sink.max_active <= 2, sink.summary()
    no_reports(r)


def test_site_names_in_log(shaping, unique):
    # an unmatched site is named by its MX hosts, sorted and comma-joined;
    # a throttled delivery names its site
    shaping.mx("n1.test", "127.0.0.10", "mx2.names.test")
    shaping.dns.set("n1.test", {"MX": [(10, "mx2.names.test"), (20, "mx1.names.test")]})
    shaping.dns.set("mx1.names.test", {"A": ["127.0.0.10"]})
    # the connection stays open after the 421 (see the throttle test for
    # a server that closes it)
    sink = shaping.sink("127.0.0.10", rate_limit=(1, 30.0), close_on_421=False)
    r = shaping.relais({"backoff any": {"match": "^421", "action": "suspend",
                                        "suspend_time": "1m"}})
    tok = unique("names")
    items = items_for("n1.test", 3, tok)
    submit_many(r.port, items, conns=1)
    r.wait_log(r"event=site\.suspend\b", timeout=20)
    ev = r.log_events("site.suspend")[0]
    assert ev.get("site") == "mx1.names.test,mx2.names.test", ev
    assert ev.get("until") and "421" in ev.get("reason", ""), ev
    # suspended for a minute: the rest waits in the queue, not bounced,
    # and no attempt is counted for what was never tried
    time.sleep(2)
    rows, out = queue_list(r)
    assert rows, "nothing left in the queue of a suspended site"
    assert sum(x["attempts"] for x in rows) <= sink.refused_mail, out
    assert sink.count() <= 1
    no_reports(r)


def test_manual_suspend_and_resume(shaping, unique):
    # relais queue suspend SITE holds a site's mail without attempts;
    # relais queue resume SITE lets it go
    shaping.mx("hold.test", "127.0.0.11")
    sink = shaping.sink("127.0.0.11")
    r = shaping.relais({"site hold": {"match": "hold.test"}})
    out = r.cli("queue", "suspend", "hold", "-c", str(r.conf_path))
    assert out.returncode == 0, out.stderr
    r.wait_log(r"event=site\.suspend\b[^\n]*site=hold\b", timeout=10)
    tok = unique("hold")
    items = items_for("hold.test", 5, tok)
    submit_many(r.port, items, conns=1)
    time.sleep(3)
    rows, text = queue_list(r)
    assert sink.connections == 0, sink.summary()
    assert len(rows) == 5 and all(x["attempts"] == 0 for x in rows), text
    listing = r.cli("queue", "list", "--site", "-c", str(r.conf_path))
    assert listing.returncode == 0, listing.stderr
    assert "hold" in listing.stdout, listing.stdout
    out = r.cli("queue", "resume", "hold", "-c", str(r.conf_path))
    assert out.returncode == 0, out.stderr
    r.wait_log(r"event=site\.resume\b[^\n]*site=hold\b", timeout=10)
    sink.wait_count(5, timeout=20)
    wait_empty(r)
    expect_all(sink, [x[1][0] for x in items], "resumed")
    no_reports(r)


def test_high_priority_gets_past_a_full_rate_hold(shaping, unique):
    # a site at 2 messages/s holds 8 jobs (4 s of its rate); 20 normal
    # messages wait their slots (the rest sent back to the queue for
    # later), and one high priority message submitted after them goes out
    # long before the last of them rather than behind the backlog
    shaping.mx("prio.test", "127.0.0.12")
    sink = shaping.sink("127.0.0.12")
    r = shaping.relais({"site prio": {"match": "prio.test",
                                      "max_message_rate": "2/s"}})
    tok = unique("prio")
    items = items_for("prio.test", 20, tok)
    submit_many(r.port, items, conns=2)
    sink.wait_count(2, timeout=20)
    urgent = "urgent@prio.test"
    body = msg(f"{tok}-urgent", urgent).replace(
        b"\r\n\r\n", b"\r\nX-Relais-Priority: high\r\n\r\n", 1)
    submit_many(r.port, [(SENDER, [urgent], body)], conns=1)
    sink.wait_count(21, timeout=60)
    wait_empty(r)
    order = [m.rcpts[0].lower() for m in sorted(sink.messages, key=lambda m: m.time)]
    pos = order.index(urgent)
    print(f"high priority message delivered at position {pos} of {len(order)}")
    # without priority it would come last (position 20): allow the jobs
    # already held and in flight ahead of it
    assert pos <= 12, f"high priority delivered at position {pos}: {order}"
    assert b"X-Relais-Priority" not in [m for m in sink.messages
                                        if m.rcpts[0].lower() == urgent][0].data
    no_reports(r)


def test_connection_cap_refusals_back_off(shaping, unique):
    # the site takes 2 connections and answers "421 4.7.0 too many
    # connections" to a third at the greeting; relais is set to 4: the
    # refusals match a [backoff] rule, the site is paused and cut, and
    # everything still arrives, none bounced, none counted as a failure
    shaping.mx("cap.test", "127.0.0.13")
    sink = shaping.sink("127.0.0.13", max_conns=2, data_delay=0.05)
    r = shaping.relais({
        "site cap": {"match": "cap.test", "connection_limit": "4"},
        "backoff conns": {"match": "^421.*too many connections",
                          "action": "throttle", "suspend_time": "1s",
                          "rate_increase": "50", "recover_interval": "1s"}})
    tok = unique("cap")
    items = items_for("cap.test", 30, tok)
    submit_many(r.port, items, conns=3)
    sink.wait_count(30, timeout=60)
    wait_empty(r)
    expect_all(sink, [x[1][0] for x in items], "cap")
    print(sink.summary())
    assert sink.refused_conns > 0, "the test did not reach the sink's cap"
    assert r.log_events("site.throttle"), "no back-off on the greeting 421"
    no_reports(r)


def test_warmup_allowance_per_day(shaping, unique):
    # a pool address warming up may send 3 messages on its first day: 3
    # arrive, the other 5 wait for the next day (UTC) without an attempt
    shaping.mx("warm.test", "127.0.0.14")
    sink = shaping.sink("127.0.0.14")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    r = shaping.relais({
        "pool warm": {"addresses": "127.0.0.22", "warmup_start": "3",
                      "warmup_since": today},
        "site warm": {"match": "warm.test", "pool": "warm"}})
    tok = unique("warm")
    items = items_for("warm.test", 8, tok)
    submit_many(r.port, items, conns=1)
    sink.wait_count(3, timeout=20)
    r.wait_log(r"event=pool\.warmup_paused\b", timeout=20)
    time.sleep(1.5)
    assert sink.count() == 3, sink.summary()
    assert set(sink.sources) == {"127.0.0.22"}, sink.summary()
    rows, text = queue_list(r)
    assert len(rows) == 5 and all(x["attempts"] == 0 for x in rows), text
    midnight = (int(time.time()) // 86400 + 1) * 86400
    ev = r.log_events("pool.warmup_paused")[0]
    assert int(ev["until"]) == midnight, ev
    no_reports(r)
