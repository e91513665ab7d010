#!/usr/bin/python3
"""bench/webhook_drain.py - what webhooks cost and how fast they drain.

Starts relais (sandbox on) with [webhooks] pointing at a receiver on
127.0.0.1 (Python's http.server, answers 200 at once), then:
  1. backlog: with the receiver down, N messages to a local mailbox over
     C SMTP sessions (2N events wait in the spool); the receiver comes up
     and the time until it has every event is the drain time;
  2. live: N more messages with the receiver up; the time from the last
     250 to the last event at the receiver;
  3. idle: relais's CPU time over IDLE seconds with nothing to send (the
     one-second poll).
Loopback only; every loop bounded; relais and the receiver are stopped.

With --no-hook: the same daemon without [webhooks], for the baseline of
the live sending rate and of the idle CPU.

usage: bench/webhook_drain.py BINARY [-n N] [-c C] [--batch B] [--idle S]
       [--no-hook]
"""
import argparse
import http.server
import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Receiver:
    def __init__(self, port):
        self.port = port
        self.ids = set()
        self.posts = 0
        self.lock = threading.Lock()
        rx = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                evs = json.loads(body)["events"]
                with rx.lock:
                    rx.posts += 1
                    rx.ids.update(e["id"] for e in evs)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        self.srv.daemon_threads = True
        self.t = threading.Thread(target=self.srv.serve_forever,
                                  kwargs={"poll_interval": 0.05}, daemon=True)
        self.t.start()

    def count(self):
        with self.lock:
            return len(self.ids)

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


BODY = ("x" * 76 + "\r\n") * 13      # about 1 KiB


def send(port, n, conc, tag):
    def one(k):
        s = smtplib.SMTP("127.0.0.1", port, local_hostname="bench.test",
                         timeout=30)
        for i in range(k):
            s.sendmail("bench@remote.test", ["user@example.test"],
                       f"Subject: {tag} {i}\r\n\r\n" + BODY)
        s.quit()
    per = [n // conc + (1 if i < n % conc else 0) for i in range(conc)]
    ts = [threading.Thread(target=one, args=(k,)) for k in per if k]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def delivered(d):
    try:
        return len(os.listdir(f"{d}/data/mail/example.test/user/new"))
    except FileNotFoundError:
        return 0


def wait(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("-c", type=int, default=10)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--idle", type=int, default=30)
    ap.add_argument("--no-hook", action="store_true",
                    help="baseline: no [webhooks]; live sending and idle only")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="relais-hookbench-")
    smtp, hook = free_port(), free_port()
    with open(f"{d}/relais.conf", "w") as f:
        f.write(f"""[server]
hostname = mx.test
data_dir = {d}/data
log_level = info
[listener mx]
address = 127.0.0.1:{smtp}
role = mx
[local]
domains = example.test
[relay]
trusted_networks = 127.0.0.0/8
[dns]
resolver = 127.0.0.1:1
trust_anchor = none
""")
        if not a.no_hook:
            f.write(f"""[webhooks]
url = http://127.0.0.1:{hook}/hook
secret = bench
batch_size = {a.batch}
retry_max = 1s
""")
    log = open(f"{d}/relais.log", "wb")
    p = subprocess.Popen([os.path.abspath(a.binary), "serve", "-c",
                          f"{d}/relais.conf"], stdout=log, stderr=log,
                         stdin=subprocess.DEVNULL, cwd=d)
    rx = None
    try:
        assert wait(lambda: b"server.ready" in open(f"{d}/relais.log", "rb").read(), 15)
        if a.no_hook:
            t0 = time.monotonic()
            send(smtp, a.n, a.c, "live")
            t1 = time.monotonic()
            print(f"live (no webhooks): {a.n} messages in {t1 - t0:.2f} s"
                  f" ({a.n / (t1 - t0):.0f} msg/s)")
            assert wait(lambda: delivered(d) >= a.n, 120), delivered(d)
        else:
            # 1. backlog
            send(smtp, a.n, a.c, "backlog")
            assert wait(lambda: delivered(d) >= a.n, 120), delivered(d)
            time.sleep(1.5)
            rx = Receiver(hook)
            t0 = time.monotonic()
            assert wait(lambda: rx.count() >= 2 * a.n, 300), rx.count()
            drain = time.monotonic() - t0
            posts1 = rx.posts
            print(f"backlog: {2 * a.n} events in {drain:.2f} s "
                  f"({2 * a.n / drain:.0f} events/s, {posts1} POSTs of up to {a.batch})")
            # 2. live
            t0 = time.monotonic()
            send(smtp, a.n, a.c, "live")
            t1 = time.monotonic()
            assert wait(lambda: rx.count() >= 4 * a.n, 300), rx.count()
            t2 = time.monotonic()
            print(f"live: {a.n} messages in {t1 - t0:.2f} s ({a.n / (t1 - t0):.0f} msg/s);"
                  f" last event {t2 - t1:.2f} s after the last 250;"
                  f" {rx.posts - posts1} POSTs")
        # 3. idle
        time.sleep(2)
        c0 = cpu_s(p.pid)
        time.sleep(a.idle)
        c1 = cpu_s(p.pid)
        print(f"idle: {1000 * (c1 - c0) / a.idle:.2f} ms CPU per second "
              f"(whole daemon, {a.idle} s)")
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if rx:
            rx.stop()
        print(f"relais exit {p.returncode}")
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
