"""
test_metrics_format.py - the metrics rendering (core/metrics.c), as the
Prometheus client library's own parser reads it (Debian's
python3-prometheus-client): every family with its type, label values
(quotes, backslashes, newlines, UTF-8) read back as they were given,
histograms cumulative up to +Inf = _count.

The text comes from the unit test program build/san/unit/test_metrics,
which writes a rendering with one of everything to $RELAIS_METRICS_DUMP
(`make integration` builds it first). The daemon's own GET /metrics is
parsed by the HTTP tests.
"""

import math
import os
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]

FAMILIES = {
    "relais_messages_received": "counter",
    "relais_smtp_sessions": "counter",
    "relais_recipients_delivered": "counter",
    "relais_recipients_deferred": "counter",
    "relais_recipients_bounced": "counter",
    "relais_outbound_connections": "counter",
    "relais_tenant_messages": "counter",
    "relais_tenant_recipients": "counter",
    "relais_smtp_sessions_open": "gauge",
    "relais_queue_recipients": "gauge",
    "relais_queue_oldest_age_seconds": "gauge",
    "relais_metrics_domains": "gauge",
    "relais_site_suspended": "gauge",
    "relais_site_rate": "gauge",
    "relais_spool_commit_seconds": "histogram",
    "relais_dns_query_seconds": "histogram",
}


def dump_program():
    candidates = []
    if os.environ.get("RELAIS_BIN"):
        candidates.append(Path(os.environ["RELAIS_BIN"]).parent / "unit" /
                          "test_metrics")
    candidates.append(REPO / "build" / "san" / "unit" / "test_metrics")
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    pytest.fail("build/san/unit/test_metrics is missing: run"
                " `make build/san/unit/test_metrics` (make integration"
                " builds it)")


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    out = tmp_path_factory.mktemp("metrics") / "metrics.txt"
    env = dict(os.environ, RELAIS_METRICS_DUMP=str(out))
    r = subprocess.run([str(dump_program())], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    text = out.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fam, name, **labels):
    got = [s.value for s in fam.samples
           if s.name == name and s.labels == labels]
    assert len(got) == 1, (name, labels, fam.samples)
    return got[0]


def test_every_family_parses_with_its_type(families):
    assert {n: f.type for n, f in families.items()} == FAMILIES
    for f in families.values():
        assert f.documentation, f.name


def test_tenant_labels_read_back(families):
    msgs = families["relais_tenant_messages"]
    assert value(msgs, "relais_tenant_messages_total", tenant="shop") == 1
    assert value(msgs, "relais_tenant_messages_total",
                 tenant='odd "tenant"') == 1
    rcpts = families["relais_tenant_recipients"]
    assert value(rcpts, "relais_tenant_recipients_total", tenant="shop") == 3


def test_label_values_read_back(families):
    rec = families["relais_messages_received"]
    assert value(rec, "relais_messages_received_total", listener="mx") == 1
    assert value(rec, "relais_messages_received_total",
                 listener='odd "name"\\with\nnewline') == 1
    assert value(rec, "relais_messages_received_total",
                 listener="submission") == 0
    sess = families["relais_smtp_sessions"]
    assert value(sess, "relais_smtp_sessions_total", listener="submission",
                 tls="yes") == 1
    assert value(sess, "relais_smtp_sessions_total", listener="mx",
                 tls="no") == 1
    dfr = families["relais_recipients_deferred"]
    assert value(dfr, "relais_recipients_deferred_total",
                 domain="\u00e9xample.test") == 1
    out = families["relais_outbound_connections"]
    assert value(out, "relais_outbound_connections_total",
                 domain="[smarthost]", tls="no") == 1
    assert value(out, "relais_outbound_connections_total",
                 domain="example.org", tls="yes") == 1


def test_gauges(families):
    assert value(families["relais_smtp_sessions_open"],
                 "relais_smtp_sessions_open", listener="mx") == 2
    assert value(families["relais_queue_recipients"],
                 "relais_queue_recipients") == 42
    assert value(families["relais_queue_oldest_age_seconds"],
                 "relais_queue_oldest_age_seconds") == 77
    assert value(families["relais_metrics_domains"],
                 "relais_metrics_domains") == 4
    assert value(families["relais_site_suspended"], "relais_site_suspended",
                 site="mx.example.org") == 1
    assert value(families["relais_site_suspended"], "relais_site_suspended",
                 site="gmail") == 0
    assert value(families["relais_site_rate"], "relais_site_rate",
                 site="gmail") == 0.5


def histograms(fam):
    """{fixed labels: ([(le, count)...], sum, count)}"""
    series = {}
    for s in fam.samples:
        labels = dict(s.labels)
        le = labels.pop("le", None)
        key = tuple(sorted(labels.items()))
        h = series.setdefault(key, {"buckets": [], "sum": None,
                                    "count": None})
        if s.name.endswith("_bucket"):
            h["buckets"].append((float(le), s.value))
        elif s.name.endswith("_sum"):
            h["sum"] = s.value
        elif s.name.endswith("_count"):
            h["count"] = s.value
    return series


def test_histograms_cumulative(families):
    commit = histograms(families["relais_spool_commit_seconds"])
    assert list(commit) == [()]
    h = commit[()]
    les = [le for le, _ in h["buckets"]]
    assert les == sorted(les) and les[0] == 0.0005 and les[-2] == 10
    assert math.isinf(les[-1])
    counts = [c for _, c in h["buckets"]]
    assert counts == sorted(counts)
    # 0.0042 and 12.5 observed
    assert dict(h["buckets"])[0.0025] == 0
    assert dict(h["buckets"])[0.005] == 1
    assert dict(h["buckets"])[10] == 1
    assert counts[-1] == h["count"] == 2
    assert h["sum"] == pytest.approx(12.5042)

    dns = histograms(families["relais_dns_query_seconds"])
    assert sorted(dict(k)["type"] for k in dns) == sorted(
        ["A", "AAAA", "MX", "TXT", "TLSA", "PTR", "other"])
    for key, h in dns.items():
        counts = [c for _, c in h["buckets"]]
        assert counts == sorted(counts), key
        assert counts[-1] == h["count"], key
    assert dns[(("type", "A"),)]["count"] == 1
    assert dict(dns[(("type", "A"),)]["buckets"])[0.025] == 0
    assert dict(dns[(("type", "A"),)]["buckets"])[0.05] == 1
    assert dns[(("type", "other"),)]["sum"] == pytest.approx(0.0001)
