"""
test_api_metrics.py - GET /metrics parses with the Prometheus text parser
(python3-prometheus-client) and counts what was sent; GET /healthz says
ok, and fails when the free-space minimum cannot be met.
"""

from prometheus_client.parser import text_string_to_metric_families

from api_util import *  # noqa: F401,F403
from conftest import wait_until


def families(api):
    st, hd, text = api.req("GET", "/metrics", token=None)
    assert st == 200 and hd["content-type"].startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(text.decode())}


def value(fams, name, **labels):
    for s in fams[name].samples:
        if s.name == name + "_total" or s.name == name:
            if all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def test_metrics_parse_and_count(api_relais):
    r, api = api_relais()
    for i in range(3):
        st, _, _ = api.send({"from": "alice@example.test", "to": "bob@example.test",
                             "subject": f"m{i}", "text": "x"})
        assert st == 202
    r.send("carol@example.test", ["bob@example.test"], b"Subject: s\r\n\r\nx\r\n")
    r.maildir_messages("example.test", "bob", count=4)
    fams = families(api)
    assert value(fams, "relais_messages_received", listener="http") == 3
    assert value(fams, "relais_messages_received", listener="mx") == 1
    wait_until(lambda: value(families(api), "relais_recipients_delivered",
                             domain="example.test") == 4, 10)
    assert "relais_spool_commit_seconds" in fams
    h = [s for s in fams["relais_spool_commit_seconds"].samples
         if s.name.endswith("_count")]
    assert h and h[0].value >= 1
    for name in ("relais_queue_recipients", "relais_smtp_sessions_open",
                 "relais_dns_query_seconds"):
        assert name in fams, name


def test_healthz(api_relais):
    r, api = api_relais()
    st, _, body = api.req("GET", "/healthz", token=None)
    assert st == 200 and body["status"] == "ok", body
    r.stop()
    r2, api2 = api_relais(extra={"http": {"min_free_space": "1000000G"}})
    st, _, body = api2.req("GET", "/healthz", token=None)
    assert st == 503 and body["status"] == "fail"
    assert body["checks"]["disk_space"]["ok"] is False
