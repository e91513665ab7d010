"""relais sendmail: the message on stdin reaches the daemon and a Maildir;
-t takes recipients from the header and drops Bcc:; the binary invoked as
"sendmail" behaves the same; the exit status says what happened."""
import os
import subprocess

from conftest import relais_bin


def test_sendmail_args(relais, unique):
    tok = unique("sm")
    r = relais.cli("sendmail", "-c", str(relais.conf_path), "-f",
                   "robot@example.test", "alice@example.test",
                   input=f"Subject: {tok}\nFrom: robot@example.test\n\n"
                         f"line one\n.\nline three\n")
    assert r.returncode == 0, r.stderr
    [raw] = relais.maildir_messages("example.test", "alice")
    assert f"Subject: {tok}".encode() in raw
    assert b"Return-Path: <robot@example.test>" in raw
    # a lone "." in the input is text, not the end of the message
    assert b"\n.\nline three\n" in raw


def test_sendmail_t_reads_headers_and_drops_bcc(relais, unique):
    tok = unique("smt")
    r = relais.cli("sendmail", "-c", str(relais.conf_path), "-t", "-i",
                   input=f"To: Alice <alice@example.test>\n"
                         f"Cc: bob@example.test\n"
                         f"Bcc: carol@example.test\n"
                         f"Subject: {tok}\n\nhello\n")
    assert r.returncode == 0, r.stderr
    for user in ("alice", "bob", "carol"):
        [raw] = relais.maildir_messages("example.test", user)
        assert tok.encode() in raw
        assert b"\nBcc:" not in raw.split(b"\n\n")[0]


def test_invoked_as_sendmail(relais, unique, tmp_path):
    tok = unique("smlink")
    link = tmp_path / "sendmail"
    os.symlink(relais_bin(), link)
    r = subprocess.run([str(link), "-c", str(relais.conf_path),
                        "alice@example.test"], input=f"Subject: {tok}\n\nx\n",
                       capture_output=True, text=True, timeout=30,
                       env=relais.env())
    assert r.returncode == 0, r.stderr
    [raw] = relais.maildir_messages("example.test", "alice")
    assert tok.encode() in raw


def test_sendmail_exit_status(relais, relais_factory):
    # no recipient: usage error
    r = relais.cli("sendmail", "-c", str(relais.conf_path), input="x\n")
    assert r.returncode == 64
    # a recipient the daemon refuses (unknown user): 69, with its reply
    r = relais.cli("sendmail", "-c", str(relais.conf_path),
                   "nobody@example.test", input="Subject: x\n\nx\n")
    assert r.returncode == 69, (r.returncode, r.stderr)
    assert "5.1.1" in r.stderr
    # daemon down: try again later (75)
    other = relais_factory()
    other.write_config()
    r = other.cli("sendmail", "-c", str(other.conf_path), "alice@example.test",
                  input="Subject: x\n\nx\n")
    assert r.returncode == 75, (r.returncode, r.stderr)
