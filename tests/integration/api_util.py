"""
api_util.py - shared pieces of the HTTP API tests (test_api*.py,
test_suppress*.py, test_ui*.py).

  API          a small client over http.client: req() returns
               (status, headers, body) with the body parsed as JSON when it
               is JSON.
  api_relais   fixture: api_relais(extra=None, keys=(...), **kw) starts a
               relais whose [http] listener is on a free loopback port, with
               an API key "app" for example.test (and more from keys), and
               returns (relais, API).
  spool_rows   rows of a query on the spool database (read-only).
  wait_keys_read  after a change to the keys file: until the running
               daemon has read it again.
"""

import base64
import http.client
import json
import re
import sqlite3

import pytest

from conftest import HOST, free_port, wait_until

__all__ = ["API", "api_relais", "spool_rows", "new_key", "b64", "wait_keys_read"]


def b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


class API:
    def __init__(self, port, token=None, host=HOST):
        self.host = host
        self.port = port
        self.token = token

    def req(self, method, path, body=None, headers=None, token="default",
            ctype=None, timeout=30):
        token = self.token if token == "default" else token
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        if ctype is not None:
            h["Content-Type"] = ctype
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            raw = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        data = raw
        if hdrs.get("content-type", "").startswith("application/json"):
            data = json.loads(raw)
        return resp.status, hdrs, data

    def send(self, msg, **kw):
        return self.req("POST", "/v1/messages", body=msg, **kw)


def new_key(relais, name, *domains):
    args = ["apikey", "new", name, "-c", str(relais.conf_path)]
    if domains:
        for d in domains:
            args += ["--from-domain", d]
    else:
        args += ["--any-domain"]
    out = relais.cli(*args)
    assert out.returncode == 0, f"apikey new: {out.stderr}"
    token = out.stdout.strip()
    assert token and "\n" not in token, out.stdout
    return token


def wait_keys_read(relais, api, since):
    """After the keys file changed (since: a log offset from before): ask
    with the app's key, which cannot count as a failure, until the daemon
    has read the file again (it looks at most once a second, on a request)."""
    def read():
        api.req("GET", "/v1/queue")
        return re.search(r"event=apikey\.reload\b", relais.log()[since:])
    wait_until(read, 10, interval=0.1, what="event=apikey.reload")


@pytest.fixture
def api_relais(relais_factory):
    def make(extra=None, start=True, factory=None, **kw):
        port = free_port()
        over = {"http": {"address": f"{HOST}:{port}"}}
        for sec, keys in (extra or {}).items():
            over.setdefault(sec, {}).update(keys)
        if factory is not None:
            r = factory(extra=over, start=False, **kw)
        else:
            r = relais_factory(overrides=over, **kw)
        token = new_key(r, "app", "example.test")
        if start:
            r.start()
        return r, API(port, token)
    return make


def spool_rows(relais, sql, args=()):
    db = sqlite3.connect(f"file:{relais.data_dir}/spool/queue.db?mode=ro", uri=True,
                         timeout=10)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()
