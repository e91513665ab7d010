#!/usr/bin/python3
"""bench/api_bench.py - the HTTP sending API against SMTP on the same
relais: 4 KiB messages at C concurrent clients, POST /v1/messages (JSON,
ApacheBench `ab` with keep-alive) beside smtp-source (SMTP, one message
per connection as the harness's relay scenario), both relayed to the
harness's smtp-sink. Reports each side's accept rate (requests answered
202 / messages answered 250, per second of the client's run) and the
messages lost (accepted but not at the sink). The order of the two
alternates between repetitions; each repetition starts a fresh relais.

Runs in a loopback-only network namespace when root, like the harness.

usage: bench/api_bench.py [-n 5000] [--conc 20] [-s 4096] [-r 3]
"""
import argparse
import importlib.machinery
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
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


def body_file(d, size):
    """A JSON request whose text makes a message of about `size` octets."""
    line = "The quick brown fox jumps over the lazy dog 0123456789.\n"
    text = (line * (size // len(line) + 1))[:size]
    req = {"from": "bench@example.com", "to": ["rcpt@example.net"],
           "subject": "api bench", "text": text}
    path = os.path.join(d, "body.json")
    with open(path, "w") as f:
        json.dump(req, f)
    return path


def run_ab(port, token, n, conc, body):
    argv = ["ab", "-q", "-k", "-n", str(n), "-c", str(conc), "-p", body,
            "-T", "application/json", "-H", "Authorization: Bearer " + token,
            "http://127.0.0.1:%d/v1/messages" % port]
    t0 = time.time()
    r = subprocess.run(argv, capture_output=True, text=True)
    t1 = time.time()
    out = r.stdout
    failed = re.search(r"Failed requests:\s+(\d+)", out)
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    bad = (int(failed.group(1)) if failed else n) + \
        (int(non2xx.group(1)) if non2xx else 0)
    if r.returncode != 0:
        print(r.stderr[-500:], file=sys.stderr)
    return t0, t1, n - bad, bad


def wait_sink(sink, want, t_after, stall):
    while True:
        cnt, last = sink.delivered()
        if cnt >= want or time.time() - max(last, t_after) > stall:
            return cnt
        time.sleep(0.05)


def run_rep(mb, a, d, api_first):
    sink = mb.Sink(a.sink_port, d)
    os.environ["RELAIS_HTTP_PORT"] = str(a.http_port)
    ad = mb.CustomAdapter(a, "relais", a.relais_start)
    res = {}
    try:
        ad.start(os.path.join(d, "mta"), a.in_port, a.sink_port, "api")
        try:
            time.sleep(0.5)
            with open(os.path.join(d, "mta", "relais", "token")) as f:
                token = f.read().strip()
            body = body_file(d, a.size)
            sink.reset_base()
            for side in (["api", "smtp"] if api_first else ["smtp", "api"]):
                base, _ = sink.delivered()
                if side == "api":
                    t0, t1, ok, bad = run_ab(a.http_port, token, a.n, a.conc,
                                             body)
                else:
                    t0, t1, rc, _ = mb.smtp_source(a.in_port, a.n, a.size,
                                                   a.conc, False, d)
                    ok, bad = (a.n, 0) if rc == 0 else (a.n, 1)
                got = wait_sink(sink, base + ok, t1, a.stall) - base
                time.sleep(1.0)
                got2 = sink.delivered()[0] - base
                res[side] = {"accept_rate": ok / (t1 - t0), "accepted": ok,
                             "refused": bad, "delivered": got2,
                             "lost": max(0, ok - got2),
                             "dup": max(0, got2 - ok), "reached": got}
        finally:
            ad.stop()
    finally:
        sink.stop()
        os.environ.pop("RELAIS_HTTP_PORT", None)
    return res


def main():
    reexec_in_netns("MTA_BENCH_IN_NETNS", __file__, required=True)
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=5000, help="messages per side (5000)")
    ap.add_argument("--conc", type=int, default=20, help="concurrent clients (20)")
    ap.add_argument("-s", "--size", type=int, default=4096)
    ap.add_argument("-r", "--reps", type=int, default=3)
    ap.add_argument("--relais-start", default=os.path.join(HERE, "relais-start.sh"))
    ap.add_argument("--in-port", type=int, default=30025)
    ap.add_argument("--sink-port", type=int, default=30026)
    ap.add_argument("--http-port", type=int, default=30080)
    ap.add_argument("--stall", type=float, default=20.0)
    a = ap.parse_args()
    if shutil.which("ab") is None:
        sys.exit("api_bench: ab (apache2-utils) is needed")
    mb = load_harness()
    a.proc_limit, a.start_timeout, a.peers = 6000, 30.0, None
    work = tempfile.mkdtemp(prefix="api-bench.")
    os.chmod(work, 0o755)
    runs = []
    try:
        for rep in range(a.reps):
            d = os.path.join(work, "rep%02d" % rep)
            os.makedirs(d)
            res = run_rep(mb, a, d, api_first=rep % 2 == 0)
            runs.append(res)
            print("rep %d  api %.0f/s (refused %d, lost %d)  smtp %.0f/s "
                  "(lost %d)  ratio %.2fx  load1 %.1f" %
                  (rep, res["api"]["accept_rate"], res["api"]["refused"],
                   res["api"]["lost"], res["smtp"]["accept_rate"],
                   res["smtp"]["lost"], res["api"]["accept_rate"] /
                   res["smtp"]["accept_rate"], os.getloadavg()[0]),
                  file=sys.stderr, flush=True)
            shutil.rmtree(d, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    api = [r["api"]["accept_rate"] for r in runs]
    smtp = [r["smtp"]["accept_rate"] for r in runs]
    ratios = [x / y for x, y in zip(api, smtp)]
    lost = sum(r[s]["lost"] for r in runs for s in ("api", "smtp"))
    refused = sum(r["api"]["refused"] for r in runs)
    print("\nAPI vs SMTP accept rate, %d messages of %d bytes per side at %d "
          "clients, %d runs (medians [min..max])" % (a.n, a.size, a.conc, a.reps))
    print("api   %8.0f/s  [%0.f..%0.f]" % (statistics.median(api), min(api), max(api)))
    print("smtp  %8.0f/s  [%0.f..%0.f]" % (statistics.median(smtp), min(smtp), max(smtp)))
    print("ratio %8.2fx  [%.2f..%.2f]" % (statistics.median(ratios), min(ratios),
                                          max(ratios)))
    print("lost %d  refused %d" % (lost, refused))
    sys.exit(0 if lost == 0 and refused == 0 else 1)


if __name__ == "__main__":
    main()
