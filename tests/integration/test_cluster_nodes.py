"""Nodes of a cluster sharing a Redis (docs/cluster.md, "Nodes and
draining"): registration with a time to live, queue ids carrying the
node's tag, the cluster's queue through the CLI and the API, relais drain
(421 to new sessions, /healthz 503, exit once the queue is empty) and
relais drain --to (the queue handed to another node over SMTP)."""

import json
import signal
import smtplib
import ssl
import subprocess
import time

import pytest

from api_util import API, new_key
from capture_smtp import CaptureSMTP
from conftest import HOST, free_port, message, wait_until
from redis_server import RedisServer
from tlscerts import CertMaker

INTERVAL = "1"  # RELAIS_NODE_INTERVAL: a time to live of 3 s


def node_tag(name):
    """core/id.c: FNV-1a of the name, folded to 8 bits."""
    h = 2166136261
    for c in name.encode():
        h ^= c
        h = (h * 16777619) & 0xFFFFFFFF
    return (h ^ (h >> 8) ^ (h >> 16) ^ (h >> 24)) & 0xFF


def make_node(factory, tmp_path, redis, name, keys, smarthost, mailboxes=None,
              **over):
    port = free_port()
    extra = {
        "server": {"node": name},
        "http": {"address": f"{HOST}:{port}", "keys": str(keys)},
        "cluster": {"redis": redis.address, "prefix": "t:"},
        "relay": {"smarthost": smarthost, "retry_min": "1m"},
    }
    for sec, kv in over.items():
        extra.setdefault(sec, {}).update(kv)
    r = factory(root=tmp_path / name, overrides=extra, mailboxes=mailboxes,
                env={"RELAIS_NODE_INTERVAL": INTERVAL})
    r.api = API(port)
    return r


def registration(redis, name):
    v = redis.cmd("GET", f"t:node:{name}")
    return json.loads(v) if v else None


def queued_ids(relais, count, timeout=10):
    """ids of the queued messages, once count of them were deferred"""
    relais.wait_log(r"event=deferred", timeout)
    out = relais.cli("queue", "list", "-c", str(relais.conf_path))
    assert out.returncode == 0, out.stderr
    ids = sorted({ln.split()[0] for ln in out.stdout.splitlines()[1:-1]})
    assert len(ids) == count, out.stdout
    return ids


def dead_port():
    return f"{HOST}:{free_port()}"


def test_nodes_registered_ids_and_cluster_queue(relais_factory, tmp_path):
    keys = tmp_path / "api-keys"
    with RedisServer(tmp_path / "redis") as redis:
        a = make_node(relais_factory, tmp_path, redis, "alpha", keys,
                      dead_port())
        b = make_node(relais_factory, tmp_path, redis, "beta", keys,
                      dead_port())
        token = new_key(a, "ops")
        a.api.token = b.api.token = token
        a.start()
        b.start()
        wait_until(lambda: registration(redis, "alpha") and
                   registration(redis, "beta"), 10, what="both registered")
        ra = registration(redis, "alpha")
        assert ra["api"] == f"http://{HOST}:{a.api.port}"
        assert ra["smtp"] == [f"{HOST}:{a.port}"]
        assert ra["draining"] is False and ra["tag"] == "%02x" % node_tag("alpha")
        assert 0 < redis.cmd("TTL", "t:node:alpha") <= 3

        # a message queued on each (their relay target is down)
        a.send("s@remote.test", ["x@remote.test"], message("on-alpha"))
        b.send("s@remote.test", ["y@remote.test"], message("on-beta"))
        (ida,) = queued_ids(a, 1)
        (idb,) = queued_ids(b, 1)
        assert int(ida[11:13], 16) == node_tag("alpha")
        assert int(idb[11:13], 16) == node_tag("beta")
        assert ida[11:13] != idb[11:13]

        # the cluster's queue, through either node's API ...
        st, _, body = a.api.req("GET", "/v1/queue?cluster=1")
        assert st == 200, body
        assert {n["node"]: n["status"] for n in body["nodes"]} == \
            {"alpha": "ok", "beta": "ok"}
        assert {(m["node"], m["id"]) for m in body["messages"]} == \
            {("alpha", ida), ("beta", idb)}
        st, _, body = b.api.req("GET", "/v1/cluster/nodes")
        assert st == 200 and [n["node"] for n in body["nodes"]] == \
            ["alpha", "beta"]
        st, _, _ = a.api.req("GET", "/v1/queue?cluster=1", token="bad")
        assert st == 401

        # ... and the command line
        out = subprocess.run([str(a.bin), "queue", "list", "--cluster", "-c",
                              str(a.conf_path)], capture_output=True,
                             text=True, timeout=30,
                             env={**a.env(), "RELAIS_API_KEY": token})
        assert out.returncode == 0, out.stderr
        assert ida in out.stdout and idb in out.stdout, out.stdout
        assert "2 recipients queued on 2 nodes" in out.stdout, out.stdout

        # Redis away: said once, no effect on mail, registered again after
        redis.stop()
        st, _, body = a.api.req("GET", "/v1/queue?cluster=1")
        assert st == 503, body
        a.wait_log(r"event=cluster\.register\.failed", 5)
        a.send("s@remote.test", ["alice@example.test"], message("no-redis"))
        a.maildir_messages("example.test", "alice", 1)
        time.sleep(2)
        assert len(a.log_events("cluster.register.failed")) == 1
        redis.start()
        wait_until(lambda: registration(redis, "alpha") and
                   registration(redis, "beta"), 10, what="registered again")
        a.wait_log(r"event=cluster\.register node=alpha", 5)

        # a node killed: its registration expires, the listing says so
        b.kill9()
        wait_until(lambda: registration(redis, "beta") is None, 8,
                   what="beta's registration expired")
        st, _, body = a.api.req("GET", "/v1/queue?cluster=1")
        assert [n["node"] for n in body["nodes"]] == ["alpha"]
        # a clean stop deletes it at once
        a.stop()
        assert registration(redis, "alpha") is None


def test_drain_in_place(relais_factory, tmp_path):
    keys = tmp_path / "api-keys"
    with RedisServer(tmp_path / "redis") as redis:
        a = make_node(relais_factory, tmp_path, redis, "alpha", keys,
                      dead_port())
        a.api.token = new_key(a, "app", "example.test")
        a.start()
        wait_until(lambda: registration(redis, "alpha"), 10,
                   what="registered")
        st, _, _ = a.api.req("GET", "/healthz")
        assert st == 200

        # a session in its transaction when the drain begins
        c = a.conn()
        c.ehlo()
        c.expect("MAIL FROM:<s@remote.test>", 250)
        c.expect("RCPT TO:<alice@example.test>", 250)
        off = a.log_offset()
        drain = subprocess.Popen([str(a.bin), "drain", "-c",
                                  str(a.conf_path), "--timeout", "30"],
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True,
                                 env=a.env())
        try:
            a.wait_log(r"event=drain\.start", 10, since=off)
            # new sessions are turned away, the API too
            n = a.conn(read_greeting=False)
            r = n.reply()
            assert r.code == 421 and "draining" in r.text, r
            st, _, body = a.api.req("GET", "/healthz")
            assert st == 503 and body["status"] == "draining"
            st, _, _ = a.api.send({"from": "a@example.test",
                                   "to": "bob@example.test",
                                   "subject": "x", "text": "y"})
            assert st == 503
            wait_until(lambda: (registration(redis, "alpha") or {}).get(
                "draining"), 5, what="registration says draining")
            # the open session finishes its message
            c.expect("DATA", 354)
            c.send(message("drained-in-place").encode() + b".\r\n")
            r = c.reply()
            assert r.code == 250, r
            c.expect("QUIT", 221)
            out, err = drain.communicate(timeout=30)
        finally:
            if drain.poll() is None:
                drain.kill()
                drain.wait()
        assert drain.returncode == 0, out + err
        assert "drained" in out
        a.proc.wait(10)
        assert a.proc.returncode == 0
        assert len(a.maildir_files("example.test", "alice")) == 1
        assert registration(redis, "alpha") is None


def test_drain_to_another_node(relais_factory, tmp_path):
    keys = tmp_path / "api-keys"
    peer_port = free_port("127.0.0.2")
    with RedisServer(tmp_path / "redis") as redis, \
            CaptureSMTP("127.0.0.2", peer_port, name="smarthost.test") as peer:
        # alpha can deliver nowhere: its relay target is down and its
        # mailboxes lie under a file
        blocked = tmp_path / "alpha" / "data" / "blocked"
        a = make_node(relais_factory, tmp_path, redis, "alpha", keys,
                      dead_port(), mailboxes=f"{blocked}/%d/%u")
        blocked.write_text("not a directory\n")
        b = make_node(relais_factory, tmp_path, redis, "beta", keys,
                      f"127.0.0.2:{peer_port}")
        a.start()
        b.start()
        for i in range(3):
            rcpts = [f"r{i}@remote.test"]
            if i == 0:
                rcpts.append("alice@example.test")   # a local one too
            # the last with DSN parameters, which both nodes offer
            kw = {"mail_options": ["RET=HDRS", "ENVID=handed-env"],
                  "rcpt_options": ["NOTIFY=SUCCESS,DELAY"]} if i == 2 else {}
            a.send("s@remote.test", rcpts, message(f"handed-{i}"), **kw)
        wait_until(lambda: len(a.log_events("deferred")) >= 4, 10,
                   what="four deferrals on alpha")

        out = a.cli("drain", "-c", str(a.conf_path), "--to",
                    f"{HOST}:{b.port}", "--timeout", "30", timeout=40)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "drained" in out.stdout
        a.proc.wait(10)
        assert a.proc.returncode == 0
        assert len(a.log_events("drain.handoff")) == 3
        assert a.cli("queue", "list", "-c", str(a.conf_path)).stdout \
            .endswith("0 recipients queued\n")

        # beta delivers them: each once
        peer.wait_messages(3, timeout=15)
        time.sleep(0.5)
        got = sorted(r for t in peer.messages for r in t.accepted_rcpts)
        assert got == ["r0@remote.test", "r1@remote.test", "r2@remote.test"]
        # a to b to the smarthost, the DSN parameters kept all the way
        (t2,) = [t for t in peer.messages if t.accepted_rcpts ==
                 ["r2@remote.test"]]
        assert t2.mail_params.get("RET") == "HDRS", t2.mail_params
        assert t2.mail_params.get("ENVID") == "handed-env", t2.mail_params
        assert t2.rcpts[0][1].get("NOTIFY") == "SUCCESS,DELAY", t2.rcpts
        assert t2.rcpts[0][1].get("ORCPT") == "rfc822;r2@remote.test", \
            t2.rcpts
        # the local recipient too, delivered by beta
        assert len(b.maildir_messages("example.test", "alice")) == 1
        b.wait_settled(10)
        assert len(b.maildir_files("example.test", "alice")) == 1
        assert b"handed-0" in b.maildir_files("example.test", "alice")[0] \
            .read_bytes()


def send_dsn_and_requiretls(a, token):
    """Two messages into a: one with DSN parameters, one REQUIRETLS (over
    STARTTLS, where relais offers it)."""
    s = smtplib.SMTP(HOST, a.port, local_hostname="client.test", timeout=20)
    try:
        s.ehlo()
        s.starttls(context=ssl._create_unverified_context())
        s.ehlo()
        code, _ = s.mail("s@remote.test", ["RET=HDRS", "ENVID=env-42"])
        assert code == 250
        code, _ = s.rcpt("r1@remote.test", ["NOTIFY=SUCCESS,FAILURE",
                                            "ORCPT=rfc822;Orig+2B@remote.test"])
        assert code == 250
        assert s.data(message(f"{token}-dsn"))[0] == 250
        code, _ = s.mail("s@remote.test", ["REQUIRETLS"])
        assert code == 250
        assert s.rcpt("r2@remote.test")[0] == 250
        assert s.data(message(f"{token}-reqtls"))[0] == 250
    finally:
        s.quit()


@pytest.mark.parametrize("trusted", [True, False])
def test_drain_to_keeps_dsn_and_requiretls(relais_factory, tmp_path, trusted):
    """The hand-off passes RET, ENVID, NOTIFY and ORCPT on, over STARTTLS;
    a REQUIRETLS message goes only when the peer's certificate names it
    (signed by [relay] ca_file), else it stays queued."""
    mk = CertMaker(tmp_path / "pki")
    ca, other = mk.ca("nodes CA"), mk.ca("another CA")
    cert = mk.issue(ca if trusted else other, "node-b", ["127.0.0.2"])
    peer_port = free_port("127.0.0.2")
    keys = tmp_path / "api-keys"
    with RedisServer(tmp_path / "redis") as redis, \
            CaptureSMTP("127.0.0.2", peer_port, name="node-b.test",
                        tls=(cert.crt, cert.key), requiretls=True) as peer:
        own = mk.issue(ca, "node-a", ["127.0.0.1"])
        a = make_node(relais_factory, tmp_path, redis, "alpha", keys,
                      dead_port(), relay={"ca_file": str(ca.crt)},
                      tls={"certificate": str(own.crt), "key": str(own.key)},
                      **{"listener mx": {"tls": "optional"}})
        a.start()
        send_dsn_and_requiretls(a, "handed")
        wait_until(lambda: len(a.log_events("deferred")) >= 2, 10,
                   what="two deferrals on alpha")
        out = a.cli("drain", "-c", str(a.conf_path), "--to",
                    f"127.0.0.2:{peer_port}", "--timeout",
                    "30" if trusted else "4", timeout=40)
        t = peer.wait_messages(1, timeout=15)[0]
        assert t.tls, t
        assert t.mail_params.get("RET") == "HDRS", t.mail_params
        assert t.mail_params.get("ENVID") == "env-42", t.mail_params
        (addr, params, _), = t.rcpts
        assert addr == "r1@remote.test"
        assert params.get("NOTIFY") == "SUCCESS,FAILURE", params
        assert params.get("ORCPT") == "rfc822;Orig+2B@remote.test", params
        if trusted:
            assert out.returncode == 0, out.stdout + out.stderr
            peer.wait_messages(2, timeout=15)
            t2 = peer.messages[1]
            assert "REQUIRETLS" in t2.mail_params and t2.tls, t2
            # both over one connection (one TLS handshake), RSET between
            assert t2.session is t.session, peer.transcript()
            assert "RSET" in t.session.verbs()
            return
        # the REQUIRETLS one stays: the peer's certificate names no one
        # relais trusts
        assert out.returncode == 1, out.stdout + out.stderr
        a.wait_log(r"event=drain\.handoff\.failed[^\n]*REQUIRETLS", 10)
        time.sleep(1)
        assert len(peer.messages) == 1
        left = a.cli("queue", "list", "-c", str(a.conf_path)).stdout
        assert "r2@remote.test" in left and "1 recipient queued" in left, \
            left
        a.signal(signal.SIGTERM)
        a.proc.wait(10)


def test_drain_to_refused_target_keeps_the_queue(relais_factory, tmp_path):
    """A --to that refuses everything: nothing removed, a SIGTERM is an
    ordinary stop and the messages stay queued."""
    keys = tmp_path / "api-keys"
    peer_port = free_port("127.0.0.2")
    with RedisServer(tmp_path / "redis") as redis, \
            CaptureSMTP("127.0.0.2", peer_port, name="no.test") as peer:
        peer.script["RCPT"] = "451 4.3.0 not now"
        a = make_node(relais_factory, tmp_path, redis, "alpha", keys,
                      dead_port())
        a.start()
        a.send("s@remote.test", ["r@remote.test"], message("kept"))
        queued_ids(a, 1)
        drain = subprocess.Popen([str(a.bin), "drain", "-c", str(a.conf_path),
                                  "--to", f"127.0.0.2:{peer_port}"],
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True,
                                 env=a.env())
        try:
            a.wait_log(r"event=drain\.handoff\.failed", 10)
            a.signal(signal.SIGTERM)
            out, err = drain.communicate(timeout=30)
        finally:
            if drain.poll() is None:
                drain.kill()
                drain.wait()
        a.proc.wait(10)
        assert a.proc.returncode == 0
        assert drain.returncode == 1 and "stay queued" in err, out + err
        assert peer.messages == []
        a.start()
        out = a.cli("queue", "list", "-c", str(a.conf_path))
        assert "1 recipient queued" in out.stdout, out.stdout
