"""
Webhooks to a URL whose host name only DNS knows, resolved by libcurl
(getaddrinfo: /etc/nsswitch.conf, /etc/hosts, /etc/resolv.conf, a UDP
query, in libcurl's resolver thread) inside the sandbox.

The machine's resolver is not loopback, so the test runs itself again in
a network and mount namespace of its own (unshare, as root): only lo is
up, and /etc/resolv.conf is replaced there by "nameserver 127.0.0.1",
where the test's DNS server listens on port 53. Skipped where unshare
cannot do that.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import message
from dnsserver import DNSServer
from outbound_util import submit
from webhook_util import *  # noqa: F401,F403

INNER = "RELAIS_WEBHOOK_NETNS"
HERE = Path(__file__).resolve()


def test_name_resolved_through_dns_in_sandbox(tmp_path):
    if os.environ.get(INNER) == "1":
        pytest.skip("the outer half")
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("needs root, unshare and ip")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n")
    inner = ('ip link set lo up && mount --bind "$1" /etc/resolv.conf && '
             'exec "$2" -m pytest -q -p no:cacheprovider "$3"')
    argv = ["unshare", "--net", "--mount", "--", "sh", "-c", inner, "sh",
            str(resolv), sys.executable,
            f"{HERE}::test_inner_name_resolved"]
    probe = subprocess.run(["unshare", "--net", "--mount", "--", "true"],
                           capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"unshare: {probe.stderr.decode(errors='replace')}")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                         cwd=str(HERE.parent), env=dict(os.environ, **{INNER: "1"}))
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
    assert "1 passed" in out.stdout, out.stdout[-3000:]


def test_inner_name_resolved(relais_factory, receivers, unique):
    if os.environ.get(INNER) != "1":
        pytest.skip("runs inside the namespace only")
    assert Path("/etc/resolv.conf").read_text().startswith("nameserver 127.0.0.1")
    rx = receivers()
    with DNSServer({"hook.test": {"A": ["127.0.0.1"]}}, port=53) as dns:
        url = f"http://hook.test:{rx.port}/hook"
        over = hook_conf(url)
        over["dns"] = {"resolver": dns.address, "timeout": "2s"}
        r = relais_factory(overrides=over).start()
        tok = unique("dns")
        qid = submit(r, "sender@remote.test", ["alice@example.test"],
                     message(tok, to="alice@example.test"))
        rx.wait_events(lambda evs: {e["type"] for e in evs
                                    if e["message_id"] == qid}
                       == {"received", "delivered"}, what="the events")
        assert dns.count("hook.test") >= 1
        for p in rx.posts:
            verify_signature(p)
        r.stop()
