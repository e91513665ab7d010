"""
fault_scenario.py - one fault-injection run of relais, shared by the driver
(tests/faults/run_faults.py, `make test-faults`) and the fast subset in
tests/integration/test_faults.py.

A run is: start `relais serve` (the ASan binary) with RELAIS_FAULT set
(a count plan or one fault), send the reference messages by SMTP, let it
deliver for a while, stop it with SIGTERM; then start it again without any
fault on the same data directory and let it finish the queue. The checks:

  - the faulty daemon kept running and stopped cleanly on SIGTERM, or
    stopped by itself with an exit status (never a signal, never a hang,
    never a sanitizer report);
  - the daemon restarts without the fault (the spool is still usable)
    and stops cleanly;
  - every message that got a 250 is delivered after all: each local
    recipient has exactly one copy in its Maildir, each relayed one
    reached the capture server (at least once: a relay may repeat a
    delivery whose outcome was not recorded, as every MTA may);
  - a message that got no 250 is delivered at most once locally (it may
    have been stored anyway: a failed COMMIT whose WAL frames reached
    disk; it is reported, not failed);
  - at the end the spool is empty and no Maildir tmp/ file is left.

Counted, not failed: messages stored without a 250 ("stored_unacked"),
relayed twice ("relay_dups"), and acknowledged ones that the faulty daemon
had not delivered within deliver_wait seconds although it kept running
("stalled": delivered only after the restart).

Messages (the "reference scenario"): small and large (> 128 KiB, so the
body goes to a body file) bodies, local delivery and relay through a
smarthost (a CaptureSMTP on loopback), and one with both.
"""

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

from capture_smtp import CaptureSMTP  # noqa: E402
from conftest import (HOST, SANITIZER_RE, Relais, SMTPConn,  # noqa: E402
                      free_port, message)

# every op the seam and the VFS shim count; the driver iterates these
OPS = ["open", "write", "fsync", "fdatasync", "ftruncate", "rename", "link",
       "unlink", "mkdir", "sqlite"]
SQLITE_KINDS = ["sqlite_read", "sqlite_write", "sqlite_sync",
                "sqlite_truncate"]
ERRNOS = ["EIO", "ENOSPC"]

LARGE = 200 * 1024          # > SPOOL_BLOB_MAX (128 KiB): a body file

# (name, recipients, body size)
REFERENCE = [
    ("small-local", ["alice@example.test"], 0),
    ("small-relay", ["rcpt1@remote.test"], 0),
    ("large-local", ["bob@example.test"], LARGE),
    ("large-relay", ["rcpt2@remote.test"], LARGE),
    ("mixed", ["carol@example.test", "rcpt3@remote.test"], LARGE),
]


class Outcome:
    """What one run did, and what went wrong (problems: failures)."""

    def __init__(self, plan):
        self.plan = plan
        self.replies = {}       # message name -> final reply code or "closed"
        self.injected = 0
        self.counts = {}        # op -> calls, from RELAIS_FAULT_REPORT
        self.ready_counts = {}  # op -> calls made before server.ready
        self.fault_exit = None  # exit status of the faulty run
        self.error_lines = 0    # level=error lines the faulty run logged
        self.fault_log = ""     # the faulty run's log
        self.started = True     # did the faulty run get to server.ready
        self.stored_unacked = []
        self.stalled = []       # acked, not delivered while the faulty
                                # daemon still ran (delivered after restart)
        self.relay_dups = 0
        self.problems = []

    @property
    def ok(self):
        return not self.problems

    def summary(self):
        acked = sum(1 for c in self.replies.values() if c == 250)
        return (f"{self.plan}: acked={acked}/{len(self.replies)} "
                f"injected={self.injected} exit={self.fault_exit} "
                f"stored_unacked={len(self.stored_unacked)} "
                f"stalled={len(self.stalled)} "
                f"relay_dups={self.relay_dups}"
                + ("" if self.ok else " PROBLEMS: " + "; ".join(self.problems)))


def _body(token, size):
    if size == 0:
        return None
    line = ("x" * 74 + "\r\n")
    n = size // len(line) + 1
    return f"{token}\r\n" + line * n


def send_one(port, sender, rcpts, msg, timeout=20):
    """One SMTP transaction; the code of the reply to the end of data,
    of the first refusal, or "closed" when the connection broke."""
    try:
        c = SMTPConn(port, timeout=timeout)
    except OSError:
        return "refused"
    try:
        if c.greeting.code != 220:
            return c.greeting.code
        r = c.cmd("EHLO client.test")
        if r.code != 250:
            return r.code
        r = c.cmd(f"MAIL FROM:<{sender}>")
        if r.code != 250:
            return r.code
        for a in rcpts:
            r = c.cmd(f"RCPT TO:<{a}>")
            if r.code != 250:
                return r.code
        r = c.cmd("DATA")
        if r.code != 354:
            return r.code
        data = msg.encode()
        data = re.sub(rb"(?m)^\.", b"..", data)
        c.send(data + b".\r\n")
        code = c.reply(timeout).code
        try:
            c.cmd("QUIT", timeout=5)
        except Exception:
            pass
        return code
    except Exception:
        return "closed"
    finally:
        c.close()


class Scenario:
    """One run in root (a fresh directory) with RELAIS_FAULT=plan."""

    def __init__(self, root, plan, messages=REFERENCE, deliver_wait=6.0,
                 finish_wait=20.0):
        self.root = Path(root)
        self.plan = plan
        self.messages = messages
        self.deliver_wait = deliver_wait
        self.finish_wait = finish_wait
        self.tag = f"f{os.getpid()}x{time.monotonic_ns()}"
        self.report = self.root / "fault.report"
        self.capture = None
        self.relais = None

    # -- pieces
    def token(self, name):
        return f"{self.tag}-{name}"

    def local_copies(self, token):
        tok = token.encode()
        n = 0
        root = self.relais.data_dir / "mail"
        if not root.is_dir():
            return 0
        for p in root.rglob("*"):
            if p.is_file() and p.parent.name in ("new", "cur") and \
                    tok in p.read_bytes():
                n += 1
        return n

    def local_copies_of(self, token, addr):
        user, dom = addr.split("@")
        tok = token.encode()
        n = 0
        for sd in ("new", "cur"):
            d = self.relais.maildir(dom, user) / sd
            if d.is_dir():
                n += sum(1 for p in d.iterdir() if p.is_file() and
                         tok in p.read_bytes())
        return n

    def relay_copies_of(self, token, addr):
        tok = token.encode()
        return sum(1 for t in self.capture.messages
                   if addr in (a.lower() for a in t.accepted_rcpts) and
                   t.data is not None and tok in t.data)

    def delivered(self, token, rcpts):
        for a in rcpts:
            if a.endswith("@example.test"):
                if self.local_copies_of(token, a) < 1:
                    return False
            elif self.relay_copies_of(token, a) < 1:
                return False
        return True

    def spool_messages(self):
        db = self.relais.data_dir / "spool" / "queue.db"
        if not db.exists():
            return 0
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            try:
                return con.execute("SELECT count(*) FROM messages").fetchone()[0]
            finally:
                con.close()
        except sqlite3.Error:
            return -1

    def start(self, env, timeout=20.0):
        """Start relais; True once ready, False if it exited first."""
        r = self.relais
        r.extra_env = env
        r.start(expect_ready=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "event=server.ready" in r.run_log():
                return True
            if r.proc.poll() is not None:
                return False
            time.sleep(0.02)
        raise TimeoutError("relais not ready in time")

    def stop(self, out, what, timeout=20.0):
        """SIGTERM (if still running) and wait: the exit status, or a
        problem recorded for a hang or a signal."""
        p = self.relais.proc
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
                out.problems.append(f"{what}: no exit within {timeout}s of"
                                    " SIGTERM")
                return None
        rc = p.returncode
        if rc < 0:
            out.problems.append(f"{what}: killed by signal {-rc}")
        log = self.relais.run_log()
        m = SANITIZER_RE.search(log)
        if m:
            out.problems.append(f"{what}: sanitizer report: "
                                + log[max(0, m.start() - 100):m.start() + 400])
        return rc

    def read_report(self, out):
        m = re.search(r"event=fault\.count at=ready (.*)", self.relais.run_log())
        if m:
            out.ready_counts = {k: int(v) for k, v in
                                re.findall(r"(\w+)=(\d+)", m.group(1))}
        try:
            for ln in self.report.read_text().splitlines():
                k, _, v = ln.partition(" ")
                if k == "injected":
                    out.injected = int(v)
                else:
                    out.counts[k] = int(v)
        except (OSError, ValueError):
            pass

    # -- the run
    def run(self):
        out = Outcome(self.plan)
        self.root.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.capture = CaptureSMTP(HOST, port, name="smarthost.test",
                                   strict_params=False).start()
        try:
            self.relais = Relais(self.root, overrides={
                "server": {"log_level": "info"},
                "relay": {"smarthost": f"{HOST}:{port}",
                          "smarthost_tls": "none",
                          "retry_min": "1s", "retry_max": "1s"},
            })
            self._run(out)
        finally:
            p = self.relais.proc if self.relais else None
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)
            self.capture.stop()
        return out

    def _run(self, out):
        env = {"RELAIS_FAULT": self.plan, "RELAIS_FAULT_REPORT": str(self.report)}
        # 1. the faulty run
        out.started = self.start(env)
        if out.started:
            for name, rcpts, size in self.messages:
                tok = self.token(name)
                if self.relais.proc.poll() is not None:
                    out.replies[name] = "down"
                    continue
                out.replies[name] = send_one(
                    self.relais.port, "sender@remote.test", rcpts,
                    message(tok, to=rcpts[0], body=_body(tok, size)))
            acked = [(n, r) for n, r, _ in self.messages
                     if out.replies.get(n) == 250]
            deadline = time.monotonic() + self.deliver_wait
            while time.monotonic() < deadline and \
                    self.relais.proc.poll() is None and \
                    not all(self.delivered(self.token(n), r) for n, r in acked):
                time.sleep(0.05)
            if self.relais.proc.poll() is None:
                out.stalled = [n for n, r in acked
                               if not self.delivered(self.token(n), r)]
        else:
            out.replies = {n: "down" for n, _, _ in self.messages}
        out.fault_exit = self.stop(out, "faulty run")
        out.fault_log = self.relais.run_log()
        out.error_lines = out.fault_log.count("level=error")
        self.read_report(out)
        for name, code in out.replies.items():
            if code == 250 or code in ("closed", "down", "refused"):
                continue
            if not (isinstance(code, int) and 400 <= code < 500):
                out.problems.append(f"{name}: reply {code}, want 250 or 4xx")

        # 2. restart without the fault; the queue must drain
        try:
            if not self.start({}):
                out.problems.append("restart without the fault failed: "
                                    + self.relais.run_log()[-800:])
                return
        except TimeoutError:
            out.problems.append("restart without the fault: not ready")
            return
        acked = [(n, r) for n, r, _ in self.messages if out.replies.get(n) == 250]
        deadline = time.monotonic() + self.finish_wait
        while time.monotonic() < deadline:
            if all(self.delivered(self.token(n), r) for n, r in acked) and \
                    self.spool_messages() == 0:
                break
            time.sleep(0.1)
        # a moment for a duplicate to show up, if one were coming
        time.sleep(0.2)
        left = self.spool_messages()
        rc = self.stop(out, "restart")
        if rc not in (0, None):
            out.problems.append(f"restart: exit status {rc}")

        # 3. the checks
        for name, rcpts, _ in self.messages:
            tok = self.token(name)
            is_acked = out.replies.get(name) == 250
            stored = False
            for a in rcpts:
                if a.endswith("@example.test"):
                    n = self.local_copies_of(tok, a)
                    stored = stored or n > 0
                    if is_acked and n != 1:
                        out.problems.append(f"{name}: acknowledged, {n} "
                                            f"copies in the Maildir of {a}")
                    elif not is_acked and n > 1:
                        out.problems.append(f"{name}: not acknowledged, "
                                            f"yet {n} copies for {a}")
                else:
                    n = self.relay_copies_of(tok, a)
                    stored = stored or n > 0
                    if is_acked and n < 1:
                        out.problems.append(f"{name}: acknowledged, never "
                                            f"relayed to {a}")
                    if n > 1:
                        out.relay_dups += n - 1
            if stored and not is_acked:
                out.stored_unacked.append(name)
        if left != 0:
            out.problems.append(f"spool not empty at the end ({left} messages)")
        mail = self.relais.data_dir / "mail"
        if mail.is_dir():
            tmp = [p for p in mail.rglob("*") if p.is_file() and
                   p.parent.name == "tmp"]
            if tmp:
                out.problems.append(f"Maildir tmp/ files left: {len(tmp)}")

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)
