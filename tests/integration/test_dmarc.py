"""DMARC (RFC 7489) and Authentication-Results (RFC 8601) through
`relais dmarc --resolver` against the test DNS server: aligned and
unaligned SPF and DKIM, relaxed and strict alignment, the organizational-
domain fallback (libpsl), sp=, pct=, no policy, several policies, DNS
trouble, and messages with zero, several and multi-address From: fields
(issue 5, items 3 and 4). DKIM signatures come from `relais dkim sign`."""

import re
import subprocess

import pytest

from conftest import relais_bin
from dnsserver import DNSServer

AUTHSERV = "mx.relais.example"


def run(*args, input=None, cwd=None):
    p = subprocess.run([str(relais_bin()), *args], input=input, cwd=cwd,
                       capture_output=True, timeout=30)
    err = p.stderr.decode("utf-8", "replace")
    assert "Sanitizer" not in err and "runtime error" not in err, err
    return p


def msg(from_line="From: Joe <joe@example.com>", extra=""):
    return (f"{from_line}\r\nTo: you@example.net\r\nSubject: dinner\r\n"
            f"Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n{extra}\r\n"
            f"Are you hungry yet?\r\n").encode()


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    d = tmp_path_factory.mktemp("dmarckeys")
    p = run("dkim", "keygen", "--algorithm", "ed25519-sha256", "--selector",
            "sel", "--domain", "example.com", cwd=d)
    assert p.returncode == 0, p.stderr
    path, record = p.stdout.decode().splitlines()
    return path, re.search(r'"(.*)"', record).group(1)


@pytest.fixture(scope="module")
def dns(key):
    zone = {
        # example.com: SPF for 203.0.113.0/24, strict-free policy
        "example.com": {"TXT": "v=spf1 ip4:203.0.113.0/24 -all"},
        "_dmarc.example.com": {"TXT": "v=DMARC1; p=reject; sp=quarantine; "
                                      "rua=mailto:d@example.com"},
        "sel._domainkey.example.com": {"TXT": key[1]},
        "sel._domainkey.mail.example.com": {"TXT": key[1]},
        "sel._domainkey.other.example": {"TXT": key[1]},
        # bounce.example.com: SPF for the bounce domain only
        "bounce.example.com": {"TXT": "v=spf1 ip4:198.51.100.0/24 -all"},
        # strict alignment
        "strict.example.org": {"TXT": "v=spf1 ip4:203.0.113.0/24 -all"},
        "_dmarc.strict.example.org": {"TXT": "v=DMARC1; p=reject; adkim=s; aspf=s"},
        "bounce.strict.example.org": {"TXT": "v=spf1 ip4:203.0.113.0/24 -all"},
        # a subdomain with its own policy
        "own.example.com": {"TXT": "v=spf1 -all"},
        "_dmarc.own.example.com": {"TXT": "v=DMARC1; p=none"},
        # pct
        "pct.example.org": {"TXT": "v=spf1 -all"},
        "_dmarc.pct.example.org": {"TXT": "v=DMARC1; p=reject; pct=30"},
        # no policy; two policies; a broken one; DNS trouble
        "nopolicy.example.org": {"TXT": "v=spf1 -all"},
        "two.example.org": {"TXT": "v=spf1 -all"},
        "_dmarc.two.example.org": {"TXT": ["v=DMARC1; p=reject", "v=DMARC1; p=none"]},
        "junk.example.org": {"TXT": "v=spf1 -all"},
        "_dmarc.junk.example.org": {"TXT": ["v=DMARC1; p=bogus", "unrelated text"]},
        "_dmarc.broken.example.org": "SERVFAIL",
        "other.example": {"TXT": "v=spf1 +all"},
    }
    with DNSServer(zone) as server:
        yield server


def sign(key, message, domain="example.com"):
    p = run("dkim", "sign", "--domain", domain, "--selector", "sel",
            "--key", key[0], input=message)
    assert p.returncode == 0, p.stderr
    return p.stdout


def dmarc(dns, message, ip="203.0.113.5", sender="joe@example.com",
          helo="mx.example.com", extra=()):
    p = run("dmarc", "--ip", ip, "--helo", helo, "--sender", sender,
            "--resolver", dns.address, "--authserv-id", AUTHSERV,
            "--timeout", "2", *extra, input=message)
    assert p.returncode == 0, p.stderr
    value = p.stdout.decode().rstrip("\n")
    assert "\n" not in value
    m = re.search(r"disposition=(\w+)", p.stderr.decode())
    return value, m.group(1)


def results(value):
    """{method: [resinfo, ...]} of an Authentication-Results value."""
    parts = [p.strip() for p in value.split("; ")]
    assert parts[0] == AUTHSERV
    out = {}
    for p in parts[1:]:
        out.setdefault(p.split("=", 1)[0], []).append(p)
    return out


def dmarc_word(value):
    return [r.split()[0] for r in results(value)["dmarc"]]


# --------------------------------------------------------------------------

def test_spf_aligned_pass(dns):
    value, disp = dmarc(dns, msg())
    r = results(value)
    assert r["spf"] == ["spf=pass smtp.mailfrom=joe@example.com"]
    assert r["dkim"] == ["dkim=none"]
    assert r["dmarc"][0].startswith("dmarc=pass")
    assert "header.from=example.com" in r["dmarc"][0]
    assert "policy.dmarc=none" in r["dmarc"][0]
    assert disp == "none"


def test_spf_relaxed_alignment_via_subdomain(dns):
    value, _ = dmarc(dns, msg(), ip="198.51.100.7", sender="b@bounce.example.com")
    assert results(value)["spf"][0].startswith("spf=pass")
    assert dmarc_word(value) == ["dmarc=pass"]


def test_spf_pass_unaligned_fails(dns):
    value, disp = dmarc(dns, msg(), ip="192.0.2.1", sender="x@other.example")
    assert results(value)["spf"][0].startswith("spf=pass")
    assert dmarc_word(value) == ["dmarc=fail"]
    assert "policy.dmarc=reject" in value and disp == "reject"


def test_dkim_aligned_pass_spf_fail(dns, key):
    value, disp = dmarc(dns, sign(key, msg()), ip="192.0.2.1")
    r = results(value)
    assert r["spf"][0].startswith("spf=fail")
    assert re.match(r"dkim=pass header\.d=example\.com header\.s=sel "
                    r"header\.i=@example\.com header\.b=\S+$", r["dkim"][0])
    assert dmarc_word(value) == ["dmarc=pass"] and disp == "none"


def test_dkim_unaligned_fails(dns, key):
    value, disp = dmarc(dns, sign(key, msg(), domain="other.example"),
                        ip="192.0.2.1")
    assert "dkim=pass header.d=other.example" in value
    assert dmarc_word(value) == ["dmarc=fail"] and disp == "reject"


def test_dkim_fail_does_not_count(dns, key):
    signed = sign(key, msg()).replace(b"hungry", b"HUNGRY")
    value, disp = dmarc(dns, signed, ip="192.0.2.1")
    assert "dkim=fail (body hash did not verify)" in value
    assert dmarc_word(value) == ["dmarc=fail"] and disp == "reject"


def test_strict_alignment(dns, key):
    base = msg("From: a@strict.example.org")
    # exact domain: pass; subdomain of the From domain: fail in strict mode
    assert dmarc_word(dmarc(dns, base, sender="a@strict.example.org")[0]) == \
        ["dmarc=pass"]
    assert dmarc_word(dmarc(dns, base, sender="a@bounce.strict.example.org")[0]) == \
        ["dmarc=fail"]
    signed = sign(key, msg("From: a@mail.example.com"), domain="example.com")
    value, _ = dmarc(dns, signed, ip="192.0.2.1", sender="a@nowhere.example.org")
    # relaxed (example.com's policy): mail.example.com aligns with example.com
    assert dmarc_word(value) == ["dmarc=pass"]


def test_org_domain_fallback_and_sp(dns):
    value, disp = dmarc(dns, msg("From: a@deep.sub.example.com"), ip="192.0.2.1",
                        sender="a@deep.sub.example.com")
    assert dmarc_word(value) == ["dmarc=fail"]
    assert "header.from=deep.sub.example.com" in value
    assert "policy.dmarc=quarantine" in value and disp == "quarantine"
    # a subdomain that publishes its own record uses its p=, not sp=
    value, disp = dmarc(dns, msg("From: a@own.example.com"), ip="192.0.2.1",
                        sender="a@own.example.com")
    assert dmarc_word(value) == ["dmarc=fail"] and disp == "none"


def test_pct(dns):
    m = msg("From: a@pct.example.org")
    value, disp = dmarc(dns, m, sender="a@pct.example.org",
                        extra=("--pct-sample", "29"))
    assert disp == "reject" and "pct=30" in value
    value, disp = dmarc(dns, m, sender="a@pct.example.org",
                        extra=("--pct-sample", "30"))
    assert disp == "quarantine" and "sampled out" in value
    assert "policy.dmarc=quarantine" in value


def test_no_policy_and_bad_policies(dns):
    for frm in ("nopolicy.example.org", "two.example.org", "junk.example.org"):
        value, disp = dmarc(dns, msg(f"From: a@{frm}"), sender=f"a@{frm}")
        assert dmarc_word(value) == ["dmarc=none"], value
        assert disp == "none"


def test_dns_trouble_is_temperror(dns):
    value, disp = dmarc(dns, msg("From: a@broken.example.org"),
                        sender="a@broken.example.org")
    assert dmarc_word(value) == ["dmarc=temperror"] and disp == "none"


@pytest.mark.parametrize("headers,why", [
    ("Sender: joe@example.com", "no From field"),
    ("From: a@example.com\r\nFrom: b@example.com", "several From fields"),
    ("From: undisclosed-recipients:;", "no domain in From"),
    ("From: joe", "no domain in From"),
])
def test_zero_or_several_from(dns, headers, why):
    value, disp = dmarc(dns, msg(headers))
    assert f"dmarc=permerror ({why})" in value
    assert disp == "reject"


def test_several_domains_in_one_from(dns):
    value, disp = dmarc(dns, msg("From: joe@example.com, ann@pct.example.org"),
                        extra=("--pct-sample", "0"))
    words = dmarc_word(value)
    assert words == ["dmarc=pass", "dmarc=fail"], value
    assert "header.from=pct.example.org" in value and disp == "reject"


def test_null_sender_uses_helo(dns):
    value, _ = dmarc(dns, msg(), sender="", helo="example.com")
    assert results(value)["spf"] == ["spf=pass smtp.helo=example.com"]
    assert dmarc_word(value) == ["dmarc=pass"]


@pytest.mark.parametrize("args", [
    [],
    ["--ip", "203.0.113.5", "--helo", "h"],
    ["--ip", "203.0.113.5", "--helo", "h", "--sender", "a@b", "--pct-sample", "100"],
    ["--bogus"],
])
def test_usage_errors(args):
    p = run("dmarc", *args, input=b"")
    assert p.returncode == 2
