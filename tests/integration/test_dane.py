"""DANE for outbound SMTP (issue 14, RFC 7672): what relais does with a
DNSSEC-validated MX and its TLSA records.

relais resolves through unbound serving zones signed for the test
(dnssec.py) and validates with the zones' DS records ([dns]
trust_anchor); every MX host is a capture server (capture_smtp.py) on its
own loopback address, offering STARTTLS with a certificate made for the
case (tlscerts.py), on the port [relay] outbound_port names.

- secure MX, TLSA 3 1 1 of the peer's key: delivered over TLS, even
  though the certificate is self-signed, expired and names another host
  (DANE-EE ignores all of that);
- secure MX, a TLSA record that matches nothing: the peer never sees MAIL,
  the message waits with "TLSA mismatch";
- an unsigned zone (even one publishing a wrong TLSA): opportunistic TLS,
  delivered;
- a bogus MX answer: nothing is tried, the message waits with a DNSSEC
  reason;
- secure MX, no TLSA for its host (secure NODATA): delivered;
- secure MX with usable TLSA, peer without STARTTLS: never in clear, the
  message waits with a STARTTLS reason;
- DANE-TA 2 0 1 of a test CA: delivered when the certificate names the MX
  host, not when it names another;
- [tls_policy] DOMAIN = dane on an unsigned zone: the message waits.
"""

import re

import pytest

from capture_smtp import CaptureSMTP, shared_port
from conftest import tls_listeners, wait_until
from dnssec import DNSSECServer
from outbound_util import msg_text, queue_list, rcpt_rows, submit
from tlscerts import CertMaker, tlsa_201, tlsa_311


class Env:
    """The module's certificates and zones; per case: its MX address,
    zone and peer certificate (crt, key) or None (no STARTTLS)."""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("dane")
    mk = CertMaker(root / "certs")
    e = Env()
    e.ee = mk.self_signed("unrelated.invalid", expired=True)
    e.decoy = mk.self_signed("decoy.invalid")
    e.wrong = mk.self_signed("mx.wrong.test")
    e.plain = mk.self_signed("mx.plain.test")
    e.bogus = mk.self_signed("mx.forged.test")
    e.notlsa = mk.self_signed("mx.notlsa.test")
    e.ca = mk.ca("relais DANE test CA")
    e.ta = mk.issue(e.ca, "mx.ta.test")
    e.taname = mk.issue(e.ca, "mx.elsewhere.test")
    e.req = mk.self_signed("mx.required.test")

    def z(ip, *extra):
        return ["@ MX 10 mx", f"mx A {ip}", *extra]

    e.hosts = {
        "ee.test": "127.0.0.2", "wrong.test": "127.0.0.3",
        "plain.test": "127.0.0.4", "forged.test": "127.0.0.5",
        "notlsa.test": "127.0.0.6", "cleartext.test": "127.0.0.7",
        "ta.test": "127.0.0.8", "tawrong.test": "127.0.0.9",
        "required.test": "127.0.0.10",
    }
    h = e.hosts
    zones = {
        "ee.test": z(h["ee.test"], f"_25._tcp.mx TLSA {tlsa_311(e.ee)}"),
        "wrong.test": z(h["wrong.test"],
                        f"_25._tcp.mx TLSA {tlsa_311(e.decoy)}"),
        # unsigned: its (wrong) TLSA record must not count
        "plain.test": {"records": z(h["plain.test"],
                                    f"_25._tcp.mx TLSA {tlsa_311(e.decoy)}"),
                       "signed": False},
        "forged.test": {"records": z(h["forged.test"],
                                    f"_25._tcp.mx TLSA {tlsa_311(e.bogus)}"),
                       "bogus": [("@", "MX")]},
        # the TLSA name exists (a TXT record): secure NODATA for TLSA
        "notlsa.test": z(h["notlsa.test"], '_25._tcp.mx TXT "no tlsa"'),
        "cleartext.test": z(h["cleartext.test"],
                             f"_25._tcp.mx TLSA {tlsa_311(e.decoy)}"),
        "ta.test": z(h["ta.test"], f"_25._tcp.mx TLSA {tlsa_201(e.ca)}"),
        "tawrong.test": z(h["tawrong.test"],
                         f"_25._tcp.mx TLSA {tlsa_201(e.ca)}"),
        "required.test": {"records": z(h["required.test"]), "signed": False},
    }
    e.dns = DNSSECServer(root / "dns", zones).start()
    yield e
    e.dns.stop()


@pytest.fixture
def case(env, relais_factory):
    """case(domain, cert, policy=None) -> (relais, peer): a started
    capture server on the domain's MX address (STARTTLS with cert, a
    Cert, or none when cert is None) and a started relais resolving
    through the signed zones."""
    made = []

    def make(domain, cert, policy=None, requiretls=False, listen_tls=None):
        host = env.hosts[domain]
        port = shared_port([host])
        tls = (cert.fullchain, cert.key) if cert is not None else None
        peer = CaptureSMTP(host, port, name=f"mx.{domain}", tls=tls,
                           requiretls=requiretls).start()
        made.append(peer)
        over = {
            "dns": {"resolver": env.dns.address, "timeout": "2s",
                    "trust_anchor": str(env.dns.trust_anchor)},
            "relay": {"trusted_networks": "127.0.0.0/8",
                      "outbound_port": str(port),
                      "retry_min": "1s", "retry_max": "2s"},
        }
        if policy is not None:
            over["tls_policy"] = policy
        r = relais_factory(overrides=over)
        if listen_tls is not None:
            # the mx listener offers STARTTLS (REQUIRETLS needs it)
            over.update(tls_listeners(r, listen_tls))
            over["listener mx"] = {"tls": "optional"}
            r.write_config(overrides=over)
        return r.start(), peer

    yield make
    for p in made:
        p.stop()


def send(r, domain, token):
    rcpt = f"bob@{domain}"
    submit(r, "alice@example.test", [rcpt], msg_text(token, to=rcpt))
    return rcpt


def delivered(r, peer, token, timeout=15):
    """The transaction that carried token (waits for it)."""
    def got():
        for t in peer.messages:
            if token.encode() in (t.data or b""):
                return t
        return None
    try:
        return wait_until(got, timeout, interval=0.1,
                          what=f"{token} at {peer.host}")
    except AssertionError:
        raise AssertionError(f"{token} not delivered to {peer.host}\n"
                             f"{queue_list(r)[1]}\n{peer.transcript()}\n"
                             f"log tail:\n{r.log()[-3000:]}")


def waits_with(r, rcpt, pattern, attempts=2, timeout=20):
    """Wait until rcpt's queue row has had attempts tries and its last
    reason matches pattern (case-insensitive); the row."""
    rx = re.compile(pattern, re.I)

    def row():
        rows = rcpt_rows(r, rcpt)
        if rows and rows[0]["attempts"] >= attempts and \
                rx.search(rows[0]["last"]):
            return rows[0]
        return None
    try:
        got = wait_until(row, timeout, interval=0.2,
                         what=f"{rcpt} deferred with /{pattern}/")
    except AssertionError:
        raise AssertionError(f"{rcpt}: no deferral matching /{pattern}/ "
                             f"after {attempts} attempts\n{queue_list(r)[1]}"
                             f"\nlog tail:\n{r.log()[-3000:]}")
    assert got["status"] not in ("bounced", "delivered", "sent"), got
    return got


def no_mail(peer):
    """The peer never got a MAIL command (nor any message)."""
    for s in peer.sessions:
        assert "MAIL" not in s.verbs(), peer.transcript()
    assert not peer.transactions, peer.transcript()


def test_dane_ee_match_expired_self_signed_delivered(env, case, unique):
    r, peer = case("ee.test", env.ee)
    tok = unique("ee")
    send(r, "ee.test", tok)
    t = delivered(r, peer, tok)
    assert t.tls, "delivered without TLS"


def test_dane_tlsa_mismatch_never_delivered(env, case, unique):
    r, peer = case("wrong.test", env.wrong)
    tok = unique("wrong")
    rcpt = send(r, "wrong.test", tok)
    waits_with(r, rcpt, r"TLSA mismatch")
    no_mail(peer)
    assert peer.connections >= 1      # it was tried, over TLS, and refused
    out = r.cli("queue", "show", rcpt_rows(r, rcpt)[0]["qid"], "-c",
                str(r.conf_path))
    assert "TLSA mismatch" in out.stdout, out.stdout + out.stderr


def test_insecure_zone_opportunistic(env, case, unique):
    r, peer = case("plain.test", env.plain)
    tok = unique("plain")
    send(r, "plain.test", tok)
    delivered(r, peer, tok)


def test_bogus_mx_deferred(env, case, unique):
    r, peer = case("forged.test", env.bogus)
    tok = unique("forged")
    rcpt = send(r, "forged.test", tok)
    waits_with(r, rcpt, r"bogus|DNSSEC")       # the domain says neither
    assert peer.connections == 0, peer.transcript()
    r.wait_log(r"event=dns\.bogus name=forged\.test type=MX", 5)


def test_secure_mx_without_tlsa_delivered(env, case, unique):
    r, peer = case("notlsa.test", env.notlsa)
    tok = unique("notlsa")
    send(r, "notlsa.test", tok)
    delivered(r, peer, tok)


def test_usable_tlsa_requires_starttls(env, case, unique):
    r, peer = case("cleartext.test", None)
    tok = unique("cleartext")
    rcpt = send(r, "cleartext.test", tok)
    waits_with(r, rcpt, r"STARTTLS")
    no_mail(peer)


def test_dane_ta_right_name_delivered(env, case, unique):
    r, peer = case("ta.test", env.ta)
    tok = unique("ta")
    send(r, "ta.test", tok)
    t = delivered(r, peer, tok)
    assert t.tls


def test_dane_ta_wrong_name_not_delivered(env, case, unique):
    r, peer = case("tawrong.test", env.taname)
    tok = unique("tawrong")
    rcpt = send(r, "tawrong.test", tok)
    waits_with(r, rcpt, r"TLSA mismatch")
    no_mail(peer)


def test_policy_dane_on_insecure_zone_deferred(env, case, unique):
    r, peer = case("required.test", env.req,
                   policy={"required.test": "dane"})
    tok = unique("required")
    rcpt = send(r, "required.test", tok)
    waits_with(r, rcpt, r"DANE")
    no_mail(peer)


def test_requiretls_over_dane(env, case, tls_files, unique):
    """RFC 8689: a REQUIRETLS message goes over DANE-authenticated TLS to a
    peer that offers REQUIRETLS, with the parameter; a DANE peer without
    REQUIRETLS gets nothing and the message bounces with 5.7.30."""
    from test_requiretls import send_tls

    r, peer = case("ee.test", env.ee, requiretls=True, listen_tls=tls_files)
    tok = unique("rtls")
    send_tls(r, "alice@example.test", ["bob@ee.test"],
             msg_text(tok, to="bob@ee.test"))
    t = delivered(r, peer, tok)
    assert t.tls and "REQUIRETLS" in t.mail_params, t
    r2, peer2 = case("ta.test", env.ta, listen_tls=tls_files)
    tok2 = unique("rtls-refused")
    send_tls(r2, "alice@example.test", ["bob@ta.test"],
             msg_text(tok2, to="bob@ta.test"))
    wait_until(lambda: [e for e in r2.log_events("bounced")
                        if e.get("status") == "5.7.30"], 20,
               what="a 5.7.30 bounce")
    no_mail(peer2)
