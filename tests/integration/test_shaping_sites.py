"""
test_shaping_sites.py - destination sites as the operator sees and steers
them (docs/shaping.md, docs/api.md): relais queue suspend|resume and
POST /v1/sites/NAME/suspend|resume write the site's row (manual) and
reach the outbound agent through the queue manager (logged
event=site.suspend|resume source=operator), also again after a restart;
relais queue list --site and GET /v1/sites show the queue by site with
each site's state; recipients carry their site in queue list/show and
the API.

The agent side (a deferred remote recipient named by its site, the
agent's reports in the sites table and the metrics) is in
test_deferred_recipient_has_its_site.
"""

import re
import time

import pytest

from api_util import *  # noqa: F401,F403
from conftest import wait_until
from outbound_util import *  # noqa: F401,F403


@pytest.fixture
def deferring(api_relais, outbound, dns, peers):
    """relais with the API; remote.example's one MX defers every RCPT"""
    dns.set("remote.example", {"MX": [(10, "mx.remote.example")]})
    dns.set("mx.remote.example", {"A": ["127.0.0.2"]})
    peer = peers("127.0.0.2")
    peer.script["RCPT"] = {"bob@remote.example": "451 4.3.0 try later"}
    r, api = api_relais(factory=outbound, relay={"retry_min": "1h",
                                                 "retry_max": "1h"})
    return r, api, peer


def cli(r, *args):
    return r.cli("queue", *args, "-c", str(r.conf_path))


def site_lines(r):
    """`relais queue list --site` -> {site: (queued, state text)}"""
    p = cli(r, "list", "--site")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["SITE", "QUEUED", "OLDEST", "STATE"], p.stdout
    out = {}
    for ln in lines[1:]:
        m = re.match(r"^(\S+)\s+(\d+)\s+(\S+)\s+(.*)$", ln)
        assert m, ln
        out[m.group(1)] = (int(m.group(2)), m.group(4))
    return out


def site_row(r, site):
    rows = spool_rows(r, "SELECT suspended_until, manual, reason FROM sites"
                      " WHERE site = ?", (site,))
    return rows[0] if rows else None


def api_sites(api):
    st, _, j = api.req("GET", "/v1/sites")
    assert st == 200, j
    return {s["site"]: s for s in j["sites"]}


def test_cli_suspend_resume(deferring):
    r, api, _ = deferring
    off = r.log_offset()
    t0 = int(time.time())
    p = cli(r, "suspend", "MX.Example.NET", "--for", "10m", "--reason",
            "maintenance window")
    assert p.returncode == 0, p.stderr
    assert "mx.example.net: suspended until" in p.stdout
    until, manual, reason = site_row(r, "mx.example.net")
    assert manual == 1 and reason == "maintenance window"
    assert t0 + 600 <= until <= int(time.time()) + 600
    assert spool_rows(r, "SELECT value FROM meta WHERE name = 'sites_gen'") == [(1,)]
    # the daemon's housekeeping (every 2 s) hands it to the agent
    r.wait_log(r"event=site\.suspend site=mx\.example\.net until=%d"
               r" source=operator" % until, timeout=10, since=off)

    queued, state = site_lines(r)["mx.example.net"]
    assert queued == 0
    assert re.match(r"suspended until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(manual\)"
                    r" maintenance window$", state), state
    s = api_sites(api)["mx.example.net"]
    assert s["state"] == "suspended" and s["manual"] is True
    assert s["reason"] == "maintenance window" and s["suspended_until"]

    off = r.log_offset()
    p = cli(r, "resume", "mx.example.net")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "mx.example.net: resumed"
    assert site_row(r, "mx.example.net")[0] == 0
    r.wait_log(r"event=site\.resume site=mx\.example\.net until=0"
               r" source=operator", timeout=10, since=off)
    assert site_lines(r)["mx.example.net"][1] == "active"
    s = api_sites(api)["mx.example.net"]
    assert s["state"] == "active" and s["suspended_until"] is None

    # refused: not a site, a bad duration, options of other commands
    assert cli(r, "suspend", "a/b").returncode == 2
    assert cli(r, "suspend", "(local)").returncode == 2
    assert cli(r, "suspend", "x.test", "--for", "soon").returncode == 2
    assert cli(r, "suspend", "x.test", "--for", "0").returncode == 2
    assert cli(r, "resume").returncode == 2
    assert cli(r, "resume", "x.test", "--for", "1h").returncode == 2
    assert cli(r, "show", "--site").returncode == 2
    assert site_row(r, "x.test") is None


def test_api_suspend_resume(deferring):
    r, api, _ = deferring
    off = r.log_offset()
    t0 = int(time.time())
    st, _, a = api.req("POST", "/v1/sites/MX.Other.Test/suspend",
                       body={"for": "10m", "reason": "asked \"nicely\""})
    assert st == 200, a
    assert a["site"] == "mx.other.test" and a["action"] == "suspend"
    assert a["reason"] == "asked  nicely " and a["suspended_until"]
    until, manual, reason = site_row(r, "mx.other.test")
    assert manual == 1 and t0 + 600 <= until <= int(time.time()) + 600
    # right after the commit, not at the next housekeeping
    r.wait_log(r"event=site\.suspend site=mx\.other\.test until=%d"
               r" source=operator" % until, timeout=5, since=off)
    s = api_sites(api)["mx.other.test"]
    assert s["state"] == "suspended" and s["manual"] is True
    assert s["queued"] == 0 and s["oldest_arrival"] is None
    assert site_lines(r)["mx.other.test"][1].startswith("suspended until")

    # no body: an hour
    t0 = int(time.time())
    st, _, a = api.req("POST", "/v1/sites/mx.third.test/suspend")
    assert st == 200, a
    until = site_row(r, "mx.third.test")[0]
    assert t0 + 3600 <= until <= int(time.time()) + 3600

    off = r.log_offset()
    st, _, a = api.req("POST", "/v1/sites/mx.other.test/resume")
    assert st == 200 and a == {"site": "mx.other.test", "action": "resume",
                               "suspended_until": None, "reason": None}, a
    r.wait_log(r"event=site\.resume site=mx\.other\.test until=0"
               r" source=operator", timeout=5, since=off)
    assert api_sites(api)["mx.other.test"]["state"] == "active"
    assert spool_rows(r, "SELECT value FROM meta WHERE name = 'sites_gen'") == [(3,)]

    # refused
    assert api.req("POST", "/v1/sites/x.test/suspend",
                   body={"for": "soon"})[0] == 400
    assert api.req("POST", "/v1/sites/x.test/suspend", body={"for": 60})[0] == 400
    assert api.req("POST", "/v1/sites/x.test/suspend", body="[1]")[0] == 400
    assert api.req("POST", "/v1/sites/x.test/pause")[0] == 404
    assert api.req("POST", "/v1/sites/a%20b/suspend")[0] == 400
    assert api.req("GET", "/v1/sites/x.test/suspend")[0] == 405
    assert api.req("POST", "/v1/sites")[0] == 405
    assert api.req("GET", "/v1/sites", token=None)[0] == 401
    assert api.req("POST", "/v1/sites/x.test/suspend", token=None)[0] == 401
    assert site_row(r, "x.test") is None


def test_suspension_reapplied_after_restart(deferring):
    r, api, _ = deferring
    assert cli(r, "suspend", "mx.kept.test", "--for", "1h").returncode == 0
    assert cli(r, "suspend", "mx.over.test", "--for", "1h").returncode == 0
    assert cli(r, "resume", "mx.over.test").returncode == 0
    r.wait_log(r"event=site\.resume site=mx\.over\.test", timeout=10)
    r.stop()
    # while stopped: written for the next start
    assert cli(r, "suspend", "mx.later.test", "--for", "1h").returncode == 0
    off = r.log_offset()
    r.start()
    r.wait_log(r"event=site\.suspend site=mx\.kept\.test until=\d+"
               r" source=operator", timeout=10, since=off)
    r.wait_log(r"event=site\.suspend site=mx\.later\.test until=\d+"
               r" source=operator", timeout=10, since=off)
    time.sleep(2.5)		# a housekeeping pass: nothing applied twice
    log = r.log()[off:]
    assert "site=mx.over.test" not in log
    assert len(re.findall(r"event=site\.suspend site=mx\.kept\.test"
                          r" until=\d+ source=operator", log)) == 1


def test_queue_by_site(deferring):
    r, api, peer = deferring
    st, _, a = api.send({"from": "alice@example.test",
                         "to": ["bob@remote.example"], "subject": "s",
                         "text": "x"})
    assert st == 202, a
    qid = a["id"]

    def attempted():
        rows = rcpt_rows(r, "bob@remote.example")
        return rows if rows and rows[0]["attempts"] >= 1 else None
    wait_until(attempted, 15, what="a deferral")
    sites = site_lines(r)
    assert sum(q for q, _ in sites.values()) == 1, sites
    js = api_sites(api)
    assert sum(s["queued"] for s in js.values()) == 1, js
    (grp,) = [s for s in js.values() if s["queued"] == 1]
    assert grp["oldest_arrival"] and grp["oldest_age"] >= 0
    # the queue's recipients carry a "site" (null until a result names one)
    st, _, m = api.req("GET", f"/v1/messages/{qid}")
    assert st == 200 and "site" in m["recipients"][0], m
    st, _, q = api.req("GET", "/v1/queue")
    assert st == 200 and "site" in q["messages"][0]["recipients"][0], q
    # queue list keeps its columns: the parser of the other tests reads it
    assert rcpt_rows(r, "bob@remote.example")[0]["qid"] == qid


def test_deferred_recipient_has_its_site(deferring):
    """Needs the outbound agent that names sites: a deferred remote
    recipient gets its site (the MX host set of its domain, or a [site]
    that matches it) with the result, and the agent's state of the site
    reaches the table and the metrics."""
    r, api, peer = deferring
    st, _, a = api.send({"from": "alice@example.test",
                         "to": ["bob@remote.example"], "subject": "s",
                         "text": "x"})
    assert st == 202, a
    qid = a["id"]

    def sited():
        rows = spool_rows(r, "SELECT r.site FROM recipients r JOIN messages m"
                          " ON m.id = r.msg_id WHERE m.qid = ? AND r.attempts"
                          " >= 1", (qid,))
        return rows[0][0] if rows and rows[0][0] else None
    site = wait_until(sited, 15, what="a deferral naming its site")
    assert "remote.example" in site, site

    sites = site_lines(r)
    assert sites[site][0] == 1, sites
    assert "(unknown)" not in sites, sites
    assert api_sites(api)[site]["queued"] == 1
    st, _, m = api.req("GET", f"/v1/messages/{qid}")
    assert m["recipients"][0]["site"] == site, m
    st, _, q = api.req("GET", "/v1/queue")
    assert q["messages"][0]["recipients"][0]["site"] == site, q
    p = cli(r, "show", qid)
    assert p.returncode == 0 and f" site={site}" in p.stdout, p.stdout
    rows, out = queue_list(r)
    assert out.splitlines()[1].endswith(f" site={site}"), out

    # suspended by the operator: the agent reports it back, the metrics
    # show it
    assert cli(r, "suspend", site, "--for", "10m").returncode == 0

    def reported():
        st, _, text = api.req("GET", "/metrics", token=None)
        return st == 200 and re.search(
            r'relais_site_suspended\{site="%s"\} 1' % re.escape(site),
            text.decode() if isinstance(text, bytes) else text)
    wait_until(reported, 10, what="relais_site_suspended 1")
    assert cli(r, "resume", site).returncode == 0

    def lifted():
        st, _, text = api.req("GET", "/metrics", token=None)
        return re.search(r'relais_site_suspended\{site="%s"\} 0'
                         % re.escape(site),
                         text.decode() if isinstance(text, bytes) else text)
    wait_until(lifted, 10, what="relais_site_suspended 0")
