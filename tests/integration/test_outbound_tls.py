"""
Outbound TLS and the smarthost (issue 3, parts 1 and 2): STARTTLS per
[relay] outbound_tls (may / encrypt / none), a TLS failure moving on to the
next MX, the smarthost with AUTH PLAIN / LOGIN over STARTTLS, and no
credentials in clear text unless smarthost_tls = none.
"""

from conftest import wait_until
from outbound_util import *  # noqa: F401,F403 (fixtures)

SENDER = "alice@example.test"


def one_mx(dns, domain="remote.example", host="127.0.0.2"):
    dns.set(domain, {"MX": [(10, f"mx.{domain}")]})
    dns.set(f"mx.{domain}", {"A": [host]})


def deferred(r, qid):
    return [e for e in r.log_events("deferred") if e.get("id") == qid]


def tls_events(r):
    return r.log_events("remote.tls")


# ---------------------------------------------------------------- STARTTLS


def test_starttls_may_uses_tls_when_offered(dns, peers, outbound, unique, tls_files):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example", tls=tls_files["main"])
    r = outbound(relay={"outbound_tls": "may"})
    tok = unique("may")
    submit(r, SENDER, ["bob@remote.example"], msg_text(tok))
    (t,) = peer.wait_messages(1)
    assert t.tls, "message sent in clear though the peer offers STARTTLS"
    s = t.session
    verbs = s.verbs()
    assert verbs[:3] == ["EHLO", "STARTTLS", "EHLO"], verbs
    assert s.tls_version and s.tls_version.startswith("TLSv1"), s.tls_version
    assert tok.encode() in t.data
    ev = wait_until(lambda: tls_events(r), 5, what="event=remote.tls")
    assert "127.0.0.2" in ev[0].get("peer", ""), ev[0]
    wait_queue_empty(r)


def test_starttls_may_clear_text_when_not_offered(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")  # no STARTTLS
    r = outbound(relay={"outbound_tls": "may"})
    submit(r, SENDER, ["bob@remote.example"], msg_text(unique("clear")))
    (t,) = peer.wait_messages(1)
    assert not t.tls and "STARTTLS" not in t.session.verbs()


def test_outbound_tls_none_never_starttls(dns, peers, outbound, unique, tls_files):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example", tls=tls_files["main"])
    r = outbound(relay={"outbound_tls": "none"})
    submit(r, SENDER, ["bob@remote.example"], msg_text(unique("none")))
    (t,) = peer.wait_messages(1)
    assert "STARTTLS" not in t.session.verbs()


def test_starttls_encrypt_to_tls_peer(dns, peers, outbound, unique, tls_files):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example", tls=tls_files["main"])
    r = outbound(relay={"outbound_tls": "encrypt"})
    tok = unique("encrypt")
    qid = submit(r, SENDER, ["bob@remote.example"], msg_text(tok))
    (t,) = peer.wait_messages(1)
    assert t.tls
    assert t.session.verbs()[:3] == ["EHLO", "STARTTLS", "EHLO"]
    wait_until(lambda: [e for e in r.log_events("delivered") if e.get("id") == qid], 5,
               what="event=delivered")


def test_starttls_encrypt_to_peer_without_starttls_defers(dns, peers, outbound, unique):
    one_mx(dns)
    peer = peers("127.0.0.2", name="mx.remote.example")  # no STARTTLS
    r = outbound(relay={"outbound_tls": "encrypt", "retry_min": "1h", "retry_max": "1h"})
    tok = unique("encno")
    qid = submit(r, SENDER, ["bob@remote.example"], msg_text(tok))
    ev = wait_until(lambda: deferred(r, qid), 10, what="event=deferred")
    assert ev[0]["status"].startswith("4."), ev[0]
    # a destination is a site: here the one MX host of remote.example
    att = [e for e in r.log_events("remote.attempt") if e.get("dest") == "mx.remote.example"]
    assert att and att[0]["status"] == "4.7.4", att
    assert not peer.transactions, "MAIL sent to a peer without TLS under outbound_tls=encrypt"
    assert all(v in ("EHLO", "QUIT") for v in
               (v for s in peer.sessions for v in s.verbs())), peer.transcript()
    rows = rcpt_rows(r, "bob@remote.example")
    assert len(rows) == 1 and rows[0]["qid"] == qid, queue_list(r)[1]
    assert not r.log_events("bounced")


def test_tls_failure_with_optional_tls_moves_to_next_mx(dns, peers, outbound, unique,
                                                        tls_files, tmp_path):
    # mx1 offers STARTTLS, says 220, then its TLS handshake fails (the
    # server side has a certificate file that is not a certificate, so the
    # capture server closes); relais goes on to mx2 in the same attempt
    dns.set("remote.example", {"MX": [(10, "mx1.remote.example"),
                                      (20, "mx2.remote.example")]})
    dns.set("mx1.remote.example", {"A": ["127.0.0.2"]})
    dns.set("mx2.remote.example", {"A": ["127.0.0.3"]})
    mx1 = peers("127.0.0.2", name="mx1.remote.example", tls=tls_files["main"])

    class Broken:
        def wrap_socket(self, sock, server_side=True):
            sock.sendall(b"\x15\x03\x03\x00\x02\x02\x28")  # TLS alert: handshake failure
            raise OSError("handshake refused")

    mx1.ssl_ctx = Broken()
    mx2 = peers("127.0.0.3", name="mx2.remote.example")
    r = outbound(relay={"outbound_tls": "may", "retry_min": "1h", "retry_max": "1h"})
    tok = unique("tlsfail")
    qid = submit(r, SENDER, ["bob@remote.example"], msg_text(tok))
    (t,) = mx2.wait_messages(1)
    assert tok.encode() in t.data
    assert mx1.connections >= 1
    assert not mx1.transactions
    assert not deferred(r, qid), "deferred instead of trying the next MX"


# ---------------------------------------------------------------- smarthost


def smarthost_relais(outbound, peer_port, tmp_path, tls="required", user="relayuser",
                     password="s3cret pass", **relay):
    pw = tmp_path / "smarthost.pw"
    pw.write_text(password + "\nsecond line is ignored\n")
    keys = {"smarthost": f"127.0.0.5:{peer_port}", "smarthost_tls": tls,
            "smarthost_user": user, "smarthost_password_file": str(pw)}
    keys.update(relay)
    return outbound(relay=keys)


def test_smarthost_auth_plain_over_starttls(dns, peers, peer_port, outbound, unique,
                                            tls_files, tmp_path):
    sh = peers("127.0.0.5", name="smarthost.example", tls=tls_files["main"],
               auth={"relayuser": "s3cret pass"}, auth_mechs=("PLAIN", "LOGIN"))
    # a domain with no DNS data at all: with a smarthost nothing is looked up
    r = smarthost_relais(outbound, peer_port, tmp_path)
    tok = unique("smarthost")
    qid = submit(r, SENDER, ["zed@far-away.example", "yan@elsewhere.example"], msg_text(tok))
    msgs = sh.wait_messages(1)
    wait_queue_empty(r)
    got = sorted(a for t in sh.messages for a in t.accepted_rcpts)
    assert got == ["yan@elsewhere.example", "zed@far-away.example"]
    for t in sh.messages:
        s = t.session
        assert s.tls, "mail to the smarthost in clear"
        assert s.auth_user == "relayuser" and s.auth_password == "s3cret pass"
        assert s.auth_mech == "PLAIN"
        v = s.verbs()
        assert v.index("STARTTLS") < v.index("AUTH") < v.index("MAIL"), v
    assert not [q for q in dns.queries if "away" in q[0] or "elsewhere" in q[0]], \
        f"DNS lookups with a smarthost: {dns.queries}"
    dl = [e for e in r.log_events("delivered") if e.get("id") == qid]
    assert dl and "127.0.0.5" in dl[0]["relay"], dl
    assert tok.encode() in msgs[0].data


def test_smarthost_auth_login(dns, peers, peer_port, outbound, unique, tls_files, tmp_path):
    sh = peers("127.0.0.5", name="smarthost.example", tls=tls_files["main"],
               auth={"relayuser": "s3cret pass"}, auth_mechs=("LOGIN",))
    r = smarthost_relais(outbound, peer_port, tmp_path, tls="may")
    submit(r, SENDER, ["zed@far-away.example"], msg_text(unique("login")))
    (t,) = sh.wait_messages(1)
    assert t.session.tls and t.session.auth_mech == "LOGIN"
    assert t.session.auth_user == "relayuser"


def test_smarthost_no_credentials_in_clear(dns, peers, peer_port, outbound, unique,
                                           tmp_path):
    # the smarthost offers AUTH but no STARTTLS: with smarthost_tls = may
    # relais must not send the password in clear (mail stays queued)
    sh = peers("127.0.0.5", name="smarthost.example", auth={"relayuser": "s3cret pass"},
               auth_after_tls=False)
    r = smarthost_relais(outbound, peer_port, tmp_path, tls="may",
                         retry_min="1h", retry_max="1h")
    qid = submit(r, SENDER, ["zed@far-away.example"], msg_text(unique("noclear")))
    wait_until(lambda: deferred(r, qid), 10, what="event=deferred")
    for s in sh.sessions:
        assert "AUTH" not in s.verbs(), s.lines
        assert not any("s3cret" in ln for _, ln in s.lines)
    assert not sh.messages
    assert len(rcpt_rows(r, "zed@far-away.example")) == 1


def test_smarthost_tls_none_auth_in_clear(dns, peers, peer_port, outbound, unique,
                                          tls_files, tmp_path):
    sh = peers("127.0.0.5", name="smarthost.example", tls=tls_files["main"],
               auth={"relayuser": "s3cret pass"}, auth_after_tls=False)
    r = smarthost_relais(outbound, peer_port, tmp_path, tls="none")
    submit(r, SENDER, ["zed@far-away.example"], msg_text(unique("tlsnone")))
    (t,) = sh.wait_messages(1)
    assert not t.session.tls and "STARTTLS" not in t.session.verbs()
    assert t.session.auth_user == "relayuser"


def test_smarthost_required_without_starttls_defers(dns, peers, peer_port, outbound,
                                                    unique, tmp_path):
    sh = peers("127.0.0.5", name="smarthost.example")
    r = smarthost_relais(outbound, peer_port, tmp_path, tls="required",
                         retry_min="1h", retry_max="1h")
    qid = submit(r, SENDER, ["zed@far-away.example"], msg_text(unique("req")))
    wait_until(lambda: deferred(r, qid), 10, what="event=deferred")
    assert not sh.transactions
    att = r.log_events("remote.attempt")
    assert att and att[0]["status"] == "4.7.4", att


def test_smarthost_wrong_password_defers(dns, peers, peer_port, outbound, unique,
                                         tls_files, tmp_path):
    sh = peers("127.0.0.5", name="smarthost.example", tls=tls_files["main"],
               auth={"relayuser": "another"})
    r = smarthost_relais(outbound, peer_port, tmp_path, retry_min="1h", retry_max="1h")
    qid = submit(r, SENDER, ["zed@far-away.example"], msg_text(unique("badpw")))
    ev = wait_until(lambda: deferred(r, qid), 10, what="event=deferred")
    assert ev[0]["status"].startswith("4."), ev
    assert not sh.transactions
    assert not r.log_events("bounced")
