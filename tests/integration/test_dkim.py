"""DKIM (RFC 6376, RFC 8463, RFC 8301) through `relais dkim`, with
python3-dkim (dkimpy) as the independent peer in both directions: keys made
by `relais dkim keygen`; messages signed by relais verify in dkimpy and
messages signed by dkimpy verify in relais, for RSA and Ed25519, simple and
relaxed; tampered copies fail in both; l=, t=/x=, key records with t=y,
t=s, h= and s=; rsa-sha1 and 512-bit RSA never pass; the RFC 8463 appendix A
vector verifies (issue 5, item 2)."""

import base64
import os
import re
import stat
import subprocess
import time

import dkim
import pytest

from conftest import relais_bin
from dnsserver import DNSServer

MESSAGE = (b"From: Joe SixPack <joe@example.com>\r\n"
           b"To: Suzie Q <suzie@example.net>\r\n"
           b"Subject: Is dinner ready?\r\n"
           b"\twith a folded   subject line\r\n"
           b"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
           b"Message-ID: <20030712040037.46341.5F8J@example.com>\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=us-ascii\r\n"
           b"\r\n"
           b"Hi.\r\n"
           b"\r\n"
           b"We lost the game.  Are you hungry yet?   \r\n"
           b"\r\n"
           b"Joe.\r\n"
           b"\r\n\r\n")

CANONS = ["relaxed/relaxed", "simple/simple", "relaxed/simple", "simple/relaxed"]
ALGS = ["rsa-sha256", "ed25519-sha256"]

RFC8463_MESSAGE = b"""\
DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;
 d=football.example.com; i=@football.example.com;
 q=dns/txt; s=brisbane; t=1528637909; h=from : to :
 subject : date : message-id : from : subject : date;
 bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;
 b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus
 Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;
 d=football.example.com; i=@football.example.com;
 q=dns/txt; s=test; t=1528637909; h=from : to : subject :
 date : message-id : from : subject : date;
 bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;
 b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3
 DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz
 dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=
From: Joe SixPack <joe@football.example.com>
To: Suzie Q <suzie@shopping.example.net>
Subject: Is dinner ready?
Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)
Message-ID: <20030712040037.46341.5F8J@football.example.com>

Hi.

We lost the game.  Are you hungry yet?

Joe.
""".replace(b"\n", b"\r\n")

RFC8463_ZONE = {
    "brisbane._domainkey.football.example.com": {
        "TXT": "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="},
    "test._domainkey.football.example.com": {"TXT": [[
        "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR",
        "iGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC",
        "DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3",
        "Ip3G+2kryOTIKT+l/K4w3QIDAQAB"]]},
}


def run(*args, input=None, cwd=None, timeout=30):
    p = subprocess.run([str(relais_bin()), *args], input=input, cwd=cwd,
                       capture_output=True, timeout=timeout)
    err = p.stderr.decode("utf-8", "replace")
    assert "Sanitizer" not in err and "runtime error" not in err, err
    return p


class Key:
    """A key made by relais dkim keygen: its file, record and selector."""

    def __init__(self, directory, alg, selector, domain="example.com"):
        p = run("dkim", "keygen", "--algorithm", alg, "--selector", selector,
                "--domain", domain, cwd=directory)
        assert p.returncode == 0, p.stderr
        lines = p.stdout.decode().splitlines()
        self.path = lines[0]
        m = re.match(r'^(\S+)\. IN TXT "(.*)"$', lines[1])
        assert m, lines[1]
        self.name, self.record = m.group(1), m.group(2)
        assert self.name == f"{selector}._domainkey.{domain}"
        self.alg, self.selector, self.domain = alg, selector, domain

    def pem(self):
        with open(self.path, "rb") as f:
            return f.read()

    def dkimpy_private(self):
        """The private key as dkimpy takes it (Ed25519: base64 seed)."""
        if self.alg == "rsa-sha256":
            return self.pem()
        der = subprocess.run(["openssl", "pkey", "-in", self.path,
                              "-outform", "DER"], capture_output=True,
                             check=True).stdout
        return base64.b64encode(der[-32:])


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    return {"rsa-sha256": Key(d, "rsa-sha256", "rsa"),
            "ed25519-sha256": Key(d, "ed25519-sha256", "ed")}


@pytest.fixture(scope="module")
def dns(keys):
    zone = {k.name: {"TXT": k.record} for k in keys.values()}
    zone.update(RFC8463_ZONE)
    with DNSServer(zone) as server:
        yield server


def dnsfunc_for(keys, extra=None):
    table = {k.name: k.record for k in keys.values()}
    table.update(extra or {})

    def dnsfunc(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        return table.get(n.rstrip("."), "").encode()
    return dnsfunc


def relais_sign(key, msg=MESSAGE, canon="relaxed/relaxed", extra=()):
    p = run("dkim", "sign", "--domain", key.domain, "--selector",
            key.selector, "--key", key.path, "--algorithm", key.alg,
            "--canonicalization", canon, *extra, input=msg)
    assert p.returncode == 0, p.stderr
    assert p.stdout.endswith(msg)
    return p.stdout


def relais_verify(dns, msg, extra=()):
    p = run("dkim", "verify", "--resolver", dns.address, *extra, input=msg)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode().splitlines(), p.stderr.decode()


def dkimpy_sign(key, msg=MESSAGE, canon="relaxed/relaxed", **kw):
    h, b = canon.split("/")
    sig = dkim.sign(msg, key.selector.encode(), key.domain.encode(),
                    key.dkimpy_private(), canonicalize=(h.encode(), b.encode()),
                    signature_algorithm=key.alg.encode(), **kw)
    return sig + msg


def tamper(msg, what):
    if what == "body":
        return msg.replace(b"hungry", b"Hungry")
    if what == "signed-header":
        return msg.replace(b"Subject: Is dinner", b"Subject: Is lunch")
    if what == "extra-from":
        i = msg.index(b"From: Joe")
        return msg[:i] + b"From: Mallory <m@example.org>\r\n" + msg[i:]
    raise ValueError(what)


# --------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("canon", CANONS)
def test_relais_signs_dkimpy_verifies(keys, alg, canon):
    signed = relais_sign(keys[alg], canon=canon)
    assert dkim.verify(signed, dnsfunc=dnsfunc_for(keys))
    head = signed[:signed.index(b"From: Joe")].decode()
    assert f"a={alg};" in head and f"c={canon};" in head
    # From over-signed, the fields signed when present
    assert re.search(r"h=from:from:to:subject:date:message-id:mime-version:"
                     r"content-type;", head.replace("\r\n\t", ""))


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("canon", CANONS)
def test_dkimpy_signs_relais_verifies(keys, dns, alg, canon):
    signed = dkimpy_sign(keys[alg], canon=canon)
    lines, err = relais_verify(dns, signed)
    assert lines == [f"pass d=example.com s={keys[alg].selector}"], err


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("what", ["body", "signed-header", "extra-from"])
def test_tampered_fail_in_both(keys, dns, alg, what):
    # signed by relais: dkimpy and relais both refuse the copy
    bad = tamper(relais_sign(keys[alg]), what)
    assert not dkim.verify(bad, dnsfunc=dnsfunc_for(keys))
    lines, _ = relais_verify(dns, bad)
    assert lines == [f"fail d=example.com s={keys[alg].selector}"]
    # signed by dkimpy (it over-signs From too)
    bad = tamper(dkimpy_sign(keys[alg]), what)
    assert not dkim.verify(bad, dnsfunc=dnsfunc_for(keys))
    lines, _ = relais_verify(dns, bad)
    assert lines == [f"fail d=example.com s={keys[alg].selector}"]


def test_dual_signature(keys, dns):
    k1, k2 = keys["rsa-sha256"], keys["ed25519-sha256"]
    p = run("dkim", "sign", "--domain", "example.com", "--selector", "rsa",
            "--key", k1.path, "--selector2", "ed", "--key2", k2.path,
            input=MESSAGE)
    assert p.returncode == 0, p.stderr
    lines, err = relais_verify(dns, p.stdout)
    assert lines == ["pass d=example.com s=rsa", "pass d=example.com s=ed"], err
    d = dkim.DKIM(p.stdout)
    assert d.verify(idx=0, dnsfunc=dnsfunc_for(keys))
    assert d.verify(idx=1, dnsfunc=dnsfunc_for(keys))


def test_rfc8463_appendix_a(dns):
    lines, err = relais_verify(dns, RFC8463_MESSAGE)
    assert lines == ["pass d=football.example.com s=brisbane",
                     "pass d=football.example.com s=test"], err
    # the same text with LF line ends (as a file on disk would be)
    lines, err = relais_verify(dns, RFC8463_MESSAGE.replace(b"\r\n", b"\n"))
    assert lines == ["pass d=football.example.com s=brisbane",
                     "pass d=football.example.com s=test"], err


def test_body_length(keys, dns):
    key = keys["rsa-sha256"]
    # dkimpy's l= and ours: text appended after signing is not covered
    for signed in (dkimpy_sign(key, length=True),
                   relais_sign(key, extra=("--body-length",))):
        assert b" l=" in signed[:signed.index(b"From: Joe")]
        lines, err = relais_verify(dns, signed + b"-- \r\nappended\r\n")
        assert lines == ["pass d=example.com s=rsa"], err
        assert dkim.verify(signed + b"appended\r\n", dnsfunc=dnsfunc_for(keys))
        # but the signed part still counts
        lines, _ = relais_verify(dns, signed.replace(b"hungry", b"HUNGRY"))
        assert lines == ["fail d=example.com s=rsa"]


def test_timestamps(keys, dns):
    key = keys["ed25519-sha256"]
    signed = relais_sign(key, extra=("--expire", "600"))
    head = signed[:signed.index(b"From: Joe")].decode()
    t = int(re.search(r"\bt=(\d+);", head).group(1))
    x = int(re.search(r"\bx=(\d+);", head).group(1))
    assert x == t + 600 and abs(t - time.time()) < 60
    assert relais_verify(dns, signed)[0] == ["pass d=example.com s=ed"]
    assert dkim.verify(signed, dnsfunc=dnsfunc_for(keys))
    # after x=: fail in both
    lines, err = relais_verify(dns, signed, ("--time", str(x + 1)))
    assert lines == ["fail d=example.com s=ed"] and "expired" in err
    # t= in the future (more than the allowed skew)
    lines, err = relais_verify(dns, signed, ("--time", str(t - 3600)))
    assert lines == ["fail d=example.com s=ed"] and "future" in err


KEY_FLAGS = [
    ("t=y", "pass"),
    ("t=s", "pass"),
    ("h=sha256", "pass"),
    ("h=sha1", "permerror"),
    ("s=email", "pass"),
    ("s=*", "pass"),
    ("s=other", "permerror"),
]


@pytest.mark.parametrize("flag,want", KEY_FLAGS, ids=[f for f, _ in KEY_FLAGS])
def test_key_record_flags(keys, dns, flag, want):
    key = keys["rsa-sha256"]
    record = key.record.replace("v=DKIM1; ", f"v=DKIM1; {flag}; ")
    dns.set(key.name, {"TXT": record})
    try:
        lines, err = relais_verify(dns, relais_sign(key))
        assert lines == [f"{want} d=example.com s=rsa"], err
    finally:
        dns.set(key.name, {"TXT": key.record})


def test_key_strict_subdomain(keys, dns):
    key = keys["rsa-sha256"]
    signed = dkimpy_sign(key, identity=b"joe@sub.example.com")
    assert relais_verify(dns, signed)[0] == ["pass d=example.com s=rsa"]
    dns.set(key.name, {"TXT": key.record.replace("v=DKIM1; ", "v=DKIM1; t=s; ")})
    try:
        lines, err = relais_verify(dns, signed)
        assert lines == ["permerror d=example.com s=rsa"], err
        assert "t=s" in err
    finally:
        dns.set(key.name, {"TXT": key.record})


def test_key_record_problems(keys, dns):
    key = keys["rsa-sha256"]
    signed = relais_sign(key)
    for record, want in [("v=DKIM1; k=rsa; p=", "permerror"),          # revoked
                         ("v=DKIM1; k=ed25519; " + key.record.split("; ")[-1],
                          "permerror"),                                 # k= mismatch
                         ("k=rsa; v=DKIM1; p=AAAA", "permerror"),      # v= not first
                         ("SERVFAIL", "temperror")]:
        dns.set(key.name, record if record == "SERVFAIL" else {"TXT": record})
        try:
            lines, err = relais_verify(dns, signed)
            assert lines == [f"{want} d=example.com s=rsa"], (record, err)
        finally:
            dns.set(key.name, {"TXT": key.record})
    dns.remove(key.name)
    try:
        lines, err = relais_verify(dns, signed)
        assert lines == ["permerror d=example.com s=rsa"]
        assert "no key" in err
    finally:
        dns.set(key.name, {"TXT": key.record})


def test_rsa_sha1_never_passes(keys, dns):
    key = keys["rsa-sha256"]
    h = b"from to subject".split()
    sig = dkim.sign(MESSAGE, b"rsa", b"example.com", key.pem(),
                    signature_algorithm=b"rsa-sha1", include_headers=h)
    assert dkim.verify(sig + MESSAGE, dnsfunc=dnsfunc_for(keys))  # valid sha1
    lines, err = relais_verify(dns, sig + MESSAGE)
    assert lines == ["permerror d=example.com s=rsa"], err
    assert "RFC 8301" in err


def test_rsa_512_fails(tmp_path, dns):
    weak = tmp_path / "weak.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:512", "-out", str(weak)], check=True,
                   capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", str(weak), "-pubout",
                          "-outform", "DER"], capture_output=True, check=True).stdout
    dns.set("weak._domainkey.example.com",
            {"TXT": "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()})
    try:
        sig = dkim.sign(MESSAGE, b"weak", b"example.com", weak.read_bytes(),
                        include_headers=[b"from", b"subject"])
        lines, err = relais_verify(dns, sig + MESSAGE)
        assert lines == ["fail d=example.com s=weak"], err
        assert "512-bit" in err
        # relais refuses to sign with it
        p = run("dkim", "sign", "--domain", "example.com", "--selector",
                "weak", "--key", str(weak), input=MESSAGE)
        assert p.returncode != 0 and b"1024" in p.stderr
    finally:
        dns.remove("weak._domainkey.example.com")


def test_unsigned_and_malformed(dns):
    assert relais_verify(dns, MESSAGE)[0] == ["none"]
    bad = b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com;;\r\n" + MESSAGE
    lines, err = relais_verify(dns, bad)
    assert lines == ["permerror d=example.com s="], err


def test_lf_message_keeps_lf(keys, dns):
    msg = MESSAGE.replace(b"\r\n", b"\n")
    signed = relais_sign(keys["ed25519-sha256"], msg=msg)
    assert b"\r" not in signed
    assert relais_verify(dns, signed)[0] == ["pass d=example.com s=ed"]
    assert dkim.verify(signed.replace(b"\n", b"\r\n"), dnsfunc=dnsfunc_for(keys))


# --------------------------------------------------------------------------
# keygen and usage

def test_keygen(tmp_path):
    for alg in ALGS:
        p = run("dkim", "keygen", "--algorithm", alg, "--selector", "s1",
                "--domain", f"{alg}.example", cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        path, record = p.stdout.decode().splitlines()
        assert os.path.isabs(path) and os.path.exists(path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        k = "rsa" if alg.startswith("rsa") else "ed25519"
        assert re.fullmatch(rf's1\._domainkey\.{re.escape(alg)}\.example\. IN TXT '
                            rf'"v=DKIM1; k={k}; p=[A-Za-z0-9+/=]+"', record), record
        # never over an existing key
        again = run("dkim", "keygen", "--algorithm", alg, "--selector", "s1",
                    "--domain", f"{alg}.example", cwd=tmp_path)
        assert again.returncode == 1 and b"exists" in again.stderr
    out = tmp_path / "chosen.pem"
    p = run("dkim", "keygen", "--algorithm", "rsa-sha256", "--selector", "s",
            "--domain", "example.org", "--bits", "1024", "--out", str(out))
    assert p.returncode == 0 and out.exists()


@pytest.mark.parametrize("args", [
    ["dkim"],
    ["dkim", "frobnicate"],
    ["dkim", "sign"],
    ["dkim", "sign", "--domain", "example.com", "--selector", "s"],
    ["dkim", "verify", "extra"],
    ["dkim", "keygen", "--algorithm", "rsa-sha1", "--selector", "s", "--domain", "d"],
    ["dkim", "keygen", "--algorithm", "rsa-sha256", "--selector", "../s",
     "--domain", "d"],
])
def test_usage_errors(args, tmp_path):
    p = run(*args, input=b"", cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert not list(tmp_path.iterdir())
