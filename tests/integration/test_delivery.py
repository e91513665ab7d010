"""Local delivery: SMTP in, Maildir out (issue 2, item 4)."""

import os
import re
import smtplib
import time

import pytest

from conftest import message, parse_logfmt, split_headers


def header_values(lines, name):
    pre = name.lower() + ":"
    return [ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith(pre)]


def test_message_lands_in_maildir_with_trace_headers(relais, unique):
    tok = unique("basic")
    msg = message(tok, extra_headers="X-Test: kept as sent\r\n")
    refused = relais.send("sender@remote.test", ["alice@example.test"], msg)
    assert refused == {}

    [raw] = relais.maildir_messages("example.test", "alice")
    md = relais.maildir("example.test", "alice")
    for sub in ("new", "cur", "tmp"):
        assert (md / sub).is_dir(), f"Maildir {md} lacks {sub}/"
    assert len(list((md / "new").iterdir())) == 1
    assert list((md / "tmp").iterdir()) == [], "a file was left in tmp/"

    lines, body = split_headers(raw)
    # Return-Path first, Delivered-To second, then Received, then the message
    assert lines[0] == "Return-Path: <sender@remote.test>", lines[:3]
    assert lines[1].lower() == "delivered-to: alice@example.test", lines[:3]
    assert lines[2].startswith("Received: from "), lines[:4]
    received = lines[2]
    assert "127.0.0.1" in received, received

    ev = relais.log_events("received")
    assert len(ev) == 1, relais.log()
    qid = ev[0]["id"]
    assert qid
    assert re.search(r"\bid " + re.escape(qid) + r"\b", received), (qid, received)
    assert ev[0]["from"] == "<sender@remote.test>"
    assert ev[0]["rcpts"] == "1"
    assert ev[0]["client"] == "127.0.0.1"
    assert ev[0]["listener"] == "mx"
    assert int(ev[0]["size"]) > 0

    # The message itself follows, unchanged.
    orig_lines, orig_body = split_headers(msg.encode())
    assert lines[3:] == orig_lines
    assert body == orig_body

    m = relais.wait_log(r"event=delivered [^\n]*id=" + re.escape(qid)
                        + r"[^\n]*to=<alice@example\.test>")
    line = relais.log()[m.start():].splitlines()[0]
    assert "delay=" in line and "status=" in line, line


def test_message_file_name_and_exactly_one_copy(relais, unique):
    tok = unique("one")
    relais.send("s@remote.test", ["bob@example.test"], message(tok, to="bob@example.test"))
    relais.maildir_messages("example.test", "bob")
    time.sleep(0.5)
    files = relais.maildir_files("example.test", "bob")
    assert len(files) == 1
    # Maildir names: no '/' and no leading dot (the spec's "unique" name)
    assert not files[0].name.startswith(".")
    assert tok.encode() in files[0].read_bytes()


def test_multiple_recipients_each_get_one_copy(relais, unique):
    tok = unique("multi")
    rcpts = ["alice@example.test", "bob@example.test", "dave@other.test"]
    refused = relais.send("multi@remote.test", rcpts, message(tok))
    assert refused == {}
    for rcpt in rcpts:
        user, domain = rcpt.split("@")
        [raw] = relais.maildir_messages(domain, user)
        lines, _ = split_headers(raw)
        assert lines[0] == "Return-Path: <multi@remote.test>"
        assert lines[1].lower() == f"delivered-to: {rcpt}", lines[:2]
        assert tok.encode() in raw
    ev = relais.log_events("received")
    assert [e["rcpts"] for e in ev] == ["3"]
    qid = ev[0]["id"]
    for rcpt in rcpts:
        relais.wait_log(r"event=delivered [^\n]*id=" + re.escape(qid)
                        + r"[^\n]*to=<" + re.escape(rcpt) + ">")


def test_several_messages_in_one_session(relais, unique):
    s = relais.smtp()
    toks = [unique("sess") for _ in range(5)]
    for t in toks:
        assert s.sendmail("a@remote.test", ["carol@example.test"], message(t)) == {}
    s.quit()
    msgs = relais.maildir_messages("example.test", "carol", count=5)
    assert len(msgs) == 5
    for t in toks:
        assert sum(t.encode() in m for m in msgs) == 1
    assert len({e["id"] for e in relais.log_events("received")}) == 5, "queue ids must differ"


def test_null_sender_return_path(relais, unique):
    tok = unique("null")
    relais.send("", ["alice@example.test"], message(tok, sender="mailer-daemon@remote.test"))
    [raw] = relais.maildir_messages("example.test", "alice")
    assert split_headers(raw)[0][0] == "Return-Path: <>"


def test_unknown_user_gets_550_511(relais, unique):
    c = relais.conn()
    c.ehlo()
    c.expect("MAIL FROM:<x@remote.test>", 250)
    c.expect("RCPT TO:<nobody@example.test>", 550, "5.1.1")
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    tok = unique("mixed")
    c.send(message(tok).encode() + b".\r\n")
    c.expect(None, 250)
    c.expect("QUIT", 221)
    raw = relais.maildir_messages("example.test", "alice")
    assert tok.encode() in raw[0]
    time.sleep(0.5)
    assert not relais.maildir(("example.test"), "nobody").exists()
    assert len(relais.find_token(tok)) == 1


def test_unknown_user_smtplib(relais, unique):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as ei:
        relais.send("x@remote.test", ["ghost@example.test"], message(unique()))
    code, text = ei.value.recipients["ghost@example.test"]
    assert code == 550 and text.startswith(b"5.1.1"), (code, text)


def test_users_file_lookup_is_case_insensitive(relais, unique):
    tok = unique("case")
    refused = relais.send("x@remote.test", ["Alice@EXAMPLE.Test"], message(tok))
    assert refused == {}
    # %u is the local part lower-cased, the domain is lower-cased
    [raw] = relais.maildir_messages("example.test", "alice")
    assert tok.encode() in raw
    lines, _ = split_headers(raw)
    assert lines[1].lower() == "delivered-to: alice@example.test"
    tok2 = unique("case2")
    assert relais.send("x@remote.test", ["BOB@example.test"], message(tok2)) == {}
    assert tok2.encode() in relais.maildir_messages("example.test", "bob")[0]


def test_without_users_file_every_local_part_is_accepted(relais_factory, unique):
    r = relais_factory(users=None, aliases=None).start()
    tok = unique("anyone")
    assert r.send("x@remote.test", ["whoever.they-are@example.test"], message(tok)) == {}
    [raw] = r.maildir_messages("example.test", "whoever.they-are")
    assert tok.encode() in raw


def test_alias_to_one_target(relais, unique):
    tok = unique("alias")
    assert relais.send("x@remote.test", ["info@example.test"], message(tok)) == {}
    [raw] = relais.maildir_messages("example.test", "alice")
    assert tok.encode() in raw
    assert split_headers(raw)[0][0] == "Return-Path: <x@remote.test>"
    time.sleep(0.3)
    assert not relais.maildir("example.test", "info").exists()


def test_alias_to_two_targets(relais, unique):
    tok = unique("team")
    assert relais.send("x@remote.test", ["team@example.test"], message(tok)) == {}
    a = relais.maildir_messages("example.test", "alice")
    b = relais.maildir_messages("example.test", "bob")
    time.sleep(0.5)
    assert len(relais.maildir_files("example.test", "alice")) == 1
    assert len(relais.maildir_files("example.test", "bob")) == 1
    assert tok.encode() in a[0] and tok.encode() in b[0]


def test_alias_case_insensitive(relais, unique):
    tok = unique("aliascase")
    assert relais.send("x@remote.test", ["INFO@Example.Test"], message(tok)) == {}
    assert tok.encode() in relais.maildir_messages("example.test", "alice")[0]


def test_catch_all_alias(relais, unique):
    tok = unique("catchall")
    # no user random-name@other.test exists; "@other.test: dave@other.test"
    assert relais.send("x@remote.test", ["random-name@other.test"], message(tok)) == {}
    [raw] = relais.maildir_messages("other.test", "dave")
    assert tok.encode() in raw
    assert not relais.maildir("other.test", "random-name").exists()


def test_postmaster_always_accepted(relais, unique):
    # postmaster@example.test is neither user nor alias: mailbox postmaster@example.test
    tok = unique("pm")
    assert relais.send("x@remote.test", ["postmaster@example.test"], message(tok)) == {}
    [raw] = relais.maildir_messages("example.test", "postmaster")
    assert tok.encode() in raw


def test_postmaster_any_case(relais, unique):
    tok = unique("pmcase")
    assert relais.send("x@remote.test", ["PostMaster@example.test"], message(tok)) == {}
    [raw] = relais.maildir_messages("example.test", "postmaster")
    assert tok.encode() in raw


def test_postmaster_via_alias(relais, unique):
    # aliases: postmaster@other.test: carol@example.test
    tok = unique("pmalias")
    assert relais.send("x@remote.test", ["postmaster@other.test"], message(tok)) == {}
    [raw] = relais.maildir_messages("example.test", "carol")
    assert tok.encode() in raw
    time.sleep(0.3)
    assert len(relais.find_token(tok)) == 1


@pytest.mark.parametrize("path", ["<postmaster>", "<POSTMASTER>", "<PostMaster>"])
def test_bare_postmaster_accepted_and_delivered(relais, unique, path):
    c = relais.conn()
    c.ehlo()
    c.expect("MAIL FROM:<x@remote.test>", 250)
    c.expect(f"RCPT TO:{path}", 250)
    c.expect("DATA", 354)
    tok = unique("bare")
    c.send(message(tok, to="postmaster").encode() + b".\r\n")
    c.expect(None, 250)
    c.expect("QUIT", 221)
    hits = relais.find_token(tok, timeout=10)
    assert len(hits) == 1, f"bare {path} mail not delivered exactly once: {hits}"
    # delivered to a postmaster mailbox or an alias target of one
    lines, _ = split_headers(hits[0].read_bytes())
    assert lines[1].lower().startswith("delivered-to:"), lines[:3]


def test_postmaster_accepted_without_users_entry(relais_factory, unique):
    r = relais_factory(aliases=None).start()
    c = r.conn()
    c.ehlo()
    c.expect("MAIL FROM:<>", 250)
    c.expect("RCPT TO:<postmaster@other.test>", 250)
    c.expect("RCPT TO:<someone-unknown@other.test>", 550, "5.1.1")
    c.expect("QUIT", 221)


def test_mailboxes_template(relais_factory, unique, tmp_path):
    tpl = str(tmp_path / "boxes" / "%d" / "%u" / "Maildir")
    r = relais_factory(mailboxes=tpl).start()
    tok = unique("tpl")
    assert r.send("x@remote.test", ["Alice@Example.test"], message(tok)) == {}
    target = tmp_path / "boxes" / "example.test" / "alice" / "Maildir" / "new"
    wait = time.monotonic() + 10
    while time.monotonic() < wait and not (target.is_dir() and any(target.iterdir())):
        time.sleep(0.05)
    files = list(target.iterdir()) if target.is_dir() else []
    assert len(files) == 1, f"nothing delivered to {target}"
    assert tok.encode() in files[0].read_bytes()
    assert not (r.data_dir / "mail" / "example.test" / "alice").exists()


def test_8bit_and_utf8_content_preserved(relais, unique):
    tok = unique("8bit")
    body = f"Grüße aus Köln, ∑ {tok}\r\n".encode("utf-8")
    raw_msg = (b"From: <s@remote.test>\r\nSubject: =?utf-8?q?8bit?=\r\n"
               b"Content-Type: text/plain; charset=utf-8\r\n"
               b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body)
    c = relais.conn()
    r = c.ehlo()
    assert any(t.upper().startswith("8BITMIME") for t in r.texts)
    c.expect("MAIL FROM:<s@remote.test> BODY=8BITMIME", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send(raw_msg + b".\r\n")
    c.expect(None, 250)
    c.expect("QUIT", 221)
    [raw] = relais.maildir_messages("example.test", "alice")
    assert body.replace(b"\r\n", b"") in raw


def test_smtputf8_addresses(relais_factory, unique):
    r = relais_factory(users=None, aliases=None).start()
    tok = unique("utf8")
    c = r.conn()
    r_ehlo = c.ehlo()
    assert any(t.upper() == "SMTPUTF8" for t in r_ehlo.texts)
    c.expect("MAIL FROM:<jörg@bücher.test> SMTPUTF8", 250)
    c.expect("RCPT TO:<zoë@example.test>", 250)
    c.expect("DATA", 354)
    c.send(f"From: jörg@bücher.test\r\nSubject: {tok}\r\n\r\nhej\r\n.\r\n".encode())
    c.expect(None, 250)
    c.expect("QUIT", 221)
    hits = r.find_token(tok, timeout=10)
    assert len(hits) == 1
    assert "zoë" in str(hits[0]), hits[0]
    lines, _ = split_headers(hits[0].read_bytes())
    assert lines[0] == "Return-Path: <jörg@bücher.test>"


def test_dot_unstuffing(relais, unique):
    tok = unique("dots")
    c = relais.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send(f"Subject: {tok}\r\n\r\n..leading dot\r\n...\r\n..\r\nend\r\n.\r\n".encode())
    c.expect(None, 250)
    [raw] = relais.maildir_messages("example.test", "alice")
    _, body = split_headers(raw)
    assert body == b".leading dot\n..\n.\nend\n", body


def test_unwritable_mailbox_is_deferred_not_dropped(relais, unique):
    # a regular file where the Maildir directory should be: delivery cannot
    # succeed, the message must stay queued (deferred), never bounced/dropped
    blocker = relais.maildir("example.test", "carol")
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a directory\n")
    tok = unique("defer")
    assert relais.send("s@remote.test", ["carol@example.test"], message(tok)) == {}
    qid = relais.log_events("received")[0]["id"]
    relais.wait_log(r"event=deferred [^\n]*id=" + re.escape(qid), timeout=15)
    assert not re.search(r"event=bounced [^\n]*id=" + re.escape(qid), relais.log())
    out = relais.cli("queue", "list", "-c", str(relais.conf_path))
    assert out.returncode == 0, out.stderr
    assert qid in out.stdout, out.stdout
    assert "carol@example.test" in out.stdout


@pytest.mark.parametrize("local", ['"../../../escape"', 'a/b', '".."', '"a/../../../escape"',
                                   '"."', '"/abs/escape"'])
def test_local_part_cannot_escape_mail_root(relais_factory, unique, local):
    """Without a users file every local part is accepted, so hostile ones
    (path separators, dot segments) must still land inside the domain's
    mailbox root (or be refused), never elsewhere."""
    r = relais_factory(users=None, aliases=None).start()
    tok = unique("trav")
    c = r.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    rep = c.cmd(f"RCPT TO:<{local}@example.test>")
    if rep.code != 250:
        assert 500 <= rep.code < 600, rep
        return
    c.expect("DATA", 354)
    c.send(f"Subject: {tok}\r\n\r\nx\r\n.\r\n".encode())
    c.expect(None, 250)
    c.expect("QUIT", 221)
    root = (r.data_dir / "mail" / "example.test").resolve()
    deadline = time.monotonic() + 10
    hits = []
    while time.monotonic() < deadline and not hits:
        hits = [p for p in r.root.parent.rglob("*")
                if p.is_file() and p.parent.name in ("new", "cur") and tok.encode() in p.read_bytes()]
        time.sleep(0.1)
    assert not os.path.exists("/abs/escape"), "mailbox created at an absolute path"
    assert hits, f"message not delivered under {r.root.parent}"
    for p in hits:
        assert root in p.resolve().parents, f"{local} delivered outside {root}: {p}"
        # the Maildir is a direct child of the domain directory
        assert p.resolve().parent.parent.parent == root, p


def test_quoted_local_part_sender(relais, unique):
    tok = unique("quoted")
    c = relais.conn()
    c.ehlo()
    c.expect('MAIL FROM:<"john doe"@remote.test>', 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send(f"Subject: {tok}\r\n\r\nx\r\n.\r\n".encode())
    c.expect(None, 250)
    [raw] = relais.maildir_messages("example.test", "alice")
    assert split_headers(raw)[0][0] == 'Return-Path: <"john doe"@remote.test>'


@pytest.mark.parametrize("sender", ['"john doe"@remote.test',
                                    '"x id=FAKE rcpts=99 client=6.6.6.6"@remote.test',
                                    '"a\\"b=c"@remote.test'])
def test_log_fields_cannot_be_injected(relais, unique, sender):
    """logfmt values are quoted: a sender with spaces, '=' or quotes is one
    value, never extra key=value pairs on the line."""
    tok = unique("logfmt")
    c = relais.conn()
    c.ehlo()
    c.expect(f"MAIL FROM:<{sender}>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send(f"Subject: {tok}\r\n\r\nx\r\n.\r\n".encode())
    c.expect(None, 250)
    [raw] = relais.maildir_messages("example.test", "alice")
    rec = [ln for ln in split_headers(raw)[0] if ln.startswith("Received:")][0]
    qid = re.search(r"\bid (\S+?);?(\s|$)", rec).group(1)
    lines = [ln for ln in relais.log().splitlines() if "event=received " in ln]
    assert len(lines) == 1
    ev = parse_logfmt(lines[0])
    assert ev["from"] == f"<{sender}>", lines[0]
    assert ev["id"] == qid, lines[0]
    assert ev["rcpts"] == "1" and ev["client"] == "127.0.0.1", lines[0]
