#!/usr/bin/python3
"""bench/callgrind.py - a stable figure for regressions: instructions
(callgrind Ir) that relais spends per message to receive one 4 KiB message
over an already established SMTP session, spool it (group commit) and
deliver it to a Maildir. Counts are of instructions, not seconds, so they
repeat for the same binary and input whatever else the machine does.

usage: bench/callgrind.py BINARY [N]
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 200
WARMUP = 20


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            raise RuntimeError("connection closed")
        lines.append(line)
        if line[3:4] != b"-":
            return int(line[:3]), lines


def send_msg(s, f, body):
    s.sendall(b"MAIL FROM:<bench@example.org>\r\nRCPT TO:<sink@bench.test>\r\n"
              b"DATA\r\n")
    for want in (250, 250, 354):
        code, _ = reply(f)
        assert code == want, code
    s.sendall(body + b".\r\n")
    code, _ = reply(f)
    assert code == 250, code


def main():
    tmp = tempfile.mkdtemp(prefix="relais-cg-")
    port = free_port()
    conf = os.path.join(tmp, "relais.conf")
    with open(conf, "w") as fh:
        fh.write(f"""[server]
hostname = bench.test
data_dir = {tmp}/data
threads = 1
log_level = warning
# valgrind runs inside the process: its own system calls would meet the
# seccomp filter, and it counts instructions, not kernel work
sandbox = no
[listener bench]
address = 127.0.0.1:{port}
[local]
domains = bench.test
""")
    out = os.path.join(tmp, "callgrind.out")
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
         BIN, "serve", "-c", conf],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "log"), "w"))
    try:
        deadline = time.time() + 60
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        f = s.makefile("rb")
        reply(f)
        s.sendall(b"EHLO bench.example.org\r\n")
        reply(f)
        line = b"x" * 76 + b"\r\n"
        body = (b"Subject: bench\r\nFrom: bench@example.org\r\n\r\n" +
                line * (4096 // len(line)))
        for _ in range(WARMUP):
            send_msg(s, f, body)
        # counters to zero now; dumped after the measured messages
        subprocess.run(["callgrind_control", "-z", str(proc.pid)],
                       check=True, stdout=subprocess.DEVNULL)
        for _ in range(N):
            send_msg(s, f, body)
        time.sleep(1.0)   # let the deliveries of the last ones finish
        subprocess.run(["callgrind_control", "-d", str(proc.pid)],
                       check=True, stdout=subprocess.DEVNULL)
        s.sendall(b"QUIT\r\n")
        s.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    dumps = sorted(p for p in os.listdir(tmp) if p.startswith("callgrind.out."))
    ann = subprocess.run(["callgrind_annotate", os.path.join(tmp, dumps[0])],
                         capture_output=True, text=True).stdout
    m = re.search(r"([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS", ann) or \
        re.search(r"([\d,]+)\s+PROGRAM TOTALS", ann)
    total = int(m.group(1).replace(",", ""))
    print(f"callgrind: {N} messages of {len(body)} octets, "
          f"{total} Ir in all, {total // N} Ir per message")
    if os.environ.get("CG_KEEP") is None:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
