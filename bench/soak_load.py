"""bench/soak_load.py - the client side of the soak run (bench/soak.py).

asyncio clients against one relais, at a paced message rate:

  workers      W coroutines; each picks a session kind by weight and runs
               it, taking one pacer ticket per message:
                 relay       mx listener from 127.0.0.1 (trusted): local
                             senders to remote recipients (some "reject-*",
                             which the sink refuses: bounces), now and then
                             a local recipient as well; 1-10 messages
                 local       mx listener from 127.0.3.x (not trusted):
                             remote senders to local users, the "team"
                             alias and, now and then, an unknown user
                 submission  submission listener: STARTTLS (certificate
                             verified), AUTH PLAIN, 1-8 messages from the
                             login to remote and local recipients
                 hangup      MAIL, RCPT, DATA, half the message, then the
                             connection is closed (or reset)
  idle         I sessions from 127.0.2.x held open after EHLO: half say
               nothing until the server's command timeout closes them,
               half send NOOP now and then until max_session_time ends
               them; each reconnects.
  slow         S sessions that write one byte at a time (a few ms apart)
               through a whole transaction, then QUIT and start again.
  bad_auth     one session every 2 s from 127.0.1.x (50 addresses) that
               fails AUTH twice; addresses get banned (421 at connect).

Every message carries "Subject: soak TOKEN". The Ledger keeps, for each
message that got 250 after its data, the final recipients it must reach
(delivered, or bounced back to its local sender); and the tokens that
must never arrive (hung up mid-data, refused after data).
"""
import asyncio
import base64
import random
import time

RELAY_DOMAINS = ("remote.test", "far.test")
LOCAL_DOMAIN = "soak.test"
ALIASES = {"team@soak.test": ("u0@soak.test", "u1@soak.test")}


class Ledger:
    def __init__(self, tag=""):
        self.tag = tag
        self.acked = {}          # token -> tuple of final recipients
        self.no_reply = set()    # data sent, no reply (connection lost)
        self.never = set()       # hung up mid-data or refused: must not arrive
        self.seq = 0

    def token(self, kind):
        self.seq += 1
        return "%s%s%d" % (self.tag, kind, self.seq)


class Stats:
    KEYS = ("sessions", "sessions_open", "session_errors", "messages_sent",
            "messages_acked", "messages_refused", "rcpts_refused",
            "hangups", "tls_sessions", "auth_ok", "auth_failed",
            "auth_banned", "idle_open", "idle_closed_by_server",
            "slow_messages")

    def __init__(self):
        for k in self.KEYS:
            setattr(self, k, 0)

    def as_dict(self):
        return {k: getattr(self, k) for k in self.KEYS}


class Pacer:
    """One ticket per message, spaced 1/rate apart (no catch-up burst
    beyond one second of lag). Back-pressure: while the queue (as last
    probed, set in .queued) is above `high` recipients, no ticket is given
    until it is under high/2; the time so spent is in .throttled_s. This
    keeps a machine too busy to deliver at the offered rate from being
    read as growth; the report shows the rate actually reached."""

    def __init__(self, rate, high):
        self.interval = 1.0 / rate
        self.next = time.monotonic()
        self.high = high
        self.queued = 0
        self.throttled = False
        self.throttled_s = 0.0
        self.released = False

    async def ticket(self):
        if self.queued > self.high and not self.throttled:
            self.throttled = True
            self.since = time.monotonic()
        while self.throttled:
            await asyncio.sleep(0.5)
            if self.throttled and (self.queued <= self.high // 2 or
                                   self.released):
                self.throttled = False
                self.next = time.monotonic()
                self.throttled_s += self.next - self.since
        now = time.monotonic()
        if self.next < now - 1.0:
            self.next = now
        wait = self.next - now
        self.next += self.interval
        if wait > 0:
            await asyncio.sleep(wait)


class SMTPError(Exception):
    pass


class Conn:
    """A minimal asyncio SMTP client: exact lines out, replies in."""

    def __init__(self, r, w):
        self.r, self.w = r, w

    @classmethod
    async def open(cls, host, port, source=None, timeout=30.0):
        r, w = await asyncio.wait_for(asyncio.open_connection(
            host, port, local_addr=(source, 0) if source else None), timeout)
        return cls(r, w)

    async def reply(self, timeout=120.0):
        lines = []
        for _ in range(100):
            ln = await asyncio.wait_for(self.r.readline(), timeout)
            if not ln:
                raise SMTPError("connection closed by server")
            lines.append(ln)
            if ln[3:4] != b"-":
                try:
                    return int(ln[:3]), b"".join(lines)
                except ValueError:
                    raise SMTPError("bad reply %r" % ln)
        raise SMTPError("reply too long")

    async def send(self, data):
        self.w.write(data)
        await self.w.drain()

    async def cmd(self, line, timeout=120.0):
        await self.send(line.encode() + b"\r\n")
        return await self.reply(timeout)

    async def expect(self, line, code):
        got, text = await self.cmd(line)
        if got != code:
            raise SMTPError("%s: %r" % (line.split(" ")[0], text))
        return text

    async def starttls(self, ctx, name):
        await self.expect("STARTTLS", 220)
        await self.w.start_tls(ctx, server_hostname=name,
                               ssl_handshake_timeout=30.0)

    def close(self, reset=False):
        try:
            if reset:
                self.w.transport.abort()
            else:
                self.w.close()
        except (OSError, RuntimeError):
            pass


def make_body(size, rng):
    """size octets of text lines (none starts with a dot)."""
    words = ("soak", "relais", "queue", "spool", "retry", "bounce", "maildir",
             "loopback", "steady", "state", "memory", "descriptor")
    line = " ".join(rng.choice(words) for _ in range(12)).encode()
    line = (line + b" " * 76)[:76] + b"\r\n"
    return line * max(1, size // len(line))


def pick_size(rng):
    x = rng.random()
    if x < 0.85:
        return rng.randint(1024, 8192)
    if x < 0.98:
        return rng.randint(8192, 65536)
    return rng.randint(140 * 1024, 300 * 1024)   # past the spool's blob limit


class Load:
    def __init__(self, mx_port, sub_port, users, tls_ctx, tls_name, rate,
                 workers=24, idle=300, slow=8, seed=7, command_timeout=60,
                 queue_high=1000, tag=""):
        self.mx_port, self.sub_port = mx_port, sub_port
        self.users = users                  # address -> password
        self.user_list = sorted(users)
        self.tls_ctx, self.tls_name = tls_ctx, tls_name
        self.pacer = Pacer(rate, queue_high)
        self.n_workers, self.n_idle, self.n_slow = workers, idle, slow
        self.command_timeout = command_timeout
        self.rng = random.Random(seed)
        self.ledger = Ledger(tag)
        self.stats = Stats()
        self.stopping = False
        self.bodies = [make_body(s, self.rng) for s in (1024, 4096, 16384)]
        self.tasks = []
        self.background = []

    # -- messages
    def message(self, token, sender, rcpts, size):
        head = ("From: <%s>\r\nTo: %s\r\nSubject: soak %s\r\n"
                "Message-ID: <%s@soak.client>\r\nDate: %s\r\n\r\n" %
                (sender, ", ".join("<%s>" % r for r in rcpts), token, token,
                 time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())))
        body = b""
        while len(body) < size:
            body += self.rng.choice(self.bodies)
        return head.encode() + body[:size - size % 78] + b".\r\n"

    @staticmethod
    def finals(rcpts):
        out = []
        for r in rcpts:
            out += ALIASES.get(r, (r,))
        return tuple(out)

    async def transaction(self, c, kind, sender, rcpts, hangup=False):
        """One message; returns False when the session should end."""
        await self.pacer.ticket()
        st = self.stats
        token = self.ledger.token(kind)
        st.messages_sent += 1
        code, _ = await c.cmd("MAIL FROM:<%s>" % sender)
        if code != 250:
            st.messages_refused += 1
            return False
        ok = []
        for r in rcpts:
            code, _ = await c.cmd("RCPT TO:<%s>" % r)
            if code == 250:
                ok.append(r)
            else:
                st.rcpts_refused += 1
        if not ok:
            st.messages_refused += 1
            await c.expect("RSET", 250)
            return True
        code, _ = await c.cmd("DATA")
        if code != 354:
            st.messages_refused += 1
            return False
        data = self.message(token, sender, ok, pick_size(self.rng))
        if hangup:
            self.ledger.never.add(token)
            await c.send(data[:len(data) // 2])
            st.hangups += 1
            c.close(reset=self.rng.random() < 0.5)
            return False
        self.ledger.no_reply.add(token)
        await c.send(data)
        code, _ = await c.reply()
        self.ledger.no_reply.discard(token)
        if code == 250:
            self.ledger.acked[token] = self.finals(ok)
            st.messages_acked += 1
        else:
            self.ledger.never.add(token)
            st.messages_refused += 1
        return True

    def relay_rcpts(self):
        rng = self.rng
        out = []
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            dom = rng.choice(RELAY_DOMAINS)
            if rng.random() < 0.04:
                out.append("reject-%d@%s" % (rng.randint(0, 99), dom))
            else:
                out.append("r%d@%s" % (rng.randint(0, 999), dom))
        if rng.random() < 0.1:
            out.append(rng.choice(self.user_list))
        return list(dict.fromkeys(out))

    def local_rcpts(self):
        rng = self.rng
        x = rng.random()
        if x < 0.05:
            return ["team@" + LOCAL_DOMAIN]
        if x < 0.08:
            return ["nobody%d@%s" % (rng.randint(0, 9), LOCAL_DOMAIN)]
        return list(dict.fromkeys(rng.choice(self.user_list)
                                  for _ in range(rng.choice((1, 1, 2)))))

    # -- session kinds
    async def session(self, kind):
        rng = self.rng
        st = self.stats
        source = None
        port = self.mx_port
        if kind == "local":
            source = "127.0.3.%d" % rng.randint(1, 50)
        elif kind == "submission":
            port = self.sub_port
        c = await Conn.open("127.0.0.1", port, source)
        st.sessions += 1
        st.sessions_open += 1
        try:
            code, text = await c.reply()
            if code != 220:
                raise SMTPError("greeting %r" % text)
            await c.expect("EHLO %s.client.test" % kind, 250)
            if kind == "relay":
                for _ in range(rng.randint(1, 10)):
                    if self.stopping or not await self.transaction(
                            c, "r", rng.choice(self.user_list),
                            self.relay_rcpts()):
                        break
            elif kind == "local":
                for _ in range(rng.randint(1, 6)):
                    sender = "s%d@sender.test" % rng.randint(0, 99)
                    if self.stopping or not await self.transaction(
                            c, "l", sender, self.local_rcpts()):
                        break
            elif kind == "submission":
                await c.starttls(self.tls_ctx, self.tls_name)
                st.tls_sessions += 1
                await c.expect("EHLO submission.client.test", 250)
                user = rng.choice(self.user_list)
                cred = base64.b64encode(
                    b"\0" + user.encode() + b"\0" + self.users[user].encode())
                await c.expect("AUTH PLAIN " + cred.decode(), 235)
                st.auth_ok += 1
                for _ in range(rng.randint(1, 8)):
                    rcpts = self.relay_rcpts() if rng.random() < 0.7 \
                        else self.local_rcpts()
                    if self.stopping or not await self.transaction(
                            c, "s", user, rcpts):
                        break
            elif kind == "hangup":
                await self.transaction(c, "h", rng.choice(self.user_list),
                                       self.relay_rcpts(), hangup=True)
                return
            if rng.random() < 0.9:
                await c.cmd("QUIT")
        finally:
            st.sessions_open -= 1
            c.close()

    KINDS = (("relay", 0.45), ("local", 0.32), ("submission", 0.2),
             ("hangup", 0.03))

    async def worker(self):
        rng = self.rng
        names = [k for k, _ in self.KINDS]
        weights = [w for _, w in self.KINDS]
        while not self.stopping:
            kind = rng.choices(names, weights)[0]
            try:
                await self.session(kind)
            except (OSError, SMTPError, asyncio.TimeoutError,
                    ConnectionError) as e:
                self.error(kind, e)
                await asyncio.sleep(0.5)

    async def idle(self, i):
        rng = self.rng
        st = self.stats
        source = "127.0.2.%d" % (i % 250 + 1)
        await asyncio.sleep(rng.uniform(0, 20))
        while True:
            c = None
            try:
                c = await Conn.open("127.0.0.1", self.mx_port, source)
                st.idle_open += 1
                try:
                    await c.reply()
                    await c.expect("EHLO idle.client.test", 250)
                    if i % 4 == 0:
                        # silent: the server's command timeout ends it
                        await c.reply(timeout=self.command_timeout * 3)
                        st.idle_closed_by_server += 1
                    elif i % 4 == 1:
                        # silent, then hangs up first (no QUIT)
                        await asyncio.sleep(rng.uniform(
                            1, self.command_timeout - 5))
                    else:
                        while True:
                            await asyncio.sleep(rng.uniform(10, 30))
                            code, _ = await c.cmd("NOOP")
                            if code != 250:
                                st.idle_closed_by_server += 1
                                break
                finally:
                    st.idle_open -= 1
            except (OSError, SMTPError, asyncio.TimeoutError, ConnectionError):
                st.idle_closed_by_server += 1
            finally:
                if c:
                    c.close()
            await asyncio.sleep(rng.uniform(0.5, 3))

    async def dribble(self, c, data, gap):
        for i in range(len(data)):
            c.w.write(data[i:i + 1])
            await c.w.drain()
            await asyncio.sleep(gap)

    async def slow(self, i):
        rng = self.rng
        st = self.stats
        await asyncio.sleep(rng.uniform(0, 10))
        while True:
            c = None
            try:
                c = await Conn.open("127.0.0.1", self.mx_port)
                st.sessions_open += 1
                try:
                    await c.reply()
                    gap = 0.01
                    await self.dribble(c, b"EHLO slow.client.test\r\n", gap)
                    await c.reply()
                    rcpt = self.relay_rcpts()[0] if i % 2 else \
                        rng.choice(self.user_list)
                    sender = rng.choice(self.user_list)
                    token = self.ledger.token("w")
                    for ln in ("MAIL FROM:<%s>" % sender, "RCPT TO:<%s>" % rcpt,
                               "DATA"):
                        await self.dribble(c, ln.encode() + b"\r\n", gap)
                        code, text = await c.reply()
                        if code not in (250, 354):
                            raise SMTPError("slow %r" % text)
                    data = self.message(token, sender, [rcpt], 1500)
                    self.ledger.no_reply.add(token)
                    await self.dribble(c, data, gap)
                    code, _ = await c.reply()
                    self.ledger.no_reply.discard(token)
                    if code == 250:
                        self.ledger.acked[token] = self.finals([rcpt])
                        st.slow_messages += 1
                    else:
                        self.ledger.never.add(token)
                    await self.dribble(c, b"QUIT\r\n", gap)
                    await c.reply()
                finally:
                    st.sessions_open -= 1
            except (OSError, SMTPError, asyncio.TimeoutError, ConnectionError) as e:
                self.error("slow", e)
            finally:
                if c:
                    c.close()
            await asyncio.sleep(rng.uniform(0.5, 2))

    async def bad_auth(self):
        rng = self.rng
        st = self.stats
        n = 0
        while True:
            await asyncio.sleep(2.0)
            n += 1
            source = "127.0.1.%d" % (n % 50 + 1)
            c = None
            try:
                c = await Conn.open("127.0.0.1", self.sub_port, source)
                code, _ = await c.reply()
                if code == 421:
                    st.auth_banned += 1
                    continue
                await c.expect("EHLO badauth.client.test", 250)
                await c.starttls(self.tls_ctx, self.tls_name)
                await c.expect("EHLO badauth.client.test", 250)
                for _ in range(2):
                    user = rng.choice(self.user_list + ["ghost@soak.test"])
                    cred = base64.b64encode(b"\0" + user.encode() + b"\0wrong")
                    code, _ = await c.cmd("AUTH PLAIN " + cred.decode())
                    if code == 421:
                        st.auth_banned += 1
                        break
                    if code != 535:
                        raise SMTPError("bad AUTH answered %d" % code)
                    st.auth_failed += 1
                    # the failure that starts a ban is followed by 421 and
                    # the close (read it now: a command sent into the closed
                    # connection gets a reset, which hides the 421)
                    try:
                        code, _ = await c.reply(timeout=0.3)
                    except asyncio.TimeoutError:
                        continue
                    if code != 421:
                        raise SMTPError("after 535: %d" % code)
                    st.auth_banned += 1
                    break
                else:
                    await c.cmd("QUIT")
            except (OSError, SMTPError, asyncio.TimeoutError, ConnectionError) as e:
                self.error("bad_auth", e)
            finally:
                if c:
                    c.close()

    def error(self, kind, e):
        self.stats.session_errors += 1
        what = "%s: %s" % (kind, str(e)[:60] or type(e).__name__)
        self.errors[what] = self.errors.get(what, 0) + 1

    # -- lifecycle
    def start(self):
        self.errors = {}
        self.tasks = [asyncio.ensure_future(self.worker())
                      for _ in range(self.n_workers)]
        self.background = [asyncio.ensure_future(self.idle(i))
                           for i in range(self.n_idle)]
        self.background += [asyncio.ensure_future(self.slow(i))
                            for i in range(self.n_slow)]
        self.background.append(asyncio.ensure_future(self.bad_auth()))

    async def stop(self, timeout=180.0):
        """Workers finish their session; the rest is cancelled."""
        self.stopping = True
        self.pacer.released = True
        for t in self.background:
            t.cancel()
        done, pending = await asyncio.wait(self.tasks + self.background,
                                           timeout=timeout)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending, timeout=10)
