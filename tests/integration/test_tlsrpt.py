"""
TLS-RPT (RFC 8460; issue 14, item 3): the daily aggregate reports of
outbound TLS, from the counts in the spool to the reporting addresses a
domain publishes at _smtp._tls.DOMAIN.

Peers on loopback, all on one port (outbound_util): good.test's MX
(127.0.0.2) offers STARTTLS and takes mail, bad.test's MX (127.0.0.3)
offers no STARTTLS while [tls_policy] says bad.test = encrypt, and
reports.test's MX (127.0.0.4) captures the reports sent to
tlsrpt@reports.test. good.test also names an https: rua, served by a
small HTTPS server with the test CA ([relay] ca_file).

Every report is checked against the RFC 8460 section 4 JSON schema
(data/tlsrpt_report.schema.json, with python3-jsonschema), and every
report mail against RFC 8460 5.1 and 5.3: multipart/report;
report-type="tlsrpt", the application/tlsrpt+gzip attachment and its file
name, the Subject, TLS-Report-Domain and TLS-Report-Submitter.

Most tests put counts into the spool's tlsrpt_counts table themselves
(as the daemon's own store does), so they test the reporting alone.
test_sessions_counted_and_reported sends real mail and so needs the
outbound agent's tlsrpt_record calls (one per session).
"""

import datetime
import email
import email.policy
import gzip
import http.server
import json
import re
import sqlite3
import ssl
import subprocess
import threading
from pathlib import Path

import dkim
import jsonschema
import pytest

from conftest import HOST, free_port, wait_until
from outbound_util import *  # noqa: F401,F403 (fixtures)

SENDER = "alice@example.test"
FROM = "tlsrpt-noreply@example.test"
ORG = "Relais Test Org"
SUBMITTER = "mx.test"           # [server] hostname of the test daemons

SCHEMA = json.loads((Path(__file__).parent / "data" /
                     "tlsrpt_report.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.FormatChecker())

STS = ["version: STSv1", "mode: enforce", "mx: mx.good.test",
       "max_age: 86400"]


def validate(report):
    errors = sorted(VALIDATOR.iter_errors(report), key=str)
    assert not errors, "report does not follow RFC 8460:\n" + "\n".join(
        f"  {list(e.absolute_path)}: {e.message}" for e in errors) + \
        "\n" + json.dumps(report, indent=2)


def utc_day(offset=0):
    d = datetime.datetime.now(datetime.timezone.utc).date() + \
        datetime.timedelta(days=offset)
    return d.isoformat()


# ------------------------------------------------------------- fixtures


class HTTPSCapture:
    """An HTTPS server on 127.0.0.1 that answers every POST with 200 and
    keeps (path, headers, body)."""

    def __init__(self, cert, key):
        self.posts = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                outer.posts.append((self.path, dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer((HOST, self.port),
                                                      Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        self.server.socket = ctx.wrap_socket(self.server.socket,
                                             server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}/v1/tlsrpt"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def https_rua(tls_files):
    srv = HTTPSCapture(*tls_files["main"])
    yield srv
    srv.stop()


def zone(dns, https_url=None):
    for dom, ip in (("good.test", "127.0.0.2"), ("bad.test", "127.0.0.3"),
                    ("reports.test", "127.0.0.4")):
        dns.set(dom, {"MX": [(10, f"mx.{dom}")]})
        dns.set(f"mx.{dom}", {"A": [ip]})
    rua = "mailto:tlsrpt@reports.test" + (f",{https_url}" if https_url else "")
    dns.set("_smtp._tls.good.test",
            {"TXT": ["v=spf1 -all", f"v=TLSRPTv1; rua={rua}"]})
    dns.set("_smtp._tls.bad.test",
            {"TXT": ["v=TLSRPTv1;rua=mailto:tlsrpt@reports.test;"]})


def daemon(outbound, tls_files, enabled=True, extra=None, start=True):
    sections = {
        "tlsrpt": {"enabled": "yes" if enabled else "no", "from": FROM,
                   "organization": ORG},
        "tls_policy": {"bad.test": "encrypt"},
    }
    for sec, keys in (extra or {}).items():
        sections.setdefault(sec, {}).update(keys)
    return outbound(relay={"ca_file": str(tls_files["ca"])}, extra=sections,
                    start=start)


def add_counts(relais, rows):
    """Rows (day, domain, policy_type, policy lines, mx_host, sending_ip,
    receiving_ip, result, detail, count) into the spool, as the daemon's
    own store writes them."""
    db = sqlite3.connect(str(relais.data_dir / "spool" / "queue.db"),
                         timeout=10)
    try:
        db.executemany(
            "INSERT INTO tlsrpt_counts(day, domain, policy_type, policy,"
            " mx_host, sending_ip, receiving_ip, result, detail, count)"
            " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r[0], r[1], r[2], "\n".join(r[3]), *r[4:]) for r in rows])
        db.commit()
    finally:
        db.close()


def stored_days(relais):
    db = sqlite3.connect(str(relais.data_dir / "spool" / "queue.db"),
                         timeout=10)
    try:
        return {(d, dom) for d, dom in db.execute(
            "SELECT DISTINCT day, domain FROM tlsrpt_counts")}
    finally:
        db.close()


def tls_report(relais, *args, timeout=200):
    return relais.cli("tls", "report", *args, "-c", str(relais.conf_path),
                      timeout=timeout)


def printed(relais, day):
    p = tls_report(relais, "--day", day)
    assert p.returncode == 0, p.stderr
    reports = json.loads(p.stdout)
    for r in reports:
        validate(r)
    return {r["policies"][0]["policy"]["policy-domain"]: r for r in reports}


def report_mails(sink, count, timeout=30):
    """The report mails the sink got: {domain: (message, report dict,
    filename)}, each checked against RFC 8460 5.1 and 5.3."""
    out = {}
    for t in sink.wait_messages(count, timeout=timeout):
        m = email.message_from_bytes(t.data, policy=email.policy.default)
        domain = str(m["TLS-Report-Domain"])
        assert str(m["TLS-Report-Submitter"]) == SUBMITTER
        assert m.get_content_type() == "multipart/report", m["Content-Type"]
        assert m.get_param("report-type") == "tlsrpt", m["Content-Type"]
        assert m["From"].addresses[0].addr_spec == FROM
        assert t.sender == FROM
        subject = re.fullmatch(
            r"Report Domain: (\S+) Submitter: (\S+) Report-ID: <([^>]+)>",
            str(m["Subject"]))
        assert subject, m["Subject"]
        assert subject.group(1) == domain
        assert subject.group(2) == SUBMITTER
        parts = [p for p in m.iter_parts()]
        assert parts[0].get_content_type() == "text/plain"
        att = [p for p in parts
               if p.get_content_type() == "application/tlsrpt+gzip"]
        assert len(att) == 1, [p.get_content_type() for p in parts]
        fname = att[0].get_filename()
        f = re.fullmatch(r"(\S+?)!(\S+?)!(\d+)!(\d+)!([0-9A-Za-z]+)\.json\.gz",
                         fname)
        assert f, fname
        assert f.group(1) == SUBMITTER and f.group(2) == domain, fname
        report = json.loads(gzip.decompress(att[0].get_content()))
        validate(report)
        assert report["report-id"] == subject.group(3)
        assert report["organization-name"] == ORG
        assert report["contact-info"] == FROM
        start = datetime.datetime.fromisoformat(
            report["date-range"]["start-datetime"].replace("Z", "+00:00"))
        end = datetime.datetime.fromisoformat(
            report["date-range"]["end-datetime"].replace("Z", "+00:00"))
        assert int(start.timestamp()) == int(f.group(3))
        assert int(end.timestamp()) == int(f.group(4))
        for p in report["policies"]:
            assert p["policy"]["policy-domain"] == domain
        assert domain not in out, f"two reports for {domain}"
        out[domain] = (m, report, fname, t)
    return out


def policy(report, ptype):
    found = [p for p in report["policies"]
             if p["policy"]["policy-type"] == ptype]
    assert len(found) == 1, report
    return found[0]


def failures(p, result):
    return sum(f["failed-session-count"] for f in p.get("failure-details", [])
               if f["result-type"] == result)


def dkim_key(tmp_path):
    """An Ed25519 key for [dkim example.test] and dkimpy's DNS answer."""
    key = tmp_path / "dkim.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out",
                    str(key)], check=True, timeout=30, capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout",
                          "-outform", "DER"], check=True, timeout=30,
                         capture_output=True).stdout
    import base64
    record = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(der[-32:])
    key.chmod(0o600)
    return key, record


# ----------------------------------------------------------------- tests


def test_report_from_stored_counts(dns, peers, outbound, tls_files,
                                   https_rua, tmp_path):
    """Counts of today in the spool: `relais tls report --day today`
    prints the reports; `--send` has the daemon mail them (one message
    per domain, DKIM-signed by [dkim example.test]) and POST the one of
    good.test to its https: rua; today's counts stay for the report after
    the day ends."""
    zone(dns, https_rua.url)
    sink = peers("127.0.0.4", name="mx.reports.test")
    key, record = dkim_key(tmp_path)
    r = daemon(outbound, tls_files, extra={
        "dkim example.test": {"selector": "s1", "key": str(key),
                              "algorithm": "ed25519-sha256"}})
    today = utc_day()
    add_counts(r, [
        (today, "good.test", "sts", STS, "", "", "", "success", "", 3),
        (today, "good.test", "sts", STS, "mx.good.test", "192.0.2.1",
         "127.0.0.2", "certificate-expired", "certificate has expired", 1),
        (today, "good.test", "no-policy-found", [], "", "", "", "success",
         "", 2),
        (today, "bad.test", "no-policy-found", [], "mx.bad.test", "",
         "127.0.0.3", "starttls-not-supported", "STARTTLS not offered", 2),
    ])

    shown = printed(r, "today")
    assert set(shown) == {"good.test", "bad.test"}
    sts = policy(shown["good.test"], "sts")
    assert sts["summary"] == {"total-successful-session-count": 3,
                              "total-failure-session-count": 1}
    assert sts["policy"]["policy-string"] == STS
    assert sts["policy"]["mx-host"] == ["mx.good.test"]
    assert failures(sts, "certificate-expired") == 1
    assert shown["good.test"]["date-range"]["start-datetime"] == \
        f"{today}T00:00:00Z"

    p = tls_report(r, "--day", "today", "--send")
    assert p.returncode == 0, (p.stdout, p.stderr, r.log()[-3000:])
    assert "good.test: report" in p.stdout and "bad.test: report" in \
        p.stdout, p.stdout
    mails = report_mails(sink, 2)
    assert set(mails) == {"good.test", "bad.test"}
    _, bad, _, t = mails["bad.test"]
    assert t.accepted_rcpts == ["tlsrpt@reports.test"]
    none = policy(bad, "no-policy-found")
    assert none["summary"]["total-failure-session-count"] == 2
    assert failures(none, "starttls-not-supported") == 2
    detail = none["failure-details"][0]
    assert detail["receiving-mx-hostname"] == "mx.bad.test"
    assert detail["receiving-ip"] == "127.0.0.3"
    assert detail["failure-reason-code"] == "STARTTLS not offered"
    _, good, _, t = mails["good.test"]
    assert policy(good, "sts")["summary"][
        "total-successful-session-count"] == 3
    assert policy(good, "no-policy-found")["summary"][
        "total-successful-session-count"] == 2
    # RFC 8460 5.3: reports by mail are DKIM-signed
    raw = t.data
    assert b"DKIM-Signature:" in raw and b"d=example.test" in raw
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: record
                       if name == b"s1._domainkey.example.test." else None)

    # the https: rua: one POST of the gzip (RFC 8460 5.2, 5.4)
    wait_until(lambda: https_rua.posts, 10, what="the https: report")
    path, headers, body = https_rua.posts[0]
    assert path == "/v1/tlsrpt"
    assert headers["Content-Type"] == "application/tlsrpt+gzip"
    posted = json.loads(gzip.decompress(body))
    validate(posted)
    assert posted["policies"][0]["policy"]["policy-domain"] == "good.test"
    assert len(https_rua.posts) == 1

    # today is not over: its counts stay for the daily report
    assert {d for d in stored_days(r)} == {(today, "good.test"),
                                           (today, "bad.test")}
    assert r.log_events("tlsrpt.sent")


def test_past_day_reported_at_start(dns, peers, outbound, tls_files):
    """Counts of a past day are reported when the daemon starts, without
    being asked; a domain that publishes no TLS-RPT record gets none.
    Both domains' counts of that day go once reported."""
    zone(dns)
    sink = peers("127.0.0.4", name="mx.reports.test")
    r = daemon(outbound, tls_files, start=False)
    r.start()       # the spool and its tables
    r.stop()
    yesterday = utc_day(-1)
    add_counts(r, [
        (yesterday, "bad.test", "no-policy-found", [], "mx.bad.test",
         "127.0.0.1", "127.0.0.3", "starttls-not-supported", "", 4),
        (yesterday, "nothing.test", "no-policy-found", [], "", "", "",
         "success", "", 9),
    ])
    assert printed(r, yesterday).keys() == {"bad.test", "nothing.test"}
    r.start()
    mails = report_mails(sink, 1)
    assert set(mails) == {"bad.test"}
    _, report, fname, _ = mails["bad.test"]
    assert report["date-range"] == {
        "start-datetime": f"{yesterday}T00:00:00Z",
        "end-datetime": f"{yesterday}T23:59:59Z"}
    assert failures(policy(report, "no-policy-found"),
                    "starttls-not-supported") == 4
    wait_until(lambda: not stored_days(r), 15,
               what="yesterday's counts removed once reported")
    assert printed(r, yesterday) == {}
    assert dns.count("_smtp._tls.nothing.test", "TXT") >= 1
    # sent once: a restart does not send it again
    r.stop()
    r.start()
    r.wait_log(r"event=tlsrpt\.pass days=0", timeout=15)
    assert len(sink.messages) == 1


def test_send_needs_reports_on(dns, peers, outbound, tls_files):
    """[tlsrpt] enabled = no (the default): counts are kept and shown,
    nothing is sent, and --send says why."""
    zone(dns)
    sink = peers("127.0.0.4", name="mx.reports.test")
    r = daemon(outbound, tls_files, enabled=False)
    today = utc_day()
    add_counts(r, [(today, "bad.test", "no-policy-found", [], "", "", "",
                    "success", "", 1)])
    assert printed(r, today).keys() == {"bad.test"}
    p = tls_report(r, "--day", today, "--send")
    assert p.returncode == 1
    assert "reports are off" in p.stdout, (p.stdout, p.stderr)
    assert sink.messages == []


def test_command_line(dns, outbound, tls_files):
    """Days the command takes and refuses; an empty day is []."""
    r = daemon(outbound, tls_files)
    assert printed(r, "today") == {}
    p = tls_report(r, "--day", utc_day(-3))
    assert p.returncode == 0 and json.loads(p.stdout) == []
    for bad in ("2026-02-30", "yesterday", utc_day(2), "2026-1-1"):
        p = tls_report(r, "--day", bad)
        assert p.returncode == 2, (bad, p.stdout, p.stderr)
    p = tls_report(r, "--bogus")
    assert p.returncode == 2


def test_sessions_counted_and_reported(dns, peers, outbound, tls_files):
    """The whole path (needs the outbound agent's tlsrpt_record calls):
    a session to good.test that delivers counts as a success, sessions
    given up on bad.test (encrypt, no STARTTLS offered) as
    starttls-not-supported failures; the report of today, sent on
    demand, says so."""
    zone(dns)
    good = peers("127.0.0.2", name="mx.good.test", tls=tls_files["main"])
    bad = peers("127.0.0.3", name="mx.bad.test")
    sink = peers("127.0.0.4", name="mx.reports.test")
    r = daemon(outbound, tls_files)
    submit(r, SENDER, ["bob@good.test"], msg_text("tlsrpt-good",
                                                   to="bob@good.test"))
    submit(r, SENDER, ["carol@bad.test"], msg_text("tlsrpt-bad",
                                                    to="carol@bad.test"))
    (t,) = good.wait_messages(1, timeout=20)
    assert t.tls
    wait_until(lambda: [e for e in r.log_events("deferred")
                        if "bad.test" in e.get("to", "")], 20,
               what="the bad.test recipient deferred")
    assert bad.messages == []

    # counts reach the spool within a few seconds
    def counted():
        shown = printed(r, "today")
        return shown if {"good.test", "bad.test"} <= shown.keys() else None
    wait_until(counted, 30, interval=1, what="TLS-RPT counts in the spool")

    p = tls_report(r, "--day", "today", "--send")
    assert p.returncode == 0, (p.stdout, p.stderr)
    mails = report_mails(sink, 2)
    good_report = mails["good.test"][1]
    ok = sum(p["summary"]["total-successful-session-count"]
             for p in good_report["policies"])
    assert ok >= 1, good_report
    bad_report = mails["bad.test"][1]
    assert sum(failures(p, "starttls-not-supported")
               for p in bad_report["policies"]) >= 1, bad_report
