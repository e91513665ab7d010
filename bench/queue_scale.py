#!/usr/bin/python3
"""queue_scale.py - how relais copes with a large deferred queue.

Loopback only. Starts a private relais (temp data dir, free port) whose
resolver is a tiny DNS server in this process that answers SERVFAIL to
everything, so every remote delivery defers with 4.4.3 and the destination
backs off. Then:

  1. queues R recipients (default 1,000,000): R/1000 messages of 1000
     recipients each over a few pipelined sessions, spread over a few
     domains; prints the time until the last 250;
  2. waits until every recipient was attempted once and deferred;
  3. times `relais queue list -c CONF > /dev/null`;
  4. restarts relais (SIGTERM, start) and times the stop, the 220 and the
     `event=spool.recover` line;
  5. times `relais queue flush` and the scheduler's pass over the whole
     queue (every recipient attempted and deferred again);
  6. prints the size of the spool database and the spool's own batch
     statistics (event=spool.stats at stop).

Usage: bench/queue_scale.py [--recipients N] [--per-msg 1000]
       [--domains 4] [--sessions 4] [--relais build/relais] [--keep]
"""
import argparse
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ServfailDNS(threading.Thread):
    """Answers every query with SERVFAIL (RCODE 2), question echoed."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = 0

    def run(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if len(data) < 12:
                continue
            qid, flags = struct.unpack("!HH", data[:4])
            qd = struct.unpack("!H", data[4:6])[0]
            # question section: labels, then QTYPE and QCLASS
            i = 12
            for _ in range(qd):
                while i < len(data) and data[i] != 0:
                    i += data[i] + 1
                i += 5
            rflags = 0x8000 | (flags & 0x7900) | 0x0080 | 2
            hdr = struct.pack("!HHHHHH", qid, rflags, qd, 0, 0, 0)
            self.queries += 1
            try:
                self.sock.sendto(hdr + data[12:i], peer)
            except OSError:
                pass


class LogWatch:
    """Reads relais's log file incrementally; counts and finds events."""

    def __init__(self, path):
        self.path = path
        self.pos = 0
        self.partial = b""
        self.counts = {}
        self.lines = []         # lines matching keep patterns
        self.keep = re.compile(rb"event=(spool\.|sched\.|remote\.backoff)")

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return
        self.pos += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        for ln in lines:
            m = re.search(rb" event=([\w.]+)", ln)
            if not m:
                continue
            ev = m.group(1).decode()
            self.counts[ev] = self.counts.get(ev, 0) + 1
            if self.keep.search(ln):
                self.lines.append(ln.decode(errors="replace"))

    def count(self, ev):
        return self.counts.get(ev, 0)

    def find(self, pattern, start=0):
        for ln in self.lines[start:]:
            if pattern in ln:
                return ln
        return None


class Relais:
    def __init__(self, binary, conf, logpath, port):
        self.binary = binary
        self.conf = conf
        self.logpath = logpath
        self.port = port
        self.proc = None

    def start(self):
        log = open(self.logpath, "ab")
        self.proc = subprocess.Popen([self.binary, "serve", "-c", self.conf],
                                     stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()

    def wait_220(self, timeout=600):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("relais exited with %d" % self.proc.returncode)
            try:
                with socket.create_connection(("127.0.0.1", self.port), 1) as s:
                    s.settimeout(5)
                    if s.recv(512).startswith(b"220"):
                        s.sendall(b"QUIT\r\n")
                        return time.monotonic()
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError("no 220 within %d s" % timeout)

    def stop(self, timeout=300):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("relais did not stop within %d s" % timeout)
        return self.proc.returncode


def send_session(port, msgs, per_msg, domains, body, errors, sent):
    """One pipelined session: MAIL, per_msg RCPTs and DATA in one write."""
    try:
        s = socket.create_connection(("127.0.0.1", port), 30)
        s.settimeout(300)
        f = s.makefile("rb")

        def reply():
            lines = []
            while True:
                ln = f.readline()
                if not ln:
                    raise RuntimeError("connection closed")
                lines.append(ln)
                if ln[3:4] != b"-":
                    return lines

        if not reply()[0].startswith(b"220"):
            raise RuntimeError("no greeting")
        s.sendall(b"EHLO queue-scale.test\r\n")
        reply()
        for m in msgs:
            cmd = [b"MAIL FROM:<sender@queue-scale.test>\r\n"]
            for r in range(per_msg):
                dom = (m * per_msg + r) % domains
                cmd.append(b"RCPT TO:<rcpt%d@unreachable-%d.example>\r\n"
                           % (r + 1, dom))
            cmd.append(b"DATA\r\n")
            s.sendall(b"".join(cmd))
            bad = 0
            first = reply()[0]
            if not first.startswith(b"250"):
                raise RuntimeError("MAIL: %r" % first)
            for _ in range(per_msg):
                if not reply()[0].startswith(b"250"):
                    bad += 1
            d = reply()[0]
            if not d.startswith(b"354"):
                raise RuntimeError("DATA: %r (%d RCPTs refused)" % (d, bad))
            s.sendall(body)
            end = reply()[0]
            if not end.startswith(b"250"):
                raise RuntimeError("end of data: %r" % end)
            if bad:
                raise RuntimeError("%d RCPTs refused" % bad)
            sent.append(per_msg)
        s.sendall(b"QUIT\r\n")
        s.close()
    except Exception as e:  # noqa: BLE001 - reported by the caller
        errors.append(repr(e))


def wait_count(watch, ev, target, timeout, label):
    t0 = time.monotonic()
    last, last_t = -1, t0
    while True:
        watch.poll()
        n = watch.count(ev)
        if n >= target:
            return time.monotonic()
        now = time.monotonic()
        if n != last:
            last, last_t = n, now
        elif now - last_t > timeout:
            raise RuntimeError("%s: stuck at %d/%d %s events" %
                               (label, n, target, ev))
        time.sleep(0.05)


def fmt_s(t):
    return "%.2f s" % t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipients", type=int, default=1000000)
    ap.add_argument("--per-msg", type=int, default=1000)
    ap.add_argument("--domains", type=int, default=4)
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--relais", default=os.path.join(ROOT, "build", "relais"))
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--stall", type=int, default=120,
                    help="give up after this many seconds without progress")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    a = ap.parse_args()

    nmsgs = max(1, a.recipients // a.per_msg)
    total = nmsgs * a.per_msg
    tmp = tempfile.mkdtemp(prefix="relais-qscale-")
    dns = ServfailDNS()
    dns.start()
    port = free_port()
    conf = os.path.join(tmp, "relais.conf")
    logpath = os.path.join(tmp, "relais.log")
    with open(conf, "w") as f:
        f.write(f"""[server]
hostname = relais.queue-scale.test
data_dir = {tmp}/data
threads = {a.threads}
log_level = info

[listener mx]
address = 127.0.0.1:{port}
role = mx

[relay]
trusted_networks = 127.0.0.0/8

[dns]
resolver = 127.0.0.1:{dns.port}
timeout = 5s
trust_anchor = none

[limits]
max_recipients = {max(100, a.per_msg)}
max_connections_per_ip = 1000
""")
    body = (b"From: <sender@queue-scale.test>\r\nTo: <many@example>\r\n"
            b"Subject: queue scale\r\n\r\n" + b"x" * 70 + b"\r\n") * 1 + \
        (b"y" * 70 + b"\r\n") * 12 + b".\r\n"

    watch = LogWatch(logpath)
    rl = Relais(a.relais, conf, logpath, port)
    results = []

    def report(k, v):
        results.append((k, v))
        print("%-44s %s" % (k, v), flush=True)

    load = os.getloadavg()
    print("queue-scale: %d recipients = %d messages x %d, %d domains, "
          "%d sessions; dir %s; load %.2f %.2f %.2f" %
          (total, nmsgs, a.per_msg, a.domains, a.sessions, tmp, *load),
          flush=True)
    try:
        rl.start()
        rl.wait_220()

        # 1. queue
        errors, sent = [], []
        parts = [list(range(i, nmsgs, a.sessions)) for i in range(a.sessions)]
        t0 = time.monotonic()
        ths = [threading.Thread(target=send_session,
                                args=(port, p, a.per_msg, a.domains, body,
                                      errors, sent)) for p in parts if p]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        t_queued = time.monotonic() - t0
        if errors:
            raise RuntimeError("sending failed: %s" % errors[:3])
        report("queue %d recipients (%d msgs)" % (total, nmsgs),
               "%s  (%.0f rcpt/s)" % (fmt_s(t_queued), total / t_queued))

        # 2. the first attempts, which ran while the mail came in
        t1 = wait_count(watch, "deferred", total, a.stall, "first pass")
        report("all attempted once (from first message)", fmt_s(t1 - t0))
        report("DNS queries answered (SERVFAIL)", str(dns.queries))

        # 3. queue list
        def queue_list(label):
            ts = time.monotonic()
            r = subprocess.run([a.relais, "queue", "list", "-c", conf],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            te = time.monotonic() - ts
            tail = r.stdout.rstrip().rsplit(b"\n", 1)[-1].decode()
            report(label, "%s  (%s)" % (fmt_s(te), tail))
            if r.returncode != 0:
                raise RuntimeError("queue list: %s" % r.stderr.decode())
        queue_list("relais queue list > /dev/null")

        # 4. restart
        ts = time.monotonic()
        rl.stop()
        t_stop = time.monotonic() - ts
        report("stop (SIGTERM to exit)", fmt_s(t_stop))
        watch.poll()
        mark = len(watch.lines)
        ts = time.monotonic()
        rl.start()
        t220 = rl.wait_220() - ts
        rec = None
        while rec is None and time.monotonic() - ts < 600:
            watch.poll()
            rec = watch.find("event=spool.recover", mark)
            if rec is None:
                time.sleep(0.01)
        t_rec = time.monotonic() - ts
        report("restart: start to 220", fmt_s(t220))
        report("restart: start to event=spool.recover seen", fmt_s(t_rec))
        if rec:
            print("   " + rec[rec.find("event="):], flush=True)

        # 5. flush: everything due now, backoffs forgotten; one full pass
        watch.poll()
        base = watch.count("deferred")
        mark = len(watch.lines)
        ts = time.monotonic()
        r = subprocess.run([a.relais, "queue", "flush", "-c", conf],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t_flush = time.monotonic() - ts
        report("relais queue flush", fmt_s(t_flush) + "  (" +
               r.stdout.decode().strip().replace("\n", "; ") + ")")
        t2 = wait_count(watch, "deferred", base + total, a.stall,
                        "flush pass")
        report("pass: all due recipients deferred again", "%s  (%.0f rcpt/s)"
               % (fmt_s(t2 - ts), total / (t2 - ts)))
        queue_list("relais queue list (after the pass)")

        # 6. sizes, stats
        db = os.path.join(tmp, "data", "spool", "queue.db")
        size = sum(os.path.getsize(p) for p in (db, db + "-wal")
                   if os.path.exists(p))
        report("spool database (queue.db + -wal)",
               "%.1f MiB (%.0f bytes/recipient)" % (size / 2**20,
                                                    size / total))
        mark = len(watch.lines)
        ts = time.monotonic()
        rl.stop()
        report("stop after the pass", fmt_s(time.monotonic() - ts))
        watch.poll()
        st = watch.find("event=spool.stats", mark)
        if st:
            print("   " + st[st.find("event="):], flush=True)
        for ln in watch.lines:
            if "event=spool.slow" in ln:
                print("   slow batch: " + ln[ln.find("event="):])
                break
        print("load after: %.2f %.2f %.2f" % os.getloadavg())
    finally:
        if rl.proc and rl.proc.poll() is None:
            rl.proc.kill()
            rl.proc.wait()
        if a.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
