"""
milter_peer.py - a small milter written for the tests: the milter side of
the Sendmail milter protocol (version 6) on a free loopback port, its
answers scripted by the test, every event it gets recorded.

    peer = MilterPeer(script={"rcpt": lambda args: "r" if ... else "c",
                              "eom": [("h", "X-Seen", "yes"), "c"]})
    peer.start()            # peer.address == "inet:127.0.0.1:PORT"
    ...
    peer.stop()

A script entry is a stage ("connect", "helo", "mail", "rcpt", "data",
"header", "eoh", "body", "eom") mapped to an answer or to a function of
the event's arguments giving one. An answer is one reply or a list of
replies sent in order; a reply is "c" (continue), "a" (accept), "r"
(reject), "t" (tempfail), "d" (discard), "4" (shutdown), "s" (skip),
("y", "550 5.7.1 text") (reply code), ("sleep", seconds) (wait before
the next), "silent" (answer nothing), "close" (drop the connection), or
at the end of the message a modification: ("h", name, value) add header,
("i", index, name, value) insert header, ("m", index, name, value)
change header, ("b", bytes) replace body (one chunk), ("+", rcpt),
("-", rcpt), ("e", sender), ("q", reason).

No answer is sent for an event the negotiated protocol says needs none
(the test asks for those flags with protocol=...). Loopback only; every
connection's thread ends when the peer stops.
"""

import socket
import struct
import threading
import time

ALL_ACTIONS = 0x1FF


def _strings(data):
    parts = data.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p.decode("utf-8", "replace") for p in parts]


class MilterPeer:
    def __init__(self, script=None, actions=ALL_ACTIONS, protocol=0,
                 version=6, symlist=None, host="127.0.0.1", unix=None):
        self.script = script or {}
        self.actions = actions
        self.protocol = protocol
        self.version = version
        self.symlist = symlist or {}
        self.host = host
        self.unix = unix        # a socket path instead of TCP
        self.events = []        # (connection number, stage, args)
        self.macros = []        # (connection number, command, {name: value})
        self.connections = 0
        self.lock = threading.Lock()
        self.sock = None
        self.threads = []
        self.conns = []
        self.stopping = False

    @property
    def port(self):
        return self.sock.getsockname()[1]

    @property
    def address(self):
        if self.unix:
            return f"unix:{self.unix}"
        return f"inet:{self.host}:{self.port}"

    def start(self):
        if self.unix:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(str(self.unix))
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((self.host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def stop(self):
        self.stopping = True
        for c in list(self.conns):
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        for t in self.threads:
            t.join(timeout=5)
        if self.sock is not None:
            self.sock.close()

    # -- what was seen
    def stages(self, conn=None):
        with self.lock:
            return [s for (n, s, _) in self.events if conn is None or n == conn]

    def args(self, stage):
        with self.lock:
            return [a for (_, s, a) in self.events if s == stage]

    def macro(self, name):
        """Every value the macro had, in order."""
        with self.lock:
            return [m[name] for (_, _, m) in self.macros if name in m]

    # -- the protocol
    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
                n = self.connections
            self.conns.append(c)
            t = threading.Thread(target=self._serve, args=(c, n), daemon=True)
            t.start()
            self.threads.append(t)

    def _read(self, c, n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = c.recv(n - len(buf))
            except socket.timeout:
                if self.stopping:
                    return None
                continue
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
        return buf

    @staticmethod
    def _send(c, cmd, data=b""):
        c.sendall(struct.pack(">I", len(data) + 1) + cmd + data)

    def _reply(self, c, r):
        """Send one scripted reply; False to stop serving."""
        if r == "silent":
            return True
        if r == "close":
            return False
        if isinstance(r, tuple):
            kind = r[0]
            if kind == "sleep":
                time.sleep(r[1])
            elif kind == "y":
                self._send(c, b"y", r[1].encode() + b"\0")
            elif kind == "h":
                self._send(c, b"h", r[1].encode() + b"\0" + r[2].encode() + b"\0")
            elif kind in ("i", "m"):
                self._send(c, kind.encode(), struct.pack(">I", r[1]) +
                           r[2].encode() + b"\0" + r[3].encode() + b"\0")
            elif kind == "b":
                body = r[1] if isinstance(r[1], bytes) else r[1].encode()
                for i in range(0, max(len(body), 1), 65535):
                    self._send(c, b"b", body[i:i + 65535])
            elif kind in ("+", "-", "e", "q"):
                self._send(c, kind.encode(), r[1].encode() + b"\0")
            else:
                raise ValueError(r)
            return True
        self._send(c, r.encode())
        return True

    def _answer(self, c, stage, args, default="c"):
        entry = self.script.get(stage, default)
        if callable(entry):
            entry = entry(args)
        if entry is None:
            entry = default
        replies = entry if isinstance(entry, list) else [entry]
        for r in replies:
            if not self._reply(c, r):
                return False
        return True

    NR = {"connect": 0x1000, "helo": 0x2000, "mail": 0x4000, "rcpt": 0x8000,
          "data": 0x10000, "header": 0x80, "eoh": 0x40000, "body": 0x80000}

    def _serve(self, c, n):
        c.settimeout(0.2)
        stages = {b"C": "connect", b"H": "helo", b"M": "mail", b"R": "rcpt",
                  b"T": "data", b"L": "header", b"N": "eoh", b"B": "body",
                  b"E": "eom"}
        try:
            while not self.stopping:
                head = self._read(c, 4)
                if head is None:
                    return
                (length,) = struct.unpack(">I", head)
                pkt = self._read(c, length)
                if pkt is None:
                    return
                cmd, data = pkt[:1], pkt[1:]
                if cmd == b"O":
                    with self.lock:
                        self.events.append((n, "optneg", struct.unpack(">III", data[:12])))
                    if "optneg" in self.script and not self._reply(c, self.script["optneg"]):
                        return
                    extra = b""
                    for stage, names in self.symlist.items():
                        extra += struct.pack(">I", stage) + names.encode() + b"\0"
                    self._send(c, b"O", struct.pack(">III", self.version, self.actions,
                                                   self.protocol) + extra)
                    continue
                if cmd == b"D":
                    vals = _strings(data[1:])
                    with self.lock:
                        self.macros.append((n, data[:1].decode(),
                                            dict(zip(vals[0::2], vals[1::2]))))
                    continue
                if cmd == b"A":
                    with self.lock:
                        self.events.append((n, "abort", []))
                    continue
                if cmd in (b"Q", b"K"):
                    with self.lock:
                        self.events.append((n, "quit", []))
                    return
                stage = stages.get(cmd)
                if stage is None:
                    return
                if stage == "connect":
                    host, rest = data.split(b"\0", 1)
                    args = [host.decode(), rest[:1].decode()]
                    if len(rest) >= 3:
                        args.append(struct.unpack(">H", rest[1:3])[0])
                        args.append(rest[3:].rstrip(b"\0").decode())
                elif stage == "header":
                    args = _strings(data)
                elif stage == "body":
                    args = [data]
                else:
                    args = _strings(data)
                with self.lock:
                    self.events.append((n, stage, args))
                if self.protocol & self.NR.get(stage, 0):
                    continue
                if not self._answer(c, stage, args):
                    return
        finally:
            try:
                c.close()
            except OSError:
                pass
