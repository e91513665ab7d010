"""SMTP AUTH (RFC 4954) and the submission roles (issue 4): PLAIN and
LOGIN right and wrong, only under TLS, every supported hash scheme,
`relais passwd`, submission without AUTH, sender ownership, authenticated
relaying, Date:/Message-ID: added to submitted mail, and the brute-force
ban with its expiry and doubling."""

import base64
import time
import warnings

import pytest

from conftest import (SMTPConn, message, sha512_crypt, split_headers,
                      tls_conn, tls_listeners, tls_wrap)

ALICE_PLAIN = base64.b64encode(b"\0alice@example.test\0alice-secret").decode()


def b64(s):
    return base64.b64encode(s.encode()).decode()


def plain(user, pw):
    return base64.b64encode(f"\0{user}\0{pw}".encode()).decode()


@pytest.fixture
def subd(relais_factory, tls_files):
    r = relais_factory()
    r.write_config(overrides=tls_listeners(r, tls_files))
    return r.start()


def sub(r, implicit=False):
    """An EHLO'd TLS connection to the submission (STARTTLS) or
    submissions (implicit) listener."""
    c = tls_conn(r.tls_port if implicit else r.sub_port, implicit=implicit)
    r.conns.append(c)
    return c


@pytest.mark.parametrize("implicit", [False, True])
def test_auth_plain_right_and_wrong(subd, implicit):
    c = sub(subd, implicit)
    c.expect(f"AUTH PLAIN {plain('alice@example.test', 'wrong')}", 535, "5.7.8")
    c.expect(f"AUTH PLAIN {plain('nobody@example.test', 'x')}", 535, "5.7.8")
    c.expect(f"AUTH PLAIN {ALICE_PLAIN}", 235, "2.7.0")
    c.expect(f"AUTH PLAIN {ALICE_PLAIN}", 503)
    c.expect("MAIL FROM:<alice@example.test>", 250)
    subd.wait_log(r"event=auth\.success .*user=alice@example\.test")
    subd.wait_log(r"event=auth\.failed .*user=nobody@example\.test")


def test_auth_plain_with_challenge(subd):
    c = sub(subd)
    r = c.expect("AUTH PLAIN", 334)
    assert r.texts == [""], r
    c.expect(ALICE_PLAIN, 235)


def test_auth_login_right_and_wrong(subd):
    c = sub(subd)
    r = c.expect("AUTH LOGIN", 334)
    assert base64.b64decode(r.texts[0]) == b"Username:"
    r = c.expect(b64("bob@example.test"), 334)
    assert base64.b64decode(r.texts[0]) == b"Password:"
    c.expect(b64("not-bob"), 535, "5.7.8")
    # initial response carries the user name
    r = c.expect(f"AUTH LOGIN {b64('bob@example.test')}", 334)
    c.expect(b64("bob-secret"), 235)
    c.expect("MAIL FROM:<bob@example.test>", 250)


def test_auth_syntax_and_cancel(subd):
    c = sub(subd)
    c.expect("AUTH CRAM-MD5", 504, "5.5.4")
    c.expect("AUTH PLAIN !!!notbase64", 501)
    c.expect("AUTH PLAIN", 334)
    c.expect("*", 501, "5.7.0")
    c.expect("AUTH LOGIN", 334)
    c.expect("*", 501)
    # authzid other than the user: refused
    c.expect("AUTH PLAIN " + base64.b64encode(
        b"bob@example.test\0alice@example.test\0alice-secret").decode(), 501)
    c.expect("NOOP", 250)
    c.expect(f"AUTH PLAIN {ALICE_PLAIN}", 235)


def test_auth_not_in_transaction_nor_before_ehlo(subd):
    c = SMTPConn(subd.sub_port)
    subd.conns.append(c)
    c.expect(f"AUTH PLAIN {ALICE_PLAIN}", 503)
    c.ehlo()
    c.expect("STARTTLS", 220)
    tls_wrap(c)
    c.expect(f"AUTH PLAIN {ALICE_PLAIN}", 503)  # no EHLO since TLS
    c.ehlo()
    c.expect(f"AUTH PLAIN {ALICE_PLAIN}", 235)
    c.expect("MAIL FROM:<alice@example.test>", 250)
    c.expect(f"AUTH PLAIN {ALICE_PLAIN}", 503)


def test_auth_refused_before_tls(subd):
    c = SMTPConn(subd.sub_port)
    subd.conns.append(c)
    r = c.ehlo()
    assert not any(t.upper().startswith("AUTH") for t in r.texts), r
    c.expect(f"AUTH PLAIN {ALICE_PLAIN}", 538, "5.7.11")
    c.expect("AUTH LOGIN", 538)
    # and on the mx listener, which has no TLS at all
    m = subd.conn()
    m.ehlo()
    rep = m.cmd(f"AUTH PLAIN {ALICE_PLAIN}")
    assert rep.code >= 500, rep


def test_plaintext_auth_on_loopback_when_allowed(relais_factory):
    r = relais_factory(overrides={"auth": {"allow_plaintext_loopback": "yes"}})
    r.start()
    c = r.conn()
    rep = c.ehlo()
    assert "AUTH PLAIN LOGIN" in rep.texts, rep
    c.expect(f"AUTH PLAIN {ALICE_PLAIN}", 235)


def test_submission_requires_auth(subd):
    for implicit in (False, True):
        c = sub(subd, implicit)
        c.expect("MAIL FROM:<alice@example.test>", 530, "5.7.0")
        c.expect(f"AUTH PLAIN {ALICE_PLAIN}", 235)
        c.expect("MAIL FROM:<alice@example.test>", 250)
    # even from a trusted network (127.0.0.0/8 is trusted here)
    c = sub(subd)
    c.expect("MAIL FROM:<s@remote.test>", 530)


def test_sender_ownership(subd):
    c = sub(subd)
    c.expect(f"AUTH PLAIN {ALICE_PLAIN}", 235)
    r = c.expect("MAIL FROM:<bob@example.test>", 553, "5.7.1")
    assert "bob@example.test" in r.text
    c.expect("MAIL FROM:<someone@elsewhere.test>", 553, "5.7.1")
    # the login itself, in any case
    c.expect("MAIL FROM:<Alice@Example.Test>", 250)
    c.expect("RSET", 250)
    # aliases that point to alice: info (alice only), team (alice and bob)
    c.expect("MAIL FROM:<info@example.test>", 250)
    c.expect("RSET", 250)
    c.expect("MAIL FROM:<team@example.test>", 250)
    c.expect("RSET", 250)
    # the null sender (bounces, receipts) is not an identity
    c.expect("MAIL FROM:<>", 250)
    c.expect("RSET", 250)
    b = sub(subd)
    b.expect(f"AUTH PLAIN {plain('bob@example.test', 'bob-secret')}", 235)
    b.expect("MAIL FROM:<info@example.test>", 553)
    b.expect("MAIL FROM:<team@example.test>", 250)
    subd.wait_log(r"event=auth\.sender_mismatch .*from=<bob@example\.test>")


def test_sender_login_check_off(relais_factory, tls_files):
    r = relais_factory()
    over = tls_listeners(r, tls_files)
    over["auth"] = {"sender_login_check": "no"}
    r.write_config(overrides=over)
    r.start()
    c = sub(r)
    c.expect(f"AUTH PLAIN {ALICE_PLAIN}", 235)
    c.expect("MAIL FROM:<bob@example.test>", 250)


def test_authenticated_may_relay_on_mx(relais_factory, tls_files):
    r = relais_factory()
    over = tls_listeners(r, tls_files, implicit=False)
    over["relay"] = {"trusted_networks": "10.99.0.0/16"}
    over["listener mx"] = {"tls": "optional"}
    r.write_config(overrides=over)
    r.start()
    c = r.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RCPT TO:<someone@elsewhere.test>", 554, "5.7.1")
    c = tls_conn(r.port)
    c.expect(f"AUTH PLAIN {ALICE_PLAIN}", 235)
    c.expect("MAIL FROM:<alice@example.test>", 250)
    c.expect("RCPT TO:<someone@elsewhere.test>", 250)
    c.expect("RSET", 250)


def test_submitted_message_gets_date_and_message_id(subd, unique):
    tok = unique("sub")
    c = sub(subd)
    c.expect(f"AUTH PLAIN {ALICE_PLAIN}", 235)
    c.expect("MAIL FROM:<alice@example.test>", 250)
    c.expect("RCPT TO:<bob@example.test>", 250)
    c.expect("DATA", 354)
    c.send(f"From: alice@example.test\r\nSubject: {tok}\r\n\r\nhi\r\n.\r\n")
    c.expect(None, 250)
    # one that has both keeps them, once
    tok2 = unique("sub2")
    c.expect("MAIL FROM:<alice@example.test>", 250)
    c.expect("RCPT TO:<bob@example.test>", 250)
    c.expect("DATA", 354)
    c.send(message(tok2, sender="alice@example.test",
                   extra_headers="Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n") + ".\r\n")
    c.expect(None, 250)
    got = {}
    for raw in subd.maildir_messages("example.test", "bob", count=2):
        headers, body = split_headers(raw)
        got[tok if tok.encode() in raw else tok2] = (headers, body)
    h1, b1 = got[tok]
    names = [h.split(":", 1)[0].lower() for h in h1]
    assert names.count("date") == 1 and names.count("message-id") == 1, h1
    assert names.index("subject") < names.index("date"), h1
    assert b1 == b"hi\n", b1
    rec = [h for h in h1 if h.startswith("Received:")][0]
    assert "with ESMTPSA" in rec, rec
    h2, _ = got[tok2]
    names = [h.split(":", 1)[0].lower() for h in h2]
    assert names.count("date") == 1 and names.count("message-id") == 1, h2
    assert "Date: Mon, 1 Jan 2024 00:00:00 +0000" in h2


def test_mx_message_is_not_changed(relais, unique):
    tok = unique("mx")
    relais.send("s@remote.test", ["alice@example.test"],
                f"Subject: {tok}\r\n\r\nbody\r\n")
    headers, _ = split_headers(relais.maildir_messages("example.test", "alice")[0])
    names = [h.split(":", 1)[0].lower() for h in headers]
    assert "date" not in names and "message-id" not in names, headers


def test_every_hash_scheme(relais_factory, tls_files):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    r = relais_factory()
    yes = r.cli("passwd", input="yes-pw\n")
    assert yes.returncode == 0, yes.stderr
    assert yes.stdout.startswith("{CRYPT}$y$"), yes.stdout
    line = r.cli("passwd", "line@example.test", input="line-pw\r\n")
    assert line.stdout.startswith("line@example.test:{CRYPT}$y$"), line.stdout
    users = {
        "yes@example.test": ("yes-pw", yes.stdout.strip()),
        "yesbare@example.test": ("yes-pw", yes.stdout.strip()[len("{CRYPT}"):]),
        "bf@example.test": ("bf-pw", "{BLF-CRYPT}" + crypt.crypt(
            "bf-pw", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32))),
        "s512@example.test": ("s512-pw", "{SHA512-CRYPT}" + sha512_crypt("s512-pw")),
        "s512bare@example.test": ("s512-pw", sha512_crypt("s512-pw")),
        "s256@example.test": ("s256-pw", "{SHA256-CRYPT}" + crypt.crypt(
            "s256-pw", crypt.mksalt(crypt.METHOD_SHA256))),
        "plain@example.test": ("plain-pw", "{PLAIN}plain-pw"),
        "nopw@example.test": ("", ""),
    }
    text = "".join(f"{u}:{h}:::\n" for u, (_, h) in users.items())
    text += line.stdout
    r.users_path.write_text(text)
    r.write_config(overrides=tls_listeners(r, tls_files))
    r.start()
    c = sub(r)
    for u, (pw, _) in users.items():
        if u in ("plain@example.test", "nopw@example.test"):
            continue
        c.expect(f"AUTH PLAIN {plain(u, pw + 'x')}", 535)
        c2 = sub(r)
        c2.expect(f"AUTH PLAIN {plain(u, pw)}", 235)
        c2.close()
    c.expect(f"AUTH PLAIN {plain('line@example.test', 'line-pw')}", 235)
    # {PLAIN} and empty password fields never authenticate
    for u in ("plain@example.test", "nopw@example.test"):
        c3 = sub(r)
        c3.expect(f"AUTH PLAIN {plain(u, 'plain-pw')}", 535)


def test_passwd_usage(relais_factory):
    r = relais_factory()
    assert r.cli("passwd", input="\n").returncode == 2
    assert r.cli("passwd", input="").returncode == 2
    assert r.cli("passwd", "a:b", input="x\n").returncode == 2
    a = r.cli("passwd", input="same\n").stdout
    b = r.cli("passwd", input="same\n").stdout
    assert a != b, "same salt twice"


def test_users_file_reloaded_on_sighup(subd):
    subd.users_path.write_text(subd.users_path.read_text() +
                               f"new@example.test:{{SHA512-CRYPT}}{sha512_crypt('new-pw')}:::\n")
    c = sub(subd)
    c.expect(f"AUTH PLAIN {plain('new@example.test', 'new-pw')}", 535)
    assert subd.reload() == "event=config.reload"
    c = sub(subd)
    c.expect(f"AUTH PLAIN {plain('new@example.test', 'new-pw')}", 235)


def test_bruteforce_ban_and_expiry(relais_factory, tls_files):
    r = relais_factory()
    over = tls_listeners(r, tls_files)
    over["limits"] = {"auth_failures_per_ip": "3", "auth_ban_time": "2s",
                      "auth_ban_max_time": "1h"}
    r.write_config(overrides=over)
    r.start()

    def attacker():
        c = tls_conn(r.tls_port, implicit=True, ehlo=False, source="127.0.0.2")
        r.conns.append(c)
        return c

    c = attacker()
    c.ehlo()
    c.expect(f"AUTH PLAIN {plain('alice@example.test', 'guess1')}", 535)
    c.expect(f"AUTH PLAIN {plain('alice@example.test', 'guess2')}", 535)
    c.expect(f"AUTH PLAIN {plain('alice@example.test', 'guess3')}", 535)
    rep = c.reply()
    assert rep.code == 421 and rep.enhanced == "4.7.0", rep
    assert c.wait_closed(5)
    r.wait_log(r"event=limit\.auth_failures_per_ip client=127\.0\.0\.2 .*ban=2\b")
    t0 = time.monotonic()
    # banned at connect, even with the right password ready
    c = attacker()
    assert c.greeting.code == 421 and c.greeting.enhanced == "4.7.0", c.greeting
    assert c.wait_closed(5)
    # others are served meanwhile
    o = tls_conn(r.tls_port, implicit=True, source="127.0.0.3")
    o.expect(f"AUTH PLAIN {ALICE_PLAIN}", 235)
    # the ban ends
    time.sleep(max(0.0, 2.3 - (time.monotonic() - t0)))
    c = attacker()
    assert c.greeting.code == 220, c.greeting
    c.ehlo()
    for i in range(3):
        c.expect(f"AUTH PLAIN {plain('alice@example.test', f'again{i}')}", 535)
    assert c.reply().code == 421
    r.wait_log(r"event=limit\.auth_failures_per_ip client=127\.0\.0\.2 .*ban=4\b")
    t1 = time.monotonic()
    # the second ban lasts twice as long: still banned after 2.5 s
    time.sleep(max(0.0, 2.5 - (time.monotonic() - t1)))
    c = attacker()
    assert c.greeting.code == 421, c.greeting
    time.sleep(max(0.0, 4.3 - (time.monotonic() - t1)))
    c = attacker()
    assert c.greeting.code == 220, c.greeting
    c.ehlo()
    c.expect(f"AUTH PLAIN {ALICE_PLAIN}", 235)


def test_password_checks_do_not_block_the_loop(relais_factory, tls_files):
    """A slow hash (bcrypt cost 2^12, a few tenths of a second) is checked
    off the event loop: a session on the same single worker thread is
    answered meanwhile."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    r = relais_factory()
    slow = crypt.crypt("slow-pw", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 12))
    r.users_path.write_text(f"slow@example.test:{{BLF-CRYPT}}{slow}:::\n")
    over = tls_listeners(r, tls_files)
    over["server"] = {"threads": "1"}
    over["auth"] = {"allow_plaintext_loopback": "yes"}
    r.write_config(overrides=over)
    r.start()
    a = r.conn()
    a.ehlo()
    b = r.conn()
    b.ehlo()
    t = time.monotonic()
    a.send(f"AUTH PLAIN {plain('slow@example.test', 'slow-pw')}\r\n")
    b.expect("NOOP", 250)
    noop = time.monotonic() - t
    a.expect(None, 235, timeout=60)
    auth = time.monotonic() - t
    print(f"NOOP {noop:.3f}s, AUTH {auth:.3f}s")
    assert noop < auth / 2, f"NOOP took {noop:.3f}s while AUTH took {auth:.3f}s"


def test_submitted_header_only_and_bdat(subd, unique):
    c = sub(subd)
    c.expect(f"AUTH PLAIN {ALICE_PLAIN}", 235)
    tok = unique("hdronly")
    c.expect("MAIL FROM:<alice@example.test>", 250)
    c.expect("RCPT TO:<carol@example.test>", 250)
    c.expect("DATA", 354)
    c.send(f"Subject: {tok}\r\n.\r\n")
    c.expect(None, 250)
    tok2 = unique("bdat")
    body = f"Subject: {tok2}\r\n\r\nline\r\n".encode()
    c.expect("MAIL FROM:<alice@example.test>", 250)
    c.expect("RCPT TO:<carol@example.test>", 250)
    c.send(b"BDAT %d LAST\r\n" % len(body) + body)
    c.expect(None, 250)
    for raw in subd.maildir_messages("example.test", "carol", count=2):
        headers, body = split_headers(raw)
        names = [h.split(":", 1)[0].lower() for h in headers]
        assert names.count("date") == 1 and names.count("message-id") == 1, raw
        if tok2.encode() in raw:
            assert body == b"line\n", raw
