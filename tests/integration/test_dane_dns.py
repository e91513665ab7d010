"""DNSSEC for DANE (issue 14): the signed-zone fixture (dnssec.py, unbound
serving zones signed with ldns-signzone) and relais's validation through
it.

The fixture itself is checked with drill, which chases the signatures of
an answer up to the fixture's trust anchor: a signed zone is secure (data,
NODATA and NXDOMAIN), an unsigned one has no key, a tampered one and one
whose signatures expired are bogus. Then relais, with [dns] resolver =
the fixture and [dns] trust_anchor = its DS file, delivers to the secure
and the unsigned domain, defers the bogus one and logs why
(event=dns.bogus), and refuses to start with an anchor it cannot read.
"""

import pytest

from capture_smtp import CaptureSMTP, shared_port
from conftest import wait_until
from dnssec import validate
from outbound_util import msg_text, queue_list, submit

HOSTS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]

ZONES = {
    # secure: MX, its address, a name without TLSA (secure NODATA)
    "sec.test": ["@ MX 10 mx", "mx A 127.0.0.2", '_25._tcp.mx TXT "none"'],
    # insecure: no anchor above it
    "plain.test": {"records": ["@ MX 10 mx", "mx A 127.0.0.3"],
                   "signed": False},
    # signed, then the MX preference changed: bogus
    "bad.test": {"records": ["@ MX 10 mx", "mx A 127.0.0.4"],
                 "bogus": [("@", "MX")]},
    # signatures that ended yesterday: bogus as a whole
    "old.test": {"records": ["@ MX 10 mx", "mx A 127.0.0.4"],
                 "expired": True},
}


@pytest.fixture
def zones(dnssec_server):
    return dnssec_server(ZONES)


def test_fixture_secure_insecure_bogus(zones):
    cases = [
        ("sec.test", "MX", "secure"),
        ("mx.sec.test", "A", "secure"),
        ("_25._tcp.mx.sec.test", "TLSA", "secure"),     # NODATA
        ("nothing.sec.test", "A", "secure"),            # NXDOMAIN
        ("plain.test", "MX", "unsigned"),
        ("bad.test", "MX", "bogus"),
        ("mx.bad.test", "A", "secure"),                 # untouched
        ("old.test", "MX", "bogus"),
    ]
    for name, qtype, want in cases:
        out, got = validate(zones, name, qtype)
        assert got == want, f"{name} {qtype}: {got}, not {want}:\n{out[-1500:]}"
    # unbound serves the signatures (DO bit) and the denial records
    r = zones.query("sec.test", "MX")
    assert {rr.rtype for rr in r.rr} == {15, 46}, r        # MX, RRSIG
    r = zones.query("_25._tcp.mx.sec.test", "TLSA")
    assert r.header.rcode == 0 and not r.rr
    assert 47 in {rr.rtype for rr in r.auth}, r            # NSEC


def _relais(relais_factory, zones, port, anchor=None):
    return relais_factory(overrides={
        "dns": {"resolver": zones.address, "timeout": "2s",
                "trust_anchor": str(anchor or zones.trust_anchor)},
        "relay": {"trusted_networks": "127.0.0.0/8",
                  "outbound_port": str(port),
                  "retry_min": "1s", "retry_max": "2s"},
    })


def test_relais_validates_through_forwarder(zones, relais_factory, unique):
    port = shared_port(HOSTS)
    peers = [CaptureSMTP(h, port, name=f"mx{i}").start()
             for i, h in enumerate(HOSTS)]
    try:
        r = _relais(relais_factory, zones, port).start()
        toks = {d: unique(d.split(".")[0])
                for d in ("sec.test", "plain.test", "bad.test")}
        for dom, tok in toks.items():
            submit(r, "alice@example.test", [f"bob@{dom}"],
                   msg_text(tok, to=f"bob@{dom}"))
        # secure and insecure answers are used
        for peer, dom in ((peers[0], "sec.test"), (peers[1], "plain.test")):
            wait_until(lambda: any(toks[dom].encode() in (t.data or b"")
                                   for t in peer.messages), 15,
                       what=f"the message to {dom}")
        # the bogus MX answer is a temporary failure, logged with
        # libunbound's reason, and nothing reaches the host behind it
        m = r.wait_log(r"event=dns\.bogus name=bad\.test type=MX why=\S", 15)
        line = r.log()[m.start():r.log().index("\n", m.start())]
        assert "validation failure" in line, line
        assert not r.log_events("dns.bogus") or all(
            e["name"] == "bad.test" for e in r.log_events("dns.bogus")), \
            r.log_events("dns.bogus")
        rows = wait_until(lambda: [x for x in queue_list(r)[0]
                                   if x["rcpt"] == "bob@bad.test"
                                   and x["attempts"] >= 1], 15,
                          interval=0.2, what="an attempt for bad.test")
        assert rows[0]["status"] != "bounced", rows
        assert not peers[2].connections
    finally:
        for p in peers:
            p.stop()


def test_unreadable_trust_anchor_refuses_to_start(zones, relais_factory,
                                                  tmp_path):
    missing = tmp_path / "no-such.key"
    r = _relais(relais_factory, zones, 25, anchor=missing)
    r.start(expect_ready=False)
    wait_until(lambda: r.proc.poll() is not None, 15, what="relais to exit")
    assert r.proc.returncode != 0
    assert f"trust_anchor {missing}: No such file or directory" in r.log(), \
        r.log()[-2000:]

    junk = tmp_path / "junk.key"
    junk.write_text("this is not a DS record\n")
    r2 = _relais(relais_factory, zones, 25, anchor=junk)
    r2.start(expect_ready=False)
    wait_until(lambda: r2.proc.poll() is not None, 15, what="relais to exit")
    assert r2.proc.returncode != 0
    assert f"trust_anchor {junk}: cannot be used" in r2.log(), \
        r2.log()[-2000:]
