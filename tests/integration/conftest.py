"""
conftest.py - the harness shared by relais's integration tests.

Every test talks to a real `relais serve` process started from RELAIS_BIN
(default <repo>/build/san/relais) on a free loopback port, with its config,
users file, aliases file and data directory inside the test's tmp_path.

Pieces:
  Relais      one daemon: config writing, start (waits for event=server.ready),
              stop (SIGTERM, asserts exit 0), kill9, restart, reload (SIGHUP),
              log access, Maildir polling, every accepted message
              finished (wait_settled), CLI runs, SMTP clients.
  SMTPConn    a raw SMTP client over a socket: exact bytes out, replies parsed
              (multi-line aware) in, and a transcript of both for failure
              messages.
  fixtures    relais_factory (make any number of daemons), relais (one default
              daemon, started). Teardown stops every daemon still running,
              asserts exit status 0 after SIGTERM and that no sanitizer report
              appears in any of its stderr logs. dnssec_server (signed zones
              served by unbound, dnssec.py).

Rules kept here so every test inherits them: loopback only, free ports,
every wait bounded in time, every process we start is stopped.
"""

import os
import re
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"

# Every daemon a test starts resolves through this server (an empty zone:
# NXDOMAIN for every name) unless the test gives its own [dns] resolver, so
# relais never asks the machine's resolver. Started once per session.
_DNS = None


def default_dns():
    global _DNS
    if _DNS is None:
        from dnsserver import DNSServer
        _DNS = DNSServer({})
        _DNS.start()
    return _DNS


@pytest.fixture(scope="session", autouse=True)
def _default_dns_server():
    yield
    global _DNS
    if _DNS is not None:
        _DNS.stop()
        _DNS = None
CLIENT_NAME = "client.test"  # never depend on the machine's host name

SANITIZER_RE = re.compile(
    r"ERROR: (?:Address|Leak|Thread|Memory|UndefinedBehavior)Sanitizer"
    r"|runtime error:"
    r"|AddressSanitizer:DEADLYSIGNAL"
)

# Default users (address -> password) and aliases used by most tests.
DEFAULT_USERS = {
    "alice@example.test": "alice-secret",
    "bob@example.test": "bob-secret",
    "carol@example.test": "carol-secret",
    "dave@other.test": "dave-secret",
}
DEFAULT_ALIASES = """\
# comment lines and blank lines are allowed
info@example.test: alice@example.test
team@example.test: alice@example.test, bob@example.test
postmaster@other.test: carol@example.test
@other.test: dave@other.test
"""


def relais_bin():
    env = os.environ.get("RELAIS_BIN")
    return Path(env) if env else REPO / "build" / "san" / "relais"


_ports_given = set()

# Ports for test servers come from a slice of 10000-32767, below the
# kernel's ephemeral range (so no connect() or bind(0) anywhere can take
# one between free_port() and its use), one slice per pytest-xdist worker
# (so two workers never hand out the same port).
_PORT_LO, _PORT_HI = 10000, 32768


def _port_slice():
    n = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    w = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    i = int(w[2:]) if w.startswith("gw") and w[2:].isdigit() else 0
    size = (_PORT_HI - _PORT_LO) // max(n, 1)
    return _PORT_LO + (i % max(n, 1)) * size, size


_port_next = [0]


def free_port(host=HOST):
    """A port that is free on host now, from this worker's slice of
    10000-32767 and never one this process was given before: two
    listeners of one config on one port make relais refuse its config."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    lo, size = _port_slice()
    for _ in range(size):
        port = lo + _port_next[0] % size
        _port_next[0] += 1
        if port in _ports_given:
            if len(_ports_given) >= size:
                _ports_given.clear()
            continue
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise RuntimeError("no free port left in this worker's slice")


# Test files that use fixed ports (443 of the MTA-STS web server, 53,
# 2525 of the embedded default) run one after another in one xdist group;
# every other file is a group of its own, so a module's fixtures are set
# up once, on one worker.
_FIXED_PORT_FILES = {
    "test_mta_sts.py", "test_mta_sts_service.py", "test_dane_check.py",
    "test_webhook_dns.py", "test_cli.py",
}


@pytest.hookimpl(tryfirst=True)     # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        name = item.path.name
        group = "fixed-ports" if name in _FIXED_PORT_FILES else name
        item.add_marker(pytest.mark.xdist_group(group))


_hash_cache = {}


def sha512_crypt(password):
    """{SHA512-CRYPT} hash of password (python's crypt, else doveadm)."""
    if password in _hash_cache:
        return _hash_cache[password]
    h = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # noqa: deprecated in 3.11, still present
        h = crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))
    except ImportError:
        pass
    if not h or not h.startswith("$6$"):
        out = subprocess.run(
            ["doveadm", "pw", "-s", "SHA512-CRYPT", "-p", password],
            capture_output=True, text=True, timeout=20, check=True)
        h = out.stdout.strip()
        if h.startswith("{SHA512-CRYPT}"):
            h = h[len("{SHA512-CRYPT}"):]
    _hash_cache[password] = h
    return h


def users_file_text(users):
    return "".join(f"{addr}:{{SHA512-CRYPT}}{sha512_crypt(pw)}:::\n"
                   for addr, pw in users.items())


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Poll pred() until truthy (returns its value) or fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


# --------------------------------------------------------------------------
# raw SMTP client


class Reply:
    """One SMTP reply: code, and the text of each line (code stripped)."""

    ENH_RE = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?:\s|$)")

    def __init__(self, code, texts, raw):
        self.code = code
        self.texts = texts
        self.raw = raw

    @property
    def text(self):
        return "\n".join(self.texts)

    @property
    def last(self):
        return self.texts[-1] if self.texts else ""

    @property
    def enhanced(self):
        """The RFC 3463 enhanced status code of the last line, or None."""
        m = self.ENH_RE.match(self.last)
        return m.group(0).strip() if m else None

    def __repr__(self):
        return f"Reply({self.raw!r})"

    def __str__(self):
        return self.raw.decode("utf-8", "replace").rstrip("\r\n")


class SMTPClosed(Exception):
    pass


class SMTPConn:
    """A raw SMTP dialogue over one TCP connection."""

    def __init__(self, port, host=HOST, timeout=10.0, read_greeting=True, source=None):
        self.sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        self.timeout = timeout
        self.buf = b""
        self.log = []  # ("C"|"S", bytes)
        self.eof = False
        self.greeting = self.reply() if read_greeting else None

    # -- output
    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.log.append(("C", data))
        self.sock.sendall(data)

    def line(self, text):
        """Send text + CRLF."""
        if isinstance(text, str):
            text = text.encode("utf-8")
        self.send(text + b"\r\n")

    # -- input
    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("reply timeout")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            raise SMTPClosed("connection closed by server")
        self.log.append(("S", chunk))
        self.buf += chunk

    def _readline(self, deadline):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                ln, self.buf = self.buf[:i + 1], self.buf[i + 1:]
                return ln
            if len(self.buf) > 100000:
                raise AssertionError("server sent an over-long reply line")
            self._fill(deadline)

    def reply(self, timeout=None):
        """Read one complete (possibly multi-line) reply."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        texts, raw, code = [], b"", None
        for _ in range(1000):
            ln = self._readline(deadline)
            raw += ln
            s = ln.decode("utf-8", "replace").rstrip("\r\n")
            m = re.match(r"^(\d{3})([ -]?)(.*)$", s)
            if not m:
                raise AssertionError(f"malformed reply line {ln!r}\n{self.transcript()}")
            c = int(m.group(1))
            if code is None:
                code = c
            elif c != code:
                raise AssertionError(f"reply code changed inside a multi-line reply {raw!r}")
            texts.append(m.group(3))
            if m.group(2) != "-":
                return Reply(code, texts, raw)
        raise AssertionError("reply with more than 1000 lines")

    def cmd(self, text, timeout=None):
        self.line(text)
        return self.reply(timeout)

    def expect(self, text, code, enhanced=None, timeout=None):
        """Send a command line, assert the reply code (and enhanced code)."""
        r = self.cmd(text, timeout) if text is not None else self.reply(timeout)
        self.check(r, code, enhanced)
        return r

    def check(self, r, code, enhanced=None):
        codes = code if isinstance(code, (tuple, list, set)) else (code,)
        assert r.code in codes, f"expected {code}, got {r}\n{self.transcript()}"
        if enhanced is not None:
            assert r.enhanced == enhanced, \
                f"expected enhanced code {enhanced}, got {r}\n{self.transcript()}"
        return r

    def quiet(self, seconds):
        """Return whatever the server sends within `seconds` (b'' if silent)."""
        deadline = time.monotonic() + seconds
        got = self.buf
        self.buf = b""
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                break
            self.log.append(("S", chunk))
            got += chunk
        self.buf = got
        return got

    def wait_closed(self, timeout=10.0):
        """True when the server closes the connection within timeout
        (data still arriving is kept in self.buf)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self._fill(deadline)
            except SMTPClosed:
                return True
            except socket.timeout:
                return False
            except OSError:
                return True
        return self.eof

    def ehlo(self, name=CLIENT_NAME):
        return self.expect(f"EHLO {name}", 250)

    def transcript(self):
        out = []
        for who, data in self.log[-60:]:
            for ln in data.split(b"\n"):
                if ln:
                    if len(ln) > 160:
                        out.append(f"  {who}: {ln[:100]!r} ... [{len(ln)} octets]")
                    else:
                        out.append(f"  {who}: {ln!r}")
        if len(out) > 80:
            out = out[:20] + [f"  ... {len(out) - 60} lines ..."] + out[-40:]
        return "SMTP exchange:\n" + "\n".join(out)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------
# the daemon


class Relais:
    def __init__(self, root, users=DEFAULT_USERS, aliases=DEFAULT_ALIASES,
                 domains="example.test other.test", overrides=None,
                 mailboxes=None, env=None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.bin = relais_bin()
        if not self.bin.exists():
            pytest.fail(f"relais binary {self.bin} not found (set RELAIS_BIN or "
                        f"run make build/san/relais)")
        self.data_dir = self.root / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.conf_path = self.root / "relais.conf"
        self.users_path = self.root / "users"
        self.aliases_path = self.root / "aliases"
        self.port = free_port()
        self.users = dict(users) if users is not None else None
        if users is not None:
            self.users_path.write_text(users_file_text(users))
        if aliases is not None:
            self.aliases_path.write_text(aliases)
        self.domains = domains
        self.mailboxes = mailboxes
        self.has_users = users is not None
        self.has_aliases = aliases is not None
        self.overrides = overrides or {}
        self.extra_env = env or {}
        self.proc = None
        self.runs = []          # [(Popen, log path)]
        self.exit_codes = []    # exit statuses observed by stop()
        self.conns = []
        self.smtps = []
        self.write_config()

    # -- config
    def config_sections(self, overrides=None):
        sec = {
            "server": {
                "hostname": "mx.test",
                "data_dir": str(self.data_dir),
                "threads": "2",
                "log_level": "debug",
            },
            "listener mx": {
                "address": f"{HOST}:{self.port}",
                "role": "mx",
            },
            "local": {
                "domains": self.domains,
                "users": str(self.users_path) if self.has_users else None,
                "aliases": str(self.aliases_path) if self.has_aliases else None,
                "mailboxes": self.mailboxes,
            },
            "relay": {"trusted_networks": "127.0.0.0/8"},
            # the test DNS servers sign nothing: with the system's root
            # key (dns-root-data) every answer would be bogus. Tests of
            # DNSSEC give their own anchor (dnssec.py).
            "dns": {"resolver": default_dns().address, "timeout": "2s",
                    "trust_anchor": "none"},
            "limits": {
                "max_message_size": "1M",
                "max_recipients": "5",
                "command_timeout": "5m",
                "data_timeout": "10m",
                "max_connections": "1000",
                "max_connections_per_ip": "20",
            },
        }
        for name, keys in (overrides if overrides is not None else self.overrides).items():
            if keys is None:
                sec.pop(name, None)
                continue
            sec.setdefault(name, {})
            for k, v in keys.items():
                sec[name][k] = v
        return sec

    def config_text(self, overrides=None):
        out = ["# written by tests/integration/conftest.py"]
        for name, keys in self.config_sections(overrides).items():
            out.append(f"[{name}]")
            for k, v in keys.items():
                if v is not None:
                    out.append(f"{k} = {v}")
            out.append("")
        return "\n".join(out)

    def write_config(self, overrides=None, text=None):
        if overrides is not None:
            self.overrides = overrides
        self.conf_path.write_text(text if text is not None else self.config_text())

    # -- process
    def env(self):
        e = dict(os.environ)
        # abort_on_error=0: a report ends the process with an exit status
        # (checked at teardown) instead of a core dump. A small quarantine
        # keeps freed buffers from inflating VmRSS in the memory-bound tests
        # (ASan's default holds up to 256 MB of freed memory).
        e["ASAN_OPTIONS"] = ("detect_leaks=1:abort_on_error=0:halt_on_error=1:"
                             "quarantine_size_mb=16:detect_stack_use_after_return=0")
        e["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
        e["LSAN_OPTIONS"] = "report_objects=0"
        e.update(self.extra_env)
        return e

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def log_path(self):
        return self.runs[-1][1] if self.runs else None

    def start(self, timeout=15.0, expect_ready=True):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        log = self.root / f"relais.{len(self.runs)}.log"
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(
                [str(self.bin), "serve", "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                env=self.env(), cwd=str(self.root), start_new_session=True)
        self.runs.append((self.proc, log))
        if not expect_ready:
            return self
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "event=server.ready" in self.run_log():
                return self
            if self.proc.poll() is not None:
                pytest.fail(f"relais exited with status {self.proc.returncode} before "
                            f"server.ready:\n{self.run_log()[-4000:]}")
            time.sleep(0.02)
        self.kill9()
        pytest.fail(f"relais not ready within {timeout}s:\n{self.run_log()[-4000:]}")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        assert self.running(), "relais is not running"
        self.proc.send_signal(sig)

    def stop(self, timeout=20.0, check=True):
        """SIGTERM, wait; returns the exit status. check: assert it is 0."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                self.exit_codes.append("timeout")
                if check:
                    raise AssertionError(
                        f"relais did not exit within {timeout}s of SIGTERM\n"
                        f"{self.run_log()[-3000:]}")
                return None
        rc = self.proc.returncode
        self.exit_codes.append(rc)
        if check:
            assert rc == 0, f"relais exit status {rc} after SIGTERM\n{self.run_log()[-3000:]}"
        return rc

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.exit_codes.append("killed")

    def restart(self, **kw):
        self.stop()
        return self.start(**kw)

    def reload(self, timeout=10.0):
        """SIGHUP and wait for the resulting config.reload[.failed] line."""
        off = self.log_offset()
        self.signal(signal.SIGHUP)
        m = self.wait_log(r"event=config\.reload(?:\.failed)?\b", timeout, since=off)
        return m.group(0)

    # -- logs
    def run_log(self):
        """stderr of the current (last) run."""
        if not self.log_path or not self.log_path.exists():
            return ""
        return self.log_path.read_bytes().decode("utf-8", "replace")

    def log(self):
        """stderr of every run, concatenated."""
        return "".join(p.read_bytes().decode("utf-8", "replace")
                       for _, p in self.runs if p.exists())

    def log_offset(self):
        return len(self.log())

    def wait_log(self, pattern, timeout=10.0, since=0):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log(), since)
            if m:
                return m
            if time.monotonic() >= deadline:
                raise AssertionError(f"no log line matching {pattern!r} within {timeout}s; "
                                     f"log tail:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def wait_settled(self, timeout=10.0):
        """Wait until every message relais accepted (event=received over
        SMTP, event=http.accepted over the API) is finished (event=removed):
        whatever was accepted before the call has been delivered (or
        bounced) by then."""
        def settled():
            got = {e.get("id") for ev in ("received", "http.accepted")
                   for e in self.log_events(ev)}
            done = {e.get("id") for e in self.log_events("removed")}
            return got <= done
        wait_until(settled, timeout, what="every accepted message finished")

    def log_events(self, event, since=0):
        """Parsed logfmt lines with event=EVENT."""
        out = []
        for ln in self.log()[since:].splitlines():
            if re.search(rf"\bevent={re.escape(event)}(\s|$)", ln):
                out.append(parse_logfmt(ln))
        return out

    # -- clients
    def conn(self, **kw):
        c = SMTPConn(self.port, **kw)
        self.conns.append(c)
        return c

    def smtp(self, timeout=15):
        import smtplib
        s = smtplib.SMTP(HOST, self.port, local_hostname=CLIENT_NAME, timeout=timeout)
        self.smtps.append(s)
        return s

    def send(self, sender, rcpts, msg, **kw):
        """Send one message with smtplib; returns the refused-recipients dict."""
        s = self.smtp()
        try:
            return s.sendmail(sender, rcpts, msg, **kw)
        finally:
            try:
                s.quit()
            except Exception:
                s.close()

    def cli(self, *args, timeout=30, input=None):
        return subprocess.run([str(self.bin), *args], capture_output=True, text=True,
                              timeout=timeout, env=self.env(), input=input,
                              cwd=str(self.root))

    # -- mailboxes
    def maildir(self, domain, user):
        if self.mailboxes:
            return Path(self.mailboxes.replace("%d", domain).replace("%u", user))
        return self.data_dir / "mail" / domain / user

    def maildir_files(self, domain, user, subdirs=("new", "cur")):
        md = self.maildir(domain, user)
        files = []
        for sd in subdirs:
            d = md / sd
            if d.is_dir():
                files.extend(sorted(p for p in d.iterdir() if p.is_file()))
        return files

    def maildir_messages(self, domain, user, count=1, timeout=10.0):
        """Wait until at least `count` messages are in the Maildir, return
        their contents (bytes)."""
        wait_until(lambda: len(self.maildir_files(domain, user)) >= count, timeout,
                   what=f"{count} message(s) in {self.maildir(domain, user)}")
        return [p.read_bytes() for p in self.maildir_files(domain, user)]

    def all_mail_files(self):
        root = self.data_dir / "mail" if not self.mailboxes else \
            Path(self.mailboxes.split("%")[0])
        if not root.is_dir():
            return []
        return sorted(p for p in root.rglob("*") if p.is_file() and p.parent.name in ("new", "cur"))

    def find_token(self, token, timeout=0.0):
        """Mail files containing token (waits up to timeout for at least one)."""
        tok = token.encode() if isinstance(token, str) else token

        def hits():
            return [p for p in self.all_mail_files() if tok in p.read_bytes()]
        if timeout:
            try:
                return wait_until(hits, timeout, what=f"a message containing {token!r}")
            except AssertionError:
                return []
        return hits()

    # -- teardown
    def teardown(self):
        """Stop everything; return a list of problems."""
        problems = []
        for c in self.conns:
            c.close()
        for s in self.smtps:
            try:
                s.close()
            except Exception:
                pass
        if self.running():
            try:
                self.stop(check=False)
            except Exception as e:  # pragma: no cover
                problems.append(f"stop failed: {e}")
        for rc in self.exit_codes:
            if rc not in (0, "killed"):
                problems.append(f"relais exit status after SIGTERM was {rc}")
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        text = self.log()
        m = SANITIZER_RE.search(text)
        if m:
            start = max(0, m.start() - 200)
            problems.append("sanitizer report in relais stderr:\n" + text[start:start + 6000])
        return problems


def parse_logfmt(line):
    out = {}
    for m in re.finditer(r'(\w[\w.\-]*)=("(?:[^"\\]|\\.)*"|\S*)', line):
        v = m.group(2)
        if v.startswith('"') and v.endswith('"') and len(v) >= 2:
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        out[m.group(1)] = v
    return out


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture
def relais_factory(tmp_path):
    """make(**kw) -> Relais (not started). All are stopped and checked at
    teardown."""
    made = []

    def make(root=None, **kw):
        r = Relais(root or tmp_path / f"relais{len(made)}", **kw)
        made.append(r)
        return r

    yield make
    problems = []
    for r in made:
        problems += r.teardown()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def dnssec_server(tmp_path):
    """make(zones) -> a started DNSSECServer (dnssec.py: signed zones
    served by unbound, with a trust anchor file for [dns] trust_anchor);
    zones maps a zone name to its records, or to a dict of Zone options
    ({"records": [...], "signed": False} ...). Stopped at teardown."""
    from dnssec import DNSSECServer
    made = []

    def make(zones=None, root=None):
        srv = DNSSECServer(root or tmp_path / f"dnssec{len(made)}", zones)
        made.append(srv)
        return srv.start()

    yield make
    for srv in made:
        srv.stop()


@pytest.fixture
def relais(relais_factory):
    """The default daemon, started."""
    return relais_factory().start()


def message(token, subject=None, body=None, sender="sender@remote.test",
            to="alice@example.test", extra_headers=""):
    """A small RFC 5322 message (str, CRLF line ends) carrying token."""
    subject = subject or f"test {token}"
    body = body if body is not None else f"Hello, this is {token}.\r\nSecond line.\r\n"
    return (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{token}@remote.test>\r\n{extra_headers}\r\n{body}")


def split_headers(raw):
    """(list of unfolded header lines, body bytes) of a stored message;
    tolerant of LF or CRLF line ends in the Maildir file."""
    text = raw.replace(b"\r\n", b"\n")
    head, _, body = text.partition(b"\n\n")
    lines = []
    for ln in head.split(b"\n"):
        if ln[:1] in (b" ", b"\t") and lines:
            lines[-1] += b" " + ln.strip()
        else:
            lines.append(ln)
    return [ln.decode("utf-8", "replace") for ln in lines], body


@pytest.fixture
def unique():
    """unique(prefix) -> a token unique to this test run."""
    n = [0]

    def make(prefix="tok"):
        n[0] += 1
        return f"{prefix}-{os.getpid()}-{time.monotonic_ns()}-{n[0]}"
    return make


def pytest_report_header(config):
    return f"relais binary: {relais_bin()}"



# --------------------------------------------------------------------------
# TLS (issue 4): test certificates, client contexts, TLS on raw connections


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A test CA and two server certificates signed by it, made once per
    run with the openssl command: 'main' for mx.test (+ localhost and
    127.0.0.1) and 'sni' for sni.test. Returns a dict of paths."""
    d = tmp_path_factory.mktemp("tls")

    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, timeout=60,
                       capture_output=True)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "30",
        "-subj", "/CN=relais test CA")
    out = {"ca": d / "ca.crt"}
    for name, cn, san in (("main", "mx.test", "DNS:mx.test,DNS:localhost,IP:127.0.0.1"),
                          ("sni", "sni.test", "DNS:sni.test")):
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}")
        (d / f"{name}.ext").write_text(
            f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n"
            "basicConstraints=critical,CA:FALSE\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "30", "-out", f"{name}.crt",
            "-extfile", f"{name}.ext")
        out[name] = (d / f"{name}.crt", d / f"{name}.key")
    return out


def tls_client_context(cafile=None, minimum=None, maximum=None, ciphers=None):
    """An ssl.SSLContext for tests: verifies against cafile when given,
    else verifies nothing."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(str(cafile))
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if ciphers:
        ctx.set_ciphers(ciphers)
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


def tls_wrap(conn, ctx=None, server_hostname=None):
    """Turn an SMTPConn's socket into TLS (after 220 to STARTTLS, or at
    once for implicit TLS); nothing may be buffered."""
    assert conn.buf == b"", f"bytes before the handshake: {conn.buf!r}"
    conn.sock = (ctx or tls_client_context()).wrap_socket(
        conn.sock, server_hostname=server_hostname)
    return conn


def tls_conn(port, implicit=False, ctx=None, server_hostname=None, ehlo=True,
             **kw):
    """An SMTPConn over TLS: implicit (handshake first) or STARTTLS."""
    c = SMTPConn(port, read_greeting=not implicit, **kw)
    if implicit:
        tls_wrap(c, ctx, server_hostname)
        c.greeting = c.reply()
    else:
        c.ehlo()
        c.expect("STARTTLS", 220)
        tls_wrap(c, ctx, server_hostname)
    if ehlo:
        c.ehlo()
    return c


def tls_listeners(relais, tls_files=None, starttls="optional", implicit=True,
                  role="submission"):
    """Config overrides adding a STARTTLS listener (role `role`, tls
    `starttls`) and an implicit-TLS submissions listener to relais, with
    the test certificate when tls_files is given; sets relais.sub_port
    and relais.tls_port."""
    relais.sub_port = free_port()
    over = {"listener sub": {"address": f"{HOST}:{relais.sub_port}",
                             "role": role, "tls": starttls}}
    if implicit:
        relais.tls_port = free_port()
        over["listener subs"] = {"address": f"{HOST}:{relais.tls_port}",
                                 "role": "submissions", "tls": "implicit"}
    if tls_files:
        crt, key = tls_files["main"]
        over["tls"] = {"certificate": str(crt), "key": str(key)}
    return over
