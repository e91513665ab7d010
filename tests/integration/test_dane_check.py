"""relais tls check DOMAIN and relais tls records DOMAIN (issue 14): what
relais would do for a domain and why, from the same decisions the
delivery agent takes, and the records an operator publishes for a domain
received by relais.

The zones are signed for the test (dnssec.py) and validated with their
DS records ([dns] trust_anchor), through unbound on loopback; the
MTA-STS policy comes from nginx with a test CA (stsweb.py).
"""

import re

import pytest

from dnssec import DNSSECServer
from stsweb import STSWeb
from tlscerts import CertMaker, tlsa_311


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("tlscheck")
    mk = CertMaker(root / "certs")

    class E:
        pass

    e = E()
    e.ee = mk.self_signed("mx.ee.test")
    e.decoy = mk.self_signed("decoy.invalid")
    e.web = STSWeb(root / "web")
    sts_ip = "127.0.0.41"
    zones = {
        # secure MX, one host with a usable TLSA record, one without
        "ee.test": ["@ MX 10 mx", "@ MX 20 mx2", "mx A 127.0.0.42",
                    "mx2 A 127.0.0.43",
                    f"_25._tcp.mx TLSA {tlsa_311(e.ee)}",
                    # not usable for SMTP (PKIX-EE): listed as such
                    f"_25._tcp.mx2 TLSA 1 1 1 {tlsa_311(e.decoy).split()[-1]}",
                    '_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tlsrpt@ee.test"'],
        # unsigned, with an enforced MTA-STS policy naming one MX host
        "sts.test": {"records": [
            "@ MX 10 mx", "@ MX 20 other", "mx A 127.0.0.44",
            "other A 127.0.0.45", f"mta-sts A {sts_ip}",
            '_mta-sts TXT "v=STSv1; id=20261205"'], "signed": False},
        "forged.test": {"records": ["@ MX 10 mx", "mx A 127.0.0.46"],
                        "bogus": [("@", "MX")]},
        "bank.test": {"records": ["www MX 10 mx", "mx A 127.0.0.47"],
                      "signed": False},
    }
    e.dns = DNSSECServer(root / "dns", zones).start()
    e.web.add("sts.test", sts_ip,
              policy="version: STSv1\nmode: enforce\nmx: mx.sts.test\n"
                     "max_age: 86400\n")
    e.web.start()
    yield e
    e.web.stop()
    e.dns.stop()


@pytest.fixture
def relais(env, relais_factory):
    r = relais_factory()
    r.write_config(overrides={
        "dns": {"resolver": env.dns.address, "timeout": "2s",
                "trust_anchor": str(env.dns.trust_anchor)},
        "relay": {"ca_file": str(env.web.ca)},
        "tls_policy": {"legacy.test": "none", ".bank.test": "verify"},
    })
    return r


def check(r, domain):
    p = r.cli("tls", "check", domain, "-c", str(r.conf_path), timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_check_dane_domain(relais):
    out = check(relais, "ee.test")
    assert "tls_policy: none" in out
    assert re.search(r"^dnssec: validating with ", out, re.M)
    assert re.search(r"^mx: records, secure$", out, re.M), out
    assert re.search(r"^  address 127\.0\.0\.42 \(secure\)$", out, re.M), out
    assert re.search(r"^  tlsa _25\._tcp\.mx\.ee\.test: records, secure$",
                     out, re.M), out
    assert re.search(r"^    3 1 1 [0-9a-f]{64}$", out, re.M), out
    assert "(not usable for SMTP)" in out
    assert 'tls-rpt: "v=TLSRPTv1; rua=mailto:tlsrpt@ee.test"' in out
    assert re.search(r"^result: dane$", out, re.M), out
    # the host with a usable record is authenticated by it; the other,
    # with none usable, gets TLS without authentication (RFC 7672 2.2)
    assert re.search(r"^  mx\.ee\.test: dane$", out, re.M), out
    assert re.search(r"^  mx2\.ee\.test: encrypt$", out, re.M), out


def test_check_sts_domain(relais):
    out = check(relais, "sts.test")
    assert re.search(r"^mx: records, insecure$", out, re.M), out
    assert 'mta-sts txt: "v=STSv1; id=20261205" (id 20261205)' in out
    assert "mta-sts policy: mode enforce, max_age 86400" in out
    assert "  mx: mx.sts.test" in out
    assert re.search(r"^result: sts$", out, re.M), out
    assert re.search(r"^  mx\.sts\.test: webpki$", out, re.M), out
    assert re.search(r"^  other\.sts\.test: not used \(not in the MTA-STS "
                     r"policy\)$", out, re.M), out


def test_check_bogus_and_overrides(relais):
    out = check(relais, "forged.test")
    assert re.search(r"^mx: temporary failure, bogus$", out, re.M), out
    assert "waits" in out
    out = check(relais, "legacy.test")
    assert "tls_policy: legacy.test = none (wins over DNS)" in out
    out = check(relais, "www.bank.test")
    assert "tls_policy: .bank.test = verify (wins over DNS)" in out
    assert "mta-sts: not used (tls_policy line)" in out
    assert re.search(r"^result: verify$", out, re.M), out
    assert re.search(r"^  mx\.bank\.test: webpki$", out, re.M), out


def test_records_for_own_domain(relais, env):
    relais.write_config(overrides={
        "tls": {"certificate": str(env.ee.fullchain), "key": str(env.ee.key)},
    })
    p = relais.cli("tls", "records", "example.org", "-c",
                   str(relais.conf_path))
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert re.search(r"^_25\._tcp\.\S+\. IN TLSA " +
                     re.escape(tlsa_311(env.ee)) + "$", out, re.M), out
    assert re.search(r'^_mta-sts\.example\.org\. IN TXT "v=STSv1; id=\d{8}T'
                     r'\d{6}"$', out, re.M), out
    assert re.search(r'^_smtp\._tls\.example\.org\. IN TXT "v=TLSRPTv1; '
                     r'rua=mailto:tlsrpt@example\.org"$', out, re.M), out


def test_usage(relais):
    p = relais.cli("tls", "check", "-c", str(relais.conf_path))
    assert p.returncode == 2
    assert "usage: relais tls check DOMAIN" in p.stderr
