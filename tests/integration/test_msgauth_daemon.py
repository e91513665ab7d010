"""SPF, DKIM and DMARC through the daemon (issue 5, "End to end").

Three daemons, each started once for the module, resolve through one test
DNS server (dnsserver.py) that holds every SPF, DKIM key and DMARC record:

  inbound    [relay] trusted_networks = 10.99.0.0/16, so 127.0.0.1 is an
             untrusted client: its mail on the mx listener is checked and
             the delivered copy carries Authentication-Results (default
             authserv-id = [server] hostname = mx.test). dmarc_enforce is
             left at its default (no). Plaintext AUTH on loopback is allowed
             and [dkim example.test] exists, so an authenticated user's mail
             is signed (and not checked).
  enforcing  the same, with [msgauth] dmarc_enforce = yes and authserv_id =
             auth.relais.test: p=reject failures get 550 5.7.1 at the end
             of DATA, p=quarantine failures go to the mailbox's .Junk.
  signer     127.0.0.0/8 trusted: mail whose From: domain has a
             [dkim DOMAIN] section is DKIM-signed (RSA, Ed25519, dual) and
             verified here with python3-dkim (dkimpy); mail to a remote
             domain is relayed to a capture server on 127.0.0.2.

Keys come from `relais dkim keygen`; inbound test mail is signed with
dkimpy. Every assertion reads the delivered Maildir file (or the copy the
capture server received) and, on failure, shows the SMTP exchange and the
daemon's log lines.
"""

import base64
import re
import subprocess

import dkim
import pytest

from capture_smtp import CaptureSMTP, shared_port
from conftest import CLIENT_NAME, Relais, relais_bin, split_headers, wait_until
from dnsserver import DNSServer

TRUSTED_ELSEWHERE = "10.99.0.0/16"  # makes 127.0.0.1 an untrusted client
OUR_ID = "mx.test"                  # [server] hostname in conftest
ENFORCING_ID = "auth.relais.test"
ALICE = "alice@example.test"
BOB = "bob@example.test"
ALICE_PW = "alice-secret"

# (name, algorithm, selector, domain)
KEYS = [
    ("in-rsa", "rsa-sha256", "sel", "dkim.example"),       # dkimpy signs
    ("in-ed", "ed25519-sha256", "ed", "dkim.example"),     # dkimpy signs
    ("rsa", "rsa-sha256", "rsa", "rsa.example"),           # relais signs
    ("ed", "ed25519-sha256", "ed", "ed.example"),
    ("dual-rsa", "rsa-sha256", "r1", "dual.example"),
    ("dual-ed", "ed25519-sha256", "e1", "dual.example"),
    ("sub", "rsa-sha256", "sub", "example.test"),          # authenticated
]


# --------------------------------------------------------------------------
# keys, DNS, capture server, daemons


class Key:
    def __init__(self, directory, alg, selector, domain):
        directory.mkdir(parents=True, exist_ok=True)
        p = subprocess.run([str(relais_bin()), "dkim", "keygen", "--algorithm",
                            alg, "--selector", selector, "--domain", domain],
                           cwd=directory, capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr
        lines = p.stdout.decode().splitlines()
        self.path = lines[0]
        m = re.match(r'^(\S+)\. IN TXT "(.*)"$', lines[1])
        assert m, lines[1]
        self.name, self.record = m.group(1), m.group(2)
        assert self.name == f"{selector}._domainkey.{domain}"
        self.alg, self.selector, self.domain = alg, selector, domain

    def dkimpy_private(self):
        """The private key as dkimpy takes it (Ed25519: base64 seed)."""
        if self.alg == "rsa-sha256":
            with open(self.path, "rb") as f:
                return f.read()
        der = subprocess.run(["openssl", "pkey", "-in", self.path,
                              "-outform", "DER"], capture_output=True,
                             check=True, timeout=30).stdout
        return base64.b64encode(der[-32:])


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("msgauth-keys")
    return {name: Key(d / name, alg, sel, dom) for name, alg, sel, dom in KEYS}


def zone_for(keys):
    zone = {
        # SPF pass for the loopback client, strict DMARC policy
        "spfpass.example": {"TXT": "v=spf1 ip4:127.0.0.1 -all"},
        "_dmarc.spfpass.example": {"TXT": "v=DMARC1; p=reject"},
        # SPF fail, p=reject
        "spffail.example": {"TXT": "v=spf1 ip4:192.0.2.1 -all"},
        "_dmarc.spffail.example": {"TXT": "v=DMARC1; p=reject"},
        # SPF fail, p=quarantine
        "quar.example": {"TXT": "v=spf1 ip4:192.0.2.1 -all"},
        "_dmarc.quar.example": {"TXT": "v=DMARC1; p=quarantine"},
        # no SPF record, p=reject (From: here, envelope elsewhere)
        "strict.example": {"A": ["192.0.2.80"]},
        "_dmarc.strict.example": {"TXT": "v=DMARC1; p=reject"},
        # HELO identity for the null sender
        "helo.example": {"TXT": "v=spf1 ip4:127.0.0.1 -all"},
        "_dmarc.helo.example": {"TXT": "v=DMARC1; p=reject"},
        # DKIM-signed inbound mail: SPF fails, DKIM must carry DMARC
        "dkim.example": {"TXT": "v=spf1 ip4:192.0.2.1 -all"},
        "_dmarc.dkim.example": {"TXT": "v=DMARC1; p=reject"},
        # relais-signed domains
        "rsa.example": {"TXT": "v=spf1 ip4:192.0.2.1 -all"},
        "_dmarc.rsa.example": {"TXT": "v=DMARC1; p=reject"},
        "ed.example": {"TXT": "v=spf1 ip4:192.0.2.1 -all"},
        "dual.example": {"TXT": "v=spf1 ip4:192.0.2.1 -all"},
        # the relay target
        "remote.example": {"MX": [(10, "mx.remote.example")]},
        "mx.remote.example": {"A": ["127.0.0.2"]},
    }
    for k in keys.values():
        zone[k.name] = {"TXT": k.record}
    return zone


@pytest.fixture(scope="module")
def dns(keys):
    server = DNSServer(zone_for(keys)).start()
    yield server
    server.stop()


def dnsfunc_for(keys):
    """dkimpy's DNS: the key records we publish."""
    table = {k.name.lower(): k.record for k in keys.values()}

    def dnsfunc(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        return table.get(n.rstrip(".").lower(), "").encode()
    return dnsfunc


@pytest.fixture(scope="module")
def capture(keys):
    port = shared_port(["127.0.0.2"])
    peer = CaptureSMTP("127.0.0.2", port, name="mx.remote.example").start()
    yield peer
    peer.stop()


_started = []


def _daemon(root, overrides):
    r = Relais(root, overrides=overrides)
    r.start()
    _started.append(r)
    return r


@pytest.fixture(autouse=True)
def _close_conns():
    """The daemons live for the module: close each test's connections so
    they never add up to [limits] max_connections_per_ip."""
    yield
    for r in _started:
        for c in r.conns:
            try:
                c.line("QUIT")
            except OSError:
                pass
            c.close()
        r.conns.clear()


def _finish(r):
    _started.remove(r)
    problems = r.teardown()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def inbound(tmp_path_factory, dns, keys):
    r = _daemon(tmp_path_factory.mktemp("inbound"), {
        "relay": {"trusted_networks": TRUSTED_ELSEWHERE},
        "dns": {"resolver": dns.address, "timeout": "2s"},
        "auth": {"allow_plaintext_loopback": "yes"},
        "dkim example.test": {"selector": keys["sub"].selector,
                              "key": keys["sub"].path,
                              "algorithm": "rsa-sha256"},
    })
    yield r
    _finish(r)


@pytest.fixture(scope="module")
def enforcing(tmp_path_factory, dns):
    r = _daemon(tmp_path_factory.mktemp("enforcing"), {
        "relay": {"trusted_networks": TRUSTED_ELSEWHERE},
        "dns": {"resolver": dns.address, "timeout": "2s"},
        "msgauth": {"dmarc_enforce": "yes", "authserv_id": ENFORCING_ID},
    })
    yield r
    _finish(r)


@pytest.fixture(scope="module")
def signer(tmp_path_factory, dns, keys, capture):
    r = _daemon(tmp_path_factory.mktemp("signer"), {
        "relay": {"trusted_networks": "127.0.0.0/8",
                  "outbound_port": str(capture.port),
                  "retry_min": "1s", "retry_max": "1s"},
        "dns": {"resolver": dns.address, "timeout": "2s"},
        "dkim rsa.example": {"selector": "rsa", "key": keys["rsa"].path,
                             "algorithm": "rsa-sha256"},
        "dkim ed.example": {"selector": "ed", "key": keys["ed"].path,
                            "algorithm": "ed25519-sha256"},
        "dkim dual.example": {"selector": "r1", "key": keys["dual-rsa"].path,
                              "algorithm": "rsa-sha256",
                              "selector2": "e1", "key2": keys["dual-ed"].path,
                              "algorithm2": "ed25519-sha256"},
    })
    yield r
    _finish(r)


# --------------------------------------------------------------------------
# messages, SMTP, delivered files


_n = [0]


def token(prefix):
    _n[0] += 1
    return f"{prefix}-{_n[0]}-{id(_n)}"


def make_msg(tok, frm, to=ALICE, extra="", body=None):
    dom = frm.rsplit("@", 1)[-1] if "@" in frm else "invalid"
    body = body if body is not None else (
        f"Hello, this is {tok}.\r\n"
        f"We lost the game.  Are you hungry yet?\r\n")
    return (f"From: Sender <{frm}>\r\nTo: <{to}>\r\nSubject: {tok}\r\n"
            f"Date: Mon, 02 Jan 2023 10:00:00 +0000\r\n"
            f"Message-ID: <{tok}@{dom}>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=us-ascii\r\n{extra}\r\n"
            f"{body}").encode()


def dkimpy_sign(key, msg, canon=(b"relaxed", b"relaxed")):
    return dkim.sign(msg, key.selector.encode(), key.domain.encode(),
                     key.dkimpy_private(), canonicalize=canon,
                     signature_algorithm=key.alg.encode()) + msg


def dot_stuff(msg):
    out = re.sub(rb"(?m)^\.", b"..", msg)
    return out if out.endswith(b"\r\n") else out + b"\r\n"


def transact(r, mail_from, rcpts, msg, helo=CLIENT_NAME, conn=None,
             auth=None):
    """One transaction on r's mx listener (a new connection unless conn);
    returns (conn, reply to the final dot)."""
    c = conn
    if c is None:
        c = r.conn()
        c.ehlo(helo)
        if auth:
            plain = base64.b64encode(f"\0{auth[0]}\0{auth[1]}".encode()).decode()
            c.expect(f"AUTH PLAIN {plain}", 235)
    c.expect(f"MAIL FROM:<{mail_from}>", 250)
    for rc in rcpts:
        c.expect(f"RCPT TO:<{rc}>", 250)
    c.expect("DATA", 354)
    c.send(dot_stuff(msg) + b".\r\n")
    return c, c.reply(timeout=20)


def deliver(r, mail_from, msg, tok, rcpts=(ALICE,), **kw):
    """Send, assert 250, wait for the delivered file(s) carrying tok;
    returns (raw bytes of the first, conn, paths)."""
    c, rep = transact(r, mail_from, list(rcpts), msg, **kw)
    c.check(rep, 250)
    paths = r.find_token(tok, timeout=10)
    assert paths, (f"{tok} not delivered\n{c.transcript()}\n"
                   f"log:\n{r.log()[-3000:]}")
    return paths[0].read_bytes(), c, paths


def header_lines(raw):
    lines, _ = split_headers(raw)
    return lines


def fields(raw, name):
    """Unfolded values of every header field called name."""
    pre = name.lower() + ":"
    return [ln.split(":", 1)[1].strip() for ln in header_lines(raw)
            if ln.lower().startswith(pre)]


def crlf(raw):
    return raw if b"\r\n" in raw else raw.replace(b"\n", b"\r\n")


def evidence(r, raw, conn=None):
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("utf-8", "replace")
    out = f"delivered header:\n{head}\n"
    if conn is not None:
        out += conn.transcript() + "\n"
    ma = [ln for ln in r.log().splitlines()
          if "event=msgauth" in ln or "event=dkim" in ln or "reason=dmarc" in ln]
    return out + "log:\n" + "\n".join(ma[-8:])


# -- Authentication-Results parsing (RFC 8601)


def _walk(value):
    """Yield (char, depth) outside quoted strings' escapes; comments nest."""
    depth, esc, quoted = 0, False, False
    for ch in value:
        if esc:
            esc = False
            yield ch, depth, True
            continue
        if ch == "\\" and (depth or quoted):
            esc = True
            continue
        if ch == '"' and depth == 0:
            quoted = not quoted
            yield ch, depth, True
            continue
        if quoted:
            yield ch, depth, True
            continue
        if ch == "(":
            depth += 1
            yield ch, depth, False
            continue
        if ch == ")":
            depth -= 1
            yield ch, depth + 1, False
            continue
        yield ch, depth, False


def parse_ar(value):
    """(authserv-id, [(method, result, {prop: value}, comment)])."""
    parts = []
    comments = [""]
    plain = [""]
    for ch, depth, lit in _walk(value):
        if ch == ";" and depth == 0 and not lit:
            parts.append((plain[-1].strip(), comments[-1].strip()))
            plain.append("")
            comments.append("")
            continue
        if depth:
            comments[-1] += ch
        else:
            plain[-1] += ch
    parts.append((plain[-1].strip(), comments[-1].strip()))
    servid = parts[0][0].split()[0] if parts[0][0] else ""
    res = []
    for text, comment in parts[1:]:
        toks = text.split()
        if not toks:
            continue
        method, _, result = toks[0].partition("=")
        props = {}
        for t in toks[1:]:
            k, _, v = t.partition("=")
            props[k.lower()] = v.strip('"')
        res.append((method.lower(), result.lower(), props, comment))
    return servid, res


def our_ar(raw, servid=OUR_ID):
    """The one Authentication-Results field with our authserv-id, parsed:
    {method: [(result, props, comment)]}."""
    mine = [v for v in fields(raw, "Authentication-Results")
            if parse_ar(v)[0].lower() == servid.lower()]
    assert len(mine) == 1, f"{len(mine)} AR fields for {servid}:\n" + \
        "\n".join(fields(raw, "Authentication-Results"))
    out = {}
    for method, result, props, comment in parse_ar(mine[0])[1]:
        out.setdefault(method, []).append((result, props, comment))
    return out


def sig_b(signed, d, s):
    """The b= of the DKIM-Signature with d= and s= in signed."""
    for v in fields(signed, "DKIM-Signature"):
        tags = {}
        for t in v.split(";"):
            k, _, val = t.partition("=")
            tags[k.strip()] = re.sub(r"\s+", "", val)
        if tags.get("d") == d and tags.get("s") == s:
            return tags["b"]
    raise AssertionError(f"no signature d={d} s={s}")


def check_top(raw, servid=OUR_ID, ev=""):
    """Return-Path, Delivered-To, Authentication-Results, Received."""
    names = [ln.split(":", 1)[0].lower() for ln in header_lines(raw)[:4]]
    assert names == ["return-path", "delivered-to", "authentication-results",
                     "received"], f"{names}\n{ev}"
    assert parse_ar(fields(raw, "Authentication-Results")[0])[0] == servid


# --------------------------------------------------------------------------
# inbound: Authentication-Results


def test_spf_pass(inbound):
    tok = token("spfpass")
    raw, c, _ = deliver(inbound, "bounce@spfpass.example",
                        make_msg(tok, "joe@spfpass.example"), tok)
    ev = evidence(inbound, raw, c)
    check_top(raw)
    ar = our_ar(raw)
    assert [(x[0], x[1].get("smtp.mailfrom")) for x in ar["spf"]] == \
        [("pass", "bounce@spfpass.example")], ev
    assert [x[0] for x in ar["dkim"]] == ["none"], ev
    assert ar["dmarc"][0][0] == "pass", ev
    assert ar["dmarc"][0][1].get("header.from") == "spfpass.example", ev
    assert ar["dmarc"][0][1].get("policy.dmarc") == "none", ev


def test_spf_fail(inbound):
    tok = token("spffail")
    raw, c, _ = deliver(inbound, "joe@spffail.example",
                        make_msg(tok, "joe@spffail.example"), tok)
    ev = evidence(inbound, raw, c)
    check_top(raw)
    ar = our_ar(raw)
    assert [(x[0], x[1].get("smtp.mailfrom")) for x in ar["spf"]] == \
        [("fail", "joe@spffail.example")], ev


def test_spf_none(inbound):
    tok = token("spfnone")
    raw, c, _ = deliver(inbound, "joe@nospf.example",
                        make_msg(tok, "joe@nospf.example"), tok)
    ev = evidence(inbound, raw, c)
    check_top(raw)
    ar = our_ar(raw)
    assert [(x[0], x[1].get("smtp.mailfrom")) for x in ar["spf"]] == \
        [("none", "joe@nospf.example")], ev
    # no policy published anywhere for nospf.example
    assert [x[0] for x in ar["dmarc"]] == ["none"], ev


def test_null_sender_checks_helo(inbound):
    tok = token("helo")
    raw, c, _ = deliver(inbound, "", make_msg(tok, "mailer@helo.example"), tok,
                        helo="helo.example")
    ev = evidence(inbound, raw, c)
    check_top(raw)
    ar = our_ar(raw)
    assert [(x[0], x[1].get("smtp.helo")) for x in ar["spf"]] == \
        [("pass", "helo.example")], ev
    assert ar["dmarc"][0][0] == "pass", ev


@pytest.mark.parametrize("which", [["in-rsa"], ["in-ed"], ["in-rsa", "in-ed"]],
                         ids=["rsa", "ed25519", "both"])
def test_dkim_pass_dkimpy_signed(inbound, keys, which):
    tok = token("dkimpass")
    signed = make_msg(tok, "joe@dkim.example")
    for name in which:
        signed = dkimpy_sign(keys[name], signed)
    raw, c, _ = deliver(inbound, "joe@dkim.example", signed, tok)
    ev = evidence(inbound, raw, c)
    check_top(raw)
    ar = our_ar(raw)
    assert ar["spf"][0][0] == "fail", ev         # only DKIM can pass DMARC
    got = sorted((x[0], x[1].get("header.d"), x[1].get("header.s"))
                 for x in ar["dkim"])
    want = sorted(("pass", "dkim.example", keys[n].selector) for n in which)
    assert got == want, ev
    for result, props, _ in ar["dkim"]:
        b = sig_b(signed, "dkim.example", props["header.s"])
        assert props.get("header.b") and b.startswith(props["header.b"]), ev
        assert len(props["header.b"]) >= 8, ev
    assert ar["dmarc"][0][0] == "pass", ev
    assert ar["dmarc"][0][1].get("header.from") == "dkim.example", ev
    # the original signatures are delivered untouched: dkimpy still agrees
    assert dkim.verify(crlf(raw), dnsfunc=dnsfunc_for(keys)), ev


@pytest.mark.parametrize("how", ["body", "signed-header"])
def test_dkim_fail_tampered(inbound, keys, how):
    tok = token("dkimfail")
    signed = dkimpy_sign(keys["in-rsa"], make_msg(tok, "joe@dkim.example"))
    if how == "body":
        bad = signed.replace(b"hungry", b"HUNGRY")
    else:
        bad = signed.replace(f"Subject: {tok}".encode(),
                             f"Subject: {tok} (edited)".encode())
    assert bad != signed
    raw, c, _ = deliver(inbound, "joe@dkim.example", bad, tok)
    ev = evidence(inbound, raw, c)
    check_top(raw)
    ar = our_ar(raw)
    got = [(x[0], x[1].get("header.d"), x[1].get("header.s")) for x in ar["dkim"]]
    assert got == [("fail", "dkim.example", "sel")], ev
    assert ar["dmarc"][0][0] == "fail", ev
    assert ar["dmarc"][0][1].get("header.from") == "dkim.example", ev
    assert ar["dmarc"][0][1].get("policy.dmarc") == "reject", ev


def test_dmarc_uses_header_from_not_envelope(inbound):
    # SPF passes for the envelope domain, but From: is strict.example
    # (p=reject, no aligned identifier): DMARC fails for header.from
    tok = token("unaligned")
    raw, c, _ = deliver(inbound, "bounce@spfpass.example",
                        make_msg(tok, "ceo@strict.example"), tok)
    ev = evidence(inbound, raw, c)
    ar = our_ar(raw)
    assert ar["spf"][0][0] == "pass", ev
    assert [(x[0], x[1].get("header.from"), x[1].get("policy.dmarc"))
            for x in ar["dmarc"]] == [("fail", "strict.example", "reject")], ev


def test_dmarc_failures_delivered_without_enforcement(inbound):
    # dmarc_enforce defaults to no: p=reject and p=quarantine failures are
    # delivered to the inbox, marked in Authentication-Results
    for dom, policy in (("spffail.example", "reject"),
                        ("quar.example", "quarantine")):
        tok = token("noenforce")
        c, rep = transact(inbound, f"x@{dom}", [ALICE], make_msg(tok, f"x@{dom}"))
        c.check(rep, 250)
        paths = inbound.find_token(tok, timeout=10)
        assert paths, f"{tok} not delivered\n{c.transcript()}"
        assert all(p.parent == inbound.maildir("example.test", "alice") / "new"
                   for p in paths), paths
        raw = paths[0].read_bytes()
        ar = our_ar(raw)
        assert [(x[0], x[1].get("policy.dmarc")) for x in ar["dmarc"]] == \
            [("fail", policy)], evidence(inbound, raw, c)


def test_forged_ar_removed(inbound):
    tok = token("forged")
    forged = ("Authentication-Results: mx.test; spf=pass smtp.mailfrom=forged\r\n"
              "Authentication-Results: MX.TEST;\r\n\tdkim=pass header.d=forged.example\r\n"
              "Authentication-Results: mx.test (comment); dmarc=pass\r\n"
              "Authentication-Results: other.example; spf=pass smtp.mailfrom=kept\r\n")
    raw, c, _ = deliver(inbound, "joe@spffail.example",
                        make_msg(tok, "joe@spffail.example", extra=forged), tok)
    ev = evidence(inbound, raw, c)
    check_top(raw)
    ars = fields(raw, "Authentication-Results")
    assert len(ars) == 2, ev
    assert parse_ar(ars[0])[0] == OUR_ID, ev
    assert "forged" not in ars[0], ev
    assert ars[1] == "other.example; spf=pass smtp.mailfrom=kept", ev
    ar = our_ar(raw)
    assert ar["spf"][0][0] == "fail" and ar["dmarc"][0][0] == "fail", ev
    assert b"forged.example" not in raw, ev


def test_authenticated_mail_signed_not_checked(inbound, keys):
    tok = token("authsign")
    msg = make_msg(tok, ALICE, to=BOB)
    raw, c, paths = deliver(inbound, ALICE, msg, tok, rcpts=(BOB,),
                            auth=(ALICE, ALICE_PW))
    ev = evidence(inbound, raw, c)
    assert fields(raw, "Authentication-Results") == [], ev
    sigs = fields(raw, "DKIM-Signature")
    assert len(sigs) == 1 and "d=example.test" in sigs[0] and \
        "s=sub" in sigs[0], ev
    assert dkim.verify(crlf(raw), dnsfunc=dnsfunc_for(keys)), ev


def test_relais_signed_mail_verifies_in_relais(signer, inbound, keys):
    # a copy signed by the signer daemon, fed to the inbound daemon
    tok = token("roundtrip")
    c, rep = transact(signer, "joe@rsa.example", [ALICE],
                      make_msg(tok, "joe@rsa.example"))
    c.check(rep, 250)
    paths = signer.find_token(tok, timeout=10)
    assert paths, c.transcript()
    signed = crlf(paths[0].read_bytes())
    # drop the delivery fields the signer's Maildir copy gained on top
    lines = signed.split(b"\r\n")
    while lines[0].lower().startswith((b"return-path:", b"delivered-to:")):
        lines.pop(0)
    signed = b"\r\n".join(lines)
    raw, c2, _ = deliver(inbound, "joe@rsa.example", signed, tok)
    ev = evidence(inbound, raw, c2)
    ar = our_ar(raw)
    assert [(x[0], x[1].get("header.d"), x[1].get("header.s"))
            for x in ar["dkim"]] == [("pass", "rsa.example", "rsa")], ev
    assert ar["dmarc"][0][0] == "pass", ev


# --------------------------------------------------------------------------
# enforcement


def test_enforce_reject_550(enforcing):
    tok = token("reject")
    c, rep = transact(enforcing, "joe@spffail.example", [ALICE],
                      make_msg(tok, "joe@spffail.example"))
    c.check(rep, 550, "5.7.1")
    # the session goes on: a passing message in the same session is taken
    tok2 = token("afterreject")
    c, rep = transact(enforcing, "joe@spfpass.example", [ALICE],
                      make_msg(tok2, "joe@spfpass.example"), conn=c)
    c.check(rep, 250)
    assert enforcing.find_token(tok2, timeout=10), c.transcript()
    assert enforcing.find_token(tok) == [], c.transcript()
    enforcing.wait_log(r"event=smtp\.refused .*reason=dmarc")
    files = [p for p in enforcing.data_dir.rglob("*")
             if p.is_file() and tok.encode() in p.read_bytes()]
    assert files == [], f"rejected message stored: {files}"


def test_enforce_quarantine_to_junk(enforcing):
    tok = token("quarantine")
    c, rep = transact(enforcing, "joe@quar.example", [ALICE, BOB],
                      make_msg(tok, "joe@quar.example"))
    c.check(rep, 250)
    wait_until(lambda: len(enforcing.find_token(tok)) >= 2, 10,
               what="two quarantined copies")
    paths = enforcing.find_token(tok)
    want = {enforcing.maildir("example.test", u) / ".Junk" / "new"
            for u in ("alice", "bob")}
    assert {p.parent for p in paths} == want, (paths, c.transcript())
    raw = paths[0].read_bytes()
    ev = evidence(enforcing, raw, c)
    check_top(raw, ENFORCING_ID)
    ar = our_ar(raw, ENFORCING_ID)
    assert [(x[0], x[1].get("header.from"), x[1].get("policy.dmarc"))
            for x in ar["dmarc"]] == [("fail", "quar.example", "quarantine")], ev


def test_enforce_pass_goes_to_inbox(enforcing):
    tok = token("enfpass")
    raw, c, paths = deliver(enforcing, "joe@spfpass.example",
                            make_msg(tok, "joe@spfpass.example"), tok)
    assert [p.parent for p in paths] == \
        [enforcing.maildir("example.test", "alice") / "new"], paths
    assert our_ar(raw, ENFORCING_ID)["dmarc"][0][0] == "pass", \
        evidence(enforcing, raw, c)


def test_custom_authserv_id_strips_only_its_own(enforcing):
    tok = token("authserv")
    extra = (f"Authentication-Results: {ENFORCING_ID}; dkim=pass header.d=forged.example\r\n"
             f"Authentication-Results: {OUR_ID}; spf=pass smtp.mailfrom=kept\r\n")
    raw, c, _ = deliver(enforcing, "joe@spfpass.example",
                        make_msg(tok, "joe@spfpass.example", extra=extra), tok)
    ev = evidence(enforcing, raw, c)
    check_top(raw, ENFORCING_ID)
    ars = fields(raw, "Authentication-Results")
    assert [parse_ar(v)[0] for v in ars] == [ENFORCING_ID, OUR_ID], ev
    assert b"forged.example" not in raw, ev
    assert ars[1] == f"{OUR_ID}; spf=pass smtp.mailfrom=kept", ev


# --------------------------------------------------------------------------
# signing


def signed_copy(signer, frm, tok, to=ALICE):
    raw, c, _ = deliver(signer, frm, make_msg(tok, frm, to=to), tok, rcpts=(to,))
    return crlf(raw), c


def sig_tags(value):
    tags = {}
    for t in value.split(";"):
        k, _, v = t.partition("=")
        if k.strip():
            tags[k.strip()] = re.sub(r"\s+", "", v)
    return tags


def check_signature(value, d, s, a):
    t = sig_tags(value)
    assert (t.get("d"), t.get("s"), t.get("a"), t.get("c")) == \
        (d, s, a, "relaxed/relaxed"), value
    h = [x.strip().lower() for x in t["h"].split(":")]
    assert h.count("from") >= 2, f"From not over-signed: {value}"
    for name in ("to", "subject", "date", "message-id", "mime-version",
                 "content-type"):
        assert name in h, f"{name} not signed: {value}"


@pytest.mark.parametrize("dom,sel,alg", [
    ("rsa.example", "rsa", "rsa-sha256"),
    ("ed.example", "ed", "ed25519-sha256"),
], ids=["rsa", "ed25519"])
def test_trusted_mail_signed(signer, keys, dom, sel, alg):
    tok = token("sign")
    raw, c = signed_copy(signer, f"joe@{dom}", tok)
    ev = evidence(signer, raw, c)
    assert fields(raw, "Authentication-Results") == [], ev   # not checked
    sigs = fields(raw, "DKIM-Signature")
    assert len(sigs) == 1, ev
    check_signature(sigs[0], dom, sel, alg)
    assert dkim.verify(raw, dnsfunc=dnsfunc_for(keys)), ev
    # and a tampered copy does not verify
    assert not dkim.verify(raw.replace(b"hungry", b"HUNGRY"),
                           dnsfunc=dnsfunc_for(keys))


def test_dual_signing(signer, keys):
    tok = token("dual")
    raw, c = signed_copy(signer, "joe@dual.example", tok)
    ev = evidence(signer, raw, c)
    sigs = fields(raw, "DKIM-Signature")
    assert len(sigs) == 2, ev
    got = sorted((sig_tags(v)["s"], sig_tags(v)["a"]) for v in sigs)
    assert got == [("e1", "ed25519-sha256"), ("r1", "rsa-sha256")], ev
    for v in sigs:
        t = sig_tags(v)
        check_signature(v, "dual.example", t["s"], t["a"])
    d = dkim.DKIM(raw)
    assert d.verify(idx=0, dnsfunc=dnsfunc_for(keys)), ev
    assert d.verify(idx=1, dnsfunc=dnsfunc_for(keys)), ev


def test_no_section_no_signature(signer):
    tok = token("nosig")
    # spffail.example would fail every check, but trusted mail is not checked
    raw, c = signed_copy(signer, "joe@spffail.example", tok)
    ev = evidence(signer, raw, c)
    assert fields(raw, "DKIM-Signature") == [], ev
    assert fields(raw, "Authentication-Results") == [], ev


def test_from_domain_case_insensitive(signer, keys):
    tok = token("case")
    raw, c = signed_copy(signer, "Joe@RSA.Example", tok)
    ev = evidence(signer, raw, c)
    sigs = fields(raw, "DKIM-Signature")
    assert len(sigs) == 1, ev
    assert sig_tags(sigs[0])["d"].lower() == "rsa.example", ev
    assert dkim.verify(raw, dnsfunc=dnsfunc_for(keys)), ev


def test_relayed_copy_signed(signer, capture, keys):
    tok = token("relay")
    to = "bob@remote.example"
    c, rep = transact(signer, "joe@rsa.example", [to],
                      make_msg(tok, "joe@rsa.example", to=to))
    c.check(rep, 250)

    def got():
        return [t for t in capture.delivered_to(to) if tok.encode() in (t.data or b"")]
    txs = wait_until(got, 15, what="the relayed copy at the capture server")
    data = txs[0].data
    ev = (data.split(b"\r\n\r\n")[0].decode("utf-8", "replace") + "\n"
          + c.transcript())
    sigs = fields(data, "DKIM-Signature")
    assert len(sigs) == 1, ev
    check_signature(sigs[0], "rsa.example", "rsa", "rsa-sha256")
    assert fields(data, "Authentication-Results") == [], ev
    assert dkim.verify(data, dnsfunc=dnsfunc_for(keys)), ev


# --------------------------------------------------------------------------
# the paths less travelled: bodies spilled to disk (over 128 KiB), BDAT,
# authserv-id written with a version or comments


BIG_BODY = "".join(f"line {i:06d} of a large message, hungry yet?\r\n"
                   for i in range(6000))          # ~300 KB, spills to disk


def body_of(raw):
    return crlf(raw).split(b"\r\n\r\n", 1)[1]


def test_big_message_checked_and_stripped(inbound, keys):
    tok = token("big")
    forged = "Authentication-Results: mx.test; dkim=pass header.d=forged.example\r\n"
    signed = dkimpy_sign(keys["in-rsa"], make_msg(
        tok, "joe@dkim.example", extra=forged, body=BIG_BODY))
    raw, c, _ = deliver(inbound, "joe@dkim.example", signed, tok)
    ev = evidence(inbound, raw, c)
    check_top(raw, ev=ev)
    assert b"forged.example" not in raw, ev
    ar = our_ar(raw)
    assert [(x[0], x[1].get("header.d")) for x in ar["dkim"]] == \
        [("pass", "dkim.example")], ev
    assert ar["dmarc"][0][0] == "pass", ev
    assert body_of(raw) == BIG_BODY.encode(), "body changed"


def test_big_message_signed(signer, keys):
    tok = token("bigsign")
    frm = "joe@ed.example"
    raw, c, _ = deliver(signer, frm, make_msg(tok, frm, body=BIG_BODY), tok)
    raw = crlf(raw)
    ev = evidence(signer, raw, c)
    assert len(fields(raw, "DKIM-Signature")) == 1, ev
    assert dkim.verify(raw, dnsfunc=dnsfunc_for(keys)), ev
    assert body_of(raw) == BIG_BODY.encode()


def test_big_message_dmarc_reject_enforced(enforcing):
    # padding a forged message past the in-memory limit must not get it
    # past DMARC enforcement
    tok = token("bigreject")
    c, rep = transact(enforcing, "joe@spffail.example", [ALICE],
                      make_msg(tok, "joe@spffail.example", body=BIG_BODY))
    ma = [ln for ln in enforcing.log().splitlines()
          if "event=msgauth" in ln or "reason=dmarc" in ln]
    assert rep.code == 550 and rep.enhanced == "5.7.1", \
        f"got {rep}\n{c.transcript()[-600:]}\nlog:\n" + "\n".join(ma[-3:])


def bdat(r, mail_from, rcpt, msg, auth=None):
    c = r.conn()
    c.ehlo()
    c.expect(f"MAIL FROM:<{mail_from}>", 250)
    c.expect(f"RCPT TO:<{rcpt}>", 250)
    half = len(msg) // 2
    c.send(f"BDAT {half}\r\n".encode() + msg[:half])
    c.expect(None, 250)
    c.send(f"BDAT {len(msg) - half} LAST\r\n".encode() + msg[half:])
    return c, c.reply(timeout=20)


def test_bdat_inbound_checked(inbound, keys):
    tok = token("bdatin")
    signed = dkimpy_sign(keys["in-ed"], make_msg(tok, "joe@dkim.example"))
    c, rep = bdat(inbound, "joe@dkim.example", ALICE, signed)
    c.check(rep, 250)
    paths = inbound.find_token(tok, timeout=10)
    assert paths, c.transcript()
    raw = paths[0].read_bytes()
    ev = evidence(inbound, raw, c)
    check_top(raw)
    ar = our_ar(raw)
    assert [(x[0], x[1].get("header.s")) for x in ar["dkim"]] == \
        [("pass", "ed")], ev
    assert ar["dmarc"][0][0] == "pass", ev


def test_bdat_trusted_signed(signer, keys):
    tok = token("bdatsign")
    c, rep = bdat(signer, "joe@rsa.example", ALICE,
                  make_msg(tok, "joe@rsa.example"))
    c.check(rep, 250)
    paths = signer.find_token(tok, timeout=10)
    assert paths, c.transcript()
    raw = crlf(paths[0].read_bytes())
    assert len(fields(raw, "DKIM-Signature")) == 1, evidence(signer, raw, c)
    assert dkim.verify(raw, dnsfunc=dnsfunc_for(keys)), evidence(signer, raw, c)


@pytest.mark.parametrize("forged", [
    "mx.test 1; spf=pass smtp.mailfrom=forged@x",        # with a version
    "(comment) mx.test; spf=pass smtp.mailfrom=forged@x",  # CFWS first
    "mx.test(c); spf=pass smtp.mailfrom=forged@x",
    "  mx.test  ;\r\n spf=pass smtp.mailfrom=forged@x",
], ids=["version", "leading-comment", "trailing-comment", "folded"])
def test_forged_ar_variants_removed(inbound, forged):
    tok = token("forgedv")
    extra = f"Authentication-Results: {forged}\r\n"
    raw, c, _ = deliver(inbound, "joe@spffail.example",
                        make_msg(tok, "joe@spffail.example", extra=extra), tok)
    ev = evidence(inbound, raw, c)
    assert b"forged@x" not in raw, ev
    assert len(fields(raw, "Authentication-Results")) == 1, ev
