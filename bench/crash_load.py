#!/usr/bin/python3
"""bench/crash_load.py - kill -9 under load: no acknowledged message lost.

Starts relais on a scratch data dir, sends M messages of SIZE bytes over C
concurrent sessions, kills relais with SIGKILL K times while the load runs
(after evenly spaced numbers of 250 replies), restarts it at once on the
same data dir each time, and lets the clients go on (a client whose server
vanished reconnects and sends the message again under a new token). Then
it waits until the queue is empty and checks, by the token in each
message's Subject, that every message that got its 250 was delivered.

  --mode local   recipients in a local domain: Maildir files are counted;
                 each acknowledged message must be there exactly once
                 (stable Maildir names make a resumed delivery idempotent).
  --mode relay   recipients elsewhere, relayed through a smarthost: an
                 smtp-sink on loopback dumps each transaction to a file.
                 Each acknowledged message must arrive at least once; a
                 crash between the sink's 250 and relais's commit of that
                 result sends it again (RFC 5321's duplicate window), so
                 duplicates are counted and shown, not failed.

Loopback only; run as root it re-runs itself in a network namespace with
lo only, like the shared harness. Exit status 0 when nothing acknowledged
is missing (and, in local mode, nothing is duplicated).

usage: bench/crash_load.py --relais build/relais [--mode local|relay]
       [-c 20] [-m 2000] [-s 4096] [-k 3]
"""
import argparse
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

from netns import reexec_in_netns

HOST = "127.0.0.1"
TOKEN_RE = re.compile(rb"^Subject: crash ([A-Za-z0-9]+)\r?$", re.M)


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("exited with %d while starting" % proc.returncode)
        try:
            with socket.create_connection((HOST, port), timeout=1) as s:
                if s.recv(512).startswith(b"220"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("no banner on port %d" % port)


def stop_proc(proc, timeout):
    """SIGTERM, then SIGKILL after timeout seconds"""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Relais:
    def __init__(self, binary, work, port, mode, sink_port, resolver):
        self.binary, self.port = binary, port
        self.data = os.path.join(work, "data")
        self.conf = os.path.join(work, "relais.conf")
        self.logf = open(os.path.join(work, "relais.log"), "ab")
        relay = ""
        if mode == "relay":
            relay = ("smarthost = %s:%d\nsmarthost_tls = none\n"
                     "max_connections_per_domain = 100\n" % (HOST, sink_port))
        with open(self.conf, "w") as f:
            f.write(f"""[server]
hostname = relais.crash
data_dir = {self.data}
log_level = warning

[listener mx]
address = {HOST}:{port}
role = mx

[local]
domains = crash.test

[relay]
trusted_networks = 127.0.0.0/8
retry_min = 1s
retry_max = 2s
{relay}
[dns]
resolver = {resolver}
timeout = 1s
trust_anchor = none

[limits]
max_message_size = 64M
max_connections = 2000
max_connections_per_ip = 2000
""")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.binary, "serve", "-c", self.conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf)
        wait_port(self.port, self.proc)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc is not None:
            stop_proc(self.proc, 20)

    def queue_empty(self):
        r = subprocess.run([self.binary, "queue", "list", "-c", self.conf],
                           capture_output=True, text=True, timeout=60)
        return r.returncode == 0 and "\n0 recipients queued" in "\n" + r.stdout


class Sink:
    """smtp-sink dumping every transaction to a file under dir."""

    def __init__(self, port, d):
        # its own dir: smtp-sink runs as nobody, which may not enter d
        self.dir = tempfile.mkdtemp(prefix="crash-load-sink.")
        argv = [shutil.which("smtp-sink") or "/usr/sbin/smtp-sink",
                "-d", os.path.join(self.dir, "m.")]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]
            os.chown(self.dir, 65534, 65534)
        argv += ["%s:%d" % (HOST, port), "1024"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(port, self.proc, 10)

    def files(self):
        return [os.path.join(self.dir, n) for n in os.listdir(self.dir)]

    def stop(self):
        stop_proc(self.proc, 5)
        shutil.rmtree(self.dir, ignore_errors=True)


def tokens_in(paths):
    seen = {}
    for p in paths:
        try:
            with open(p, "rb") as f:
                head = f.read(65536)
        except OSError:
            continue
        for t in TOKEN_RE.findall(head):
            t = t.decode()
            seen[t] = seen.get(t, 0) + 1
    return seen


def maildir_files(data):
    out = []
    for root, _, names in os.walk(os.path.join(data, "mail")):
        if os.path.basename(root) in ("new", "cur"):
            out += [os.path.join(root, n) for n in names]
    return out


def body_of(size):
    line = b"y" * 76 + b"\r\n"
    return line * max(1, size // len(line))


def main():
    reexec_in_netns("CRASH_LOAD_IN_NETNS", __file__)
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--relais", default="build/relais")
    ap.add_argument("--mode", choices=("local", "relay"), default="local")
    ap.add_argument("-c", "--sessions", type=int, default=20)
    ap.add_argument("-m", "--messages", type=int, default=2000)
    ap.add_argument("-s", "--size", type=int, default=4096)
    ap.add_argument("-k", "--kills", type=int, default=3)
    ap.add_argument("--resolver", default=HOST + ":9",
                    help="[dns] resolver (default 127.0.0.1:9: nothing is looked up)")
    ap.add_argument("--workdir", help="scratch dir, kept (default: a new one, removed on success)")
    ap.add_argument("--no-netns", action="store_true",
                    help="do not isolate in a network namespace (loopback is used anyway)")
    ap.add_argument("--timeout", type=float, default=600.0,
                    help="overall limit in seconds (600)")
    a = ap.parse_args()
    binary = os.path.abspath(a.relais)
    work = a.workdir or tempfile.mkdtemp(prefix="crash-load.")
    os.makedirs(work, exist_ok=True)
    os.chmod(work, 0o755)
    port = free_port()
    sink = None
    if a.mode == "relay":
        sink_port = free_port()
        sink = Sink(sink_port, work)
    r = Relais(binary, work, port, a.mode, sink_port if sink else 0, a.resolver)
    r.start()
    deadline = time.monotonic() + a.timeout
    body = body_of(a.size)
    rcpt_domain = "crash.test" if a.mode == "local" else "remote.example"
    lock = threading.Lock()
    acked = set()
    refused = [0]
    attempts = [0]
    next_id = [0]
    kill_at = [a.messages * (i + 1) // (a.kills + 1) for i in range(a.kills)]
    kills_done = [0]
    down = threading.Event()      # set while relais is being restarted

    def take():
        with lock:
            if next_id[0] >= a.messages:
                return None
            next_id[0] += 1
            return next_id[0]

    def client(cid):
        conn = None
        n = take()
        tries = 0
        while n is not None and time.monotonic() < deadline:
            tok = "c%dm%dt%d" % (cid, n, tries)
            if conn is None:
                try:
                    conn = smtplib.SMTP(HOST, port, local_hostname="client.test",
                                        timeout=60)
                    conn.ehlo()
                except (OSError, smtplib.SMTPException):
                    conn = None
                    time.sleep(0.05)
                    continue
            msg = (b"From: <c%d@sender.test>\r\nTo: <u%d@%s>\r\n"
                   b"Subject: crash %s\r\nMessage-ID: <%s@sender.test>\r\n\r\n"
                   % (cid, cid % 7, rcpt_domain.encode(), tok.encode(),
                      tok.encode())) + body
            with lock:
                attempts[0] += 1
            try:
                conn.sendmail("c%d@sender.test" % cid,
                              ["u%d@%s" % (cid % 7, rcpt_domain)], msg)
                with lock:
                    acked.add(tok)
                    done = len(acked)
                if kills_done[0] < len(kill_at) and done >= kill_at[kills_done[0]]:
                    with lock:
                        mine = (kills_done[0] < len(kill_at) and
                                done >= kill_at[kills_done[0]] and not down.is_set())
                        if mine:
                            down.set()
                    if mine:
                        r.kill9()
                        kills_done[0] += 1
                        r.start()
                        down.clear()
                n = take()
                tries = 0
            except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused):
                with lock:
                    refused[0] += 1
                tries += 1
                try:
                    conn.close()
                except OSError:
                    pass
                conn = None
            except (OSError, smtplib.SMTPException):
                tries += 1          # no 250: the message is sent again
                try:
                    conn.close()
                except OSError:
                    pass
                conn = None
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                pass

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(a.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t_sent = time.monotonic() - t0
    # every acknowledged message: wait until the queue is empty
    empty = False
    while time.monotonic() < deadline:
        if r.queue_empty():
            empty = True
            break
        time.sleep(0.5)
    time.sleep(1.0)
    r.stop()
    if sink:
        seen = tokens_in(sink.files())
        sink.stop()
    else:
        seen = tokens_in(maildir_files(r.data))
    missing = sorted(t for t in acked if t not in seen)
    dups = sum(c - 1 for t, c in seen.items() if c > 1)
    unacked_delivered = sum(1 for t in seen if t not in acked)
    print("crash-load mode=%s sessions=%d size=%d messages=%d kills=%d: "
          "attempts=%d acked=%d refused=%d delivered=%d missing=%d "
          "duplicates=%d delivered_without_250=%d queue_empty=%s "
          "send_time=%.1fs" %
          (a.mode, a.sessions, a.size, a.messages, kills_done[0], attempts[0],
           len(acked), refused[0], len(seen), len(missing), dups,
           unacked_delivered, empty, t_sent))
    if missing:
        print("missing (first 10):", " ".join(missing[:10]))
    ok = (not missing and empty and len(acked) == a.messages and
          (a.mode == "relay" or dups == 0))
    if ok and not a.workdir:
        shutil.rmtree(work, ignore_errors=True)
    elif not ok:
        print("kept", work)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
