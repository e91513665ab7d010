#!/usr/bin/python3
"""bench/soak.py - hours of mixed load; fails if relais grows without bound.

Starts relais (default build/relais; the ASan build works too) on a
config of its own in a scratch dir: a local domain soak.test with users
(hashes made by `relais passwd`) and an alias, an mx listener and a
submission listener (STARTTLS required, AUTH) with a self-signed
certificate, relay through the test DNS server (tests/integration/
dnsserver.py: remote.test and far.test have their MX on 127.0.0.2) to a
sink (bench/soak_sink.py) that defers and refuses some transactions, with
retries seconds apart. Then runs the mixed client load of
bench/soak_load.py for --minutes at --rate messages per second, with a
mailbox reader that collects and deletes delivered Maildir files.

Every --interval seconds (60, or 10 for runs under 5 minutes) it samples
relais's VmRSS, open fds, spool (queue.db, its WAL, body files) and
queued recipients, with the client counters. After the load, the queue
must drain; then every message that got 250 must have reached each of its
recipients or come back to its sender as a bounce (checked by the token
in its Subject), nothing hung up or refused may arrive, and the fds must
be back at their level before the load.

Pass/fail on growth: over the samples after the warm-up (the first
--warmup fraction of the run), the least-squares slope of each series,
extrapolated to one hour, must stay under its threshold (see THRESHOLDS
and docs/reliability.md). Exit status 0 on pass; 1 with the reasons.

Writes the samples as CSV (--csv), prints a summary and the samples as a
markdown table, and a PNG of the curves (--plot) when matplotlib is there.

usage: bench/soak.py --relais build/relais --minutes 10 [--rate 100]
       [--csv build/soak.csv] [--plot build/soak.png]
Loopback only; run as root it re-runs itself in a network namespace with
lo only, like bench/crash_load.py.
"""
import argparse
import asyncio
import csv
import os
import re
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from dnsserver import DNSServer                     # noqa: E402
from netns import reexec_in_netns                   # noqa: E402
from soak_load import ALIASES, LOCAL_DOMAIN, Load   # noqa: E402

HOST = "127.0.0.1"
SINK_HOST = "127.0.0.2"
TLS_NAME = "relais.soak"
MIB = 1024 * 1024
TOKEN_RE = re.compile(rb"^Subject: soak ([A-Za-z0-9.-]+)\r?$", re.M)
FINAL_RE = re.compile(rb"^Final-Recipient: rfc822; ?(\S+)\r?$", re.M | re.I)
SANITIZER_RE = re.compile(r"ERROR: (?:Address|Leak|UndefinedBehavior)Sanitizer"
                          r"|runtime error:")

# Series checked for growth: (CSV column, unit label, scale for display,
# threshold: projected growth per hour must stay under
# max(rel * mean level after warm-up, abs)). docs/reliability.md says why.
THRESHOLDS = (
    ("rss_kib", "MiB", 1024.0, 0.10, 8 * 1024),
    ("fds", "fds", 1.0, 0.10, 40),
    ("spool_bytes", "MiB", MIB, 0.25, 64 * MIB),
    ("wal_bytes", "MiB", MIB, 0.25, 32 * MIB),
)
FD_END_SLACK = 4


def free_port(host=HOST):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_banner(port, proc, timeout=30.0, host=HOST):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("exited with %d while starting" % proc.returncode)
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                if s.recv(512).startswith(b"220"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("no banner on %s:%d" % (host, port))


def stop_proc(proc, timeout):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


# --------------------------------------------------------------------------
# setup


def make_cert(work):
    crt, key = os.path.join(work, "tls.crt"), os.path.join(work, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "7", "-subj", "/CN=" + TLS_NAME,
                    "-addext", "subjectAltName=DNS:" + TLS_NAME],
                   check=True, capture_output=True, timeout=60)
    return crt, key


def make_users(binary, work, n):
    users = {"u%d@%s" % (i, LOCAL_DOMAIN): "pw-soak-%d" % i for i in range(n)}
    lines = []
    for addr, pw in users.items():
        r = subprocess.run([binary, "passwd", addr], input=pw + "\n",
                           capture_output=True, text=True, timeout=60, check=True)
        lines.append(r.stdout.strip())
    path = os.path.join(work, "users")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    aliases = os.path.join(work, "aliases")
    with open(aliases, "w") as f:
        for a, targets in ALIASES.items():
            f.write("%s: %s\n" % (a, ", ".join(targets)))
    return users, path, aliases


def dns_zone():
    zone = {"sender.test": {"TXT": ["v=spf1 ip4:127.0.3.0/24 -all"]},
            "_dmarc.sender.test": {"TXT": ["v=DMARC1; p=none"]}}
    for d in ("remote.test", "far.test"):
        zone[d] = {"MX": [(10, "mx." + d)]}
        zone["mx." + d] = {"A": [SINK_HOST]}
    return zone


def write_config(path, a, work, ports, dns, users, aliases, crt, key):
    with open(path, "w") as f:
        f.write(f"""# written by bench/soak.py
[server]
hostname = {TLS_NAME}
data_dir = {work}/data
threads = 2
log_level = warning

[listener mx]
address = {HOST}:{ports['mx']}
role = mx

[listener sub]
address = {HOST}:{ports['sub']}
role = submission
tls = required

[local]
domains = {LOCAL_DOMAIN}
users = {users}
aliases = {aliases}

[relay]
trusted_networks = 127.0.0.1/32
outbound_port = {ports['sink']}
retry_min = 5s
retry_max = 20s
delay_warning = 0
max_connections_per_domain = 20

[dns]
resolver = {dns.address}
timeout = 2s
trust_anchor = none

[tls]
certificate = {crt}
key = {key}

[limits]
max_message_size = 8M
max_recipients = 10
max_connections = 3000
max_connections_per_ip = 1000
connections_per_ip_per_minute = 0
command_timeout = {a.command_timeout}s
data_timeout = 60s
max_session_time = 5m
auth_failures_per_ip = 3
auth_failure_window = 5m
auth_ban_time = 30s
auth_ban_max_time = 5m
""")


# --------------------------------------------------------------------------
# what arrived: Maildir files (read and deleted, as a mailbox reader would)
# and the sink's log


class Collector:
    def __init__(self, data_dir, sink_log):
        self.mail_dir = os.path.join(data_dir, "mail", LOCAL_DOMAIN)
        self.sink_log = sink_log
        self.sink_off = 0
        self.delivered = {}      # (token, rcpt) -> count
        self.bounced = {}        # (token, rcpt) -> count
        self.stray = 0           # files without a token
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.thread = None

    @staticmethod
    def _add(d, key):
        d[key] = d.get(key, 0) + 1

    def maildir_pass(self):
        n = 0
        try:
            users = os.listdir(self.mail_dir)
        except FileNotFoundError:
            return 0
        for u in users:
            rcpt = "%s@%s" % (u, LOCAL_DOMAIN)
            for sub in ("new", "cur"):
                d = os.path.join(self.mail_dir, u, sub)
                try:
                    names = os.listdir(d)
                except FileNotFoundError:
                    continue
                for name in names:
                    p = os.path.join(d, name)
                    try:
                        with open(p, "rb") as f:
                            raw = f.read()
                        os.unlink(p)
                    except FileNotFoundError:
                        continue
                    n += 1
                    self._classify(raw, rcpt)
        return n

    def _classify(self, raw, rcpt):
        head = raw[:raw.find(b"\r\n\r\n") + 2 if b"\r\n\r\n" in raw else 65536]
        with self.lock:
            if re.search(rb"^Content-Type: multipart/report", head, re.M | re.I):
                toks = TOKEN_RE.findall(raw)
                finals = FINAL_RE.findall(raw)
                if not toks:
                    self.stray += 1
                for t in toks[:1]:
                    for r in finals:
                        self._add(self.bounced, (t.decode(), r.decode().lower()))
                return
            m = TOKEN_RE.search(head)
            if not m:
                self.stray += 1
                return
            self._add(self.delivered, (m.group(1).decode(), rcpt))

    def sink_pass(self):
        try:
            with open(self.sink_log, "rb") as f:
                f.seek(self.sink_off)
                chunk = f.read()
        except FileNotFoundError:
            return
        end = chunk.rfind(b"\n") + 1
        self.sink_off += end
        with self.lock:
            for ln in chunk[:end].split(b"\n"):
                parts = ln.split()
                if len(parts) == 3 and parts[0] == b"D":
                    self._add(self.delivered,
                              (parts[1].decode(), parts[2].decode().lower()))

    def one_pass(self):
        self.sink_pass()
        return self.maildir_pass()

    def _run(self):
        while not self.stop_ev.wait(1.0):
            self.one_pass()

    def start(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def stop(self):
        self.stop_ev.set()
        if self.thread:
            self.thread.join(timeout=30)
        self.one_pass()

    def counts(self):
        with self.lock:
            return sum(self.delivered.values()), sum(self.bounced.values())


# --------------------------------------------------------------------------
# samples


def dir_bytes(path):
    total = files = 0
    try:
        with os.scandir(path) as it:
            for e in it:
                try:
                    total += e.stat(follow_symlinks=False).st_size
                    files += 1
                except FileNotFoundError:
                    pass
    except FileNotFoundError:
        pass
    return total, files


def file_size(path):
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def proc_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def queued(binary, conf):
    r = subprocess.run([binary, "queue", "list", "-c", conf],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r"^(\d+) recipients? queued", r.stdout, re.M)
    return int(m.group(1)) if m else -1


COLUMNS = ("t_s", "phase", "probes", "cpu_pct", "loadavg", "rss_kib", "rss_max_kib", "fds",
           "fds_max", "db_bytes", "wal_bytes", "bodies_bytes", "body_files",
           "spool_bytes", "queued", "queued_max", "client_sessions",
           "idle_sessions", "sent", "acked", "delivered", "bounced")


def fd_targets(pid):
    """{fd: link target} of a process (for the report on an fd leak)."""
    out = {}
    d = "/proc/%d/fd" % pid
    for n in os.listdir(d):
        try:
            out[int(n)] = os.readlink(os.path.join(d, n))
        except OSError:
            pass
    return out


class Prober:
    """Probes relais every `every` seconds in a thread: RSS, fds, spool
    files, queued recipients. A row of the report aggregates the probes of
    one interval: the median of RSS and fds (what is in flight at one
    moment comes and goes; a leak moves the median too), with the maximum
    beside it; the mean of the spool and queue levels; the WAL's maximum."""

    def __init__(self, pid, spool_dir, binary, conf, every, dns):
        self.pid, self.spool_dir = pid, spool_dir
        self.binary, self.conf = binary, conf
        self.every = every
        self.dns = dns
        self.probes = []
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.thread = None
        self.error = None
        self.last = None

    def probe(self):
        sd = self.spool_dir
        db = file_size(os.path.join(sd, "queue.db"))
        wal = file_size(os.path.join(sd, "queue.db-wal"))
        shm = file_size(os.path.join(sd, "queue.db-shm"))
        bodies, nbodies = dir_bytes(os.path.join(sd, "bodies"))
        p = {"rss_kib": proc_rss_kib(self.pid),
             "fds": len(os.listdir("/proc/%d/fd" % self.pid)),
             "db_bytes": db, "wal_bytes": wal, "bodies_bytes": bodies,
             "body_files": nbodies, "spool_bytes": db + wal + shm + bodies,
             "queued": queued(self.binary, self.conf),
             "cpu_s": proc_cpu_s(self.pid), "t": time.monotonic()}
        with self.lock:
            self.probes.append(p)
            self.last = p
        return p

    def probe_queued(self):
        return queued(self.binary, self.conf)

    def _run(self):
        while not self.stop_ev.wait(self.every):
            try:
                self.probe()
            except (OSError, subprocess.SubprocessError) as e:
                self.error = str(e)     # relais gone: the run loop notices
            self.dns.clear_queries()    # the test server keeps every question

    def start(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def stop(self):
        self.stop_ev.set()
        if self.thread:
            self.thread.join(timeout=30)

    def take(self):
        """The probes since the last take (at least one: probes now)."""
        with self.lock:
            got, self.probes = self.probes, []
        return got or [self.probe()]


def proc_cpu_s(pid):
    """user + system CPU seconds of a process"""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spool_rows(spool_dir):
    """(messages, recipients) rows left in queue.db, read-only"""
    import sqlite3
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(spool_dir, "queue.db"),
                         uri=True, timeout=30)
    try:
        return tuple(db.execute("SELECT (SELECT count(*) FROM messages),"
                                " (SELECT count(*) FROM recipients)").fetchone())
    finally:
        db.close()


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


_prev_cpu = {}


def make_row(t0, phase, probes, load, coll):
    def mean(k):
        return int(sum(p[k] for p in probes) / len(probes))

    def median(k):
        return sorted(p[k] for p in probes)[len(probes) // 2]
    last = probes[-1]
    prev = _prev_cpu.get("p")
    cpu = 0.0
    if prev and last["t"] > prev["t"]:
        cpu = 100.0 * (last["cpu_s"] - prev["cpu_s"]) / (last["t"] - prev["t"])
    _prev_cpu["p"] = last
    delivered, bounced = coll.counts()
    st = load.stats if load else None
    return {
        "t_s": round(time.monotonic() - t0, 1),
        "phase": phase,
        "probes": len(probes),
        "cpu_pct": round(cpu, 1),
        "loadavg": loadavg(),
        "rss_kib": median("rss_kib"),
        "rss_max_kib": max(p["rss_kib"] for p in probes),
        "fds": median("fds"),
        "fds_max": max(p["fds"] for p in probes),
        "db_bytes": last["db_bytes"],
        "wal_bytes": max(p["wal_bytes"] for p in probes),
        "bodies_bytes": mean("bodies_bytes"),
        "body_files": mean("body_files"),
        "spool_bytes": mean("spool_bytes"),
        "queued": mean("queued"),
        "queued_max": max(p["queued"] for p in probes),
        "client_sessions": st.sessions_open if st else 0,
        "idle_sessions": st.idle_open if st else 0,
        "sent": st.messages_sent if st else 0,
        "acked": st.messages_acked + st.slow_messages if st else 0,
        "delivered": delivered,
        "bounced": bounced,
    }


def slope_per_hour(rows, col):
    """Least-squares slope of col against t_s, per hour, the mean, and the
    slope's standard error (from the residuals); None if < 3 rows."""
    pts = [(r["t_s"], float(r[col])) for r in rows]
    if len(pts) < 3:
        return None, None, None
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if sxx == 0:
        return None, my, None
    b = sum((x - mx) * (y - my) for x, y in pts) / sxx
    res = sum((y - my - b * (x - mx)) ** 2 for x, y in pts)
    se = (res / (n - 2) / sxx) ** 0.5
    return b * 3600.0, my, se * 3600.0


# --------------------------------------------------------------------------
# the run


def check_growth(rows, warmup_s):
    """[(name, slope, se, limit, mean, unit, scale, ok)] over the measured
    rows. A series fails when its slope exceeds the limit by more than two
    standard errors: when the run shows, beyond its own noise, growth
    faster than the limit (a short run resolves only fast growth; the
    summary prints what it resolves)."""
    meas = [r for r in rows if r["phase"] == "load" and r["t_s"] >= warmup_s]
    out = []
    for col, unit, scale, rel, absl in THRESHOLDS:
        slope, mean, se = slope_per_hour(meas, col)
        if slope is None:
            out.append((col, None, None, None, mean, unit, scale, False))
            continue
        limit = max(rel * mean, absl)
        out.append((col, slope, se, limit, mean, unit, scale,
                    slope - 2 * se < limit))
    return out, len(meas)


def markdown_table(rows):
    hdr = ("min", "phase", "RSS MiB median/max", "fds median/max", "queue.db MiB",
           "WAL MiB", "bodies MiB", "queued mean/max", "client sessions",
           "sent", "acked", "delivered", "bounced")
    out = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for r in rows:
        out.append("| %.1f | %s | %.1f / %.1f | %d / %d | %.1f | %.1f | %.1f | %d / %d | %d | %d | %d | %d | %d |" % (
            r["t_s"] / 60.0, r["phase"], r["rss_kib"] / 1024.0,
            r["rss_max_kib"] / 1024.0, r["fds"], r["fds_max"],
            r["db_bytes"] / MIB, r["wal_bytes"] / MIB, r["bodies_bytes"] / MIB,
            r["queued"], r["queued_max"],
            r["client_sessions"] + r["idle_sessions"], r["sent"],
            r["acked"], r["delivered"], r["bounced"]))
    return "\n".join(out)


def plot(rows, path, warmup_s):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no matplotlib: no plot")
        return
    t = [r["t_s"] / 60.0 for r in rows]
    series = (("RSS (MiB)", [r["rss_kib"] / 1024.0 for r in rows]),
              ("open fds", [r["fds"] for r in rows]),
              ("spool: queue.db + WAL + bodies (MiB)",
               [r["spool_bytes"] / MIB for r in rows]),
              ("queued recipients", [r["queued"] for r in rows]))
    fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
    for ax, (title, ys) in zip(axes.flat, series):
        ax.plot(t, ys, marker=".")
        ax.axvline(warmup_s / 60.0, color="grey", linestyle=":")
        ax.set_title(title, fontsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("minutes")
    fig.suptitle("relais soak: %d min, dotted line = end of warm-up"
                 % round(rows[-1]["t_s"] / 60.0), fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    print("plot:", path)


async def run_load(a, relais, prober, ports, users, tls_ctx, coll, rows, fds):
    """Primer, baseline, load, drain, end; returns (load, drained)."""
    loop = asyncio.get_running_loop()
    t0 = time.monotonic()
    load = None

    def take(phase, probes=None):
        r = make_row(t0, phase, probes or prober.take(), load, coll)
        rows.append(r)
        print("  %6.1f min %-5s rss=%.1f/%.1fMiB fds=%d/%d spool=%.1fMiB "
              "wal=%.1fMiB queued=%d sessions=%d sent=%d acked=%d delivered=%d "
              "bounced=%d cpu=%.0f%% load=%.1f"
              % (r["t_s"] / 60, phase, r["rss_kib"] / 1024,
                 r["rss_max_kib"] / 1024, r["fds"], r["fds_max"],
                 r["spool_bytes"] / MIB, r["wal_bytes"] / MIB, r["queued"],
                 r["client_sessions"] + r["idle_sessions"], r["sent"],
                 r["acked"], r["delivered"], r["bounced"], r["cpu_pct"],
                 r["loadavg"]), flush=True)
        return r

    async def settle(limit):
        """until the queue is empty (True) or limit seconds passed"""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            await asyncio.sleep(2)
            if await loop.run_in_executor(None, prober.probe_queued) == 0:
                return True
        return False

    # primer: a few seconds of every kind of session, so that what relais
    # sets up once (resolver contexts, TLS state, caches) is in the baseline
    primer = Load(ports["mx"], ports["sub"], users, tls_ctx, TLS_NAME, 20,
                  workers=4, idle=2, slow=0, seed=a.seed + 1,
                  command_timeout=a.command_timeout, tag="p")
    primer.start()
    await asyncio.sleep(6)
    await primer.stop()
    await settle(120)
    await asyncio.sleep(8)          # idle outbound connections close
    prober.take()
    fds["start"] = fd_targets(relais.pid)
    t0 = time.monotonic()
    take("start", [prober.probe()])

    load = Load(ports["mx"], ports["sub"], users, tls_ctx, TLS_NAME, a.rate,
                workers=a.workers, idle=a.idle, slow=a.slow, seed=a.seed,
                command_timeout=a.command_timeout, queue_high=a.queue_high)
    load.start()
    end = t0 + a.minutes * 60.0
    nxt = t0 + a.interval
    while True:
        if relais.poll() is not None:
            raise RuntimeError("relais exited with %d under load" % relais.returncode)
        if prober.error:
            raise RuntimeError("probe failed: %s" % prober.error)
        if prober.last:
            load.pacer.queued = prober.last["queued"]
        if time.monotonic() >= nxt:
            await loop.run_in_executor(None, take, "load")
            nxt += a.interval
            if nxt > end + 1:
                break
        await asyncio.sleep(min(1.0, max(0.05, nxt - time.monotonic())))
    load.load_s = time.monotonic() - t0
    await load.stop()
    # drain: every queued recipient delivered or bounced
    deadline = time.monotonic() + a.drain_timeout
    drained = False
    while time.monotonic() < deadline:
        await asyncio.sleep(min(a.interval, 10))
        r = await loop.run_in_executor(None, take, "drain")
        if r["queued"] == 0:
            drained = True
            break
    await asyncio.sleep(10)         # idle outbound connections close
    coll.one_pass()
    prober.stop()
    prober.take()
    await loop.run_in_executor(None, lambda: take("end", [prober.probe()]))
    fds["end"] = fd_targets(relais.pid)
    fds["rows"] = await loop.run_in_executor(None, spool_rows, prober.spool_dir)
    return load, drained


def main():
    reexec_in_netns("SOAK_IN_NETNS", __file__)
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--relais", default="build/relais")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=100.0, help="messages per second (100)")
    ap.add_argument("--interval", type=float, help="seconds between samples "
                    "(60; 10 when --minutes < 5)")
    ap.add_argument("--probe", type=float, default=2.0,
                    help="seconds between probes within a sample (2)")
    ap.add_argument("--warmup", type=float, default=0.25,
                    help="fraction of the run left out of the slopes (0.25)")
    ap.add_argument("--workers", type=int, default=24)
    ap.add_argument("--idle", type=int, default=300, help="idle sessions (300)")
    ap.add_argument("--slow", type=int, default=8, help="slow clients (8)")
    ap.add_argument("--command-timeout", type=int, default=60)
    ap.add_argument("--drain-timeout", type=float, default=600.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--queue-high", type=int, default=1000,
                    help="queued recipients above which the load pauses (1000)")
    ap.add_argument("--csv", default="build/soak.csv")
    ap.add_argument("--plot", help="PNG of the curves (needs matplotlib)")
    ap.add_argument("--workdir", help="scratch dir, kept (default: a new one, "
                    "removed on success)")
    ap.add_argument("--no-netns", action="store_true")
    a = ap.parse_args()
    if a.interval is None:
        a.interval = 60.0 if a.minutes >= 5 else 10.0
    binary = os.path.abspath(a.relais)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 16384)), hard))
    work = a.workdir or tempfile.mkdtemp(prefix="relais-soak.")
    os.makedirs(work, exist_ok=True)
    os.chmod(work, 0o755)

    dns = DNSServer(dns_zone()).start()
    ports = {"mx": free_port(), "sub": free_port(), "sink": free_port(SINK_HOST)}
    sink_log = os.path.join(work, "sink.log")
    sink = subprocess.Popen([sys.executable, os.path.join(HERE, "soak_sink.py"),
                             SINK_HOST, str(ports["sink"]), sink_log,
                             "--seed", str(a.seed)],
                            stdin=subprocess.DEVNULL)
    relais = prober = None
    fds = {}
    failures = []
    rows = []
    try:
        wait_banner(ports["sink"], sink, host=SINK_HOST)
        crt, key = make_cert(work)
        users, users_path, aliases_path = make_users(binary, work, 20)
        conf = os.path.join(work, "relais.conf")
        write_config(conf, a, work, ports, dns, users_path, aliases_path, crt, key)
        spool_dir = os.path.join(work, "data", "spool")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:"
                       "quarantine_size_mb=16:detect_stack_use_after_return=0")
        logf = open(os.path.join(work, "relais.log"), "wb")
        relais = subprocess.Popen([binary, "serve", "-c", conf],
                                  stdin=subprocess.DEVNULL, stdout=logf,
                                  stderr=logf, env=env)
        wait_banner(ports["mx"], relais)
        tls_ctx = ssl.create_default_context(cafile=crt)
        coll = Collector(os.path.join(work, "data"), sink_log)
        coll.start()
        prober = Prober(relais.pid, spool_dir, binary, conf, a.probe, dns)
        prober.start()
        print("soak: %s, %.0f min at %.0f msg/s, %d idle + %d slow sessions, "
              "sample every %.0fs, work dir %s" % (binary, a.minutes, a.rate,
                                                   a.idle, a.slow, a.interval, work))
        load, drained = asyncio.run(run_load(a, relais, prober, ports, users,
                                             tls_ctx, coll, rows, fds))
        rc = stop_proc(relais, 60)
        coll.stop()
        dns.clear_queries()
        if rc != 0:
            failures.append("relais exit status %d after SIGTERM" % rc)
    except Exception as e:
        failures.append("run aborted: %s" % e)
        if prober:
            prober.stop()
        load, drained = None, False
    finally:
        if relais is not None:
            stop_proc(relais, 60)
        stop_proc(sink, 10)
        dns.stop()

    if load is None:
        print("soak FAILED:", "; ".join(failures))
        print("kept", work)
        sys.exit(1)

    # -- verdict
    warmup_s = a.warmup * a.minutes * 60.0
    growth, nmeas = check_growth(rows, warmup_s)
    led = load.ledger
    with coll.lock:
        delivered, bounced = dict(coll.delivered), dict(coll.bounced)
    missing, dups = [], 0
    for tok, finals in led.acked.items():
        for r in finals:
            k = (tok, r)
            n = delivered.get(k, 0) + bounced.get(k, 0)
            if n == 0:
                missing.append(k)
            dups += max(0, n - 1)
    arrived_tokens = {t for t, _ in delivered} | {t for t, _ in bounced}
    forbidden = sorted(t for t in led.never if t in arrived_tokens)
    expected = sum(len(f) for f in led.acked.values())
    end = rows[-1]
    base = rows[0]
    st = load.stats.as_dict()

    print()
    print("soak summary: %.0f min, %d samples (%d after the %.0f%% warm-up)"
          % (a.minutes, len(rows), nmeas, a.warmup * 100))
    print("  clients: " + " ".join("%s=%d" % kv for kv in st.items()))
    print("  messages: acked=%d recipients expected=%d delivered=%d bounced=%d "
          "missing=%d duplicates=%d no_reply=%d never_ones_arrived=%d stray_files=%d"
          % (len(led.acked), expected, sum(delivered.values()),
             sum(bounced.values()), len(missing), dups, len(led.no_reply),
             len(forbidden), coll.stray))
    if load.errors:
        print("  client errors: " + "; ".join(
            "%s (x%d)" % kv for kv in sorted(load.errors.items())))
    print("  after the drain: fds %d (%d before the load), queue.db rows "
          "%d messages %d recipients, %d body files"
          % (end["fds"], base["fds"], fds["rows"][0], fds["rows"][1],
             end["body_files"]))
    print("  rate: %.1f msg/s offered on average (target %.0f), load paused "
          "%.0fs of %.0fs by the queue high-water mark"
          % (st["messages_sent"] / load.load_s, a.rate, load.pacer.throttled_s,
             load.load_s))
    print("  growth after warm-up, extrapolated per hour (limit):")
    for col, slope, se, limit, mean, unit, scale, ok in growth:
        if slope is None:
            print("    %-12s not enough samples" % col)
            failures.append("%s: fewer than 3 samples after the warm-up" % col)
            continue
        print("    %-12s mean %8.1f %-5s slope %+9.2f +- %7.2f %s/h (2 s.e.), "
              "limit %.2f: %s; resolves growth over %.2f %s/h"
              % (col, mean / scale, unit, slope / scale, 2 * se / scale, unit,
                 limit / scale, "ok" if ok else "GROWS",
                 (limit + 2 * se) / scale, unit))
        if not ok:
            failures.append("%s grows %+.2f +- %.2f %s/h (limit %.2f %s/h)"
                            % (col, slope / scale, 2 * se / scale, unit,
                               limit / scale, unit))
    if not drained:
        failures.append("queue did not drain within %.0fs" % a.drain_timeout)
    if missing:
        failures.append("%d acknowledged recipient(s) neither delivered nor "
                        "bounced, e.g. %s" % (len(missing), missing[:5]))
    if dups:
        failures.append("%d duplicate deliveries" % dups)
    if forbidden:
        failures.append("%d message(s) hung up or refused were delivered, e.g. %s"
                        % (len(forbidden), forbidden[:5]))
    if end["fds"] > base["fds"] + FD_END_SLACK:
        failures.append("fds after the drain %d > %d before the load + %d"
                        % (end["fds"], base["fds"], FD_END_SLACK))
        extra = sorted(set(fds["end"].items()) - set(fds["start"].items()))
        print("  fds open after the drain, not before the load:")
        for fd, target in extra:
            print("    %d -> %s" % (fd, target))
    if fds["rows"] != (0, 0):
        failures.append("queue.db keeps %d message and %d recipient rows "
                        "after the drain" % fds["rows"])
    if end["body_files"]:
        failures.append("%d body files left after the drain" % end["body_files"])
    if len(led.acked) == 0:
        failures.append("no message acknowledged")
    log_text = open(os.path.join(work, "relais.log"), errors="replace").read()
    m = SANITIZER_RE.search(log_text)
    if m:
        failures.append("sanitizer report in relais.log: " +
                        log_text[m.start():m.start() + 300].replace("\n", " | "))

    if a.csv:
        os.makedirs(os.path.dirname(os.path.abspath(a.csv)), exist_ok=True)
        with open(a.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            w.writerows(rows)
        print("samples:", a.csv)
    print()
    print(markdown_table(rows))
    print()
    if a.plot:
        plot(rows, a.plot, warmup_s)
    if failures:
        print("soak FAILED:")
        for f_ in failures:
            print("  -", f_)
        print("kept", work)
        sys.exit(1)
    print("soak PASSED")
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
