"""
webhook_util.py - a webhook receiver for the tests of relais's [webhooks]
(tests/integration/test_webhook*.py).

    rx = Receiver(answers=[500, 500, 200]).start()   # 127.0.0.1, free port
    rx.url                  # http://127.0.0.1:PORT/hook
    rx.posts                # every POST: Post(headers, body, status, json)
    rx.events()             # the events of the 2xx posts, one per id
    rx.stop()

answers: the status of the n-th POST is answers[n] (the last repeats);
an item may be a callable (post) -> status, or a (status, headers) pair.
hold: seconds to wait before answering the first POST (a receiver that
is slow to answer). tls: an ssl.SSLContext to serve https. keepalive:
HTTP/1.1 with persistent connections (else HTTP/1.0, one per POST).

Loopback only; stop() shuts the server down and joins its thread.
"""

import hashlib
import hmac
import http.server
import json
import re
import threading
import time

import pytest

from conftest import HOST, free_port, wait_until

__all__ = ["Receiver", "receivers", "hook_conf", "verify_signature",
           "SECRET", "events_by_id"]

SECRET = "s3cret-for-tests"


class Post:
    def __init__(self, headers, body, status):
        self.headers = headers
        self.body = body
        self.status = status
        self.time = time.monotonic()
        try:
            self.json = json.loads(body)
        except ValueError:
            self.json = None

    @property
    def events(self):
        return (self.json or {}).get("events", [])

    @property
    def ids(self):
        return [e["id"] for e in self.events]


class Receiver:
    def __init__(self, answers=(200,), port=None, hold=0.0, tls=None,
                 path="/hook", keepalive=False):
        self.answers = list(answers)
        self.keepalive = keepalive
        self.port = port or free_port()
        self.hold = hold
        self.tls = tls
        self.path = path
        self.posts = []
        self.lock = threading.Lock()
        self.server = None
        self.thread = None
        self.released = threading.Event()

    @property
    def url(self):
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{HOST}:{self.port}{self.path}"

    def _answer(self, post, n):
        a = self.answers[min(n, len(self.answers) - 1)]
        if callable(a):
            a = a(post)
        if isinstance(a, tuple):
            return a
        return a, {}

    def start(self):
        rx = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 10
            protocol_version = "HTTP/1.1" if rx.keepalive else "HTTP/1.0"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                post = Post(dict(self.headers.items()), body, None)
                with rx.lock:
                    k = len(rx.posts)
                    rx.posts.append(post)
                if k == 0 and rx.hold:
                    rx.released.wait(rx.hold)
                status, headers = rx._answer(post, k)
                post.status = status
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                try:
                    self.wfile.write(b"ok")
                except OSError:     # relais gave up (timeout, kill -9)
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((HOST, self.port), Handler)
        self.server.daemon_threads = False
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket,
                                                      server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.released.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()     # joins the handler threads
            self.thread.join(10)
            self.server = None

    def ok_posts(self):
        with self.lock:
            return [p for p in self.posts if p.status and 200 <= p.status < 300]

    def events(self):
        """The events of the accepted posts, one per id, in id order."""
        return events_by_id(self.ok_posts())

    def wait_events(self, pred, timeout=20.0, what="events"):
        wait_until(lambda: pred(self.events()), timeout, interval=0.1,
                   what=what)
        return self.events()


def events_by_id(posts):
    seen = {}
    for p in posts:
        for e in p.events:
            if e["id"] in seen:
                assert seen[e["id"]] == e, f"event {e['id']} changed: {seen[e['id']]} {e}"
            seen[e["id"]] = e
    return [seen[k] for k in sorted(seen)]


@pytest.fixture
def receivers():
    """receivers(**kw) -> a started Receiver; all stopped at teardown."""
    made = []

    def make(**kw):
        r = Receiver(**kw).start()
        made.append(r)
        return r
    yield make
    for r in made:
        r.stop()


def hook_conf(url, secret=SECRET, **keys):
    """Config overrides turning webhooks on."""
    sec = {"url": url, "retry_max": "2s", "timeout": "5s"}
    if secret is not None:
        sec["secret"] = secret
    sec.update(keys)
    return {"webhooks": sec}


SIG_RE = re.compile(r"^t=(\d+), v1=([0-9a-f]{64})$")


def verify_signature(post, secret=SECRET):
    """Check the Relais-Signature header of post: t=UNIX, v1=HEX of
    HMAC-SHA256(secret, "UNIX." + body). Returns t."""
    value = post.headers.get("Relais-Signature")
    assert value, f"no Relais-Signature header: {post.headers}"
    m = SIG_RE.match(value)
    assert m, f"malformed Relais-Signature: {value!r}"
    t = m.group(1)
    want = hmac.new(secret.encode(), t.encode() + b"." + post.body,
                    hashlib.sha256).hexdigest()
    assert hmac.compare_digest(want, m.group(2)), \
        f"bad signature {value!r}, want v1={want}"
    return int(t)
