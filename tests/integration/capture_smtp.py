"""
capture_smtp.py - a scriptable capture SMTP server for the outbound tests.

One CaptureSMTP listens on a loopback address and port (127.0.0.2:P,
127.0.0.3:P, ... with the same P for every peer of a test, because relais
connects to [relay] outbound_port on whatever address DNS gave it). It is
built on plain sockets and one thread per connection, so what it records is
exactly what went over the wire, read by read:

    peer = CaptureSMTP("127.0.0.2", port, name="mx1.remote.test",
                       size=None, eightbitmime=True, smtputf8=True, dsn=True,
                       pipelining=True, tls=(crt, key), auth={"u": "pw"},
                       requiretls=False)
    peer.script["RCPT"] = {"bob@remote.test": ["451 4.3.0 later", "250 ok"]}
    peer.script["EOD"] = "552 5.3.4 too big"
    with peer:
        ...
    peer.connections          # accepted TCP connections
    peer.sessions             # Session objects (tls, auth, commands, ...)
    peer.transactions         # every MAIL transaction (Transaction objects)
    peer.messages             # transactions whose data got a 2xx

Scripting: peer.script[STAGE] for STAGE in GREETING, EHLO, HELO, MAIL,
RCPT, DATA (the reply to DATA itself), EOD (the reply after the final dot),
RSET. A value is a reply line ("451 4.3.0 try later"; a multi-line reply
as a list inside a tuple is not needed here), a list (the n-th time that
stage is reached uses item n, the last item repeats), a callable
(session, arg) -> reply or None (None = default), or, for RCPT, a dict
keyed by the lower-cased address whose values are any of the above (the
per-address count is the number of RCPTs for that address so far).
None means the default (2xx) reply; "DROP" closes the connection
without a reply.

Extensions are advertised per the constructor flags; STARTTLS only when a
certificate is given, AUTH only when auth users are given (and, with
auth_after_tls, only once TLS is up), REQUIRETLS (RFC 8689) when requiretls
is set and only once TLS is up. SIZE n refuses MAIL with SIZE= over n
(552 5.3.4). A peer without SMTPUTF8/8BITMIME/DSN refuses the
corresponding MAIL/RCPT parameters with 555 like a strict server would
(REQUIRETLS too, where it is not offered).

Loopback only; stop() closes the listener and every connection and joins
every thread.
"""

import base64
import re
import select
import socket
import ssl
import threading
import time

STAGES = ("GREETING", "EHLO", "HELO", "MAIL", "RCPT", "DATA", "EOD", "RSET")


class _Drop(Exception):
    pass


class Transaction:
    def __init__(self, session, sender, params):
        self.session = session
        self.sender = sender
        self.mail_params = params          # dict upper-cased key -> value
        self.rcpts = []                    # [(addr, params dict, reply)]
        self.data = None                   # unstuffed message bytes
        self.raw_data = None               # as sent (dot-stuffed, w/o final dot)
        self.data_reply = None
        self.tls = session.tls
        self.time = time.monotonic()       # when MAIL was accepted

    @property
    def accepted_rcpts(self):
        return [a for a, _, r in self.rcpts if r.startswith("2")]

    @property
    def delivered(self):
        return self.data_reply is not None and self.data_reply.startswith("2")

    def __repr__(self):
        return (f"Transaction(from={self.sender!r}, rcpts={self.rcpts!r}, "
                f"reply={self.data_reply!r}, size={len(self.data or b'')})")


class Session:
    def __init__(self, server, sock, peer):
        self.server = server
        self.sock = sock
        self.peer = peer
        self.tls = False
        self.tls_version = None
        self.ehlo_name = None
        self.auth_user = None
        self.auth_password = None
        self.auth_mech = None
        self.lines = []            # (read index, line str) received commands
        self.replies = []          # reply lines sent
        self.transactions = []
        self.reads = 0
        self.closed_by_client = False
        self.quit = False
        self.dropped = False
        self.start_time = time.monotonic()
        self.end_time = None

    def commands(self):
        return [ln for _, ln in self.lines]

    def verbs(self):
        return [ln.split(" ", 1)[0].split(":", 1)[0].upper() for _, ln in self.lines]


class CaptureSMTP:
    def __init__(self, host, port, name="peer.test", *, size=None,
                 eightbitmime=True, smtputf8=True, dsn=True, pipelining=True,
                 ehlo=True, tls=None, auth=None, auth_mechs=("PLAIN", "LOGIN"),
                 auth_after_tls=True, strict_params=True, requiretls=False):
        assert host.startswith("127."), "loopback only"
        self.host = host
        self.port = port
        self.name = name
        self.size = size
        self.eightbitmime = eightbitmime
        self.smtputf8 = smtputf8
        self.dsn = dsn
        self.pipelining = pipelining
        self.ehlo_ok = ehlo
        self.tls = tls
        self.auth = auth
        self.auth_mechs = auth_mechs
        self.auth_after_tls = auth_after_tls
        self.strict_params = strict_params
        self.requiretls = requiretls
        self.script = {}
        self._counts = {}
        self._rcpt_counts = {}
        self.lock = threading.Lock()
        self.sessions = []
        self.connections = 0
        self.active = 0            # connections open now
        self.max_active = 0        # most connections open at once
        self.ssl_ctx = None
        if tls:
            crt, key = tls
            self.ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ssl_ctx.load_cert_chain(str(crt), str(key))
        self._stop = threading.Event()
        self._threads = []
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(64)

    # -- lifecycle
    def start(self):
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            socks = [s.sock for s in self.sessions]
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        for t in list(self._threads):
            t.join(timeout=5)
        self._threads = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- views
    @property
    def transactions(self):
        with self.lock:
            return [t for s in self.sessions for t in s.transactions]

    @property
    def messages(self):
        return [t for t in self.transactions if t.delivered]

    def delivered_to(self, addr):
        addr = addr.lower()
        return [t for t in self.messages
                if addr in (a.lower() for a in t.accepted_rcpts)]

    def wait_messages(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.02)
        raise AssertionError(
            f"{self.host}:{self.port}: {len(self.messages)} message(s), wanted "
            f"{count} within {timeout}s\n{self.transcript()}")

    def wait_rcpts(self, addr, count, timeout=10.0):
        """Wait until RCPT for addr was seen count times."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                n = self._rcpt_counts.get(addr.lower(), 0)
            if n >= count:
                return n
            time.sleep(0.02)
        raise AssertionError(f"RCPT {addr} seen {n} times, wanted {count} within "
                             f"{timeout}s\n{self.transcript()}")

    def rcpt_count(self, addr):
        with self.lock:
            return self._rcpt_counts.get(addr.lower(), 0)

    def transcript(self, last=80):
        out = []
        with self.lock:
            sessions = list(self.sessions)
        for i, s in enumerate(sessions):
            out.append(f"-- session {i} from {s.peer} tls={s.tls}")
            for _, ln in s.lines:
                out.append(f"  C: {ln[:150]}")
        out = out[-last:]
        return "\n".join(out)

    # -- internals
    def _next(self, stage, session, arg, key=None):
        spec = self.script.get(stage)
        if isinstance(spec, dict):
            spec = spec.get(key)
            counter, ck = self._rcpt_counts, key
        else:
            counter, ck = self._counts, stage
        with self.lock:
            n = counter.get(ck, 0)
        if stage != "RCPT":
            with self.lock:
                counter[ck] = n + 1
        if spec is None:
            return None
        if callable(spec):
            return spec(session, arg)
        if isinstance(spec, (list, tuple)):
            if not spec:
                return None
            return spec[min(n, len(spec) - 1)]
        return spec

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self.lsock], [], [], 0.1)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                sock, peer = self.lsock.accept()
            except OSError:
                return
            sess = Session(self, sock, peer)
            with self.lock:
                self.connections += 1
                self.active += 1
                self.max_active = max(self.max_active, self.active)
                self.sessions.append(sess)
            t = threading.Thread(target=self._serve, args=(sess,), daemon=True)
            t.start()
            self._threads.append(t)

    def _ehlo_lines(self, sess):
        lines = [self.name]
        if self.pipelining:
            lines.append("PIPELINING")
        if self.size is not None:
            lines.append(f"SIZE {self.size}" if self.size else "SIZE")
        if self.eightbitmime:
            lines.append("8BITMIME")
        if self.smtputf8:
            lines.append("SMTPUTF8")
        if self.dsn:
            lines.append("DSN")
        lines.append("ENHANCEDSTATUSCODES")
        if self.ssl_ctx is not None and not sess.tls:
            lines.append("STARTTLS")
        if self.auth and (sess.tls or not self.auth_after_tls):
            lines.append("AUTH " + " ".join(self.auth_mechs))
        if self.requiretls and sess.tls:
            lines.append("REQUIRETLS")
        return lines

    def _serve(self, sess):
        try:
            self._dialogue(sess)
        except _Drop:
            sess.dropped = True
            try:
                sess.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        finally:
            sess.end_time = time.monotonic()
            with self.lock:
                self.active -= 1
            try:
                sess.sock.close()
            except OSError:
                pass

    def _dialogue(self, sess):
        sock = sess.sock
        sock.settimeout(30)
        buf = b""
        state = {"tx": None, "in_data": False, "data": b""}

        def send(reply):
            if reply == "DROP":
                # close the connection instead of answering
                raise _Drop()
            if isinstance(reply, str):
                reply = [reply]
            data = b""
            for i, r in enumerate(reply):
                code, rest = r[:3], r[4:]
                sep = " " if i == len(reply) - 1 else "-"
                data += f"{code}{sep}{rest}\r\n".encode("utf-8")
                sess.replies.append(r)
            try:
                sock.sendall(data)
            except OSError:
                pass

        def readmore():
            nonlocal sock
            try:
                chunk = sock.recv(65536)
            except (OSError, ssl.SSLError):
                return None
            if chunk:
                sess.reads += 1
            return chunk

        greet = self._next("GREETING", sess, None)
        send(greet or f"220 {self.name} ESMTP capture")
        while not self._stop.is_set():
            if state["in_data"]:
                end = self._find_end(state["data"], buf)
                if end is None:
                    state["data"] += buf
                    buf = b""
                    chunk = readmore()
                    if not chunk:
                        sess.closed_by_client = True
                        return
                    buf = chunk
                    continue
                raw, buf = end
                state["in_data"] = False
                state["data"] = b""
                self._finish_data(sess, state["tx"], raw, send)
                state["tx"] = None
                continue
            i = buf.find(b"\r\n")
            if i < 0:
                if len(buf) > 100000:
                    send("500 5.5.2 line too long")
                    return
                chunk = readmore()
                if not chunk:
                    sess.closed_by_client = True
                    return
                buf += chunk
                continue
            line, buf = buf[:i].decode("utf-8", "replace"), buf[i + 2:]
            with self.lock:
                sess.lines.append((sess.reads, line))
            verb = line.split(" ", 1)[0].upper()
            arg = line[len(verb):].strip()
            if greet and not greet.startswith("2") and verb != "QUIT":
                send("503 5.5.1 go away")
                continue
            if verb == "EHLO":
                r = self._next("EHLO", sess, arg)
                if r is None and not self.ehlo_ok:
                    r = "502 5.5.2 EHLO not implemented"
                if r is None:
                    sess.ehlo_name = arg
                    lines = self._ehlo_lines(sess)
                    send([f"250 {ln}" for ln in lines])
                else:
                    send(r)
                state["tx"] = None
            elif verb == "HELO":
                r = self._next("HELO", sess, arg)
                sess.ehlo_name = arg
                send(r or f"250 {self.name}")
            elif verb == "STARTTLS":
                if self.ssl_ctx is None or sess.tls:
                    send("502 5.5.1 no STARTTLS")
                    continue
                if buf:
                    send("501 5.5.2 pipelined after STARTTLS")
                    buf = b""
                    continue
                send("220 2.0.0 ready to start TLS")
                try:
                    sock = self.ssl_ctx.wrap_socket(sock, server_side=True)
                except (OSError, ssl.SSLError):
                    return
                sess.sock = sock
                sess.tls = True
                sess.tls_version = sock.version()
                sess.ehlo_name = None
                state["tx"] = None
            elif verb == "AUTH":
                buf = self._auth(sess, arg, send, buf, readmore)
                if buf is None:
                    return
            elif verb == "MAIL":
                m = re.match(r"(?i)FROM:\s*<([^>]*)>\s*(.*)$", arg)
                if not m:
                    send("501 5.5.4 syntax")
                    continue
                if state["tx"] is not None:
                    send("503 5.5.1 nested MAIL")
                    continue
                params = self._params(m.group(2))
                tx = Transaction(sess, m.group(1), params)
                err = self._check_mail_params(params, sess)
                r = err or self._next("MAIL", sess, m.group(1))
                r = r or "250 2.1.0 ok"
                if r.startswith("2"):
                    state["tx"] = tx
                    with self.lock:
                        sess.transactions.append(tx)
                send(r)
            elif verb == "RCPT":
                m = re.match(r"(?i)TO:\s*<([^>]*)>\s*(.*)$", arg)
                if not m:
                    send("501 5.5.4 syntax")
                    continue
                tx = state["tx"]
                if tx is None:
                    send("503 5.5.1 need MAIL")
                    continue
                addr = m.group(1)
                params = self._params(m.group(2))
                key = addr.lower()
                err = self._check_rcpt_params(params)
                r = err or self._next("RCPT", sess, addr, key)
                with self.lock:
                    self._rcpt_counts[key] = self._rcpt_counts.get(key, 0) + 1
                r = r or "250 2.1.5 ok"
                tx.rcpts.append((addr, params, r))
                send(r)
            elif verb == "DATA":
                tx = state["tx"]
                if tx is None or not tx.accepted_rcpts:
                    send("554 5.5.1 no valid recipients" if tx else
                         "503 5.5.1 need MAIL")
                    continue
                r = self._next("DATA", sess, None)
                if r and not r.startswith("3"):
                    send(r)
                    continue
                send(r or "354 go ahead")
                state["in_data"] = True
                state["data"] = b""
            elif verb == "RSET":
                state["tx"] = None
                send(self._next("RSET", sess, None) or "250 2.0.0 ok")
            elif verb == "NOOP":
                send("250 2.0.0 ok")
            elif verb == "QUIT":
                sess.quit = True
                send("221 2.0.0 bye")
                return
            else:
                send("502 5.5.2 unknown command")

    @staticmethod
    def _find_end(acc, buf):
        """(raw data without the final dot line, rest) or None."""
        whole = acc + buf
        if whole.startswith(b".\r\n"):
            return b"", whole[3:]
        i = whole.find(b"\r\n.\r\n")
        if i < 0:
            return None
        return whole[:i + 2], whole[i + 5:]

    def _finish_data(self, sess, tx, raw, send):
        tx.raw_data = raw
        lines = raw.split(b"\r\n")
        tx.data = b"\r\n".join(ln[1:] if ln.startswith(b".") else ln for ln in lines)
        r = self._next("EOD", sess, tx) or "250 2.0.0 ok: queued"
        tx.data_reply = r
        send(r)

    @staticmethod
    def _params(s):
        out = {}
        for p in s.split():
            k, _, v = p.partition("=")
            out[k.upper()] = v if _ else True
        return out

    def _check_mail_params(self, params, sess=None):
        if "SIZE" in params and self.size:
            try:
                if int(params["SIZE"]) > self.size:
                    return "552 5.3.4 message size exceeds fixed limit"
            except ValueError:
                return "501 5.5.4 bad SIZE"
        if not self.strict_params:
            return None
        if "SMTPUTF8" in params and not self.smtputf8:
            return "555 5.5.4 SMTPUTF8 not supported"
        if "BODY" in params and str(params["BODY"]).upper() == "8BITMIME" \
                and not self.eightbitmime:
            return "555 5.5.4 BODY=8BITMIME not supported"
        if ("RET" in params or "ENVID" in params) and not self.dsn:
            return "555 5.5.4 DSN parameters not supported"
        if "SIZE" in params and self.size is None:
            return "555 5.5.4 SIZE not supported"
        if "REQUIRETLS" in params and not (self.requiretls and sess is not None
                                           and sess.tls):
            return "555 5.5.4 REQUIRETLS not supported"
        return None

    def _check_rcpt_params(self, params):
        if not self.strict_params:
            return None
        if ("NOTIFY" in params or "ORCPT" in params) and not self.dsn:
            return "555 5.5.4 DSN parameters not supported"
        return None

    def _auth(self, sess, arg, send, buf, readmore):
        """AUTH PLAIN / LOGIN; returns the remaining buffer (None = closed)."""
        def getline():
            nonlocal buf
            while b"\r\n" not in buf:
                chunk = readmore()
                if not chunk:
                    return None
                buf += chunk
            ln, _, buf = buf.partition(b"\r\n")
            ln = ln.decode("ascii", "replace")
            with self.lock:
                sess.lines.append((sess.reads, ln))
            return ln

        if not self.auth or (self.auth_after_tls and not sess.tls):
            send("503 5.5.1 AUTH not available")
            return buf
        parts = arg.split()
        mech = parts[0].upper() if parts else ""
        if mech not in self.auth_mechs:
            send("504 5.5.4 mechanism not supported")
            return buf
        try:
            if mech == "PLAIN":
                resp = parts[1] if len(parts) > 1 else None
                if resp is None:
                    send("334 ")
                    resp = getline()
                    if resp is None:
                        return None
                dec = base64.b64decode(resp, validate=True).split(b"\0")
                _, user, pw = dec[0], dec[1].decode(), dec[2].decode()
            else:
                if len(parts) > 1:
                    user = base64.b64decode(parts[1]).decode()
                else:
                    send("334 " + base64.b64encode(b"Username:").decode())
                    ln = getline()
                    if ln is None:
                        return None
                    user = base64.b64decode(ln).decode()
                send("334 " + base64.b64encode(b"Password:").decode())
                ln = getline()
                if ln is None:
                    return None
                pw = base64.b64decode(ln).decode()
        except Exception:
            send("501 5.5.2 cannot decode")
            return buf
        sess.auth_mech = mech
        if self.auth.get(user) == pw:
            sess.auth_user, sess.auth_password = user, pw
            send("235 2.7.0 authenticated")
        else:
            sess.auth_password = pw
            send("535 5.7.8 authentication failed")
        return buf


def shared_port(hosts, attempts=50):
    """A TCP port free on every host in hosts (checked by binding)."""
    import random
    for _ in range(attempts):
        p = random.randint(20000, 60000)
        socks = []
        try:
            for h in hosts:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind((h, p))
            return p
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no common free port")
