"""
stsweb.py - Debian's nginx serving MTA-STS policies (RFC 8461 3.3) for the
integration tests, with a test CA made with the openssl command.

    web = STSWeb(tmp_path / "web")          # makes the CA (web.ca)
    web.add("remote.example", "127.0.0.20",
            policy="version: STSv1\\nmode: enforce\\nmx: mx.remote.example\\n"
                   "max_age: 86400\\n")
    web.start()
    ...  https://mta-sts.remote.example/.well-known/mta-sts.txt, served on
    ...  127.0.0.20:443 with a certificate for mta-sts.remote.example
    web.set_policy("remote.example", "...")  # a new body, served at once
    web.set_policy("remote.example", None)   # removed: 404
    web.fetches("remote.example")            # GETs of the policy so far
    web.stop()

What a domain serves is chosen when it is added (a config change needs
a reload, reload() does it): content_type (default "text/plain"),
status=404, redirect="https://..." (a 301), a body given as bytes (an
oversized one, say), and cert="good" (signed by the test CA for
mta-sts.DOMAIN), "wrong" (signed by it for another name) or "self" (a
self-signed one for the right name).

web.cert(*names) makes a certificate for the SMTP sinks, signed by the
same CA (or self_signed=True), and returns (crt, key) paths.

nginx runs in the foreground (-g 'daemon off;') as a child of the test,
with its prefix, config, pid file, logs and temporary paths in the
directory given; as root its workers run as root (user root;), so they
can read the test's files. Port 443 on 127.0.0.X: start() fails if
something else already listens there. stop() ends it (SIGTERM, then
SIGKILL) and is safe to call twice; STSWeb is also a context manager.
"""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

NGINX = "/usr/sbin/nginx"


def _openssl(cwd, *args):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, timeout=60,
                   capture_output=True)


def _port_open(host, port, timeout=0.2):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class STSWeb:
    def __init__(self, root, ca=None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.certs = self.root / "certs"
        self.certs.mkdir(exist_ok=True)
        self.www = self.root / "www"
        self.www.mkdir(exist_ok=True)
        for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.root / "tmp" / d).mkdir(parents=True, exist_ok=True)
        self.conf = self.root / "nginx.conf"
        self.access_log = self.root / "access.log"
        self.error_log = self.root / "error.log"
        self.domains = {}
        self.proc = None
        self._n = 0
        if ca is None:
            _openssl(self.certs, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
                     "-out", "ca.crt", "-days", "30", "-subj",
                     "/CN=relais MTA-STS test CA")
            self.ca = self.certs / "ca.crt"
            self.ca_key = self.certs / "ca.key"
        else:
            self.ca, self.ca_key = ca

    # -- certificates
    def cert(self, *names, self_signed=False):
        """A server certificate for names (DNS SANs) -> (crt, key)."""
        self._n += 1
        base = f"c{self._n}"
        san = ",".join(f"DNS:{n}" for n in names)
        ext = self.certs / f"{base}.ext"
        ext.write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n"
                       "basicConstraints=critical,CA:FALSE\n")
        if self_signed:
            _openssl(self.certs, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                     f"{base}.key", "-out", f"{base}.crt", "-days", "30",
                     "-subj", f"/CN={names[0]}", "-addext", f"subjectAltName={san}")
        else:
            _openssl(self.certs, "req", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                     f"{base}.key", "-out", f"{base}.csr", "-subj",
                     f"/CN={names[0]}")
            _openssl(self.certs, "x509", "-req", "-in", f"{base}.csr", "-CA",
                     str(self.ca), "-CAkey", str(self.ca_key),
                     "-CAcreateserial", "-days", "30", "-out", f"{base}.crt",
                     "-extfile", f"{base}.ext")
        return self.certs / f"{base}.crt", self.certs / f"{base}.key"

    # -- domains
    def add(self, domain, ip, policy=None, content_type="text/plain",
            status=200, redirect=None, cert="good"):
        assert ip.startswith("127."), "loopback only"
        host = f"mta-sts.{domain}"
        if cert == "good":
            crt, key = self.cert(host)
        elif cert == "wrong":
            crt, key = self.cert(f"other.{domain}")
        elif cert == "self":
            crt, key = self.cert(host, self_signed=True)
        else:
            crt, key = cert
        self.domains[domain] = {"ip": ip, "ctype": content_type,
                                "status": status, "redirect": redirect,
                                "crt": crt, "key": key}
        (self.www / domain / ".well-known").mkdir(parents=True, exist_ok=True)
        self.set_policy(domain, policy)
        if self.running():
            self.reload()

    def policy_path(self, domain):
        return self.www / domain / ".well-known" / "mta-sts.txt"

    def set_policy(self, domain, body):
        """The policy served from now on (str or bytes); None: removed."""
        p = self.policy_path(domain)
        if body is None:
            if p.exists():
                p.unlink()
            return
        tmp = p.with_suffix(".tmp")
        tmp.write_bytes(body.encode() if isinstance(body, str) else body)
        os.replace(tmp, p)

    def fetches(self, domain):
        """GETs of domain's policy logged so far (status, path)."""
        if not self.access_log.exists():
            return []
        out = []
        for ln in self.access_log.read_text(errors="replace").splitlines():
            m = re.match(r"^(\S+) (\d+) \"GET (\S+)", ln)
            if m and m.group(1) == f"mta-sts.{domain}":
                out.append((int(m.group(2)), m.group(3)))
        return out

    # -- nginx
    def config_text(self):
        servers = []
        for domain, d in self.domains.items():
            if d["redirect"]:
                action = f"return 301 {d['redirect']};"
            elif d["status"] != 200:
                action = f"return {d['status']};"
            else:
                action = (f"types {{ }} default_type \"{d['ctype']}\";\n"
                          f"            root {self.www / domain};")
            servers.append(f"""
    server {{
        listen {d['ip']}:443 ssl;
        server_name mta-sts.{domain};
        ssl_certificate {d['crt']};
        ssl_certificate_key {d['key']};
        location = /.well-known/mta-sts.txt {{
            {action}
        }}
        location / {{
            return 404;
        }}
    }}""")
        user = "user root;\n" if os.geteuid() == 0 else ""
        r = self.root
        return f"""# written by tests/integration/stsweb.py
{user}worker_processes 1;
pid {r / 'nginx.pid'};
error_log {self.error_log} info;
events {{
    worker_connections 64;
}}
http {{
    log_format sts '$ssl_server_name $status "$request"';
    access_log {self.access_log} sts;
    client_body_temp_path {r / 'tmp' / 'client_body'};
    proxy_temp_path {r / 'tmp' / 'proxy'};
    fastcgi_temp_path {r / 'tmp' / 'fastcgi'};
    uwsgi_temp_path {r / 'tmp' / 'uwsgi'};
    scgi_temp_path {r / 'tmp' / 'scgi'};
    server_tokens off;
    keepalive_timeout 5s;
{''.join(servers)}
}}
"""

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _addresses(self):
        return sorted({d["ip"] for d in self.domains.values()})

    def start(self, timeout=10.0):
        assert not self.running(), "nginx already running"
        assert self.domains, "no domain added"
        for ip in self._addresses():
            assert not _port_open(ip, 443), \
                f"something already listens on {ip}:443"
        self.conf.write_text(self.config_text())
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.root), "-c", str(self.conf), "-e",
             str(self.error_log), "-g", "daemon off;"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"nginx exited with status {self.proc.returncode}:\n"
                    f"{self.error_text()}")
            if all(_port_open(ip, 443) for ip in self._addresses()):
                return self
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"nginx not listening within {timeout}s:\n"
                             f"{self.error_text()}")

    def reload(self, timeout=10.0):
        """The current domains' config, taken by the running nginx."""
        self.conf.write_text(self.config_text())
        check = subprocess.run([NGINX, "-t", "-p", str(self.root), "-c",
                                str(self.conf), "-e", str(self.error_log)],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        mark = self.error_log.stat().st_size if self.error_log.exists() else 0
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.error_text()[mark:]
            if "start worker process" in text and \
                    all(_port_open(ip, 443) for ip in self._addresses()):
                return
            time.sleep(0.05)
        raise AssertionError(f"nginx did not reload within {timeout}s")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None
        # the addresses are free again once nothing answers there
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and \
                any(_port_open(ip, 443) for ip in self._addresses()):
            time.sleep(0.05)

    def error_text(self):
        if not self.error_log.exists():
            return ""
        return self.error_log.read_text(errors="replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
