"""A Redis server for cluster tests: Debian's redis-server on 127.0.0.1 and
a free port, no persistence, its own directory; stopped by the test.

    from redis_server import RedisServer
    with RedisServer(tmp_path / "redis") as rs:
        rs.address            # "127.0.0.1:PORT", for [cluster] redis
        rs.cmd("GET", "k")    # one command, the reply decoded (RESP)
        rs.stop(); rs.start() # Redis away and back, same port

The client in cmd() speaks RESP itself over a socket, so tests need no
Python Redis library.
"""

import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from conftest import HOST, free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    def __init__(self, root, password=None, tls=None):
        """tls: None, or a dict with the server's "cert" and "key"
        and the "ca" its clients' certificates must chain to (all PEM
        paths), and "client" (cert, key) for cmd(): then Redis listens
        only on its tls-port, asks clients for a certificate, and cmd()
        speaks TLS."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.password = password
        self.tls = tls
        self.port = free_port()
        self.proc = None

    @property
    def address(self):
        return f"{HOST}:{self.port}"

    def start(self):
        conf = self.root / "redis.conf"
        lines = [
            f"bind {HOST}", "save \"\"",
            "appendonly no", f"dir {self.root}", "daemonize no",
            "protected-mode no", "loglevel warning",
            f"logfile {self.root / 'redis.log'}",
        ]
        if self.tls:
            lines += ["port 0", f"tls-port {self.port}",
                      f"tls-cert-file {self.tls['cert']}",
                      f"tls-key-file {self.tls['key']}",
                      f"tls-ca-cert-file {self.tls['ca']}",
                      "tls-auth-clients yes"]
        else:
            lines.append(f"port {self.port}")
        if self.password:
            lines.append(f"requirepass {self.password}")
        conf.write_text("\n".join(lines) + "\n")
        self.proc = subprocess.Popen([REDIS_SERVER, str(conf)],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.cmd("PING") == "PONG":
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        log = (self.root / "redis.log")
        raise RuntimeError("redis-server did not start: " +
                           (log.read_text() if log.exists() else ""))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
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

    # -- a small RESP client --------------------------------------------

    def cmd(self, *args, timeout=5):
        with self._connect(timeout) as s:
            f = s.makefile("rb")
            if self.password:
                s.sendall(_encode(("AUTH", self.password)))
                _read(f)
            s.sendall(_encode(args))
            return _read(f)


    def _connect(self, timeout):
        s = socket.create_connection((HOST, self.port), timeout=timeout)
        if not self.tls:
            return s
        ctx = ssl.create_default_context(cafile=str(self.tls["ca"]))
        ctx.load_cert_chain(*[str(p) for p in self.tls["client"]])
        try:
            return ctx.wrap_socket(s, server_hostname=HOST)
        except BaseException:
            s.close()
            raise


def _encode(args):
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(f"${len(b)}\r\n".encode() + b + b"\r\n")
    return b"".join(out)


def _read(f):
    line = f.readline()
    if not line:
        raise OSError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode(errors="replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read(f) for _ in range(n)]
    raise OSError(f"bad RESP line {line!r}")


@pytest.fixture
def redis(tmp_path):
    """A plain Redis for the test, stopped after it (import it into the
    test module: `from redis_server import redis`)."""
    rs = RedisServer(tmp_path / "redis")
    rs.start()
    yield rs
    rs.stop()


__all__ = ["RedisServer", "redis"]
