#!/usr/bin/python3
"""bench/latency_load.py - end of DATA to 250 latency while the MTA carries
a relay load, relais and Postfix side by side.

The shared harness (mta-bench) measures latency on an idle MTA only. This
script reuses its adapters, its sink and its smtp-source wrapper (loaded
from the harness file, so the MTAs are configured and started exactly as
there) and adds the case it lacks: while smtp-source keeps C sessions
busy (one message per connection, 4 KiB), one more session measures, as
the harness's latency scenario does, the time from the last byte of a
message to the reply to "." (no pipelining, M timed messages after a
warm-up). The MTAs run interleaved (A B A B ...) for R repetitions, and
every message, loaded or timed, must reach the sink.

Runs in a loopback-only network namespace when root (like the harness).

usage: bench/latency_load.py [--conc 20] [-m 1000] [-r 3] [--relais-start CMD]
"""
import argparse
import importlib.machinery
import importlib.util
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from netns import reexec_in_netns

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.environ.get("BENCH_HARNESS",
                         os.path.join(HERE, "..", "..", "shared", "bench"))


def load_harness():
    path = os.path.join(HARNESS, "mta-bench")
    loader = importlib.machinery.SourceFileLoader("mta_bench", path)
    spec = importlib.util.spec_from_loader("mta_bench", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


class Load:
    """smtp-source runs of `batch` messages at `conc` sessions, one after
    another, until stop() (at most `max_runs` runs)."""

    def __init__(self, mb, port, conc, size, batch, d, max_runs=500):
        self.mb, self.port, self.conc, self.size = mb, port, conc, size
        self.batch, self.d, self.max_runs = batch, d, max_runs
        self.sent = 0
        self.failed = 0
        self.stopping = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        for _ in range(self.max_runs):
            if self.stopping.is_set():
                break
            _, _, rc, _ = self.mb.smtp_source(self.port, self.batch, self.size,
                                              self.conc, False, self.d)
            self.sent += self.batch
            if rc != 0:
                self.failed += 1

    def start(self):
        self.t.start()

    def stop(self):
        self.stopping.set()
        self.t.join()


def probe(mb, port, size, m, warmup):
    """One session, the harness's latency loop; returns latencies in ms."""
    s = socket.create_connection((mb.HOST, port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")
    mb._read_reply(f)
    s.sendall(b"EHLO bench.client\r\n")
    mb._read_reply(f)
    line = b"X" * 76 + b"\r\n"
    hdr = (b"From: bench@example.com\r\nTo: rcpt@example.net\r\n"
           b"Subject: latency\r\n\r\n")
    body = hdr + line * max(1, (size - len(hdr)) // len(line))
    lat = []
    for i in range(m + warmup):
        s.sendall(b"MAIL FROM:<bench@example.com>\r\n")
        c1, _ = mb._read_reply(f)
        s.sendall(b"RCPT TO:<rcpt@example.net>\r\n")
        c2, _ = mb._read_reply(f)
        s.sendall(b"DATA\r\n")
        c3, _ = mb._read_reply(f)
        if (c1, c2, c3) != (250, 250, 354):
            raise RuntimeError("unexpected replies %r" % ((c1, c2, c3),))
        s.sendall(body)
        t0 = time.perf_counter()
        s.sendall(b".\r\n")
        c4, _ = mb._read_reply(f)
        t1 = time.perf_counter()
        if c4 != 250:
            raise RuntimeError("end of DATA answered %d" % c4)
        if i >= warmup:
            lat.append((t1 - t0) * 1000.0)
    s.sendall(b"QUIT\r\n")
    s.close()
    return lat


def run_one(mb, adapter, d, a):
    sink = mb.Sink(a.sink_port, d)
    try:
        adapter.start(os.path.join(d, "mta"), a.in_port, a.sink_port, "latload")
        try:
            time.sleep(0.5)
            sink.reset_base()
            load = Load(mb, a.in_port, a.conc, a.size, a.batch, d)
            load.start()
            time.sleep(a.ramp)
            try:
                lat = probe(mb, a.in_port, a.size, a.m, a.warmup)
            finally:
                load.stop()
            expect = load.sent + a.m + a.warmup
            deadline = time.time() + 120
            while time.time() < deadline:
                cnt, last = sink.delivered()
                if cnt >= expect or time.time() - last > a.stall:
                    break
                time.sleep(0.05)
            time.sleep(1.0)
            cnt, _ = sink.delivered()
        finally:
            adapter.stop()
    finally:
        sink.stop()
    lat.sort()
    return {
        "lat_median_ms": statistics.median(lat),
        "lat_p99_ms": lat[min(len(lat) - 1, int(round(0.99 * len(lat))) - 1)],
        "lat_mean_ms": statistics.fmean(lat),
        "lat_max_ms": lat[-1],
        "load_messages": load.sent,
        "load_failed_runs": load.failed,
        "lost": expect - cnt,
    }


def main():
    reexec_in_netns("MTA_BENCH_IN_NETNS", __file__, required=True)
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conc", type=int, default=20, help="load sessions (20)")
    ap.add_argument("-s", "--size", type=int, default=4096)
    ap.add_argument("-m", type=int, default=1000, help="timed messages (1000)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--batch", type=int, default=2000,
                    help="messages per smtp-source run of the load (2000)")
    ap.add_argument("--ramp", type=float, default=1.0,
                    help="seconds of load before the probe starts (1)")
    ap.add_argument("-r", "--reps", type=int, default=3)
    ap.add_argument("--relais-start",
                    default=os.path.join(HERE, "relais-start.sh"),
                    help="command that runs relais in the foreground")
    ap.add_argument("--in-port", type=int, default=30025)
    ap.add_argument("--sink-port", type=int, default=30026)
    ap.add_argument("--stall", type=float, default=20.0)
    a = ap.parse_args()
    mb = load_harness()
    # the attributes the harness's adapters read from their args
    a.proc_limit, a.start_timeout, a.peers = 6000, 30.0, None
    a.exim_user = "Debian-exim"
    adapters = [mb.PostfixAdapter(a), mb.CustomAdapter(a, "relais", a.relais_start)]
    work = tempfile.mkdtemp(prefix="latency-load.")
    os.chmod(work, 0o755)
    runs = {ad.label: [] for ad in adapters}
    try:
        n = 0
        for rep in range(a.reps):
            for ad in adapters:
                n += 1
                d = os.path.join(work, "run%03d-%s" % (n, ad.label))
                os.makedirs(d)
                res = run_one(mb, ad, d, a)
                runs[ad.label].append(res)
                print("rep %d %-8s p99 %.2f ms  median %.2f ms  max %.2f ms  "
                      "load %d msgs  lost %d  load1 %.1f" %
                      (rep, ad.label, res["lat_p99_ms"], res["lat_median_ms"],
                       res["lat_max_ms"], res["load_messages"], res["lost"],
                       os.getloadavg()[0]), file=sys.stderr, flush=True)
                shutil.rmtree(d, ignore_errors=True)
    finally:
        for ad in adapters:
            ad.stop()
        shutil.rmtree(work, ignore_errors=True)
    base = adapters[0].label
    print("\nlatency under load: %d sessions of smtp-source, %d timed "
          "messages of %d bytes, medians of %d runs" %
          (a.conc, a.m, a.size, a.reps))
    print("%-8s %-14s %-24s %s" % ("mta", "metric", "median [min..max]",
                                   "vs " + base))
    for label, rs in runs.items():
        for k in ("lat_p99_ms", "lat_median_ms", "lat_max_ms", "lost"):
            v = [r[k] for r in rs]
            med = statistics.median(v)
            bmed = statistics.median([r[k] for r in runs[base]])
            ratio = ("%.2fx" % (med / bmed)) if label != base and bmed else ""
            print("%-8s %-14s %-24s %s" % (label, k, "%.2f [%.2f..%.2f]" %
                                           (med, min(v), max(v)), ratio))


if __name__ == "__main__":
    main()
