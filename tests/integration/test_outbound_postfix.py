"""
Interop (issue 3): relais delivers to a real Postfix over STARTTLS.

A private Postfix instance (postfix_instance.py: its own config, queue and
data directories under tmp_path, listening on 127.0.0.9 at the port relais
uses for outbound mail, STARTTLS with the test certificate, virtual(8)
Maildirs) is the MX of remote.example. The message must land in Postfix's
Maildir, received over TLS, with the envelope relais gave it.

Postfix is a test dependency (scripts/deps.sh test installs it); when it
is missing or the tests do not run as root, the test fails with the
reason instead of passing silently.
"""

import email
import email.policy
import shutil

import pytest

from outbound_util import *  # noqa: F401,F403 (fixtures)
from postfix_instance import PostfixInstance, available

PF_ADDR = "127.0.0.9"


@pytest.fixture
def postfix(tmp_path, peer_port, tls_files):
    why = available()
    if why:
        pytest.fail(f"cannot run the Postfix interop test: {why}", pytrace=False)
    d = tmp_path / "postfix"
    (d / "tls").mkdir(parents=True)
    crt, key = tls_files["main"]
    shutil.copy(crt, d / "tls" / "cert.pem")
    shutil.copy(key, d / "tls" / "key.pem")
    pf = PostfixInstance(d, PF_ADDR, peer_port, domain="remote.example",
                         users=["bob", "carol"],
                         tls=(d / "tls" / "cert.pem", d / "tls" / "key.pem"))
    try:
        pf.start()
    except Exception:
        pf.stop()
        raise
    yield pf
    pf.stop()


def test_deliver_to_real_postfix_over_starttls(dns, postfix, outbound, unique):
    dns.set("remote.example", {"MX": [(10, "pf.remote.example")]})
    dns.set("pf.remote.example", {"A": [PF_ADDR]})
    r = outbound(relay={"outbound_tls": "encrypt", "retry_min": "1s", "retry_max": "2s"})
    tok = unique("postfix")
    body = "Hello Postfix, this is " + tok + ".\r\n.a line starting with a dot\r\n"
    qid = submit(r, "alice@example.test", ["bob@remote.example", "carol@remote.example"],
                 msg_text(tok, body=body))
    try:
        (raw_b,) = postfix.wait_mail("bob", 1, timeout=20)
        (raw_c,) = postfix.wait_mail("carol", 1, timeout=5)
    except AssertionError as e:
        raise AssertionError(f"{e}\nrelais log:\n" + "\n".join(
            ln for ln in r.log().splitlines() if "event=smtp." not in ln)[-3000:])
    wait_queue_empty(r)
    for raw in (raw_b, raw_c):
        m = email.message_from_bytes(raw, policy=email.policy.compat32)
        assert m["Subject"] == f"outbound {tok}"
        assert m["Return-Path"].strip() == "<alice@example.test>"
        assert f"this is {tok}." in m.get_payload()
        assert "\n.a line starting with a dot" in m.get_payload(), "dot-stuffing broken"
        received = m.get_all("Received")
        top = " ".join(received[0].split())
        # Postfix's own Received: header records the TLS session and relais
        assert "pf.remote.example" in top and "(Postfix)" in top, top
        assert "using TLS" in top, f"not received over TLS: {top}"
        assert "mx.test" in top, top
        # relais's Received: header is below it
        assert any("by mx.test (relais)" in " ".join(x.split()) for x in received[1:])
    dl = [e for e in r.log_events("delivered") if e.get("id") == qid]
    assert len(dl) == 2, dl
    assert all(PF_ADDR in e["relay"] and e["reply"].startswith("250") for e in dl), dl
    assert r.log_events("remote.tls"), "no event=remote.tls logged"
    log = postfix.log_text()
    assert "Anonymous TLS connection established" in log or "TLS connection established" in log
