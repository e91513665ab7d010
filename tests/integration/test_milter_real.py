"""Milters from Debian against relais (issue 15, part 1): rspamd's milter
proxy (the rspamd_proxy worker with milter = yes, scanning itself, on a
free loopback port; no redis, so greylisting and the other redis modules
are off; only rspamd's core checks and no module that asks the network)
rejects the GTUBE test message with 5XX and passes a clean one; OpenDKIM
signs through the milter protocol with a test key, and the delivered
message's DKIM-Signature verifies in python3-dkim against the key's TXT
record served by the test DNS server. Both are started by the test with
their configuration in its tmp dir, on 127.0.0.1 only, and stopped."""

import os
import shutil
import signal
import socket
import subprocess
import time

import dkim
import dnslib
import pytest

from conftest import HOST, free_port, message, split_headers, wait_until
from dnsserver import DNSServer

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def wait_port(port, proc, timeout, log):
    def up():
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex((HOST, port)) == 0
    wait_until(up, timeout, interval=0.2, what=f"a listener on {port}")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def rspamd(tmp_path):
    if shutil.which("rspamd") is None:
        pytest.skip("rspamd not installed (scripts/deps.sh test)")
    d = tmp_path / "rspamd"
    d.mkdir()
    port = free_port()
    dns = DNSServer({})
    dns.start()
    (d / "rspamd.conf").write_text(f"""
options {{
  pidfile = "{d}/rspamd.pid";
  dns {{ nameserver = ["{dns.address}"]; timeout = 1s; retransmits = 1; }}
  filters = "";
  control_socket = "{d}/rspamd.sock mode=0600";
  history_file = "{d}/history";
  cache_file = "{d}/symbols.cache";
  tempdir = "{d}";
}}
logging {{ type = "file"; filename = "{d}/rspamd.log"; level = "info"; }}
actions {{ reject = 15; add_header = 6; }}
worker "rspamd_proxy" {{
  bind_socket = "{HOST}:{port}";
  milter = yes;
  timeout = 120s;
  upstream "local" {{ default = yes; self_scan = yes; }}
  count = 1;
  spam_header = "X-Spam";
  reject_message = "Spam message rejected";
}}
""")
    log = d / "out.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen(
            ["rspamd", "-f", "-c", str(d / "rspamd.conf"), "-u", "root",
             "-g", "root", f"--var=DBDIR={d}", f"--var=RUNDIR={d}",
             f"--var=LOGDIR={d}", f"--var=LOCAL_CONFDIR={d}"],
            stdout=f, stderr=subprocess.STDOUT, cwd=str(d))
    try:
        # rspamd compiles its TLD list and language models at start
        wait_port(port, proc, 180, log)
        yield f"inet:{HOST}:{port}"
    finally:
        stop(proc)
        dns.stop()


def test_rspamd_rejects_gtube(relais_factory, rspamd, unique):
    r = relais_factory(overrides={"milter": {"servers": rspamd}}).start()
    # a clean message passes, with rspamd's header
    tok = unique("clean")
    r.send("sender@remote.test", ["alice@example.test"], message(tok))
    raw = r.maildir_messages("example.test", "alice")[0]
    assert tok.encode() in raw
    # GTUBE: refused at the end of DATA, nothing stored
    tok = unique("gtube")
    c = r.conn()
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<sender@remote.test>", 250)
    c.expect("RCPT TO:<bob@example.test>", 250)
    c.expect("DATA", 354)
    c.send(message(tok, body=f"{GTUBE}\r\n").encode() + b".\r\n")
    rep = c.reply(timeout=120)
    assert 500 <= rep.code < 600, rep
    c.expect("QUIT", 221)
    assert r.wait_log(r"event=milter.reject .*stage=eom")
    time.sleep(0.5)
    assert r.find_token(tok) == []


@pytest.fixture
def opendkim(tmp_path):
    if shutil.which("opendkim") is None:
        pytest.skip("opendkim not installed (scripts/deps.sh test)")
    d = tmp_path / "opendkim"
    d.mkdir()
    key = d / "milter.private"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"],
                   check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    pub = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout",
                          "-outform", "DER"], check=True,
                         capture_output=True, timeout=60).stdout
    import base64
    p64 = base64.b64encode(pub).decode()
    port = free_port()
    (d / "opendkim.conf").write_text(f"""\
Mode s
Domain example.test
Selector milter
KeyFile {key}
Socket inet:{port}@{HOST}
Background no
Syslog no
PidFile {d}/opendkim.pid
InternalHosts 127.0.0.0/8
Canonicalization relaxed/simple
SignatureAlgorithm rsa-sha256
OversignHeaders From
RequireSafeKeys false
""")
    log = d / "out.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen(["opendkim", "-f", "-x", str(d / "opendkim.conf")],
                                stdout=f, stderr=subprocess.STDOUT, cwd=str(d))
    try:
        wait_port(port, proc, 60, log)
        yield f"inet:{HOST}:{port}", f"v=DKIM1; k=rsa; p={p64}"
    finally:
        stop(proc)


def test_opendkim_signs(relais_factory, opendkim, unique):
    address, record = opendkim
    dns = DNSServer({"milter._domainkey.example.test": {"TXT": [record]}})
    dns.start()
    try:
        r = relais_factory(overrides={"milter": {"servers": address}}).start()
        tok = unique("dkim")
        r.send("alice@example.test", ["bob@example.test"],
               message(tok, sender="alice@example.test",
                       to="bob@example.test"))
        raw = r.maildir_messages("example.test", "bob")[0]
        lines, _ = split_headers(raw)
        assert any(ln.startswith("DKIM-Signature:") and "d=example.test" in ln
                   and "s=milter" in ln for ln in lines), lines
        # what the Maildir holds: LF line ends, Return-Path and
        # Delivered-To added by the delivery (not signed)
        msg = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")

        def dnsfunc(name, timeout=5):
            q = dnslib.DNSRecord.question(name.decode().rstrip("."), "TXT")
            a = dnslib.DNSRecord.parse(q.send(HOST, dns.port, timeout=timeout))
            return b"".join(b"".join(rr.rdata.data) for rr in a.rr
                            if rr.rtype == dnslib.QTYPE.TXT)
        assert dkim.verify(msg, dnsfunc=dnsfunc)
        assert dns.count("milter._domainkey.example.test", "TXT") > 0
        # a change after signing breaks it: the check means something
        assert not dkim.verify(msg.replace(tok.encode(), b"tampered"),
                               dnsfunc=dnsfunc)
    finally:
        dns.stop()
