"""Command line: --version, --help, check-config (FILE:LINE: message, exit
2), serve with a bad config, queue list / show (issue 2, items 5 and 6)."""

import re
import subprocess
import time

import pytest

from conftest import message, relais_bin


def run(*args, timeout=30, cwd=None):
    return subprocess.run([str(relais_bin()), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd,
                          env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
                               "PATH": "/usr/bin:/bin"})


def no_sanitizer(p):
    text = p.stdout + p.stderr
    assert "Sanitizer" not in text and "runtime error:" not in text, text


def test_version():
    p = run("--version")
    assert p.returncode == 0, p.stderr
    assert re.search(r"relais\b.*\d+\.\d+", p.stdout), p.stdout
    no_sanitizer(p)


def test_help_lists_commands():
    p = run("--help")
    assert p.returncode == 0, p.stderr
    for cmd in ("serve", "queue", "check-config"):
        assert cmd in p.stdout, p.stdout
    no_sanitizer(p)


@pytest.mark.parametrize("cmd", ["serve", "queue", "check-config"])
def test_command_help(cmd):
    p = run(cmd, "--help")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "-c" in p.stdout, p.stdout
    no_sanitizer(p)


def test_unknown_command_fails():
    p = run("frobnicate")
    assert p.returncode != 0
    assert p.stderr.strip(), "no message for an unknown command"
    no_sanitizer(p)


@pytest.fixture
def cfg(relais_factory):
    """A Relais (not started) whose config file we break line by line."""
    return relais_factory()


def test_check_config_good(cfg):
    p = run("check-config", "-c", str(cfg.conf_path))
    assert p.returncode == 0, p.stderr
    no_sanitizer(p)


def line_of(text, needle):
    for i, ln in enumerate(text.splitlines(), 1):
        if needle in ln:
            return i
    raise AssertionError(f"{needle!r} not in config")


def lines_of(text, needles):
    if isinstance(needles, str):
        needles = (needles,)
    return [line_of(text, n) for n in needles]


# (what to change, the line whose number must be reported)
BAD = {
    # inih reports an unknown section at its header or at its first key
    "unknown-section": (lambda t: t + "\n[nonsense]\nfoo = bar\n", ("[nonsense]", "foo = bar")),
    "unknown-key": (lambda t: t.replace("threads = 2", "threads = 2\nfrobnicate = 1"),
                    "frobnicate = 1"),
    "bad-size": (lambda t: t.replace("max_message_size = 1M", "max_message_size = lots"),
                 "max_message_size = lots"),
    "bad-size-suffix": (lambda t: t.replace("max_message_size = 1M", "max_message_size = 1Q"),
                        "max_message_size = 1Q"),
    "bad-duration": (lambda t: t.replace("command_timeout = 5m", "command_timeout = 5 fortnights"),
                     "command_timeout = 5 fortnights"),
    "bad-number": (lambda t: t.replace("max_recipients = 5", "max_recipients = -3"),
                   "max_recipients = -3"),
    "bad-role": (lambda t: t.replace("role = mx", "role = bogus"), "role = bogus"),
    "bad-log-level": (lambda t: t.replace("log_level = debug", "log_level = loud"),
                      "log_level = loud"),
    "bad-address": (lambda t: re.sub(r"address = \S+", "address = 127.0.0.1:99999", t),
                    "address = 127.0.0.1:99999"),
    "bad-address-nohost": (lambda t: re.sub(r"address = \S+", "address = nonsense", t),
                           "address = nonsense"),
    "bad-cidr": (lambda t: t.replace("trusted_networks = 127.0.0.0/8",
                                     "trusted_networks = 127.0.0.0/33"),
                 "trusted_networks = 127.0.0.0/33"),
    "bad-tls": (lambda t: t.replace("role = mx", "role = mx\ntls = sometimes"),
                "tls = sometimes"),
    "bad-threads": (lambda t: t.replace("threads = 2", "threads = many"), "threads = many"),
    "syntax": (lambda t: t.replace("[relay]", "[relay\nthis line is junk"), "[relay"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_check_config_bad_reports_file_line(cfg, case):
    change, needle = BAD[case]
    text = change(cfg.config_text())
    cfg.write_config(text=text)
    linenos = lines_of(text, needle)
    p = run("check-config", "-c", str(cfg.conf_path))
    assert p.returncode == 2, f"exit {p.returncode}: {p.stderr}"
    assert any(f"{cfg.conf_path}:{n}: " in p.stderr for n in linenos), \
        f"expected '{cfg.conf_path}:{linenos[0]}: ...' in stderr, got {p.stderr!r}"
    no_sanitizer(p)


@pytest.mark.parametrize("case", ["unknown-key", "bad-size", "bad-role"])
def test_serve_bad_config_exits_2(cfg, case):
    change, needle = BAD[case]
    text = change(cfg.config_text())
    cfg.write_config(text=text)
    linenos = lines_of(text, needle)
    p = run("serve", "-c", str(cfg.conf_path), timeout=20)
    assert p.returncode == 2, f"exit {p.returncode}: {p.stderr}"
    assert any(f"{cfg.conf_path}:{n}: " in p.stderr for n in linenos), p.stderr
    no_sanitizer(p)


def test_check_config_missing_file(tmp_path):
    missing = tmp_path / "nope.conf"
    p = run("check-config", "-c", str(missing))
    assert p.returncode == 2, p.stderr
    assert str(missing) in p.stderr
    no_sanitizer(p)


def test_check_config_listener_without_address(cfg):
    text = cfg.config_text()
    text = re.sub(r"address = \S+\n", "", text)
    cfg.write_config(text=text)
    p = run("check-config", "-c", str(cfg.conf_path))
    assert p.returncode == 2, "a listener without address must be refused"
    assert str(cfg.conf_path) + ":" in p.stderr, p.stderr


# ---------------------------------------------------------------- queue


def block_mailbox(r, domain, user):
    p = r.maildir(domain, user)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("a file where the Maildir should be\n")


def test_queue_list_empty(relais):
    p = relais.cli("queue", "list", "-c", str(relais.conf_path))
    assert p.returncode == 0, p.stderr
    assert "@" not in p.stdout, p.stdout


def test_queue_list_and_show_while_running(relais, unique):
    block_mailbox(relais, "example.test", "carol")
    tok = unique("queued")
    assert relais.send("queued-sender@remote.test", ["carol@example.test"],
                       message(tok, to="carol@example.test")) == {}
    qid = relais.log_events("received")[0]["id"]
    relais.wait_log(r"event=deferred [^\n]*id=" + re.escape(qid), timeout=15)

    p = relais.cli("queue", "list", "-c", str(relais.conf_path))
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stdout.splitlines() if qid in ln]
    assert len(lines) == 1, p.stdout
    assert "carol@example.test" in lines[0]

    p = relais.cli("queue", "show", qid, "-c", str(relais.conf_path))
    assert p.returncode == 0, p.stderr
    assert "queued-sender@remote.test" in p.stdout, p.stdout
    assert "carol@example.test" in p.stdout, p.stdout

    p = relais.cli("queue", "show", "NO-SUCH-ID-0000", "-c", str(relais.conf_path))
    assert p.returncode != 0
    assert p.stderr.strip()


def test_queue_survives_stop_and_restart(relais, unique):
    block_mailbox(relais, "example.test", "carol")
    tok = unique("later")
    assert relais.send("s@remote.test", ["carol@example.test", "alice@example.test"],
                       message(tok)) == {}
    qid = relais.log_events("received")[0]["id"]
    relais.wait_log(r"event=deferred [^\n]*id=" + re.escape(qid), timeout=15)
    # the alice copy is delivered, the carol copy stays queued
    relais.maildir_messages("example.test", "alice")
    relais.stop()
    p = relais.cli("queue", "list", "-c", str(relais.conf_path))
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stdout.splitlines() if qid in ln]
    assert len(lines) == 1 and "carol@example.test" in lines[0], p.stdout
    relais.start()
    time.sleep(1.0)
    p = relais.cli("queue", "list", "-c", str(relais.conf_path))
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stdout.splitlines() if qid in ln]
    assert len(lines) == 1 and "carol@example.test" in lines[0], p.stdout
    assert not re.search(r"event=bounced [^\n]*id=" + re.escape(qid), relais.log())
    # the alice copy was not delivered a second time
    assert len(relais.find_token(tok)) == 1


def test_embedded_default(tmp_path, unique):
    """`relais serve` without -c and without ./relais.conf: 127.0.0.1:2525,
    local domain localhost accepting every local part, data in ./relais-data/."""
    import signal
    import smtplib
    import socket
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", 2525))
        except OSError:
            pytest.skip("127.0.0.1:2525 is in use")
    log = tmp_path / "default.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen([str(relais_bin()), "serve"], cwd=str(tmp_path),
                                stdout=f, stderr=subprocess.STDOUT,
                                env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
                                 "PATH": "/usr/bin:/bin"})
    try:
        deadline = time.monotonic() + 15
        while "event=server.ready" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "not ready"
            time.sleep(0.05)
        tok = unique("default")
        with smtplib.SMTP("127.0.0.1", 2525, local_hostname="client.test", timeout=15) as c:
            assert c.sendmail("s@remote.test", ["Someone@localhost"],
                              message(tok, to="someone@localhost")) == {}
        new = tmp_path / "relais-data" / "mail" / "localhost" / "someone" / "new"
        deadline = time.monotonic() + 10
        while not (new.is_dir() and any(new.iterdir())):
            assert time.monotonic() < deadline, f"nothing in {new}"
            time.sleep(0.05)
        assert tok.encode() in next(new.iterdir()).read_bytes()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = log.read_text(errors="replace")
    assert "Sanitizer" not in text and "runtime error:" not in text, text[-3000:]
