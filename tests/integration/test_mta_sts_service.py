"""
The MTA-STS policy service (src/tlspol/sts.c, sts_fetch.c) on its own,
against Debian's nginx (stsweb.py) and the test DNS server: what a
policy lookup finds (RFC 8461 3), what the cache keeps and for how long
(3.3, 5.1), and what survives a restart (the spool's sts_policies).

The service is driven through the probe mode of the unit test program
build/san/unit/test_sts_service (RELAIS_STS_PROBE=CONFIG): "get DOMAIN"
answers "GOT mode=... max_age=... id=... mx=..." or "NO fail=N" (N: enum
tls_result, 0 OK, 9 sts-policy-fetch-error, 10 sts-policy-invalid, 11
sts-webpki-invalid), waiting for the lookup as the delivery agent does.
"""

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, SANITIZER_RE, wait_until
from dnsserver import DNSServer
from stsweb import STSWeb

F_OK, F_FETCH, F_INVALID, F_WEBPKI = 0, 9, 10, 11

POLICY = ("version: STSv1\nmode: enforce\nmx: mx.{d}\nmx: *.mx.{d}\n"
          "max_age: {age}\n")


def probe_bin():
    b = os.environ.get("RELAIS_BIN")
    cands = []
    if b:
        cands.append(Path(b).parent / "unit" / "test_sts_service")
    cands.append(REPO / "build" / "san" / "unit" / "test_sts_service")
    for c in cands:
        if c.exists():
            return c
    pytest.fail("build/san/unit/test_sts_service not built "
                "(make build/san/unit/test_sts_service)")


class Probe:
    made = 0

    def __init__(self, root, dns, ca):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.conf = self.root / "relais.conf"
        self.conf.write_text(
            "[server]\nhostname = mx.test\n"
            f"data_dir = {self.root / 'data'}\n"
            "[listener mx]\naddress = 127.0.0.1:25\n"
            f"[relay]\nca_file = {ca}\n"
            f"[dns]\nresolver = {dns.address}\ntimeout = 2s\n"
            "trust_anchor = none\n")
        self.runs = []
        self.proc = None

    def start(self):
        Probe.made += 1
        log = self.root / f"probe.{Probe.made}.log"
        env = dict(os.environ, RELAIS_STS_PROBE=str(self.conf),
                   ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
                   UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
        with open(log, "wb") as f:
            self.proc = subprocess.Popen([str(probe_bin())], env=env,
                                         stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=f,
                                         text=True, bufsize=1)
        self.runs.append((self.proc, log))
        assert self.proc.stdout.readline().strip() == "READY", self.log()
        return self

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline().strip()
        assert out, f"probe gave no answer to {line!r}:\n{self.log()[-3000:]}"
        return out

    def get(self, domain):
        out = self.cmd(f"get {domain}")
        if out.startswith("GOT "):
            return dict(kv.split("=", 1) for kv in out[4:].split())
        m = re.match(r"^NO fail=(\d+)$", out)
        assert m, out
        return int(m.group(1))

    def stop(self):
        if self.proc is None:
            return
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            rc = self.proc.wait(20)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(10)
            rc = "killed"
        self.proc = None
        assert rc == 0, f"probe exit status {rc}:\n{self.log()[-3000:]}"

    def log(self):
        return "".join(p.read_text(errors="replace") for _, p in self.runs
                       if p.exists())

    def events(self, event):
        return [ln for ln in self.log().splitlines()
                if re.search(rf"\bevent={re.escape(event)}\b", ln)]


@pytest.fixture
def dns():
    # a TTL of 1 s: changes are seen at once by the resolver's cache
    server = DNSServer({}, ttl=1).start()
    yield server
    server.stop()


@pytest.fixture
def web(tmp_path):
    w = STSWeb(tmp_path / "web")
    yield w
    w.stop()


@pytest.fixture
def probe(tmp_path, dns, web):
    made = []

    def make():
        p = Probe(tmp_path / "probe", dns, web.ca)
        made.append(p)
        return p.start()

    yield make
    for p in made:
        p.stop()
    for p in made:
        m = SANITIZER_RE.search(p.log())
        assert not m, p.log()[max(0, m.start() - 200):][:5000]


def publish(dns, domain, ip, txt_id="id1"):
    """_mta-sts TXT and the policy host's address"""
    if txt_id is not None:
        dns.set(f"_mta-sts.{domain}", {"TXT": [f"v=STSv1; id={txt_id};"]})
    dns.set(f"mta-sts.{domain}", {"A": [ip]})


def test_fetch_enforce_policy(dns, web, probe):
    d = "enforce.example"
    web.add(d, "127.0.0.20", policy=POLICY.format(d=d, age=86400))
    web.start()
    publish(dns, d, "127.0.0.20", "20160831085700Z")
    p = probe()
    t0 = int(time.time())
    got = p.get(d)
    assert got["mode"] == "enforce" and got["max_age"] == "86400", got
    assert got["id"] == "20160831085700Z"
    assert got["mx"] == f"mx.{d},*.mx.{d}"
    assert t0 - 1 <= int(got["fetched"]) <= t0 + 5
    assert int(got["expires"]) == int(got["fetched"]) + 86400
    # one fetch, logged once; asking again uses the cache
    assert p.get(d.upper())["id"] == "20160831085700Z"
    assert len(web.fetches(d)) == 1, web.fetches(d)
    ev = p.events("sts.policy")
    assert len(ev) == 1 and f"domain={d}" in ev[0] and "mode=enforce" in ev[0] \
        and "max_age=86400" in ev[0] and "id=20160831085700Z" in ev[0], ev
    # the host name came from our resolver, not the system's
    assert (f"mta-sts.{d}", "A") in dns.queries


def test_no_txt_record_no_fetch(dns, web, probe):
    d = "none.example"
    web.add(d, "127.0.0.20", policy=POLICY.format(d=d, age=86400))
    web.start()
    publish(dns, d, "127.0.0.20", txt_id=None)
    dns.set(f"_mta-sts.{d}", {"TXT": ["v=spf1 -all"]})  # not STSv1
    p = probe()
    assert p.get(d) == F_OK
    assert p.get("nxdomain.example") == F_OK
    assert web.fetches(d) == []
    assert not p.events("sts.fail")


@pytest.mark.parametrize("txt,why", [
    (["v=STSv1; id=a; ", "v=STSv1; id=b;"], "2 STSv1 TXT records"),
    (["v=STSv1; id=bad-id;"], "invalid TXT record"),
    (["v=STSv1 id=x"], "invalid TXT record"),
])
def test_bad_txt_record(dns, web, probe, txt, why):
    d = "badtxt.example"
    web.add(d, "127.0.0.20", policy=POLICY.format(d=d, age=86400))
    web.start()
    publish(dns, d, "127.0.0.20", txt_id=None)
    dns.set(f"_mta-sts.{d}", {"TXT": txt})
    p = probe()
    assert p.get(d) == F_INVALID
    assert web.fetches(d) == []
    ev = p.events("sts.fail")
    assert len(ev) == 1 and why in ev[0], ev


@pytest.mark.parametrize("kind", ["content_type", "404", "redirect",
                                  "unparsable", "oversized", "wrong_cert",
                                  "self_signed", "no_server", "no_address"])
def test_bad_policy_is_no_policy(dns, web, probe, kind):
    d = f"bad-{kind.replace('_', '-')}.example"
    good = POLICY.format(d=d, age=86400)
    kw, want, why = {}, F_FETCH, None
    if kind == "content_type":
        kw = {"policy": good, "content_type": "text/html"}
        want, why = F_INVALID, "is not text/plain"
    elif kind == "404":
        kw, why = {"status": 404}, "HTTP 404"
    elif kind == "redirect":
        web.add("target.example", "127.0.0.21", policy=good)
        kw = {"redirect": "https://mta-sts.target.example/.well-known/mta-sts.txt"}
        why = "HTTP 301 (redirects are not followed)"
    elif kind == "unparsable":
        kw = {"policy": "version: STSv1\nmode: enforce\nmax_age: 86400\n"}
        want, why = F_INVALID, "invalid policy: no mx"
    elif kind == "oversized":
        kw = {"policy": good + "x: " + "y" * 70000 + "\n"}
        want, why = F_INVALID, "larger than 65536"
    elif kind == "wrong_cert":
        kw, want = {"policy": good, "cert": "wrong"}, F_WEBPKI
    elif kind == "self_signed":
        kw, want = {"policy": good, "cert": "self"}, F_WEBPKI
    web.add(d, "127.0.0.20", **kw)
    if kind != "no_server":
        web.start()
    if kind == "no_address":
        dns.set(f"_mta-sts.{d}", {"TXT": ["v=STSv1; id=1;"]})
        why = "no address"
    else:
        publish(dns, d, "127.0.0.20")
    p = probe()
    assert p.get(d) == want
    ev = p.events("sts.fail")
    assert len(ev) == 1 and f"domain={d}" in ev[0], ev
    if why:
        assert why in ev[0], ev
    if kind == "redirect":
        assert web.fetches("target.example") == []
    # settled: asked again, the same answer without a new lookup
    n = len(web.fetches(d))
    assert p.get(d) == want
    assert len(web.fetches(d)) == n
    assert len(p.events("sts.fail")) == 1


def test_cache_outlives_server_and_txt(dns, web, probe):
    d = "cached.example"
    web.add(d, "127.0.0.20", policy=POLICY.format(d=d, age=86400))
    web.start()
    publish(dns, d, "127.0.0.20")
    p = probe()
    assert p.get(d)["mode"] == "enforce"
    web.stop()
    dns.remove(f"_mta-sts.{d}")
    dns.remove(f"mta-sts.{d}")
    # RFC 8461 5.1: the cached policy applies until it expires
    assert p.get(d)["mode"] == "enforce"


def test_max_age_honoured_and_refresh(dns, web, probe):
    d = "short.example"
    web.add(d, "127.0.0.20", policy=POLICY.format(d=d, age=4))
    web.start()
    publish(dns, d, "127.0.0.20")
    p = probe()
    first = p.get(d)
    assert first["max_age"] == "4"
    # past half its max_age (times are whole seconds) a use refreshes it
    # in the background
    time.sleep(2.2)
    assert p.get(d)["mode"] == "enforce"
    wait_until(lambda: len(web.fetches(d)) >= 2, 10, what="a refresh")
    wait_until(lambda: len(p.events("sts.policy")) >= 2, 5,
               what="the refreshed policy")
    # the server goes: the policy serves until it expires, then no more
    web.stop()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        got = p.get(d)
        if got == F_FETCH:
            break
        assert int(got["expires"]) >= time.time() - 1, got
        time.sleep(0.3)
    else:
        raise AssertionError("the expired policy is still used")
    assert p.events("sts.fail")


def test_new_txt_id_refetches(dns, web, probe):
    d = "rotate.example"
    web.add(d, "127.0.0.20", policy=POLICY.format(d=d, age=4))
    web.start()
    publish(dns, d, "127.0.0.20", "one")
    p = probe()
    assert p.get(d)["id"] == "one"
    # a new policy under a new id, noticed at the next check (half of
    # max_age here)
    web.set_policy(d, "version: STSv1\nmode: testing\nmx: mx.rotate.example\n"
                      "max_age: 86400\n")
    dns.set(f"_mta-sts.{d}", {"TXT": ["v=STSv1; id=two;"]})
    time.sleep(2.1)

    def rotated():
        got = p.get(d)
        return isinstance(got, dict) and got["id"] == "two" and got
    got = wait_until(rotated, 10, interval=0.2, what="the new policy")
    assert got["mode"] == "testing" and got["max_age"] == "86400"


def test_unchanged_id_not_refetched(dns, web, probe):
    d = "same.example"
    web.add(d, "127.0.0.20", policy=POLICY.format(d=d, age=86400))
    web.start()
    publish(dns, d, "127.0.0.20", "same")
    p = probe()
    for _ in range(5):
        assert p.get(d)["id"] == "same"
    assert len(web.fetches(d)) == 1


def test_policy_survives_restart(dns, web, probe):
    d = "kept.example"
    web.add(d, "127.0.0.20", policy=POLICY.format(d=d, age=86400))
    web.start()
    publish(dns, d, "127.0.0.20", "k1")
    p = probe()
    first = p.get(d)
    assert first["mode"] == "enforce"
    p.stop()
    web.stop()
    dns.remove(f"_mta-sts.{d}")
    p2 = probe()
    assert "event=sts.load policies=1" in p2.log()
    again = p2.get(d)
    assert again == first


def test_fetch_sync(dns, web, probe):
    """sts_fetch_sync (for relais tls check): no cache, blocking"""
    d = "sync.example"
    web.add(d, "127.0.0.20", policy=POLICY.format(d=d, age=600))
    web.add("syncbad.example", "127.0.0.20", status=404)
    web.start()
    publish(dns, d, "127.0.0.20", "s1")
    publish(dns, "syncbad.example", "127.0.0.20")
    p = probe()
    out = p.cmd(f"sync {d}")
    assert out.startswith("SYNC 1 GOT mode=enforce max_age=600 id=s1 "), out
    # again: fetched again, nothing cached
    assert p.cmd(f"sync {d}").startswith("SYNC 1 GOT")
    assert len(web.fetches(d)) == 2
    assert p.cmd("sync nothing.example") == "SYNC 0"
    out = p.cmd("sync syncbad.example")
    assert out.startswith(f"SYNC -1 fail={F_FETCH} error=") and \
        "HTTP 404" in out, out
    # and the service's cache knows nothing of them
    assert p.cmd(f"peek {d}") == "PENDING"
