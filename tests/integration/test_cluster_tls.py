"""
test_cluster_tls.py - nodes reaching Redis over TLS ([cluster] tls): a
Redis on its tls-port that asks for client certificates; two nodes share
a daily limit through it and register there (the node registry's
blocking client, read back through the API after the sandbox); a server
with a certificate from another CA, or for another name, is never used
(the reason is logged and mail still flows); a client certificate whose
key does not match, or TLS on a unix socket, stops the daemon at once.
"""
import json
import re
import smtplib
import time

import pytest

from api_util import API, new_key
from conftest import CLIENT_NAME, HOST, free_port, message, wait_until
from redis_server import RedisServer
from tlscerts import CertMaker

ALICE = ("alice@example.test", "alice-secret")


@pytest.fixture
def pki(tmp_path):
    mk = CertMaker(tmp_path / "pki")
    ca = mk.ca("redis test CA")
    return {
        "mk": mk,
        "ca": ca,
        "server": mk.issue(ca, "redis", [HOST]),
        "client": mk.issue_client(ca, "relais node"),
        "other_ca": mk.ca("another CA"),
    }


@pytest.fixture
def tls_redis(tmp_path, pki):
    rs = RedisServer(tmp_path / "redis", tls={
        "cert": pki["server"].crt, "key": pki["server"].key,
        "ca": pki["ca"].crt,
        "client": (pki["client"].crt, pki["client"].key)})
    rs.start()
    yield rs
    rs.stop()


def tls_conf(rs, pki, **over):
    c = {"redis": rs.address, "tls": "yes", "timeout": "1s",
         "tls_ca_file": str(pki["ca"].crt),
         "tls_certificate": str(pki["client"].crt),
         "tls_key": str(pki["client"].key)}
    c.update(over)
    return c


def node(factory, tmp_path, name, cluster, **extra):
    over = {"server": {"node": name},
            "auth": {"allow_plaintext_loopback": "yes"},
            "cluster": cluster}
    over.update(extra)
    return factory(root=tmp_path / f"node-{name}", overrides=over,
                   env={"RELAIS_NODE_INTERVAL": "1"})


def send_one(r, token):
    s = smtplib.SMTP(HOST, r.port, local_hostname=CLIENT_NAME, timeout=20)
    try:
        s.ehlo()
        s.login(*ALICE)
        code, _ = s.mail(ALICE[0])
        if code == 250:
            code, _ = s.rcpt("carol@example.test")
        if code == 250:
            code, _ = s.data(message(token))
        return code
    finally:
        s.quit()


def test_nodes_share_limits_and_register_over_tls(relais_factory, tmp_path,
                                                  pki, tls_redis):
    keys = tmp_path / "api-keys"
    nodes = []
    for name in ("a", "b"):
        port = free_port()
        r = node(relais_factory, tmp_path, name,
                 tls_conf(tls_redis, pki, prefix="t:"),
                 limits={"user_daily_limit": "4"},
                 http={"address": f"{HOST}:{port}", "keys": str(keys)})
        r.api = API(port)
        nodes.append(r)
    a, b = nodes
    a.api.token = new_key(a, "ops")
    a.start()
    b.start()
    for r in nodes:
        r.wait_log(r"event=cluster\.redis\.up conn=w0 .*tls=yes", timeout=10)

    codes = [send_one(nodes[i % 2], f"tls-{i}") for i in range(8)]
    assert codes.count(250) == 4, codes
    assert set(codes) == {250, 450}, codes
    # the shared counter is in the TLS Redis, not in either node
    day_keys = [k for k in tls_redis.cmd("KEYS", "t:*")
                if "alice" in k]
    assert day_keys, tls_redis.cmd("KEYS", "*")

    # both registered by their blocking client, over TLS ...
    def registered():
        return all(tls_redis.cmd("GET", f"t:node:{n}") for n in "ab")
    wait_until(registered, 10, what="both nodes registered")
    reg = json.loads(tls_redis.cmd("GET", "t:node:a"))
    assert reg["node"] == "a"
    # ... and read back by the sandboxed HTTP thread, over TLS too
    st, _, body = a.api.req("GET", "/v1/cluster/nodes")
    assert st == 200, body
    assert [n["node"] for n in body["nodes"]] == ["a", "b"]
    assert not a.log_events("cluster.redis.down")
    assert not b.log_events("cluster.redis.down")

    # Redis restarted: the nodes connect again, over TLS, and share again
    tls_redis.stop()
    a.wait_log(r"event=cluster\.redis\.down conn=w0 ", timeout=10)
    tls_redis.start()
    wait_until(lambda: len([e for e in a.log_events("cluster.redis.up")
                            if e.get("conn") == "w0"]) >= 2, 15,
               what="w0 up again")
    wait_until(registered, 10, what="registered again")


@pytest.mark.parametrize("case", ["other_ca", "wrong_name", "no_client_cert"])
def test_untrusted_redis_never_used(relais_factory, tmp_path, pki, tls_redis,
                                    case):
    over = {}
    if case == "other_ca":
        over["tls_ca_file"] = str(pki["other_ca"].crt)
    elif case == "wrong_name":
        over["tls_name"] = "redis.elsewhere.test"
    cluster = tls_conf(tls_redis, pki, **over)
    if case == "no_client_cert":
        del cluster["tls_certificate"], cluster["tls_key"]
    r = node(relais_factory, tmp_path, "a", cluster,
             limits={"user_daily_limit": "1"})
    r.start()
    text = r.wait_log(r"event=cluster\.redis\.down conn=w0 .*",
                      timeout=10).group(0)
    if case == "other_ca":
        # OpenSSL names the chain it could not anchor
        assert re.search(r'reason="TLS: (self-signed certificate in'
                         r' certificate chain|unable to get local issuer'
                         r' certificate)"', text), text
    elif case == "wrong_name":
        assert 'reason="TLS: hostname mismatch"' in text, text
    else:
        # Redis ends the handshake: the client sees an alert or the close
        assert "reason=\"TLS:" in text or "connection closed" in text, text
    # redis_down = open: the node's own counter decides, mail flows
    assert send_one(r, "untrusted-1") == 250
    assert r.find_token("untrusted-1", timeout=10)
    assert send_one(r, "untrusted-2") == 450
    time.sleep(1.5)     # a reconnection or two, none of them accepted
    assert "event=cluster.redis.up" not in r.log()
    assert not [k for k in tls_redis.cmd("KEYS", "*") if "alice" in k]


def test_bad_tls_settings_stop_the_daemon(relais_factory, tmp_path, pki,
                                          tls_redis):
    other = pki["mk"].issue_client(pki["ca"], "someone else")
    r = node(relais_factory, tmp_path, "a",
             tls_conf(tls_redis, pki, tls_key=str(other.key)))
    r.start(expect_ready=False)
    wait_until(lambda: not r.running(), 10, what="relais exits")
    assert r.proc.returncode != 0
    assert "tls_key" in r.run_log(), r.run_log()
    assert "event=server.ready" not in r.run_log()
    out = r.cli("check-config", "-c", str(r.conf_path))
    assert out.returncode == 2
    assert "[cluster] tls_key" in out.stderr, out.stderr

    r2 = node(relais_factory, tmp_path, "b",
              tls_conf(tls_redis, pki, redis="unix:/run/redis.sock"))
    out = r2.cli("check-config", "-c", str(r2.conf_path))
    assert out.returncode != 0
    assert "unix socket is not reached over TLS" in out.stderr + out.stdout

    cluster = tls_conf(tls_redis, pki)
    del cluster["tls_key"]
    r3 = node(relais_factory, tmp_path, "c", cluster)
    out = r3.cli("check-config", "-c", str(r3.conf_path))
    assert out.returncode != 0
    assert "tls_certificate and tls_key go together" in \
        out.stderr + out.stdout
