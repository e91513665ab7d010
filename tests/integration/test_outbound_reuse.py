"""
Outbound connection reuse and restarts (issue 3, parts 2 and 3): many
messages to one destination share a few connections (RSET between, QUIT
after the idle time), max_connections_per_domain holds, the destination
backs off as a whole, and mail deferred when relais stops (SIGTERM or
kill -9) is delivered after the restart, exactly once.
"""

import time

import pytest

from conftest import wait_until
from outbound_util import *  # noqa: F401,F403 (fixtures)

SENDER = "alice@example.test"


def one_mx(dns, domain="remote.example", host="127.0.0.2"):
    dns.set(domain, {"MX": [(10, f"mx.{domain}")]})
    dns.set(f"mx.{domain}", {"A": [host]})


def submit_many(r, n, tok, to="bob@remote.example"):
    """n messages over one client connection; returns the queue ids."""
    import re
    import smtplib
    from conftest import CLIENT_NAME, HOST
    qids = []
    s = smtplib.SMTP(HOST, r.port, local_hostname=CLIENT_NAME, timeout=20)
    try:
        s.ehlo()
        for i in range(n):
            code, resp = s.mail(SENDER)
            assert code == 250
            code, resp = s.rcpt(to)
            assert code == 250
            code, resp = s.data(msg_text(f"{tok}-{i:03d}", to=to).encode())
            assert code == 250, resp
            qids.append(re.search(rb"queued as (\S+)", resp).group(1).decode())
    finally:
        s.quit()
    return qids


def test_fifty_messages_far_fewer_connections(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    # idle connections closed after 2 s (default 5 s): the end of the test
    # waits for that
    r = outbound(relay={"max_connections_per_domain": "3"},
                 extra={"site default": {"idle_timeout": "2s"}})
    tok = unique("fifty")
    submit_many(r, 50, tok)
    peer.wait_messages(50, timeout=30)
    wait_queue_empty(r, timeout=10)
    got = sorted(t.data.split(b"Subject: outbound ")[1].split(b"\r\n")[0].decode()
                 for t in peer.messages)
    assert got == sorted(f"{tok}-{i:03d}" for i in range(50)), "lost or duplicated messages"
    print(f"50 messages: {peer.connections} connections, at most {peer.max_active} at once")
    assert peer.connections <= 10, f"{peer.connections} connections for 50 messages"
    assert peer.max_active <= 3, f"{peer.max_active} connections at once, limit is 3"
    # a reused connection resets between transactions
    reused = [s for s in peer.sessions if len(s.transactions) > 1]
    assert reused, "no connection carried more than one message"
    for s in reused:
        v = s.verbs()
        mails = [i for i, x in enumerate(v) if x == "MAIL"]
        for a, b in zip(mails, mails[1:]):
            assert "RSET" in v[a:b], f"no RSET between two transactions: {v[a:b + 1]}"
    # idle connections are closed (QUIT) after the idle timeout
    wait_until(lambda: peer.active == 0, 12, interval=0.1,
               what="the idle connections to be closed")
    assert all(s.quit for s in peer.sessions), \
        [(s.verbs()[-3:], s.closed_by_client) for s in peer.sessions]


def test_destination_backoff_holds_all_its_mail(dns, peers, outbound, unique, peer_port):
    # nothing listens on the MX: the first message's attempt fails at
    # connect; later messages wait for the destination's retry time
    # instead of each connecting on its own
    one_mx(dns)
    r = outbound(relay={"retry_min": "1h", "retry_max": "1h"})
    tok = unique("backoff")
    q1 = submit(r, SENDER, ["bob@remote.example"], msg_text(tok + "-1"))
    wait_until(lambda: [e for e in r.log_events("deferred") if e.get("id") == q1], 10,
               what="first deferral")
    peer = peers("127.0.0.2", name="mx.remote.example")
    q2 = submit(r, SENDER, ["carol@remote.example"], msg_text(tok + "-2"))
    ev = wait_until(lambda: [e for e in r.log_events("deferred") if e.get("id") == q2], 10,
                    what="second deferral")
    assert ev[0]["status"].startswith("4.")
    assert peer.connections == 0, "a message ignored its destination's backoff"
    assert len(r.log_events("remote.backoff")) >= 1


def _deferred_then_restart(dns, peers, outbound, unique, how):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    peer.script["RCPT"] = {"bob@remote.example": "451 4.3.0 not now"}
    r = outbound(relay={"retry_min": "1s", "retry_max": "1s"})
    tok = unique("restart-" + how)
    qid = submit(r, SENDER, ["bob@remote.example"], msg_text(tok))
    peer.wait_rcpts("bob@remote.example", 1, timeout=10)
    wait_until(lambda: [e for e in r.log_events("deferred") if e.get("id") == qid], 10,
               what="event=deferred")
    if how == "term":
        r.stop()
    else:
        r.kill9()
    rows = rcpt_rows(r, "bob@remote.example")
    assert len(rows) == 1 and rows[0]["qid"] == qid, queue_list(r)[1]
    assert rows[0]["attempts"] >= 1
    before = len(peer.transactions)
    peer.script["RCPT"] = {}
    r.start()
    peer.wait_messages(1, timeout=15)
    wait_queue_empty(r, timeout=10)
    # still exactly one copy a moment later (no retry of a delivered message)
    time.sleep(1.5)
    assert len(peer.messages) == 1, peer.transcript()
    assert tok.encode() in peer.messages[0].data
    assert len(peer.transactions) == before + 1
    dl = [e for e in r.log_events("delivered") if e.get("id") == qid]
    assert len(dl) == 1, dl
    assert not r.log_events("bounced")
    assert not r.maildir_files("example.test", "alice")


def test_restart_sigterm_while_deferred_delivers_once(dns, peers, outbound, unique):
    _deferred_then_restart(dns, peers, outbound, unique, "term")


def test_restart_kill9_while_deferred_delivers_once(dns, peers, outbound, unique):
    _deferred_then_restart(dns, peers, outbound, unique, "kill")


def test_restart_sigterm_with_connection_open_no_duplicate(dns, peers, outbound, unique):
    # a message is delivered on a connection relais keeps open (idle); then
    # relais stops: nothing is sent twice after the restart
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    r = outbound()
    tok = unique("idle-stop")
    qid = submit(r, SENDER, ["bob@remote.example"], msg_text(tok))
    peer.wait_messages(1)
    wait_until(lambda: [e for e in r.log_events("removed") if e.get("id") == qid], 5,
               what="event=removed")
    r.stop()
    r.start()
    time.sleep(1.5)
    assert len(peer.messages) == 1
    assert not queue_list(r)[0]


def _slow_eod(delay):
    def reply(session, arg):
        time.sleep(delay)
        return None             # the default 250
    return reply


def _tokens(peer):
    return sorted(t.data.split(b"Subject: outbound ")[1].split(b"\r\n")[0].decode()
                  for t in peer.messages)


def test_rset_leads_the_next_transaction_in_one_write(dns, peers, outbound, unique):
    # one connection and a slow peer: jobs wait while a message is on the
    # wire, so the RSET after it goes out with the next MAIL, RCPT and DATA
    # (RFC 2920) instead of costing a round trip of its own
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    peer.script["EOD"] = _slow_eod(0.05)
    r = outbound(relay={"max_connections_per_domain": "1"})
    tok = unique("rset-pipe")
    submit_many(r, 20, tok)
    peer.wait_messages(20, timeout=30)
    wait_queue_empty(r, timeout=10)
    assert _tokens(peer) == sorted(f"{tok}-{i:03d}" for i in range(20))
    grouped = 0
    for s in peer.sessions:
        v = s.verbs()
        mails = [i for i, x in enumerate(v) if x == "MAIL"]
        for a, b in zip(mails, mails[1:]):
            assert "RSET" in v[a:b], f"no RSET between two transactions: {v[a:b + 1]}"
        for i in range(len(v) - 1):
            if v[i] == "RSET" and v[i + 1] == "MAIL" and s.lines[i][0] == s.lines[i + 1][0]:
                grouped += 1
    assert grouped >= 5, f"RSET sent with the next MAIL only {grouped} times:\n" + peer.transcript()


@pytest.mark.parametrize("answer", ["421 4.3.2 going away", "DROP"])
def test_rset_refused_ahead_of_a_transaction_loses_nothing(dns, peers, outbound, unique,
                                                          answer):
    # the peer refuses (or hangs up on) an RSET that leads a pipelined
    # transaction: that connection ends, and its next job, which never
    # began at the peer, goes to another connection at once: not deferred
    # (retry_min is an hour here), not lost, not sent twice
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")
    peer.script["EOD"] = _slow_eod(0.05)
    peer.script["RSET"] = [None, None, answer, None]
    r = outbound(relay={"max_connections_per_domain": "1", "retry_min": "1h",
                        "retry_max": "1h"})
    tok = unique("rset-refused")
    submit_many(r, 12, tok)
    peer.wait_messages(12, timeout=30)
    wait_queue_empty(r, timeout=15)
    time.sleep(0.5)
    assert _tokens(peer) == sorted(f"{tok}-{i:03d}" for i in range(12)), peer.transcript()
    assert peer.connections >= 2, "the refused RSET did not end its connection"
    assert r.log_events("remote.close"), "no connection was closed"
    assert not r.log_events("deferred"), r.log_events("deferred")
    assert not r.log_events("bounced")
