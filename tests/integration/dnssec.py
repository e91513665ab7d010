"""
dnssec.py - signed test zones served by Debian's unbound, for the DNSSEC
and DANE tests.

The Python test DNS server (dnsserver.py) signs nothing. This module
writes real zone files, signs the ones asked for with ldns-keygen and
ldns-signzone (ldnsutils), can break a signed zone on purpose (bogus), and
serves them all from an `unbound` daemon on 127.0.0.1:<free port> (UDP and
TCP) with its own config in the test's directory: one auth-zone per zone,
answered to clients (for-downstream), no validation of its own (module
iterator only: relais must find bogus answers itself), no root hints and
no outside query (every address is do-not-query), no chroot, no user
change, no remote control, pid and log files in the directory.

    from dnssec import DNSSECServer

    srv = DNSSECServer(tmp_path / "dns")
    srv.zone("sec.test", ["@ MX 10 mx", "mx A 127.0.0.2",
                          "_25._tcp.mx TLSA 3 1 1 ab12..."])      # signed
    srv.zone("plain.test", ["@ MX 10 mx", "mx A 127.0.0.3"],
             signed=False)                                        # insecure
    srv.zone("bad.test", ["@ MX 10 mx", "mx A 127.0.0.4"],
             bogus=[("@", "MX")])     # signed, then the MX data changed
    with srv:                         # start(): sign, configure, run
        srv.address                   # "127.0.0.1:PORT" for [dns] resolver
        srv.trust_anchor              # DS records of the signed zones, for
                                      # [dns] trust_anchor
        srv.query("sec.test", "MX")   # a dnslib reply (DO bit set)

Records are zone-file lines relative to the zone ("@", "mx", or an
absolute name with its final dot); the SOA, an NS and its address are
added. A signed zone gets a KSK and a ZSK (ECDSA P-256), NSEC denial,
signatures valid from yesterday for 30 days (expired=True: they ended
yesterday, so the zone is bogus as a whole). bogus=True tampers with every
A, AAAA, MX, TXT and TLSA record after signing; a list of (owner, TYPE)
with those RRsets only: the data is changed (an address, a preference, a
digest, a text) and the signature left as it was. Unsigned zones have no
anchor above them: a validating resolver finds them insecure.

The pytest fixture `dnssec` (conftest.py) makes servers that are stopped
at teardown: dnssec(zones_dict) -> started DNSSECServer.
"""

import datetime
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

TAMPER_TYPES = ("A", "AAAA", "MX", "TXT", "TLSA")


def _free_udp_tcp_port(host="127.0.0.1", attempts=50):
    """A port free for both UDP and TCP on host a moment ago."""
    for _ in range(attempts):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            u.bind((host, 0))
            port = u.getsockname()[1]
            try:
                t.bind((host, port))
            except OSError:
                continue
            return port
        finally:
            u.close()
            t.close()
    raise RuntimeError("no port free for UDP and TCP")


def _run(args, cwd, timeout=30):
    r = subprocess.run(args, cwd=str(cwd), capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))}: {r.stderr.strip()}")
    return r.stdout


def _abs(owner, origin):
    """An owner as written in a record line to its absolute form."""
    if owner == "@":
        return origin
    if owner.endswith("."):
        return owner.lower()
    return f"{owner}.{origin}".lower()


def _tamper_rdata(rtype, rdata):
    """rdata (presentation form) changed so its signature no longer
    verifies."""
    if rtype == "A":
        parts = rdata.split(".")
        parts[-1] = str(int(parts[-1]) ^ 1)
        return ".".join(parts)
    if rtype == "AAAA":
        return rdata[:-1] + ("1" if rdata[-1] != "1" else "2")
    if rtype == "MX":
        pref, host = rdata.split(None, 1)
        return f"{int(pref) + 1} {host}"
    if rtype == "TLSA":
        head, data = rdata.rsplit(None, 1)
        last = data[-1].lower()
        return f"{head} {data[:-1]}{'0' if last != '0' else '1'}"
    if rtype == "TXT":
        return rdata[:-1] + 'x"' if rdata.endswith('"') else rdata + "x"
    raise ValueError(f"cannot tamper with {rtype}")


class Zone:
    def __init__(self, name, records, signed=True, bogus=None, expired=False):
        self.name = name.rstrip(".").lower()
        self.origin = self.name + "."
        self.records = list(records)
        self.signed = signed or bool(bogus) or expired
        self.bogus = bogus
        self.expired = expired
        self.file = None        # the file unbound serves
        self.ds = []            # DS lines (signed zones)

    def text(self):
        head = [f"$ORIGIN {self.origin}", "$TTL 60",
                f"@ IN SOA ns.{self.origin} hostmaster.{self.origin} "
                "1 3600 600 86400 60",
                f"@ IN NS ns.{self.origin}", "ns IN A 127.0.0.1"]
        return "\n".join(head + self.records) + "\n"

    def build(self, root):
        d = Path(root) / self.name
        d.mkdir(parents=True, exist_ok=True)
        plain = d / "zone"
        plain.write_text(self.text())
        if not self.signed:
            self.file = plain
            return
        ksk = _run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k",
                    self.origin], d).strip()
        zsk = _run(["ldns-keygen", "-a", "ECDSAP256SHA256", self.origin],
                   d).strip()
        now = datetime.datetime.now(datetime.timezone.utc)
        if self.expired:
            start, end = now - datetime.timedelta(days=40), \
                now - datetime.timedelta(days=1)
        else:
            start, end = now - datetime.timedelta(days=1), \
                now + datetime.timedelta(days=30)
        signed = d / "zone.signed"
        _run(["ldns-signzone", "-i", start.strftime("%Y%m%d%H%M%S"),
              "-e", end.strftime("%Y%m%d%H%M%S"), "-f", str(signed),
              str(plain), ksk, zsk], d)
        self.ds = [ln.strip() for ln in (d / f"{ksk}.ds").read_text()
                   .splitlines() if ln.strip()]
        if self.bogus:
            self._tamper(signed)
        self.file = signed

    def _tamper(self, path):
        if self.bogus is True:
            want = None
        else:
            want = {(_abs(o, self.origin), t.upper()) for o, t in self.bogus}
        out, changed = [], 0
        for ln in path.read_text().splitlines():
            f = ln.split(None, 4)
            if len(f) == 5 and f[3] in TAMPER_TYPES and \
                    (want is None or (f[0].lower(), f[3]) in want):
                ln = "\t".join(f[:4] + [_tamper_rdata(f[3], f[4].strip())])
                changed += 1
            out.append(ln)
        if changed == 0:
            raise ValueError(f"{self.name}: nothing to tamper with for "
                             f"{self.bogus!r}")
        path.write_text("\n".join(out) + "\n")


_CONF = """\
server:
    interface: 127.0.0.1
    port: {port}
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "{root}"
    pidfile: "{root}/unbound.pid"
    logfile: "{root}/unbound.log"
    use-syslog: no
    verbosity: 1
    log-queries: yes
    num-threads: 1
    so-reuseport: no
    access-control: 127.0.0.0/8 allow
    # the zones below only: no validation here (relais validates), no
    # recursion to anywhere
    module-config: "iterator"
    do-not-query-localhost: no
    do-not-query-address: 0.0.0.0/0
    do-not-query-address: ::/0
{local_zones}
remote-control:
    control-enable: no
{auth_zones}"""


class DNSSECServer:
    def __init__(self, root, zones=None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.zones = {}
        self.proc = None
        self.port = None
        self.trust_anchor = self.root / "trust-anchor.ds"
        self.conf = self.root / "unbound.conf"
        self.log_path = self.root / "unbound.log"
        for name, spec in (zones or {}).items():
            if isinstance(spec, dict):
                self.zone(name, **spec)
            else:
                self.zone(name, spec)

    def zone(self, name, records, signed=True, bogus=None, expired=False):
        z = Zone(name, records, signed, bogus, expired)
        self.zones[z.name] = z
        return z

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    # -- lifecycle
    def start(self, timeout=10.0):
        for z in self.zones.values():
            if z.file is None:
                z.build(self.root)
        ds = [ln for z in self.zones.values() for ln in z.ds]
        self.trust_anchor.write_text(
            "; DS records of the test's signed zones\n" +
            "".join(ln + "\n" for ln in ds))
        last = None
        for _ in range(3):      # a port taken meanwhile: another one
            self.port = _free_udp_tcp_port()
            self._write_conf()
            _run(["unbound-checkconf", str(self.conf)], self.root)
            out = open(self.root / "unbound.stderr", "ab")
            try:
                self.proc = subprocess.Popen(
                    ["unbound", "-d", "-c", str(self.conf)],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                    start_new_session=True)
            finally:
                out.close()
            try:
                self._wait_ready(timeout)
                return self
            except RuntimeError as e:
                last = e
                self._terminate()
            except BaseException:
                self._terminate()
                raise
        raise RuntimeError(f"unbound did not start: {last}")

    def _write_conf(self):
        local, auth = [], []
        for z in self.zones.values():
            # defaults such as "test." are local zones of unbound's:
            # let the auth zone answer
            local.append(f'    local-zone: "{z.origin}" transparent')
            auth.append(f'auth-zone:\n    name: "{z.origin}"\n'
                        f'    zonefile: "{z.file}"\n'
                        "    for-downstream: yes\n    for-upstream: no\n"
                        "    fallback-enabled: no\n")
        self.conf.write_text(_CONF.format(
            port=self.port, root=self.root, local_zones="\n".join(local),
            auth_zones="".join(auth)))

    def _wait_ready(self, timeout):
        from dnslib import DNSRecord
        probe = next(iter(self.zones.values())).origin if self.zones else "."
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited with {self.proc.returncode}: "
                                   f"{self.log_tail()}")
            try:
                q = DNSRecord.question(probe, "SOA")
                DNSRecord.parse(q.send("127.0.0.1", self.port, timeout=0.3))
                return
            except (socket.timeout, OSError):
                time.sleep(0.05)
        raise RuntimeError(f"no answer within {timeout}s: {self.log_tail()}")

    def _terminate(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def stop(self):
        self._terminate()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log_tail(self, n=3000):
        text = ""
        for p in (self.log_path, self.root / "unbound.stderr"):
            if p.exists():
                text += p.read_text(errors="replace")
        return text[-n:]

    # -- queries (checks of the fixture itself)
    def query(self, name, qtype, dnssec=True, timeout=2.0):
        """A dnslib reply from the server (EDNS with DO when dnssec)."""
        from dnslib import EDNS0, DNSRecord
        q = DNSRecord.question(name, qtype)
        if dnssec:
            q.add_ar(EDNS0(flags="do", udp_len=4096))
        return DNSRecord.parse(q.send("127.0.0.1", self.port, tcp=True,
                                      timeout=timeout))


def validate(server, name, qtype, anchor=None, timeout=20):
    """drill's verdict on name/qtype asked of server, the signatures chased
    up to anchor (default: the server's trust anchor file): (output,
    "secure" | "bogus" | "unsigned" | "error")."""
    r = subprocess.run(["drill", "-S", "-k", str(anchor or server.trust_anchor),
                        "-p", str(server.port), "@127.0.0.1", qtype, name],
                       capture_output=True, text=True, timeout=timeout)
    out = r.stdout + r.stderr
    if "Chase successful" in out:
        verdict = "secure"
    elif "Bogus DNSSEC signature" in out or \
            "signature has expired" in out:
        verdict = "bogus"
    elif "No DNSSEC public key" in out:
        verdict = "unsigned"
    else:
        verdict = "error"
    return out, verdict


__all__ = ["DNSSECServer", "Zone", "validate"]
