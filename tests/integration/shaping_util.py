"""
shaping_util.py - SMTP sinks and DNS for the traffic shaping tests
(tests/integration/test_shaping.py) and bench/shaping_bench.py.

A SinkServer runs one asyncio event loop on one thread and serves any
number of Sinks, each listening on its own loopback address but all on
the same port (relais's [relay] outbound_port is one port for every
peer, so 127.0.0.2:P, 127.0.0.3:P, ... are the "MX hosts" of a test):

    srv = SinkServer()
    a = srv.sink("127.0.0.2", port)                      # accepts all
    b = srv.sink("127.0.0.3", port, rate_limit=(10, 5))  # 10 per 5 s
    c = srv.sink("127.0.0.4", port, max_conns=2)
    ...
    srv.stop()                                           # every listener,
                                                         # every connection

What a Sink records (all times time.monotonic()):
  messages      Msg per accepted transaction (2xx after the final dot):
                time (MAIL accepted), end (final dot), source (the
                connection's source address), conn (connection number),
                sender, rcpts, data (bytes, unless keep_data=False)
  mail_times    the time of every MAIL command, refused ones included
                (what relais tried)
  refused_mail  MAIL commands answered 421 by the rate limit
  connections   connections accepted; refused_conns: those answered 421
                by max_conns; active, max_active: open now / most open
                at once (refused ones included: they are relais's
                attempts); sources: {source address: connections}
  sessions      per connection: source, start, end, commands (verbs)

Modes:
  rate_limit=(N, seconds)  after N accepted MAILs within the last
      `seconds`, MAIL gets "421 4.7.28 rate limited, try again later"
      and the connection is closed (as large mailbox providers do; the
      sink half-closes and reads what is still coming, so the client
      always gets the reply before the end of the connection);
      close_on_421=False keeps the connection open instead (the client
      may go on with another MAIL)
  max_conns=K  a connection beyond K open ones gets "421 4.7.0 too many
      connections" as its greeting and is closed
  data_delay=S  wait S seconds before answering the final dot (a slow
      server: makes relais open more connections)
  recipient replies: reply_rcpt(sink, addr) -> reply line or None

max_in_window(times, seconds): the most events within any window of
that length (two events count as in one window when they are less than
`seconds` apart).

For pytest (imported with `from shaping_util import *`):
  shaping      a ShapingEnv: a DNSServer (dns.py zone), a SinkServer, the
               shared sink port and relais factory: env.mx(domain, ip),
               env.sink(ip, **kw), env.relais(sections, relay=..., ...).
               Everything is stopped at teardown.

Loopback only; every loop is bounded by a deadline.
"""

import asyncio
import os
import sys
import threading
import time
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from capture_smtp import shared_port  # noqa: E402
from dnsserver import DNSServer  # noqa: E402

try:
    import pytest
except ImportError:  # bench/shaping_bench.py runs without pytest
    pytest = None

# addresses a sink may listen on (pools use others of 127.0.0.0/8 too)
SINK_HOSTS = [f"127.0.0.{i}" for i in range(2, 31)]

MAX_LINE = 64 * 1024
MAX_DATA = 32 * 1024 * 1024

__all__ = ["SinkServer", "Sink", "Msg", "max_in_window", "SINK_HOSTS",
           "ShapingEnv", "shaping", "submit_many", "shared_port"]


def max_in_window(times, seconds):
    """The most events of times (any order) that fall within one window of
    `seconds`: the largest j - i + 1 with t[j] - t[i] < seconds."""
    ts = sorted(times)
    best = 0
    i = 0
    for j, t in enumerate(ts):
        while t - ts[i] >= seconds:
            i += 1
        best = max(best, j - i + 1)
    return best


class Msg:
    __slots__ = ("time", "end", "source", "conn", "sender", "rcpts", "data")

    def __init__(self, time_, end, source, conn, sender, rcpts, data):
        self.time = time_
        self.end = end
        self.source = source
        self.conn = conn
        self.sender = sender
        self.rcpts = rcpts
        self.data = data

    def __repr__(self):
        return (f"Msg(t={self.time:.3f}, src={self.source}, conn={self.conn}, "
                f"from={self.sender!r}, rcpts={self.rcpts!r})")


class Sink:
    def __init__(self, server, host, port, name, rate_limit, max_conns,
                 keep_data, reply_rcpt, data_delay, close_on_421):
        assert host.startswith("127."), "loopback only"
        self.server = server
        self.host = host
        self.port = port
        self.name = name
        self.rate_limit = rate_limit
        self.max_conns = max_conns
        self.keep_data = keep_data
        self.reply_rcpt = reply_rcpt
        self.data_delay = data_delay
        self.close_on_421 = close_on_421
        self.lock = threading.Lock()
        self.messages = []
        self.mail_times = []
        self._accepted_mail = []       # times of accepted MAILs (rate limit)
        self.refused_mail = 0
        self.connections = 0
        self.refused_conns = 0
        self.active = 0
        self.max_active = 0
        self.sources = {}
        self.sessions = []
        self._listener = None
        self._writers = set()

    # -- views (any thread)
    def count(self):
        with self.lock:
            return len(self.messages)

    def recipients(self):
        """Every accepted recipient of every accepted message, lower-cased,
        with repeats."""
        with self.lock:
            return [r.lower() for m in self.messages for r in m.rcpts]

    def message_times(self):
        with self.lock:
            return [m.time for m in self.messages]

    def max_in_window(self, seconds):
        return max_in_window(self.message_times(), seconds)

    def wait_count(self, n, timeout, what=None):
        """Wait until at least n messages were accepted; AssertionError
        with a summary after timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count() >= n:
                return self.count()
            time.sleep(0.05)
        raise AssertionError(f"{what or self.host}: {self.count()} message(s), "
                             f"wanted {n} within {timeout}s; {self.summary()}")

    def summary(self):
        with self.lock:
            return (f"sink {self.name} {self.host}: {len(self.messages)} messages, "
                    f"{len(self.mail_times)} MAIL ({self.refused_mail} refused), "
                    f"{self.connections} connections ({self.refused_conns} refused, "
                    f"at most {self.max_active} at once), sources {self.sources}")

    # -- the SMTP side (event loop thread)
    async def _handle(self, reader, writer):
        peer = writer.get_extra_info("peername") or ("?", 0)
        source = peer[0]
        with self.lock:
            self.connections += 1
            conn = self.connections
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.sources[source] = self.sources.get(source, 0) + 1
            sess = SimpleNamespace(conn=conn, source=source, start=time.monotonic(),
                                   end=None, verbs=[], refused=False)
            self.sessions.append(sess)
            over = self.max_conns is not None and self.active > self.max_conns
            if over:
                self.refused_conns += 1
                sess.refused = True
        self._writers.add(writer)
        try:
            if over:
                writer.write(b"421 4.7.0 too many connections\r\n")
                await _close_gently(reader, writer)
                return
            await self._dialogue(reader, writer, sess)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            with self.lock:
                self.active -= 1
                sess.end = time.monotonic()
            try:
                writer.close()
            except Exception:
                pass

    async def _dialogue(self, reader, writer, sess):
        def reply(line):
            writer.write(line.encode() + b"\r\n")

        reply(f"220 {self.name} ESMTP sink")
        await writer.drain()
        sender = None
        rcpts = []
        t_mail = None
        while True:
            line = await asyncio.wait_for(reader.readline(), 60)
            if not line:
                return
            if not line.endswith(b"\n"):
                return
            text = line.rstrip(b"\r\n").decode("utf-8", "replace")
            verb = text.split(" ", 1)[0].split(":", 1)[0].upper()
            sess.verbs.append(verb)
            if verb in ("EHLO", "HELO"):
                sender, rcpts = None, []
                if verb == "EHLO":
                    reply(f"250-{self.name}")
                    reply("250-PIPELINING")
                    reply("250-8BITMIME")
                    reply("250-SIZE 52428800")
                    reply("250 ENHANCEDSTATUSCODES")
                else:
                    reply(f"250 {self.name}")
            elif verb == "MAIL":
                now = time.monotonic()
                refuse = False
                with self.lock:
                    self.mail_times.append(now)
                    if self.rate_limit:
                        n, secs = self.rate_limit
                        recent = [t for t in self._accepted_mail if now - t < secs]
                        self._accepted_mail = recent
                        if len(recent) >= n:
                            refuse = True
                            self.refused_mail += 1
                        else:
                            recent.append(now)
                if refuse:
                    reply("421 4.7.28 rate limited, try again later")
                    if self.close_on_421:
                        await _close_gently(reader, writer)
                        return
                    sender, rcpts = None, []
                    await writer.drain()
                    continue
                sender = _path(text[5:])
                rcpts = []
                t_mail = now
                reply("250 2.1.0 ok")
            elif verb == "RCPT":
                if sender is None:
                    reply("503 5.5.1 MAIL first")
                    continue
                addr = _path(text[3:].split(":", 1)[-1] if ":" in text else "")
                r = self.reply_rcpt(self, addr) if self.reply_rcpt else None
                if r is None:
                    rcpts.append(addr)
                    reply("250 2.1.5 ok")
                else:
                    reply(r)
            elif verb == "DATA":
                if sender is None or not rcpts:
                    reply("503 5.5.1 no valid recipients")
                    continue
                reply("354 go ahead")
                await writer.drain()
                data = await self._read_data(reader)
                if self.data_delay:
                    await asyncio.sleep(self.data_delay)
                with self.lock:
                    self.messages.append(Msg(t_mail, time.monotonic(), sess.source,
                                             sess.conn, sender, rcpts,
                                             data if self.keep_data else None))
                reply("250 2.0.0 ok queued")
                sender, rcpts = None, []
            elif verb == "RSET":
                sender, rcpts = None, []
                reply("250 2.0.0 ok")
            elif verb == "NOOP":
                reply("250 2.0.0 ok")
            elif verb == "QUIT":
                reply("221 2.0.0 bye")
                await writer.drain()
                return
            else:
                reply("502 5.5.2 not implemented")
            await writer.drain()

    async def _read_data(self, reader):
        parts = []
        size = 0
        while True:
            line = await asyncio.wait_for(reader.readline(), 60)
            if not line:
                raise ConnectionError("eof in data")
            if line in (b".\r\n", b".\n"):
                return b"".join(parts)
            if line.startswith(b"."):
                line = line[1:]
            size += len(line)
            if size > MAX_DATA:
                raise ConnectionError("data too large")
            if self.keep_data:
                parts.append(line)


async def _close_gently(reader, writer, linger=2.0):
    """After a 421: send it, half-close, and read what the client still
    sends (pipelined commands, QUIT) until it closes or linger seconds
    pass, so the close is a FIN after the reply and never a reset that
    could discard the reply on the client's side."""
    await writer.drain()
    try:
        writer.write_eof()
    except (OSError, RuntimeError):
        return
    deadline = time.monotonic() + linger
    while time.monotonic() < deadline:
        try:
            chunk = await asyncio.wait_for(reader.read(4096),
                                           max(0.01, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            return
        if not chunk:
            return


def _path(arg):
    """The address inside <...> of a MAIL FROM:/RCPT TO: argument."""
    arg = arg.strip()
    if ":" in arg and not arg.startswith("<"):
        arg = arg.split(":", 1)[1].strip()
    if arg.startswith("<"):
        end = arg.find(">")
        return arg[1:end] if end > 0 else arg[1:]
    return arg.split(" ", 1)[0]


class SinkServer:
    """One event loop thread serving every Sink made with sink()."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.sinks = []
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name="sink-loop")
        self.thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("sink event loop did not start")

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    def _call(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def sink(self, host, port, name=None, *, rate_limit=None, max_conns=None,
             keep_data=True, reply_rcpt=None, data_delay=0, close_on_421=True):
        s = Sink(self, host, port, name or f"sink-{host}", rate_limit, max_conns,
                 keep_data, reply_rcpt, data_delay, close_on_421)

        async def listen():
            return await asyncio.start_server(s._handle, host, port, backlog=512,
                                              reuse_address=True, limit=MAX_LINE)
        s._listener = self._call(listen())
        self.sinks.append(s)
        return s

    def stop(self):
        """Close every listener and connection, stop the loop, join."""
        if not self.thread.is_alive():
            return

        async def shutdown():
            for s in self.sinks:
                if s._listener is not None:
                    s._listener.close()
                for w in list(s._writers):
                    try:
                        w.transport.abort()
                    except Exception:
                        pass
            await asyncio.sleep(0.05)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=5)
        try:
            self._call(shutdown(), timeout=15)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            if not self.thread.is_alive():
                self.loop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def submit_many(port, items, conns=4, host="127.0.0.1", timeout=60):
    """Send items [(sender, [rcpts], msg bytes)] to relais on host:port over
    `conns` parallel SMTP connections (each item one transaction). Returns
    the number accepted; raises on any refusal."""
    import smtplib
    chunks = [items[i::conns] for i in range(conns)]
    errors = []
    done = [0]
    lock = threading.Lock()

    def work(chunk):
        try:
            s = smtplib.SMTP(host, port, local_hostname="client.test", timeout=timeout)
            try:
                for sender, rcpts, msg in chunk:
                    refused = s.sendmail(sender, rcpts, msg)
                    if refused:
                        raise AssertionError(f"refused: {refused}")
                    with lock:
                        done[0] += 1
            finally:
                try:
                    s.quit()
                except Exception:
                    s.close()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(c,), daemon=True) for c in chunks if c]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout * 4)
    if errors:
        raise errors[0]
    return done[0]


class ShapingEnv:
    """A test's DNS zone, sinks on one shared port and its relais."""

    def __init__(self, relais_factory, tmp_path):
        self.relais_factory = relais_factory
        self.tmp_path = tmp_path
        self.dns = DNSServer({}).start()
        self.port = shared_port(SINK_HOSTS)
        self.server = SinkServer()
        self.r = None

    def mx(self, domain, ip, mxname=None):
        """domain's MX is mxname (default mx.DOMAIN) with address ip;
        several domains may name the same mxname (one site)."""
        mxname = mxname or f"mx.{domain}"
        self.dns.set(domain, {"MX": [(10, mxname)]})
        self.dns.set(mxname, {"A": [ip]})
        return mxname

    def sink(self, ip, **kw):
        return self.server.sink(ip, self.port, **kw)

    def relais(self, sections=None, relay=None, shaping_file=None, start=True, **kw):
        """A relais for this env: sections {"site a": {...}, ...} go into
        relais.conf; shaping_file (text) is written beside it and named
        by [relay] shaping."""
        over = {
            "dns": {"resolver": self.dns.address, "timeout": "2s"},
            "relay": {"trusted_networks": "127.0.0.0/8",
                      "outbound_port": str(self.port),
                      "outbound_tls": "none",
                      "retry_min": "1s", "retry_max": "2s"},
            "limits": {"max_recipients": "100"},
        }
        over["relay"].update(relay or {})
        if shaping_file is not None:
            path = self.tmp_path / "shaping.conf"
            path.write_text(shaping_file)
            over["relay"]["shaping"] = str(path)
        for name, keys in (sections or {}).items():
            over.setdefault(name, {}).update(keys)
        self.r = self.relais_factory(overrides=over, **kw)
        if start:
            self.r.start()
        return self.r

    def close(self):
        try:
            self.server.stop()
        finally:
            self.dns.stop()


if pytest is not None:
    @pytest.fixture
    def shaping(relais_factory, tmp_path):
        env = ShapingEnv(relais_factory, tmp_path)
        yield env
        env.close()
