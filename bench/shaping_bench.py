#!/usr/bin/python3
"""bench/shaping_bench.py - traffic shaping under load: M messages (default
50,000, one recipient each) to S simulated sites (default 20), T of them
throttling (default 3: the sink refuses MAIL beyond R*W messages in any
W seconds, by default 20/s counted per minute, with "421 4.7.28 rate
limited", and relais is configured with [site] max_message_rate a margin
below it, 3% by default, plus a [backoff] rule for that reply).

Loopback only (in a fresh network namespace when root): a DNS server in
this process gives each site's domain an MX on its own address
127.0.0.2 ... (one port for all, relais's [relay] outbound_port), the
sinks (tests/integration/shaping_util.py) run on one asyncio thread, and
the messages are injected over SMTP by several client processes.

Phases:
  1. calibration: C messages (default min(5000, M/10)) to the unthrottled
     sites only, timed from the first injection to the last arrival: the
     unshaped end-to-end throughput U (messages/s) of this relais here;
  2. the run: M messages round-robin over the sites, timed until every
     sink holds everything (or --stall seconds without progress).

Best possible time = max(max over throttled sites of messages/R,
M / U): no site can go faster than its limit, and everything goes
through relais at no more than its unshaped throughput. Reports the
ratio measured/best, per sink the messages, the peak of MAIL commands
in any W s window (what relais tried) and of accepted ones, the 421s,
connections; lost, duplicated and bounced messages must be 0, and with
shaping on no throttled site may see more than R*W MAIL commands in any
W seconds.

--no-shaping runs without any [site]/[backoff] section (relais without
the shaping engine, or to see what the throttling sites do to an
unshaped relais).

usage: bench/shaping_bench.py [--messages 50000] [--sites 20]
       [--throttled 3] [--rate 20] [--clients 4] [--calibrate N]
       [--relais build/relais] [--stall 60] [--no-shaping] [--keep]
"""
import argparse
import multiprocessing
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from netns import reexec_in_netns  # noqa: E402

SITE_DOMAIN = "d{:02d}.bench.test"
SENDER = "bench@sender.bench.test"


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def message(i, rcpt):
    return (f"From: <{SENDER}>\r\nTo: <{rcpt}>\r\nSubject: shaping bench {i}\r\n"
            f"Message-ID: <{i}.shaping@sender.bench.test>\r\n\r\n"
            + "The quick brown fox jumps over the lazy dog.\r\n" * 20).encode()


def inject(args):
    """Client process: send messages (index, rcpt) over one connection,
    reconnecting on errors (bounded); returns (accepted, refused)."""
    port, work = args
    ok = bad = 0
    i = 0
    tries = 0
    while i < len(work) and tries < 20:
        try:
            s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.bench.test",
                             timeout=120)
        except OSError:
            tries += 1
            time.sleep(0.5)
            continue
        try:
            while i < len(work):
                idx, rcpt = work[i]
                try:
                    s.sendmail(SENDER, [rcpt], message(idx, rcpt))
                    ok += 1
                except smtplib.SMTPRecipientsRefused:
                    bad += 1
                except smtplib.SMTPResponseException:
                    bad += 1
                i += 1
            s.quit()
        except (OSError, smtplib.SMTPServerDisconnected):
            tries += 1
        finally:
            s.close()
    return ok, bad + (len(work) - i)


def run_injection(pool, port, work, clients):
    """Inject work over the (started) pool's processes; (accepted, refused)."""
    chunks = [(port, work[k::clients]) for k in range(clients)]
    res = pool.map(inject, [c for c in chunks if c[1]])
    return sum(r[0] for r in res), sum(r[1] for r in res)


def write_conf(d, a, port, dns_addr, sink_port, throttled):
    conf = os.path.join(d, "relais.conf")
    text = f"""[server]
hostname = relais.bench.test
data_dir = {d}/data
threads = {a.threads}
log_level = info

[listener bench]
address = 127.0.0.1:{port}
role = mx

[relay]
trusted_networks = 127.0.0.0/8
outbound_port = {sink_port}
outbound_tls = none
max_connections_per_domain = 20
retry_min = 1s
retry_max = 10s

[dns]
resolver = {dns_addr}
timeout = 5s
trust_anchor = none

[limits]
max_connections = 2000
max_connections_per_ip = 1000
"""
    if not a.no_shaping:
        for k in throttled:
            text += (f"\n[site t{k:02d}]\nmatch = {SITE_DOMAIN.format(k)}\n"
                     f"max_message_rate = "
                     f"{int(a.rate * 60 * (100 - a.margin) / 100)}/m\n")
        text += ("\n[backoff ratelimit]\nmatch = ^421.*rate\naction = throttle\n"
                 "suspend_time = 5s\nrate_factor = 50\nrate_increase = 10\n"
                 "recover_interval = 5s\n")
    with open(conf, "w") as f:
        f.write(text)
    return conf


class Relais:
    def __init__(self, binary, conf, log, port):
        self.binary, self.conf, self.log, self.port = binary, conf, log, port
        self.proc = None

    def start(self, timeout=30):
        self.logf = open(self.log, "wb")
        self.proc = subprocess.Popen([self.binary, "serve", "-c", self.conf],
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("relais exited: " + self.tail())
            if b"event=server.ready" in open(self.log, "rb").read():
                return
            time.sleep(0.05)
        raise RuntimeError("relais not ready: " + self.tail())

    def tail(self, n=3000):
        try:
            return open(self.log, "rb").read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.logf.close()


def wait_all(sinks, want, stall, deadline_s):
    """Wait until the sinks hold want messages in all, or nothing arrived
    for stall seconds, or deadline_s passed; returns the count."""
    last_n, last_t = -1, time.monotonic()
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        n = sum(s.count() for s in sinks)
        if n >= want:
            return n
        if n != last_n:
            last_n, last_t = n, time.monotonic()
        elif time.monotonic() - last_t > stall:
            return n
        time.sleep(0.1)
    return sum(s.count() for s in sinks)


def main():
    reexec_in_netns("SHAPING_BENCH_IN_NETNS", __file__)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=50000)
    ap.add_argument("--sites", type=int, default=20)
    ap.add_argument("--throttled", type=int, default=3)
    ap.add_argument("--rate", type=int, default=20,
                    help="messages per second a throttling site takes")
    ap.add_argument("--window", type=int, default=60,
                    help="the throttling sinks count MAIL commands over this"
                         " many seconds (a provider's 'per minute')")
    ap.add_argument("--margin", type=float, default=3.0,
                    help="percent below the sinks' rate that relais is set to"
                         " (a receiver sees an evenly spaced stream at exactly"
                         " its limit as bursts over it: clocks, jitter)")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--calibrate", type=int, default=None)
    ap.add_argument("--relais", default=os.path.join(ROOT, "build", "relais"))
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--stall", type=int, default=60)
    ap.add_argument("--no-shaping", action="store_true")
    ap.add_argument("--no-netns", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if not 1 <= a.sites <= 29 or not 0 <= a.throttled < a.sites:
        sys.exit("need 1 <= sites <= 29 and 0 <= throttled < sites")
    calib = a.calibrate if a.calibrate is not None else min(5000, a.messages // 10)

    from dnsserver import DNSServer
    from shaping_util import SinkServer, max_in_window, shared_port

    hosts = [f"127.0.0.{2 + k}" for k in range(a.sites)]
    # the throttling sites are spread over the list: 0, S/T, 2S/T, ...
    throttled = sorted({(k * a.sites) // a.throttled for k in range(a.throttled)}) \
        if a.throttled else []
    tmp = tempfile.mkdtemp(prefix="relais-shaping-")
    dns = DNSServer({}).start()
    srv = SinkServer()
    rl = None
    ok = False
    pool = multiprocessing.get_context("spawn").Pool(a.clients)
    pool.map(time.sleep, [0] * a.clients)      # the processes are up
    try:
        sink_port = shared_port(hosts)
        sinks = []
        for k, h in enumerate(hosts):
            dom = SITE_DOMAIN.format(k)
            dns.set(dom, {"MX": [(10, f"mx.{dom}")]})
            dns.set(f"mx.{dom}", {"A": [h]})
            lim = (a.rate * a.window, float(a.window)) if k in throttled else None
            sinks.append(srv.sink(h, sink_port, name=f"mx.{dom}", rate_limit=lim,
                                  keep_data=False))
        port = free_port()
        conf = write_conf(tmp, a, port, dns.address, sink_port, throttled)
        rl = Relais(a.relais, conf, os.path.join(tmp, "relais.log"), port)
        print(f"shaping-bench: {a.messages} messages, {a.sites} sites, "
              f"{len(throttled)} at {a.rate}/s, {a.clients} clients, "
              f"shaping {'off' if a.no_shaping else 'on'}; dir {tmp}; "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
        rl.start()

        # 1. calibration: unthrottled sites only
        free_sites = [k for k in range(a.sites) if k not in throttled]
        u = None
        if calib and free_sites:
            work = [(-1 - i, f"cal{i:06d}@{SITE_DOMAIN.format(free_sites[i % len(free_sites)])}")
                    for i in range(calib)]
            t0 = time.monotonic()
            acc, _ = run_injection(pool, port, work, a.clients)
            got = wait_all(sinks, acc, a.stall, 600)
            t1 = max((m.end for s in sinks for m in s.messages), default=t0)
            u = got / max(t1 - t0, 1e-6)
            print(f"calibration: {got}/{acc} messages to {len(free_sites)} unthrottled "
                  f"sites in {t1 - t0:.2f} s = {u:.0f} msg/s", flush=True)
        base = {id(s): s.count() for s in sinks}
        base_mail = {id(s): len(s.mail_times) for s in sinks}
        base_ref = {id(s): s.refused_mail for s in sinks}
        base_conn = {id(s): s.connections for s in sinks}

        # 2. the run
        per_site = [0] * a.sites
        work = []
        for i in range(a.messages):
            k = i % a.sites
            per_site[k] += 1
            work.append((i, f"u{i:06d}@{SITE_DOMAIN.format(k)}"))
        t0 = time.monotonic()
        acc, refused = run_injection(pool, port, work, a.clients)
        t_inj = time.monotonic() - t0
        print(f"injected {acc} ({refused} refused) in {t_inj:.2f} s "
              f"({acc / max(t_inj, 1e-6):.0f} msg/s)", flush=True)
        total_want = sum(base.values()) + acc
        wait_all(sinks, total_want, a.stall, 3 * 3600)
        rows = []
        lost = dup = 0
        t_end = t0
        for k, s in enumerate(sinks):
            with s.lock:
                msgs = s.messages[base[id(s)]:]
                mails = s.mail_times[base_mail[id(s)]:]
                ref = s.refused_mail - base_ref[id(s)]
                conns = s.connections - base_conn[id(s)]
                maxact = s.max_active
            rc = [r for m in msgs for r in m.rcpts]
            uniq = len(set(rc))
            dup += len(rc) - uniq
            lost += max(0, per_site[k] - uniq)
            last = max((m.end for m in msgs), default=t0)
            t_end = max(t_end, last)
            rows.append((s.name, "throttle" if k in throttled else "-", per_site[k],
                         uniq, last - t0, max_in_window(mails, a.window),
                         max_in_window([m.time for m in msgs], a.window), ref, conns,
                         maxact))
        total = t_end - t0
        with open(rl.log, "rb") as f:
            logtext = f.read().decode("utf-8", "replace")
        bounced = len(re.findall(r"\bevent=bounced\b", logtext))
        nthrottle = len(re.findall(r"\bevent=site\.(?:throttle|suspend)\b", logtext))

        print()
        print(f"{'site':<22} {'limit':<8} {'sent':>6} {'got':>6} {'last s':>8} "
              f"{'MAIL/' + str(a.window) + 's':>8} {'ok/' + str(a.window) + 's':>7}"
              f" {'421':>5} {'conns':>6} {'max':>4}")
        over = []
        for r in rows:
            print(f"{r[0]:<22} {r[1]:<8} {r[2]:>6} {r[3]:>6} {r[4]:>8.2f} "
                  f"{r[5]:>8} {r[6]:>7} {r[7]:>5} {r[8]:>6} {r[9]:>4}")
            if r[1] == "throttle" and r[5] > a.rate * a.window:
                over.append(r[0])
        best_sites = max((per_site[k] / a.rate for k in throttled), default=0.0)
        best_relais = a.messages / u if u else 0.0
        best = max(best_sites, best_relais)
        print()
        print(f"best possible {best:.2f} s (throttled sites {best_sites:.2f} s at "
              f"{a.rate}/s, all messages at the unshaped "
              f"{'%.0f msg/s' % u if u else 'n/a'}: {best_relais:.2f} s)")
        ratio = total / best if best else float("nan")
        ok = lost == 0 and dup == 0 and bounced == 0 and refused == 0 and \
            (a.no_shaping or not over)
        print(f"shaping-bench: {a.messages} messages in {total:.2f} s, "
              f"{ratio:.2f}x the best possible; lost {lost}, duplicated {dup}, "
              f"bounced {bounced}, refused at injection {refused}; "
              f"throttled sites over {a.rate * a.window} MAIL per {a.window} s:"
              f" {len(over)} "
              f"{'(' + ', '.join(over) + ')' if over else ''}; "
              f"site.throttle/suspend events {nthrottle}; "
              f"{'OK' if ok else 'FAILED'}", flush=True)
    finally:
        pool.terminate()
        pool.join()
        if rl is not None:
            rl.stop()
        srv.stop()
        dns.stop()
        if a.keep or not ok:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
