"""Relay control (issue 4): from a client that is neither trusted (the
daemon trusts 10.99.0.0/16 only) nor authenticated, no address trick
opens a relay: %-hacks, bang paths, quoted local parts, source routes,
trailing dots, case, IP literals. Local mail is still accepted."""

import pytest

from conftest import message

UNTRUSTED = {"relay": {"trusted_networks": "10.99.0.0/16"}}

# every one of these must get a 5xx from an untrusted client
TRICKS = [
    "<someone@elsewhere.test>",
    "<SOMEONE@ELSEWHERE.TEST>",
    "<user%elsewhere.test@example.test>",
    "<user%elsewhere.test%example.test@example.test>",
    "<elsewhere.test!user@example.test>",
    "<example.test!elsewhere.test!user@example.test>",
    "<\"user@elsewhere.test\"@example.test>",
    "<\"user%elsewhere.test\"@example.test>",
    "<@example.test:user@elsewhere.test>",
    "<@example.test,@mx.test:user@elsewhere.test>",
    "<@EXAMPLE.TEST:user@elsewhere.test>",
    "<user@elsewhere.test.>",
    "<user@example.test.>",
    "<user@elsewhere.test@example.test>",
    "<user@[127.0.0.1]>",
    "<user@[192.0.2.1]>",
    "<user@[IPv6:::1]>",
    "<user@example.test.elsewhere.test>",
    "<user@elsewhere.test%example.test>",
    "<user@example.test:elsewhere.test>",
    "<alice@example.test@elsewhere.test>",
    "<postmaster@elsewhere.test>",
    "<user@localhost>",
    "<user@mx.test>",
    "<user@elsewhere.test>  ",
    "user@elsewhere.test",
]


@pytest.fixture(scope="module")
def mx(tmp_path_factory):
    """One untrusting daemon shared by the module's many short checks."""
    from conftest import Relais
    r = Relais(tmp_path_factory.mktemp("relaymx"), domains="example.test",
               overrides=UNTRUSTED)
    r.start()
    yield r
    problems = r.teardown()
    assert not problems, problems


@pytest.mark.parametrize("rcpt", TRICKS)
def test_relay_trick_refused(mx, rcpt):
    c = mx.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    r = c.cmd(f"RCPT TO:{rcpt}")
    assert 500 <= r.code < 600, f"{rcpt} -> {r}\n{c.transcript()}"
    # the transaction has no recipient: DATA is refused
    assert c.cmd("DATA").code >= 500
    c.expect("QUIT", 221)


def test_relay_denied_reply(mx):
    c = mx.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    r = c.expect("RCPT TO:<@example.test:user@elsewhere.test>", 554, "5.7.1")
    assert "Relay access denied" in r.text
    mx.wait_log(r"event=rcpt\.reject reason=relay .*to=<user@elsewhere\.test>")


@pytest.mark.parametrize("rcpt", ["<alice@example.test>", "<ALICE@EXAMPLE.TEST>",
                                  "<alice@Example.Test>", "<postmaster>",
                                  "<postmaster@example.test>",
                                  "<@elsewhere.test:alice@example.test>"])
def test_local_mail_still_accepted(mx, rcpt):
    c = mx.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect(f"RCPT TO:{rcpt}", 250)
    c.expect("RSET", 250)


def test_no_trick_with_many_recipients(mx):
    """A mixed transaction delivers to the local recipient only."""
    c = mx.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("RCPT TO:<user%elsewhere.test@example.test>", 550)
    c.expect("RCPT TO:<@example.test:bob@elsewhere.test>", 554)
    c.expect("RSET", 250)


def test_percent_and_bang_are_local_parts(relais_factory, unique):
    """Without a users file every local part is a mailbox. From an
    untrusted client %-hack and bang addresses are refused all the same;
    from a trusted one they are delivered locally under that name, never
    relayed."""
    r = relais_factory(users=None, aliases=None, domains="example.test",
                       overrides=UNTRUSTED).start()
    rcpts = ("user%elsewhere.test@example.test", "elsewhere.test!user@example.test",
             '"user@elsewhere.test"@example.test')
    c = r.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    for rcpt in rcpts:
        c.expect(f"RCPT TO:<{rcpt}>", 550, "5.7.1")
    c.expect("RCPT TO:<plain.user@example.test>", 250)
    r.wait_log(r"event=rcpt\.reject reason=routing ")
    r.write_config(overrides={"relay": {"trusted_networks": "127.0.0.0/8"}})
    assert r.reload() == "event=config.reload"
    tok = unique("pct")
    for rcpt in rcpts[:2]:
        r.send("s@remote.test", [rcpt], message(tok, to=rcpt))
    r.wait_log(r"event=delivered .*to=<user%elsewhere\.test@example\.test> relay=local")
    r.wait_log(r"event=delivered .*to=<elsewhere\.test!user@example\.test> relay=local")
    for ev in r.log_events("delivered"):
        assert ev.get("relay") == "local", ev
