"""TLS in (issue 4): STARTTLS (RFC 3207) and implicit TLS (RFC 8314) with
Python's ssl and `openssl s_client`, protocol floor, the STARTTLS
injection case (CVE-2011-0411), state reset, tls = required, the
self-signed fallback, SNI and certificate reload on SIGHUP."""

import os
import ssl
import stat
import subprocess

import pytest

from conftest import (HOST, SMTPConn, message, split_headers, tls_client_context,
                      tls_conn, tls_listeners, tls_wrap)

# TLS 1.0 and 1.1 client settings are deprecated in Python's ssl: on purpose
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def tlsd(relais_factory, tls_files):
    """A daemon whose mx listener offers STARTTLS, plus a submission
    listener (STARTTLS) and a submissions one (implicit), with the test
    CA's certificate."""
    r = relais_factory()
    over = tls_listeners(r, tls_files)
    over["listener mx"] = {"tls": "optional"}
    r.write_config(overrides=over)
    return r.start()


def verified(tls_files):
    return tls_client_context(cafile=tls_files["ca"])


def ehlo_keywords(r):
    return {t.split()[0].upper() for t in r.texts[1:] if t.strip()}


def test_starttls_python_ssl_verified(tlsd, tls_files, unique):
    c = tlsd.conn()
    r = c.ehlo()
    assert "STARTTLS" in ehlo_keywords(r), r
    assert "AUTH" not in ehlo_keywords(r), "AUTH offered before TLS"
    c.expect("STARTTLS", 220, "2.0.0")
    tls_wrap(c, verified(tls_files), server_hostname="mx.test")
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    r = c.ehlo()
    kws = ehlo_keywords(r)
    assert "STARTTLS" not in kws, "STARTTLS offered again under TLS"
    assert "AUTH" in kws and "PLAIN" in r.text and "LOGIN" in r.text, r
    tok = unique("tls")
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send(message(tok).encode() + b".\r\n")
    c.expect(None, 250)
    c.expect("QUIT", 221)
    raw = tlsd.maildir_messages("example.test", "alice")[0]
    headers, _ = split_headers(raw)
    rec = [h for h in headers if h.startswith("Received:")][0]
    assert "with ESMTPS id" in rec, rec
    assert f"({c.sock.version()} " in rec, rec
    tlsd.wait_log(r"event=smtp\.tls session=\d+ client=127\.0\.0\.1 version=TLSv1\.[23]")


def test_implicit_tls_python_ssl(tlsd, tls_files):
    c = tls_conn(tlsd.tls_port, implicit=True, ctx=verified(tls_files),
                 server_hostname="mx.test", ehlo=False)
    assert c.greeting.code == 220, c.greeting
    r = c.ehlo()
    assert "STARTTLS" not in ehlo_keywords(r)
    assert "AUTH" in ehlo_keywords(r)
    c.expect("STARTTLS", 503)
    c.expect("QUIT", 221)


def s_client(args, stdin, timeout=30):
    return subprocess.run(["openssl", "s_client", "-brief", "-crlf", "-ign_eof",
                           *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_openssl_s_client(tlsd, tls_files, mode):
    if mode == "starttls":
        args = ["-starttls", "smtp", "-connect", f"{HOST}:{tlsd.sub_port}"]
    else:
        args = ["-connect", f"{HOST}:{tlsd.tls_port}"]
    out = s_client(args + ["-CAfile", str(tls_files["ca"]), "-verify_return_error",
                           "-servername", "mx.test"], "EHLO client.test\nQUIT\n")
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "Verification: OK" in text, text
    assert "Protocol version: TLSv1.3" in text, text
    assert "250-AUTH PLAIN LOGIN" in text, text
    assert "221 2.0.0" in text, text


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_old_tls_refused_openssl(tlsd, version):
    out = s_client(["-connect", f"{HOST}:{tlsd.tls_port}", version,
                    "-cipher", "DEFAULT:@SECLEVEL=0"], "QUIT\n")
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert "220 " not in text, text
    tlsd.wait_log(r"event=smtp\.tls\.failed .*(?:unsupported protocol|version)")


def test_tls11_refused_python(tlsd):
    ctx = tls_client_context(maximum=ssl.TLSVersion.TLSv1_1,
                             ciphers="DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    c = tlsd.conn()
    c.ehlo()
    c.expect("STARTTLS", 220)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        tls_wrap(c, ctx)
        c.ehlo()
    # TLS 1.2 works on the same listener
    c2 = tls_conn(tlsd.port, ctx=tls_client_context(maximum=ssl.TLSVersion.TLSv1_2))
    assert c2.sock.version() == "TLSv1.2"
    c2.expect("NOOP", 250)


def test_starttls_injection_gets_no_reply(tlsd):
    """STARTTLS and NOOP in one write: the NOOP was sent in clear text and
    must be thrown away, not answered under TLS (CVE-2011-0411)."""
    c = tlsd.conn()
    c.ehlo()
    c.send(b"STARTTLS\r\nNOOP\r\n")
    r = c.reply()
    assert r.code == 220, r
    assert c.buf == b"", f"more than the 220 before the handshake: {c.buf!r}"
    tls_wrap(c)
    assert c.quiet(1.0) == b"", "a reply to the injected NOOP arrived"
    # a fresh session: EHLO is needed again (RFC 3207 4.2)
    c.expect("MAIL FROM:<s@remote.test>", 503)
    c.ehlo()
    c.expect("NOOP", 250)
    tlsd.wait_log(r"event=smtp\.starttls\.pipelined .*dropped=6")


def test_starttls_injection_of_a_transaction(tlsd):
    c = tlsd.conn()
    c.ehlo()
    c.send(b"STARTTLS\r\nMAIL FROM:<evil@remote.test>\r\n"
           b"RCPT TO:<alice@example.test>\r\n")
    assert c.reply().code == 220
    tls_wrap(c)
    assert c.quiet(1.0) == b""
    c.ehlo()
    # no transaction survived the handshake
    c.expect("RCPT TO:<alice@example.test>", 503)
    c.expect("DATA", 503)


def test_starttls_resets_state(tlsd):
    c = tlsd.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("STARTTLS", 220)
    tls_wrap(c)
    c.expect("MAIL FROM:<s@remote.test>", 503)
    c.ehlo()
    c.expect("RCPT TO:<alice@example.test>", 503)
    c.expect("STARTTLS", 503)
    c.expect("STARTTLS now", 501)


def test_starttls_with_argument_501(tlsd):
    c = tlsd.conn()
    c.ehlo()
    c.expect("STARTTLS please", 501)
    c.expect("NOOP", 250)


def test_tls_required(relais_factory, tls_files):
    r = relais_factory()
    r.write_config(overrides=tls_listeners(r, tls_files, starttls="required",
                                           implicit=False))
    r.start()
    c = SMTPConn(r.sub_port)
    r.conns.append(c)
    c.ehlo()
    c.expect("MAIL FROM:<alice@example.test>", 530, "5.7.0")
    c.expect("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1zZWNyZXQ=", 530, "5.7.0")
    c.expect("STARTTLS", 220)
    tls_wrap(c)
    c.ehlo()
    c.expect("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1zZWNyZXQ=", 235)
    c.expect("MAIL FROM:<alice@example.test>", 250)


def test_selfsigned_generated_once(relais_factory):
    r = relais_factory()
    r.write_config(overrides=tls_listeners(r))
    r.start()
    key = r.data_dir / "tls" / "selfsigned.key"
    crt = r.data_dir / "tls" / "selfsigned.crt"
    assert key.exists() and crt.exists()
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(r.data_dir / "tls").st_mode) == 0o700
    r.wait_log(r"level=warning event=tls\.selfsigned ")
    c = tls_conn(r.tls_port, implicit=True)
    cert = c.sock.getpeercert(binary_form=True)
    assert cert
    c.expect("QUIT", 221)
    before = crt.read_bytes()
    r.restart()
    assert crt.read_bytes() == before, "certificate generated again"
    c = tls_conn(r.tls_port, implicit=True)
    assert c.sock.getpeercert(binary_form=True) == cert


def peer_cn(c):
    from ssl import DER_cert_to_PEM_cert
    pem = DER_cert_to_PEM_cert(c.sock.getpeercert(binary_form=True))
    out = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=pem,
                         capture_output=True, text=True, timeout=20)
    return out.stdout.strip()


def test_sni_selects_certificate(relais_factory, tls_files):
    r = relais_factory()
    over = tls_listeners(r, tls_files)
    crt, key = tls_files["sni"]
    over["tls sni.test"] = {"certificate": str(crt), "key": str(key)}
    r.write_config(overrides=over)
    r.start()
    c = tls_conn(r.tls_port, implicit=True, ctx=verified(tls_files),
                 server_hostname="sni.test")
    assert "sni.test" in peer_cn(c)
    c = tls_conn(r.tls_port, implicit=True, ctx=verified(tls_files),
                 server_hostname="mx.test")
    assert "mx.test" in peer_cn(c)
    c = tls_conn(r.sub_port, ctx=verified(tls_files), server_hostname="SNI.TEST")
    assert "sni.test" in peer_cn(c)
    # no SNI at all: the default certificate
    c = tls_conn(r.tls_port, implicit=True)
    assert "mx.test" in peer_cn(c)


def test_certificate_reloaded_on_sighup(relais_factory, tls_files):
    r = relais_factory()
    over = tls_listeners(r, tls_files)
    r.write_config(overrides=over)
    r.start()
    old = tls_conn(r.tls_port, implicit=True)
    assert "mx.test" in peer_cn(old)
    crt, key = tls_files["sni"]
    over["tls"] = {"certificate": str(crt), "key": str(key)}
    r.write_config(overrides=over)
    assert r.reload() == "event=config.reload"
    new = tls_conn(r.tls_port, implicit=True)
    assert "sni.test" in peer_cn(new)
    # the session started before goes on
    old.expect("NOOP", 250)
    # a broken key is refused and the running certificate stays
    over["tls"] = {"certificate": str(crt), "key": str(tls_files["main"][1])}
    r.write_config(overrides=over)
    assert r.reload() == "event=config.reload.failed"
    assert "sni.test" in peer_cn(tls_conn(r.tls_port, implicit=True))


def test_bad_tls_config_refused(relais_factory, tls_files):
    r = relais_factory()
    over = tls_listeners(r, tls_files)
    over["tls"] = {"certificate": str(tls_files["main"][0]),
                   "key": str(tls_files["sni"][1])}
    r.write_config(overrides=over)
    out = r.cli("check-config", "-c", str(r.conf_path))
    assert out.returncode == 2
    assert "does not match" in out.stderr, out.stderr
    over["tls"] = {"certificate": "/nonexistent.crt", "key": "/nonexistent.key"}
    r.write_config(overrides=over)
    out = r.cli("check-config", "-c", str(r.conf_path))
    assert out.returncode == 2 and "/nonexistent.crt" in out.stderr, out.stderr
    over["tls"] = {"min_version": "TLSv1.1"}
    r.write_config(overrides=over)
    out = r.cli("check-config", "-c", str(r.conf_path))
    assert out.returncode == 2 and "min_version" in out.stderr, out.stderr


def test_min_version_tls13(relais_factory, tls_files):
    r = relais_factory()
    over = tls_listeners(r, tls_files)
    over["tls"]["min_version"] = "TLSv1.3"
    r.write_config(overrides=over)
    r.start()
    with pytest.raises((ssl.SSLError, OSError)):
        tls_conn(r.tls_port, implicit=True,
                 ctx=tls_client_context(maximum=ssl.TLSVersion.TLSv1_2))
    c = tls_conn(r.tls_port, implicit=True)
    assert c.sock.version() == "TLSv1.3"


def test_tls_name_sections_checked(relais_factory, tls_files):
    r = relais_factory()
    crt, key = tls_files["sni"]
    base = r.config_text(tls_listeners(r, tls_files))
    cases = [
        (f"[tls a.test]\ncertificate = {crt}\n", "missing 'key'"),
        (f"[tls a.test]\ncertificate = {crt}\nkey = {key}\n"
         f"[tls A.TEST]\ncertificate = {crt}\nkey = {key}\n", "duplicate section"),
        (f"[tls a.test]\ncertificate = {crt}\nkey = {key}\nciphers = x\n",
         "unknown key 'ciphers'"),
        ("[tls]\nciphers = NOSUCHCIPHER\n", "ciphers"),
    ]
    for extra, want in cases:
        if extra.startswith("[tls]\n"):
            text = base.replace("[tls]\n", extra, 1)
        else:
            text = base + "\n" + extra
        r.write_config(text=text)
        out = r.cli("check-config", "-c", str(r.conf_path))
        assert out.returncode == 2 and want in out.stderr, (extra, out.stderr)
    r.write_config(text=base + f"\n[tls a.test]\ncertificate = {crt}\nkey = {key}\n")
    out = r.cli("check-config", "-c", str(r.conf_path))
    assert out.returncode == 0, out.stderr
