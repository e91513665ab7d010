#!/usr/bin/python3
"""bench/cluster_bench.py - the accept rate of two relais nodes behind
HAProxy beside one node alone, in the same run, on the same machine.

Setups (--setups, all four by default):

  one        one node; clients connect to it directly; no [cluster]
  one-redis  the same node with [cluster] redis (a local redis-server with
             the configuration docs/cluster.md gives): every connection
             waits for Redis's PTTL of the client's ban key before its 220
             (limits.auth_failures_per_ip > 0), and the node registers
  one-hap    that node behind HAProxy (mode tcp, send-proxy-v2, the health
             check on GET /healthz): the balancer's cost
  two-hap    two nodes behind that HAProxy (roundrobin), one Redis, each
             node with its own data directory and spool: the cluster

The load is the harness's relay scenario: smtp-source, N messages of S
octets at C concurrent sessions, one message per connection, one
recipient, every message relayed to the harness's smtp-sink on loopback.
That is an MX load, the traffic a balancer in front of several nodes
carries; its shared-state cost is one Redis round trip per connection
(the ban check), which every connection pays. Submission with AUTH adds
one more at MAIL (user_daily_limit) and one per RCPT of a tenant with
quotas; smtp-source cannot authenticate, so that is not measured here.

Accept rate = N / smtp-source's wall time. Every message must reach the
sink (lost = N - the sink's count). The CPU each component used while the
messages were accepted and delivered (relais nodes, HAProxy, Redis,
smtp-source, smtp-sink, from /proc and wait4) is reported per message,
with how busy that kept the machine's cores. "busy" is the share of the
cores the bench's processes used over that time, beside the share all
processes used (the rest is other work on the machine). The setups run
interleaved (the order rotates each repetition); each run starts fresh
processes and data directories. Medians of R repetitions, the ratio to
`one` and to the setup before.

Addresses: node k on 127.0.0.(11+k), SMTP on --in-port, HTTP on
--http-port; HAProxy's frontend on 127.0.0.1:--in-port; Redis on
127.0.0.1:--redis-port; the sink on 127.0.0.1:--sink-port. Runs in a
loopback-only network namespace when root, like the harness; every
process it starts is stopped before it exits.

usage: bench/cluster_bench.py [-n 5000] [--conc 20] [-s 4096] [-r 3]
                              [--setups one,one-redis,one-hap,two-hap]
"""
import argparse
import http.client
import importlib.machinery
import importlib.util
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from netns import reexec_in_netns

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.environ.get("BENCH_HARNESS",
                         os.path.join(HERE, "..", "..", "shared", "bench"))
SETUPS = {
    # name: (nodes, redis, haproxy)
    "one": (1, False, False),
    "one-redis": (1, True, False),
    "one-hap": (1, True, True),
    "two-hap": (2, True, True),
}
REDIS_PASSWORD = "bench-s3cret"
TICK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print("[cluster-bench %s]" % time.strftime("%H:%M:%S"), *a,
          file=sys.stderr, flush=True)


def load_harness():
    path = os.path.join(HARNESS, "mta-bench")
    loader = importlib.machinery.SourceFileLoader("mta_bench", path)
    spec = importlib.util.spec_from_loader("mta_bench", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def node_addr(k):
    return "127.0.0.%d" % (11 + k)


# --- configurations --------------------------------------------------------

def relais_conf(a, d, k, redis, proxied):
    """Node k's configuration: relais-start.sh's, plus its name, an [http]
    listener (the health check), and [cluster] when redis."""
    host = node_addr(k)
    out = """[server]
hostname = mx%(n)d.bench
node = mx%(n)d
data_dir = %(d)s/data
threads = %(threads)d
log_level = warning
sandbox = %(sandbox)s

[listener mx]
address = %(host)s:%(port)d
role = mx
""" % {"n": k + 1, "d": d, "threads": a.threads, "sandbox": a.sandbox,
       "host": host, "port": a.in_port}
    if proxied:
        out += "proxy_protocol = yes\nproxy_from = 127.0.0.0/8\n"
    out += """
[relay]
trusted_networks = 127.0.0.0/8
smarthost = 127.0.0.1:%(sink)d
smarthost_tls = none
max_connections_per_domain = 100

[limits]
max_connections = 20000
max_connections_per_ip = 20000
auth_failures_per_ip = 10

[http]
address = %(host)s:%(http)d
""" % {"sink": a.sink_port, "host": host, "http": a.http_port}
    if redis:
        out += """
[cluster]
redis = 127.0.0.1:%d
password = %s
redis_down = open
""" % (a.redis_port, REDIS_PASSWORD)
    return out


def haproxy_conf(front, servers, check_port, stats_sock=None, maxconn=4000):
    """The HAProxy configuration of docs/cluster.md with these addresses:
    front "HOST:PORT", servers [(name, "HOST:PORT")]."""
    out = ["global",
           "    maxconn %d" % maxconn]
    if stats_sock:
        out.append("    stats socket %s mode 600 level admin" % stats_sock)
    out += ["",
            "defaults",
            "    mode tcp",
            "    timeout connect 5s",
            "    timeout client 10m",
            "    timeout server 10m",
            "",
            "frontend smtp",
            "    bind %s" % front,
            "    default_backend relais_smtp",
            "",
            "backend relais_smtp",
            "    balance roundrobin",
            "    option httpchk GET /healthz",
            "    http-check expect status 200",
            "    default-server send-proxy-v2 check port %d inter 2s "
            "fall 2 rise 2" % check_port]
    for name, addr in servers:
        out.append("    server %s %s" % (name, addr))
    return "\n".join(out) + "\n"


def redis_conf(d, port):
    """docs/cluster.md's Redis configuration on loopback, in d."""
    return """bind 127.0.0.1
port %(port)d
protected-mode yes
requirepass %(pw)s
maxmemory 256mb
maxmemory-policy noeviction
appendonly yes
appendfsync everysec
save ""
dir %(d)s
daemonize no
loglevel warning
logfile %(d)s/redis.log
""" % {"port": port, "pw": REDIS_PASSWORD, "d": d}


# --- small clients ---------------------------------------------------------

def redis_cmd(port, *args, timeout=5):
    """One command after AUTH; the reply as text (bulk) or a status."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        req = b""
        for cmd in (("AUTH", REDIS_PASSWORD), args):
            req += b"*%d\r\n" % len(cmd)
            for x in cmd:
                x = x.encode()
                req += b"$%d\r\n%s\r\n" % (len(x), x)
        s.sendall(req)
        f = s.makefile("rb")
        out = None
        for _ in range(2):
            line = f.readline()
            if not line:
                raise OSError("redis closed the connection")
            if line[:1] == b"-":
                raise RuntimeError(line.decode().strip())
            if line[:1] == b"$":
                n = int(line[1:])
                out = f.read(n + 2)[:-2].decode() if n >= 0 else None
            else:
                out = line[1:].decode().strip()
        return out


def redis_calls(port):
    """{command: calls} from INFO commandstats"""
    out = {}
    for ln in redis_cmd(port, "INFO", "commandstats").splitlines():
        if ln.startswith("cmdstat_"):
            name, _, rest = ln[8:].partition(":")
            for kv in rest.split(","):
                if kv.startswith("calls="):
                    out[name] = int(kv[6:])
    return out


def hap_stat(sock_path):
    """{server: (status, sessions in all)} from HAProxy's stats socket"""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(sock_path)
        s.sendall(b"show stat\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    lines = data.decode().splitlines()
    head = lines[0].lstrip("# ").split(",")
    out = {}
    for ln in lines[1:]:
        row = dict(zip(head, ln.split(",")))
        if row.get("pxname") == "relais_smtp" and \
                row.get("svname") not in ("FRONTEND", "BACKEND"):
            out[row["svname"]] = (row.get("status"), int(row.get("stot") or 0))
    return out


def banner(host, port, timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            data = s.recv(512)
            s.sendall(b"QUIT\r\n")
            return data.startswith(b"220")
    except OSError:
        return False


def healthz(host, port):
    try:
        c = http.client.HTTPConnection(host, port, timeout=2)
        c.request("GET", "/healthz")
        st = c.getresponse().status
        c.close()
        return st
    except (OSError, http.client.HTTPException):
        return None


def wait_for(what, cond, timeout, proc=None):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %s:\n%s" % (
                what, proc.returncode, getattr(proc, "log_tail", lambda: "")()))
        try:
            if cond():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("%s not ready within %.0f s" % (what, timeout))


def machine_cpu():
    """(busy, all) jiffies of every core, from /proc/stat"""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def self_cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def tree_cpu(pid):
    """CPU seconds (user + system, all threads) of pid and its children"""
    kids = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open("/proc/%s/stat" % e) as f:
                    st = f.read()
                kids.setdefault(int(st[st.rindex(")") + 2:].split()[1]),
                                []).append(int(e))
            except (OSError, ValueError):
                pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read()
            fields = st[st.rindex(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError):
            continue
        todo.extend(kids.get(p, []))
    return total / TICK


# --- processes -------------------------------------------------------------

class Procs:
    """Every process a run starts; stop_all() stops them in reverse order
    (SIGTERM, then SIGKILL after a grace time)."""

    def __init__(self, d):
        self.d = d
        self.items = []         # (label, Popen, log file)

    def start(self, label, argv):
        logf = open(os.path.join(self.d, label + ".log"), "wb")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                             stderr=subprocess.STDOUT, cwd=self.d,
                             start_new_session=True)
        self.items.append((label, p, logf))
        path = logf.name

        def tail():
            logf.flush()
            with open(path, errors="replace") as f:
                return f.read()[-2000:]
        p.log_tail = tail
        return p

    def pid(self, label):
        for lab, p, _ in self.items:
            if lab == label:
                return p.pid
        return None

    def stop_all(self):
        for label, p, logf in reversed(self.items):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    log("%s did not stop within 15 s: killed" % label)
                    p.kill()
                    p.wait()
            logf.close()
        self.items = []


def smtp_source(mb, host, port, a, d):
    """smtp-source as the harness runs it, towards host:port; returns
    (t0, t1, rc, cpu seconds of smtp-source)."""
    argv = [mb.which("smtp-source") or "smtp-source", "-s", str(a.conc),
            "-m", str(a.n), "-l", str(a.size), "-f", "bench@example.com",
            "-t", "rcpt@example.net", "%s:%d" % (host, port)]
    errf = open(os.path.join(d, "smtp-source.stderr"), "ab")
    t0 = time.time()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=errf)
    end = t0 + a.timeout
    try:
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.time() > end:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                log("smtp-source killed after %.0f s" % a.timeout)
                break
            time.sleep(0.01)
    finally:
        errf.close()
    t1 = time.time()
    p.returncode = os.waitstatus_to_exitcode(status)
    return t0, t1, p.returncode, ru.ru_utime + ru.ru_stime


def run_one(mb, a, setup, d):
    nodes, use_redis, use_hap = SETUPS[setup]
    procs = Procs(d)
    sink = None
    try:
        sink = mb.Sink(a.sink_port, d)
        if use_redis:
            rd = os.path.join(d, "redis")
            os.makedirs(rd)
            with open(os.path.join(rd, "redis.conf"), "w") as f:
                f.write(redis_conf(rd, a.redis_port))
            p = procs.start("redis", [a.redis_server,
                                      os.path.join(rd, "redis.conf")])
            wait_for("redis-server",
                     lambda: _ping(a.redis_port), 10, p)
        for k in range(nodes):
            nd = os.path.join(d, "mx%d" % (k + 1))
            os.makedirs(nd)
            conf = os.path.join(nd, "relais.conf")
            with open(conf, "w") as f:
                f.write(relais_conf(a, nd, k, use_redis, use_hap))
            p = procs.start("mx%d" % (k + 1),
                            [a.relais, "serve", "-c", conf])
            host = node_addr(k)
            wait_for("relais mx%d" % (k + 1),
                     lambda: healthz(host, a.http_port) == 200, 30, p)
        if use_hap:
            hd = os.path.join(d, "haproxy")
            os.makedirs(hd)
            sock = os.path.join(hd, "stats.sock")
            cfg = os.path.join(hd, "haproxy.cfg")
            with open(cfg, "w") as f:
                f.write(haproxy_conf(
                    "127.0.0.1:%d" % a.in_port,
                    [("mx%d" % (k + 1), "%s:%d" % (node_addr(k), a.in_port))
                     for k in range(nodes)], a.http_port, sock))
            chk = subprocess.run([a.haproxy, "-c", "-q", "-f", cfg],
                                 capture_output=True, text=True, timeout=30)
            if chk.returncode != 0:
                raise RuntimeError("haproxy -c: " + chk.stdout + chk.stderr)
            p = procs.start("haproxy", [a.haproxy, "-db", "-f", cfg])
            wait_for("haproxy", lambda: os.path.exists(sock)
                     and all(st == "UP" for st, _ in hap_stat(sock).values())
                     and len(hap_stat(sock)) == nodes, 15, p)
            target = ("127.0.0.1", a.in_port)
        else:
            target = (node_addr(0), a.in_port)
        wait_for("the 220 banner", lambda: banner(*target), 10)
        time.sleep(0.5)
        sink.reset_base()
        pids = {"relais": [procs.pid("mx%d" % (k + 1)) for k in range(nodes)],
                "haproxy": [procs.pid("haproxy")] if use_hap else [],
                "redis": [procs.pid("redis")] if use_redis else [],
                "sink": [sink.proc.pid]}
        cpu0 = {c: sum(tree_cpu(p) for p in ps) for c, ps in pids.items()}
        cpu0["driver"] = self_cpu()
        mach0 = machine_cpu()
        calls0 = redis_calls(a.redis_port) if use_redis else {}
        hap0 = hap_stat(sock) if use_hap else {}
        t0, t1, rc, src_cpu = smtp_source(mb, target[0], target[1], a, d)
        while True:
            cnt, last = sink.delivered()
            if cnt >= a.n or time.time() - max(last, t1) > a.stall:
                break
            time.sleep(0.05)
        cnt, t_last = sink.delivered()
        cpu1 = {c: sum(tree_cpu(p) for p in ps) for c, ps in pids.items()}
        cpu1["driver"] = self_cpu()
        mach1 = machine_cpu()
        calls1 = redis_calls(a.redis_port) if use_redis else {}
        hap1 = hap_stat(sock) if use_hap else {}
        time.sleep(1.0)         # duplicates
        cnt2, _ = sink.delivered()
    finally:
        procs.stop_all()
        if sink is not None:
            sink.stop()
    wall = (t_last if cnt >= a.n else time.time()) - t0
    cpu = {c: (cpu1[c] - cpu0[c]) * 1000.0 / a.n for c in cpu0}
    cpu["source"] = src_cpu * 1000.0 / a.n
    res = {
        "setup": setup, "accept_rate": a.n / (t1 - t0),
        "source_wall_s": t1 - t0, "source_rc": rc,
        "delivered": cnt2, "lost": a.n - cnt2,
        "cpu_ms_per_msg": cpu,
        # the share of the cores the bench's processes used, and the share
        # all processes used (the rest: other jobs on this machine)
        "busy": sum(cpu.values()) * a.n / 1000.0 / (wall * os.cpu_count()),
        "machine_busy": (mach1[0] - mach0[0]) / max(1, mach1[1] - mach0[1]),
        "load1": os.getloadavg()[0],
    }
    if cnt >= a.n:
        res["delivered_rate"] = a.n / (t_last - t0)
    if use_redis:
        # commands per message (the bench's own INFO and the nodes'
        # registrations every 5 s round to nothing)
        res["redis_calls_per_msg"] = {
            k: (v - calls0.get(k, 0)) / a.n for k, v in calls1.items()
            if (v - calls0.get(k, 0)) / a.n >= 0.01}
    if use_hap:
        res["haproxy_sessions"] = {s: hap1[s][1] - hap0.get(s, (0, 0))[1]
                                   for s in hap1}
    return res


def _ping(port):
    try:
        return redis_cmd(port, "PING", timeout=1) == "PONG"
    except (OSError, RuntimeError):
        return False


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def fmt_cpu(cpu):
    return " ".join("%s %.3f" % (k, v) for k, v in cpu.items())


def main():
    reexec_in_netns("MTA_BENCH_IN_NETNS", __file__, required=True)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=5000,
                    help="messages per run (5000)")
    ap.add_argument("--conc", type=int, default=20,
                    help="concurrent sessions (20)")
    ap.add_argument("-s", "--size", type=int, default=4096)
    ap.add_argument("-r", "--reps", type=int, default=3)
    ap.add_argument("--setups", default=",".join(SETUPS),
                    help="comma-separated, of " + ", ".join(SETUPS))
    ap.add_argument("--relais", default=os.environ.get(
        "RELAIS_BIN", os.path.join(HERE, "..", "build", "relais")))
    ap.add_argument("--threads", type=int, default=0,
                    help="[server] threads of each node (0: one per core)")
    ap.add_argument("--sandbox", default="yes", choices=("yes", "no"))
    ap.add_argument("--in-port", type=int, default=30025)
    ap.add_argument("--sink-port", type=int, default=30026)
    ap.add_argument("--http-port", type=int, default=30080)
    ap.add_argument("--redis-port", type=int, default=30079)
    ap.add_argument("--stall", type=float, default=20.0,
                    help="give up waiting for delivery after this many "
                    "seconds without progress (20)")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="smtp-source's longest run in seconds (120)")
    ap.add_argument("--json", help="write every run here")
    ap.add_argument("--no-netns", action="store_true",
                    help="stay in this network namespace")
    a = ap.parse_args()
    setups = [s for s in a.setups.split(",") if s]
    for s in setups:
        if s not in SETUPS:
            sys.exit("cluster_bench: unknown setup %r (%s)" %
                     (s, ", ".join(SETUPS)))
    a.relais = os.path.abspath(a.relais)
    a.haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    a.redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
    for prog in [a.relais] + ([a.haproxy] if any(SETUPS[s][2] for s in setups)
                              else []) + \
            ([a.redis_server] if any(SETUPS[s][1] for s in setups) else []):
        if not os.access(prog, os.X_OK):
            sys.exit("cluster_bench: %s is needed (scripts/deps.sh test)" % prog)
    mb = load_harness()
    if mb.which("smtp-source") is None or mb.which("smtp-sink") is None:
        sys.exit("cluster_bench: smtp-source and smtp-sink are needed "
                 "(the harness's setup-peers)")
    work = tempfile.mkdtemp(prefix="cluster-bench.")
    os.chmod(work, 0o755)
    runs = []
    log("%d messages of %d octets at %d sessions, setups %s, %d "
        "repetitions, %d cores" % (a.n, a.size, a.conc, ",".join(setups),
                                   a.reps, os.cpu_count()))
    try:
        for rep in range(a.reps):
            k = rep % len(setups)
            for setup in setups[k:] + setups[:k]:
                d = os.path.join(work, "rep%02d-%s" % (rep, setup))
                os.makedirs(d)
                os.chmod(d, 0o755)
                res = run_one(mb, a, setup, d)
                res["rep"] = rep
                runs.append(res)
                extra = ""
                if "redis_calls_per_msg" in res:
                    extra += "  redis/msg %s" % " ".join(
                        "%s %.2f" % kv for kv in
                        sorted(res["redis_calls_per_msg"].items()))
                if "haproxy_sessions" in res:
                    extra += "  split %s" % " ".join(
                        "%s %d" % kv for kv in
                        sorted(res["haproxy_sessions"].items()))
                log("rep %d %-9s accept %6.0f/s  lost %d  rc %d  cpu ms/msg "
                    "%s  busy %.0f%% (machine %.0f%%)  load1 %.1f%s" %
                    (rep, setup, res["accept_rate"], res["lost"],
                     res["source_rc"], fmt_cpu(res["cpu_ms_per_msg"]),
                     100 * res["busy"], 100 * res["machine_busy"],
                     res["load1"], extra))
                shutil.rmtree(d, ignore_errors=True)
    except KeyboardInterrupt:
        log("interrupted: partial results")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "runs": runs}, f, indent=1)
    report(a, setups, runs)
    bad = [r for r in runs if r["lost"] != 0 or r["source_rc"] != 0]
    sys.exit(0 if runs and not bad else 1)


def report(a, setups, runs):
    by = {s: [r for r in runs if r["setup"] == s] for s in setups}
    med = {s: statistics.median([r["accept_rate"] for r in by[s]])
           for s in setups if by[s]}
    comps = ["relais", "haproxy", "redis", "source", "sink", "driver"]
    print("\ncluster bench: %d messages of %d octets at %d sessions, one "
          "message per connection, %d cores, medians of %d runs [min..max]"
          % (a.n, a.size, a.conc, os.cpu_count(), a.reps))
    print("busy: the cores' share the bench's processes used / all processes"
          " used; CPU per message: ms of user + system time")
    print("%-10s %-20s %-7s %-8s %-9s %s" % (
        "setup", "accepted msg/s", "vs " + setups[0], "vs prev", "busy",
        "CPU ms/msg: " + " ".join(comps) + "  total"))
    prev = None
    for s in setups:
        rs = by[s]
        if not rs:
            continue
        v = [r["accept_rate"] for r in rs]
        cpu = {c: statistics.median([r["cpu_ms_per_msg"].get(c, 0.0)
                                     for r in rs]) for c in comps}
        total = statistics.median([sum(r["cpu_ms_per_msg"].values())
                                   for r in rs])
        base = med.get(setups[0])
        print("%-10s %-20s %-7s %-8s %-9s %s  %.3f" % (
            s, "%.0f [%.0f..%.0f]" % (med[s], min(v), max(v)),
            "%.2fx" % (med[s] / base) if base else "-",
            "%.2fx" % (med[s] / med[prev]) if prev else "",
            "%.0f/%.0f%%" % (
                100 * statistics.median([r["busy"] for r in rs]),
                100 * statistics.median([r["machine_busy"] for r in rs])),
            " ".join("%.3f" % cpu[c] for c in comps), total))
        prev = s
    lost = sum(r["lost"] for r in runs)
    failed = sum(1 for r in runs if r["source_rc"] != 0)
    print("lost %d  smtp-source failures %d  load1 at the end %.1f" %
          (lost, failed, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
