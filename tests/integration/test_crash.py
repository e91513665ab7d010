"""Crash test (issue 2, item 3): 250 messages over 10 concurrent sessions,
`kill -9` in the middle, restart on the same data dir: every message that
got its 250 is in a mailbox exactly once."""

import re
import smtplib
import threading
import time

from conftest import CLIENT_NAME, HOST, message

THREADS = 10
PER_THREAD = 25
KILL_AFTER_ACKS = 80
RCPTS = ["alice@example.test", "bob@example.test", "carol@example.test"]
SUBJECT_RE = re.compile(rb"^Subject: crash (\S+)\r?$", re.M)


def test_kill9_midway_loses_no_acknowledged_message(relais_factory, capsys):
    r = relais_factory().start()
    lock = threading.Lock()
    status = {}          # token -> "acked" | "refused" | "unknown"
    acked = [0]
    attempted = [0]
    errors = []
    stop_at = time.monotonic() + 150

    def worker(wid):
        conn = None
        toks = [f"w{wid}m{i}x{time.monotonic_ns()}" for i in range(PER_THREAD)]
        for i, tok in enumerate(toks):
            rcpt = RCPTS[(wid + i) % len(RCPTS)]
            for _ in range(600):  # connection attempts for this message
                if time.monotonic() > stop_at:
                    errors.append(f"worker {wid}: out of time")
                    return
                if conn is None:
                    try:
                        conn = smtplib.SMTP(HOST, r.port, local_hostname=CLIENT_NAME,
                                            timeout=20)
                        conn.ehlo()
                    except (OSError, smtplib.SMTPException):
                        conn = None
                        time.sleep(0.1)
                        continue  # server down: retry this message, nothing sent yet
                with lock:
                    attempted[0] += 1
                try:
                    refused = conn.sendmail(f"w{wid}@remote.test", [rcpt],
                                            message(tok, subject=f"crash {tok}", to=rcpt))
                    assert refused == {}
                    with lock:
                        status[tok] = "acked"
                        acked[0] += 1
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError,
                        smtplib.SMTPSenderRefused) as e:
                    # an explicit refusal (e.g. 421/451 during shutdown)
                    with lock:
                        status[tok] = "refused:" + str(e)[:80]
                    try:
                        conn.rset()
                    except (OSError, smtplib.SMTPException):
                        conn = None
                except (OSError, smtplib.SMTPException):
                    with lock:
                        status[tok] = "unknown"  # cut off: fate unknown
                    try:
                        conn.close()
                    except Exception:
                        pass
                    conn = None
                break
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                pass

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(THREADS)]
    for t in threads:
        t.start()

    # kill -9 in the middle of sending
    deadline = time.monotonic() + 60
    while acked[0] < KILL_AFTER_ACKS and time.monotonic() < deadline:
        time.sleep(0.01)
    assert acked[0] >= KILL_AFTER_ACKS, f"only {acked[0]} messages acknowledged in 60 s"
    r.kill9()
    acked_at_kill = acked[0]
    time.sleep(0.5)
    r.start()

    for t in threads:
        t.join(max(1, stop_at - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "senders did not finish"
    assert not errors, errors

    acked_toks = {t for t, s in status.items() if s == "acked"}
    refused_toks = {t for t, s in status.items() if s.startswith("refused")}
    unknown_toks = {t for t, s in status.items() if s == "unknown"}

    def delivered_counts():
        counts = {}
        for p in r.all_mail_files():
            for m in SUBJECT_RE.finditer(p.read_bytes()):
                tok = m.group(1).decode()
                counts[tok] = counts.get(tok, 0) + 1
        return counts

    # wait until every acknowledged message is delivered (bounded)
    deadline = time.monotonic() + 90
    while True:
        counts = delivered_counts()
        missing = acked_toks - counts.keys()
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    time.sleep(1.0)  # let any duplicate surface
    counts = delivered_counts()
    missing = sorted(acked_toks - counts.keys())
    dups = {t: n for t, n in counts.items() if n > 1}
    delivered_unknown = unknown_toks & counts.keys()
    delivered_refused = refused_toks & counts.keys()
    strangers = counts.keys() - status.keys()

    with capsys.disabled():
        print(f"\n[crash test] sent={attempted[0]} acknowledged={len(acked_toks)} "
              f"(acked before kill: {acked_at_kill}) delivered={sum(counts.values())} "
              f"distinct-delivered={len(counts)} duplicates={sum(n - 1 for n in dups.values())} "
              f"missing={len(missing)} unknown-fate={len(unknown_toks)} "
              f"(delivered: {len(delivered_unknown)}) refused={len(refused_toks)}")

    assert attempted[0] >= 200
    assert len(status) == THREADS * PER_THREAD
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {missing[:5]}"
    assert not dups, f"duplicated deliveries: {dict(list(dups.items())[:5])}"
    assert not delivered_refused, f"messages refused with 4xx/5xx were delivered: " \
                                  f"{sorted(delivered_refused)[:5]}"
    assert not strangers, f"unexpected messages: {sorted(strangers)[:5]}"

    # every delivered message left the queue
    qids = {e["id"] for e in r.log_events("received")}
    assert qids
    deadline = time.monotonic() + 20
    while True:
        out = r.cli("queue", "list", "-c", str(r.conf_path))
        assert out.returncode == 0, out.stderr
        left = [q for q in qids if q in out.stdout]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not left, f"delivered messages still queued: {left[:5]}\n{out.stdout[:2000]}"
