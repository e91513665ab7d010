"""HAProxy in front of relais for the tests: Debian's haproxy in the
foreground (-db) on loopback and a free port, a TCP frontend and a backend
of one or more relais listeners, each sent the PROXY header. Stopped by the
test (or the fixture).

    from haproxy import HAProxy, Backend
    with HAProxy(tmp_path / "hap", [Backend(HOST, r.proxy_port)]) as hap:
        hap.port              # where clients connect
        SMTPConn(hap.port, source="127.0.0.5")

    # two nodes, health checks that send the PROXY header (LOCAL)
    HAProxy(root, [Backend(HOST, p1, check=True), Backend(HOST, p2, check=True)],
            send_proxy="v1", smtpchk=True)

The `haproxy` fixture makes any number of them (started) and stops every
one at teardown: haproxy(servers, **kw) -> HAProxy.
"""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import HOST, free_port

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


class Backend:
    """One server of the backend: a relais listener's address. send_proxy
    None takes the HAProxy's default; check adds a health check that sends
    the PROXY header too (check-send-proxy)."""

    def __init__(self, host, port, send_proxy=None, check=False, name=None):
        self.host = host
        self.port = port
        self.send_proxy = send_proxy
        self.check = check
        self.name = name


def _send_proxy_opt(mode):
    if mode in ("v2", 2):
        return "send-proxy-v2"
    if mode in ("v1", 1):
        return "send-proxy"
    if mode in (None, "none", False):
        return ""
    raise ValueError(f"send_proxy {mode!r}: v1, v2 or none")


def _listening(host, port):
    """The kernel holds a listening TCP socket on host:port (read from
    /proc/net/tcp: no connection is made, so no backend sees one)."""
    want_port = f"{port:04X}"
    want_addr = socket.inet_aton(host)[::-1].hex().upper()
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    for ln in lines:
        f = ln.split()
        if len(f) < 4 or f[3] != "0A":         # TCP_LISTEN
            continue
        addr, _, p = f[1].partition(":")
        if p == want_port and addr in (want_addr, "00000000"):
            return True
    return False


class HAProxy:
    def __init__(self, root, servers, send_proxy="v2", balance="roundrobin",
                 smtpchk=False, inter="500ms", host=HOST, port=None,
                 timeout="30s"):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.servers = list(servers)
        self.send_proxy = send_proxy
        self.balance = balance
        self.smtpchk = smtpchk
        self.inter = inter
        self.host = host
        self.port = port or free_port(host)
        self.timeout = timeout
        self.conf_path = self.root / "haproxy.cfg"
        self.log_path = self.root / "haproxy.log"
        self.proc = None

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def config_text(self):
        out = [
            "global",
            "    maxconn 256",
            "defaults",
            "    mode tcp",
            "    timeout connect 5s",
            f"    timeout client {self.timeout}",
            f"    timeout server {self.timeout}",
            "frontend smtp_in",
            f"    bind {self.host}:{self.port}",
            "    default_backend relais",
            "backend relais",
            f"    balance {self.balance}",
        ]
        if self.smtpchk:
            out.append("    option smtpchk EHLO haproxy.test")
        for i, s in enumerate(self.servers):
            opts = [_send_proxy_opt(s.send_proxy if s.send_proxy is not None
                                    else self.send_proxy)]
            if s.check:
                opts += ["check", "check-send-proxy", f"inter {self.inter}"]
            name = s.name or f"relais{i}"
            out.append(f"    server {name} {s.host}:{s.port} " +
                       " ".join(o for o in opts if o))
        return "\n".join(out) + "\n"

    def start(self, timeout=10.0):
        assert self.proc is None, "already started"
        self.conf_path.write_text(self.config_text())
        chk = subprocess.run([HAPROXY, "-c", "-q", "-f", str(self.conf_path)],
                             capture_output=True, text=True, timeout=30)
        if chk.returncode != 0:
            raise RuntimeError(f"haproxy refuses {self.conf_path}:\n"
                               f"{chk.stdout}{chk.stderr}")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [HAPROXY, "-db", "-f", str(self.conf_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=str(self.root), start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.proc.returncode}:"
                                   f"\n{self.log()}")
            if _listening(self.host, self.port):
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"haproxy not listening on {self.address} within "
                           f"{timeout}s:\n{self.log()}")

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


@pytest.fixture
def haproxy(tmp_path):
    """make(servers, **kw) -> a started HAProxy; all stopped at teardown."""
    made = []

    def make(servers, root=None, **kw):
        h = HAProxy(root or tmp_path / f"haproxy{len(made)}", servers, **kw)
        made.append(h)
        return h.start()

    yield make
    for h in made:
        h.stop()
