#!/usr/bin/python3
"""bench/soak_sink.py - the remote peer of the soak run (bench/soak.py).

An SMTP server on one loopback address and port that stands for every
remote MX of the soak: it keeps no message, only appends one line per
accepted (token, recipient) to a log file, and answers some transactions
with failures so that relais defers, retries and bounces:

  RCPT to a local part starting with "reject"   550 5.1.1 (always)
  any other RCPT, with probability --p-rcpt      451 4.3.0
  end of data, with probability --p-eod-temp     451 4.3.0
  end of data, with probability --p-eod-perm     554 5.6.0
  end of data, with probability --p-drop         connection closed, no reply

Log lines: "D <token> <recipient>" for each recipient of a transaction
whose data got 250; at exit (SIGTERM) one line "S key=value ..." with the
counts. The token is the word after "Subject: soak " in the header.

usage: soak_sink.py HOST PORT LOGFILE [--seed N] [--p-rcpt 0.05] ...
Loopback only; runs until SIGTERM or SIGINT.
"""
import argparse
import asyncio
import random
import re
import signal
import sys

TOKEN_RE = re.compile(rb"^Subject: soak ([A-Za-z0-9.-]+)\r?$", re.M)
IDLE_TIMEOUT = 120.0


class Sink:
    def __init__(self, a, log):
        self.a = a
        self.log = log
        self.rng = random.Random(a.seed)
        self.counts = {"connections": 0, "transactions": 0, "accepted": 0,
                       "rcpt_reject": 0, "rcpt_defer": 0, "eod_defer": 0,
                       "eod_reject": 0, "dropped": 0}

    def roll(self, p):
        return self.rng.random() < p

    async def reply(self, w, line):
        w.write(line.encode() + b"\r\n")
        await w.drain()

    async def readline(self, r):
        return await asyncio.wait_for(r.readline(), IDLE_TIMEOUT)

    async def session(self, r, w):
        self.counts["connections"] += 1
        try:
            await self.dialogue(r, w)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                ConnectionError):
            pass
        finally:
            w.close()

    async def dialogue(self, r, w):
        await self.reply(w, "220 sink.soak ESMTP soak sink")
        rcpts = []
        in_tx = False
        while True:
            line = await self.readline(r)
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                w.write(b"250-sink.soak\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                        b"250-SIZE 67108864\r\n250 ENHANCEDSTATUSCODES\r\n")
                await w.drain()
            elif verb == b"HELO":
                await self.reply(w, "250 sink.soak")
            elif verb == b"MAIL":
                rcpts, in_tx = [], True
                await self.reply(w, "250 2.1.0 ok")
            elif verb == b"RCPT":
                m = re.search(rb"<([^>]*)>", line)
                addr = m.group(1).decode("utf-8", "replace") if m else ""
                if not in_tx:
                    await self.reply(w, "503 5.5.1 MAIL first")
                elif addr.lower().startswith("reject"):
                    self.counts["rcpt_reject"] += 1
                    await self.reply(w, "550 5.1.1 no such user here")
                elif self.roll(self.a.p_rcpt):
                    self.counts["rcpt_defer"] += 1
                    await self.reply(w, "451 4.3.0 recipient deferred, try later")
                else:
                    rcpts.append(addr)
                    await self.reply(w, "250 2.1.5 ok")
            elif verb == b"DATA":
                if not rcpts:
                    await self.reply(w, "554 5.5.1 no valid recipients")
                    in_tx = False
                    continue
                await self.reply(w, "354 go ahead")
                head = await self.read_data(r)
                in_tx = False
                self.counts["transactions"] += 1
                if self.roll(self.a.p_drop):
                    self.counts["dropped"] += 1
                    return
                if self.roll(self.a.p_eod_temp):
                    self.counts["eod_defer"] += 1
                    await self.reply(w, "451 4.3.0 message deferred, try later")
                elif self.roll(self.a.p_eod_perm):
                    self.counts["eod_reject"] += 1
                    await self.reply(w, "554 5.6.0 message refused")
                else:
                    m = TOKEN_RE.search(head)
                    tok = m.group(1).decode() if m else "-"
                    self.log.write("".join("D %s %s\n" % (tok, a) for a in rcpts))
                    self.log.flush()
                    self.counts["accepted"] += len(rcpts)
                    await self.reply(w, "250 2.0.0 ok queued")
            elif verb == b"RSET":
                rcpts, in_tx = [], False
                await self.reply(w, "250 2.0.0 ok")
            elif verb == b"NOOP":
                await self.reply(w, "250 2.0.0 ok")
            elif verb == b"QUIT":
                await self.reply(w, "221 2.0.0 bye")
                return
            else:
                await self.reply(w, "502 5.5.2 not implemented")

    async def read_data(self, r):
        """Read up to the final dot; returns the first 64 KiB (the header)."""
        head = b""
        while True:
            line = await self.readline(r)
            if not line:
                raise ConnectionError("eof in data")
            if line == b".\r\n":
                return head
            if len(head) < 65536:
                head += line


async def run(a):
    log = open(a.logfile, "a")
    sink = Sink(a, log)
    server = await asyncio.start_server(sink.session, a.host, a.port,
                                        backlog=512, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    await stop.wait()
    server.close()
    log.write("S " + " ".join("%s=%d" % kv for kv in sink.counts.items()) + "\n")
    log.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("logfile")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--p-rcpt", type=float, default=0.05)
    ap.add_argument("--p-eod-temp", type=float, default=0.02)
    ap.add_argument("--p-eod-perm", type=float, default=0.005)
    ap.add_argument("--p-drop", type=float, default=0.003)
    a = ap.parse_args()
    if not a.host.startswith("127."):
        sys.exit("soak_sink: loopback only")
    asyncio.run(run(a))


if __name__ == "__main__":
    main()
