"""SPF (RFC 7208) through `relais spf --resolver` against the test DNS
server (dnsserver.py): the extended examples of the RFC with their zone
data (appendix B of RFC 7208, appendix A of RFC 4408), the macro examples of
7.4 and the exp= examples of 6.2, every mechanism and modifier, each
processing limit at and past its bound, each error class, the HELO identity
and the command's output contract (issue 5, item 1)."""

import subprocess

import pytest

from conftest import relais_bin
from dnsserver import DNSServer

# RFC 7208 appendix B.0 (the zone every extended example uses)
BASE = {
    "example.com": {"MX": [(10, "mail-a.example.com"), (20, "mail-b.example.com")],
                    "A": ["192.0.2.10", "192.0.2.11"]},
    "amy.example.com": {"A": ["192.0.2.65"]},
    "bob.example.com": {"A": ["192.0.2.66"]},
    "mail-a.example.com": {"A": ["192.0.2.129"]},
    "mail-b.example.com": {"A": ["192.0.2.130"]},
    "www.example.com": {"CNAME": "example.com"},
    "example.org": {"MX": [(10, "mail-c.example.org")]},
    "mail-c.example.org": {"A": ["192.0.2.140"]},
    "10.2.0.192.in-addr.arpa": {"PTR": ["example.com"]},
    "11.2.0.192.in-addr.arpa": {"PTR": ["example.com"]},
    "65.2.0.192.in-addr.arpa": {"PTR": ["amy.example.com"]},
    "66.2.0.192.in-addr.arpa": {"PTR": ["bob.example.com"]},
    "129.2.0.192.in-addr.arpa": {"PTR": ["mail-a.example.com"]},
    "130.2.0.192.in-addr.arpa": {"PTR": ["mail-b.example.com"]},
    "140.2.0.192.in-addr.arpa": {"PTR": ["mail-c.example.org"]},
    # a rogue reverse domain claiming to be bob
    "4.0.0.10.in-addr.arpa": {"PTR": ["bob.example.com"]},
    # B.2 and B.4
    "la.example.org": {"TXT": "v=spf1 include:example.com include:example.net -all"},
    "example.net": {"TXT": "v=spf1 ip4:198.51.100.0/24 -all"},
    "ip4._spf.example.com": {"TXT": "v=spf1 -ip4:192.0.2.0/24 +all"},
    "ptr._spf.example.com": {"TXT": "v=spf1 -ptr:%{d2} +all"},
    # B.3: a DNS block list of users
    "mary.mobile-users._spf.example.com": {"A": ["127.0.0.2"]},
    "fred.mobile-users._spf.example.com": {"A": ["127.0.0.2"]},
    "15.15.168.192.joel.remote-users._spf.example.com": {"A": ["127.0.0.2"]},
    "16.15.168.192.joel.remote-users._spf.example.com": {"A": ["127.0.0.2"]},
    # 6.2
    "explain._spf.example.com": {"TXT": "See http://%{d}/why.html?s=%{S}&i=%{I}"},
}

# everything else: one name per scenario
ZONE = dict(BASE)
ZONE.update({
    # mechanisms one by one
    "all.example.net": {"TXT": "v=spf1 -all"},
    "plusall.example.net": {"TXT": "v=spf1 all"},
    "a.example.net": {"TXT": "v=spf1 a -all", "A": ["203.0.113.1"], "AAAA": ["2001:db8::1"]},
    "a-cidr.example.net": {"TXT": "v=spf1 a:host.a-cidr.example.net/24//64 -all"},
    "host.a-cidr.example.net": {"A": ["203.0.113.200"], "AAAA": ["2001:db8:7:7::1"]},
    "mx.example.net": {"TXT": "v=spf1 mx -all", "MX": [(5, "mx1.mx.example.net"), (10, "mx2.mx.example.net")]},
    "mx1.mx.example.net": {"A": ["203.0.113.21"]},
    "mx2.mx.example.net": {"A": ["203.0.113.22"], "AAAA": ["2001:db8::22"]},
    "nullmx.example.net": {"TXT": "v=spf1 mx ?all", "MX": [(0, "")]},
    "ptr.example.net": {"TXT": "v=spf1 ptr -all"},
    "ptrt.example.net": {"TXT": "v=spf1 ptr:hosts.ptrt.example.net -all"},
    "7.6.5.4.in-addr.arpa": {"PTR": ["mail.hosts.ptrt.example.net", "mail.ptr.example.net", "liar.ptr.example.net"]},
    "mail.hosts.ptrt.example.net": {"A": ["4.5.6.7"]},
    "mail.ptr.example.net": {"A": ["4.5.6.7"]},
    "liar.ptr.example.net": {"A": ["4.5.6.99"]},
    "8.7.6.5.in-addr.arpa": {"PTR": ["liar.ptr.example.net"]},
    "ip4.example.net": {"TXT": "v=spf1 ip4:203.0.113.0/25 ip4:198.51.100.7 -all"},
    "ip6.example.net": {"TXT": "v=spf1 ip6:2001:db8:a::/48 ip6:2001:db8::7 -all"},
    "include.example.net": {"TXT": "v=spf1 include:inc.include.example.net ~all"},
    "inc.include.example.net": {"TXT": "v=spf1 ip4:203.0.113.50 -all"},
    "exists.example.net": {"TXT": "v=spf1 exists:%{ir}.allow.exists.example.net -all"},
    "60.113.0.203.allow.exists.example.net": {"A": ["127.0.0.2"]},
    "redirect.example.net": {"TXT": "v=spf1 ip4:203.0.113.70 redirect=target.redirect.example.net"},
    "target.redirect.example.net": {"TXT": "v=spf1 ip4:203.0.113.71 -all"},
    "exp.example.net": {"TXT": "v=spf1 -all exp=why.exp.example.net"},
    "why.exp.example.net": {"TXT": "%{i} is not one of %{d}'s designated mail servers."},
    "strings.example.net": {"TXT": [["v=spf1 ip4:203.0.113.80", " -all"]]},
    "long.example.net": {"TXT": "v=spf1 " + " ".join(
        f"ip4:198.18.{i}.0/24" for i in range(60)) + " ip4:203.0.113.90 -all"},
    "helo.example.net": {"TXT": "v=spf1 a -all", "A": ["203.0.113.95"]},
    "cname.example.net": {"TXT": "v=spf1 a:www.example.com -all"},
    # limits
    "ten.example.net": {"TXT": "v=spf1 a a a a a include:inc.ten.example.net -all", "A": ["203.0.113.200"]},
    "inc.ten.example.net": {"TXT": "v=spf1 a a a a ip4:203.0.113.100", "A": ["203.0.113.200"]},
    "eleven.example.net": {"TXT": "v=spf1 a a a a a include:inc.eleven.example.net -all", "A": ["203.0.113.200"]},
    "inc.eleven.example.net": {"TXT": "v=spf1 a a a a a ip4:203.0.113.100", "A": ["203.0.113.200"]},
    "redir-loop.example.net": {"TXT": "v=spf1 redirect=redir-loop.example.net"},
    "void2.example.net": {"TXT": "v=spf1 a:nx1.void2.example.net mx:nx2.void2.example.net ?all"},
    "void3.example.net": {"TXT": "v=spf1 a:nx1.void3.example.net mx:nx2.void3.example.net exists:nx3.void3.example.net ?all"},
    "mx10.example.net": {"TXT": "v=spf1 mx -all",
                  "MX": [(i, f"m{i}.mx10.example.net") for i in range(10)]},
    "mx11.example.net": {"TXT": "v=spf1 mx -all",
                  "MX": [(i, f"m{i}.mx11.example.net") for i in range(11)]},
    "ptr10.example.net": {"TXT": "v=spf1 ptr -all"},
    "ptr11.example.net": {"TXT": "v=spf1 ptr -all"},
    "9.9.8.8.in-addr.arpa": {"PTR": [f"h{i}.other.example.net" for i in range(9)] + ["h.ptr10.example.net"]},
    "8.9.8.8.in-addr.arpa": {"PTR": [f"h{i}.other.example.net" for i in range(10)] + ["h.ptr11.example.net"]},
    "h.ptr10.example.net": {"A": ["8.8.9.9"]},
    "h.ptr11.example.net": {"A": ["8.8.9.8"]},
    # error classes
    "servfail.example.net": "SERVFAIL",
    "timeout.example.net": "TIMEOUT",
    "a-servfail.example.net": {"TXT": "v=spf1 a:broken.a-servfail.example.net -all"},
    "broken.a-servfail.example.net": "SERVFAIL",
    "syntax.example.net": {"TXT": "v=spf1 ip4:203.0.113.1 -all moo"},
    "badcidr.example.net": {"TXT": "v=spf1 ip4:203.0.113.1/33 -all"},
    "twice.example.net": {"TXT": ["v=spf1 -all", "v=spf1 +all"]},
    "inc-none.example.net": {"TXT": "v=spf1 include:nospf.example.net -all"},
    "nospf.example.net": {"TXT": "hello, world", "A": ["203.0.113.1"]},
    "redir-none.example.net": {"TXT": "v=spf1 redirect=nowhere.example.net"},
    "inc-perm.example.net": {"TXT": "v=spf1 include:syntax.example.net -all"},
    "nonascii.example.net": {"TXT": b"v=spf1 a:caf\xc3\xa9.example.net -all"},
    "probe.example.net": {"TXT": "v=spf1 ptr -all"},
})

MACRO_EXAMPLES = [
    # RFC 7208 7.4: sender strong-bad@email.example.com, IP 192.0.2.3
    ("%{s}.m", "strong-bad@email.example.com.m"),  # '@' is a valid octet
    ("%{o}.m", "email.example.com.m"),
    ("%{d}.m", "email.example.com.m"),
    ("%{d4}.m", "email.example.com.m"),
    ("%{d3}.m", "email.example.com.m"),
    ("%{d2}.m", "example.com.m"),
    ("%{d1}.m", "com.m"),
    ("%{dr}.m", "com.example.email.m"),
    ("%{d2r}.m", "example.email.m"),
    ("%{l}.m", "strong-bad.m"),
    ("%{l-}.m", "strong.bad.m"),
    ("%{lr}.m", "strong-bad.m"),
    ("%{lr-}.m", "bad.strong.m"),
    ("%{l1r-}.m", "strong.m"),
    ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
    ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
    ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
    ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
    ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
]


def run(*args, timeout=30):
    p = subprocess.run([str(relais_bin()), *args], capture_output=True,
                       text=True, timeout=timeout)
    assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr
    return p


@pytest.fixture(scope="module")
def dns():
    zone = {k: v for k, v in ZONE.items()}
    with DNSServer(zone) as server:
        yield server


@pytest.fixture(scope="module")
def lan_ptr(dns):
    """Does a PTR query for 192.0.2.x reach our server? libunbound answers
    the reverse zones of private and documentation ranges itself unless
    dns.c sets unblock-lan-zones (it does when a resolver is configured)."""
    dns.clear_queries()
    spf(dns, "192.0.2.10", "x@probe.example.net")
    return dns.count("10.2.0.192.in-addr.arpa", "PTR") > 0


def need_lan_ptr(lan_ptr):
    assert lan_ptr, ("libunbound answered 2.0.192.in-addr.arpa itself: with "
                     "[dns] resolver set, dns.c must unblock the LAN zones")


def spf(dns, ip, sender, helo="mail.example.net", timeout=2):
    """(result word, explanation or None, stderr)"""
    p = run("spf", "--ip", ip, "--sender", sender, "--helo", helo,
            "--resolver", dns.address, "--timeout", str(timeout))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split("\n")
    assert lines[0] in ("pass", "fail", "softfail", "neutral", "none",
                        "permerror", "temperror"), p.stdout
    return lines[0], (lines[1] if len(lines) > 2 else None), p.stderr


# --------------------------------------------------------------------------
# RFC 7208 appendix B (RFC 4408 appendix A): extended examples

SIMPLE = [
    ("v=spf1 +all", [("192.0.2.200", "pass"), ("203.0.113.1", "pass")]),
    ("v=spf1 a -all", [("192.0.2.10", "pass"), ("192.0.2.11", "pass"),
                       ("192.0.2.12", "fail")]),
    ("v=spf1 a:example.org -all", [("192.0.2.140", "fail"), ("192.0.2.10", "fail")]),
    ("v=spf1 mx -all", [("192.0.2.129", "pass"), ("192.0.2.130", "pass"),
                        ("192.0.2.10", "fail")]),
    ("v=spf1 mx:example.org -all", [("192.0.2.140", "pass"), ("192.0.2.129", "fail")]),
    ("v=spf1 mx mx:example.org -all", [("192.0.2.129", "pass"), ("192.0.2.130", "pass"),
                                       ("192.0.2.140", "pass"), ("192.0.2.10", "fail")]),
    ("v=spf1 mx/30 mx:example.org/30 -all", [("192.0.2.131", "pass"), ("192.0.2.143", "pass"),
                                             ("192.0.2.132", "fail"), ("192.0.2.139", "fail")]),
    ("v=spf1 ip4:192.0.2.128/28 -all", [("192.0.2.65", "fail"), ("192.0.2.129", "pass")]),
]


@pytest.mark.parametrize("record,checks", SIMPLE, ids=[r for r, _ in SIMPLE])
def test_appendix_b1_simple(dns, record, checks):
    dns.set("example.com", dict(BASE["example.com"], TXT=record))
    for ip, want in checks:
        got, _, err = spf(dns, ip, "someone@example.com")
        assert got == want, f"{record} from {ip}: {got} ({err})"


def test_appendix_b1_ptr(dns, lan_ptr):
    need_lan_ptr(lan_ptr)
    dns.set("example.com", dict(BASE["example.com"], TXT="v=spf1 ptr -all"))
    # valid reverse DNS in example.com; valid but elsewhere; not valid
    for ip, want in [("192.0.2.65", "pass"), ("192.0.2.140", "fail"),
                     ("10.0.0.4", "fail")]:
        assert spf(dns, ip, "someone@example.com")[0] == want, ip


def test_appendix_b2_multiple_domains(dns):
    dns.set("example.com", dict(BASE["example.com"], TXT="v=spf1 mx -all"))
    assert spf(dns, "192.0.2.129", "la@la.example.org")[0] == "pass"
    assert spf(dns, "198.51.100.7", "la@la.example.org")[0] == "pass"
    assert spf(dns, "203.0.113.5", "la@la.example.org")[0] == "fail"


def test_appendix_b3_dnsbl_style(dns):
    dns.set("example.com", dict(BASE["example.com"], TXT=(
        "v=spf1 mx exists:%{l1r+}.mobile-users._spf.%{d} "
        "exists:%{ir}.%{l1r+}.remote-users._spf.%{d} -all")))
    assert spf(dns, "203.0.113.1", "mary@example.com")[0] == "pass"
    assert spf(dns, "203.0.113.1", "fred+lists@example.com")[0] == "pass"
    assert spf(dns, "192.168.15.15", "joel@example.com")[0] == "pass"
    assert spf(dns, "192.168.15.16", "joel+x@example.com")[0] == "pass"
    assert spf(dns, "192.168.15.17", "joel@example.com")[0] == "fail"
    assert spf(dns, "192.0.2.130", "bob@example.com")[0] == "pass"
    assert spf(dns, "203.0.113.1", "bob@example.com")[0] == "fail"


def test_appendix_b4_multiple_requirements(dns, lan_ptr):
    dns.set("example.com", dict(BASE["example.com"], TXT=(
        "v=spf1 -include:ip4._spf.%{d} -include:ptr._spf.%{d} +all")))
    # outside 192.0.2.0/24: fails on the first requirement
    assert spf(dns, "203.0.113.9", "x@example.com")[0] == "fail"
    assert spf(dns, "10.0.0.4", "x@example.com")[0] == "fail"
    need_lan_ptr(lan_ptr)
    # inside, with reverse DNS in example.com / elsewhere
    assert spf(dns, "192.0.2.65", "x@example.com")[0] == "pass"
    assert spf(dns, "192.0.2.140", "x@example.com")[0] == "fail"


# --------------------------------------------------------------------------
# RFC 7208 7.4 (macro examples) and 6.2 (exp=)

@pytest.mark.parametrize("spec,expansion", MACRO_EXAMPLES,
                         ids=[s for s, _ in MACRO_EXAMPLES])
def test_macro_examples(dns, spec, expansion):
    dns.set("email.example.com", {"TXT": f"v=spf1 exists:{spec} -all"})
    dns.set(expansion, {"A": ["127.0.0.2"]})
    try:
        got, _, err = spf(dns, "192.0.2.3", "strong-bad@email.example.com")
        assert got == "pass", f"{spec} should expand to {expansion}: {err}"
    finally:
        dns.remove(expansion)


def test_macro_example_ipv6(dns):
    dns.set("email.example.com", {"TXT": "v=spf1 exists:%{ir}.%{v}._spf.%{d2} -all"})
    name = ("1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
            ".ip6._spf.example.com")
    dns.set(name, {"A": ["127.0.0.2"]})
    try:
        assert spf(dns, "2001:db8::cb01", "strong-bad@email.example.com")[0] == "pass"
    finally:
        dns.remove(name)


def test_exp_examples(dns):
    dns.set("example.com", dict(BASE["example.com"],
                                TXT="v=spf1 mx -all exp=explain._spf.%{d}"))
    got, why, _ = spf(dns, "192.0.2.200", "jack@example.com")
    assert (got, why) == ("fail", "See http://example.com/why.html?"
                                  "s=jack%40example.com&i=192.0.2.200")
    got, why, _ = spf(dns, "203.0.113.77", "joe@exp.example.net")
    assert (got, why) == ("fail", "203.0.113.77 is not one of exp.example.net's "
                                  "designated mail servers.")
    # no explanation with other results
    got, why, _ = spf(dns, "192.0.2.129", "jack@example.com")
    assert (got, why) == ("pass", None)


# --------------------------------------------------------------------------
# every mechanism and modifier

MECHANISMS = [
    ("all", "203.0.113.1", "x@all.example.net", "fail"),
    ("all+", "203.0.113.1", "x@plusall.example.net", "pass"),
    ("a", "203.0.113.1", "x@a.example.net", "pass"),
    ("a-miss", "203.0.113.2", "x@a.example.net", "fail"),
    ("a-aaaa", "2001:db8::1", "x@a.example.net", "pass"),
    ("a-v4mapped", "::ffff:203.0.113.1", "x@a.example.net", "pass"),
    ("a-cidr4", "203.0.113.7", "x@a-cidr.example.net", "pass"),
    ("a-cidr4-miss", "203.0.114.7", "x@a-cidr.example.net", "fail"),
    ("a-cidr6", "2001:db8:7:7:ffff::1", "x@a-cidr.example.net", "pass"),
    ("a-cidr6-miss", "2001:db8:7:8::1", "x@a-cidr.example.net", "fail"),
    ("mx-first", "203.0.113.21", "x@mx.example.net", "pass"),
    ("mx-second", "203.0.113.22", "x@mx.example.net", "pass"),
    ("mx-ipv6", "2001:db8::22", "x@mx.example.net", "pass"),
    ("mx-miss", "203.0.113.23", "x@mx.example.net", "fail"),
    ("mx-null", "203.0.113.23", "x@nullmx.example.net", "neutral"),
    ("ptr", "4.5.6.7", "x@ptr.example.net", "pass"),
    ("ptr-target", "4.5.6.7", "x@ptrt.example.net", "pass"),
    ("ptr-not-validated", "5.6.7.8", "x@ptr.example.net", "fail"),
    ("ip4-net", "203.0.113.127", "x@ip4.example.net", "pass"),
    ("ip4-host", "198.51.100.7", "x@ip4.example.net", "pass"),
    ("ip4-miss", "203.0.113.128", "x@ip4.example.net", "fail"),
    ("ip4-v6-client", "2001:db8::1", "x@ip4.example.net", "fail"),
    ("ip6-net", "2001:db8:a:ffff::1", "x@ip6.example.net", "pass"),
    ("ip6-host", "2001:db8::7", "x@ip6.example.net", "pass"),
    ("ip6-miss", "2001:db8:b::1", "x@ip6.example.net", "fail"),
    ("include-match", "203.0.113.50", "x@include.example.net", "pass"),
    ("include-nomatch", "203.0.113.51", "x@include.example.net", "softfail"),
    ("exists", "203.0.113.60", "x@exists.example.net", "pass"),
    ("exists-miss", "203.0.113.61", "x@exists.example.net", "fail"),
    ("redirect-own", "203.0.113.70", "x@redirect.example.net", "pass"),
    ("redirect-target", "203.0.113.71", "x@redirect.example.net", "pass"),
    ("redirect-fail", "203.0.113.72", "x@redirect.example.net", "fail"),
    ("txt-strings-joined", "203.0.113.80", "x@strings.example.net", "pass"),
    ("tcp-fallback", "203.0.113.90", "x@long.example.net", "pass"),
    ("cname", "192.0.2.11", "x@cname.example.net", "pass"),
    ("case-insensitive", "203.0.113.1", "X@A.EXAMPLE.NET", "pass"),
]


@pytest.mark.parametrize("name,ip,sender,want", MECHANISMS,
                         ids=[m[0] for m in MECHANISMS])
def test_mechanisms(dns, name, ip, sender, want):
    got, _, err = spf(dns, ip, sender)
    assert got == want, err


# --------------------------------------------------------------------------
# processing limits (4.6.4)

LIMITS = [
    ("10-lookups", "x@ten.example.net", "203.0.113.100", "pass"),
    ("11-lookups", "x@eleven.example.net", "203.0.113.100", "permerror"),
    ("redirect-loop", "x@redir-loop.example.net", "203.0.113.100", "permerror"),
    ("2-void", "x@void2.example.net", "203.0.113.100", "neutral"),
    ("3-void", "x@void3.example.net", "203.0.113.100", "permerror"),
    ("10-mx", "x@mx10.example.net", "203.0.113.100", "fail"),
    ("11-mx", "x@mx11.example.net", "203.0.113.100", "permerror"),
    ("10th-ptr-used", "x@ptr10.example.net", "8.8.9.9", "pass"),
]


@pytest.mark.parametrize("name,sender,ip,want", LIMITS, ids=[x[0] for x in LIMITS])
def test_limits(dns, name, sender, ip, want):
    got, _, err = spf(dns, ip, sender)
    assert got == want, err


def test_ptr_names_bounded(dns):
    """Of eleven PTR names only ten are checked (which ten depends on the
    order the resolver hands them over: libunbound rotates RRsets)."""
    dns.clear_queries()
    assert spf(dns, "8.8.9.8", "x@ptr11.example.net")[0] in ("pass", "fail")
    forward = [q for q in dns.queries
               if q[1] == "A" and (q[0].endswith(".other.example.net")
                                   or q[0] == "h.ptr11.example.net")]
    assert len(forward) == 10, forward


def test_mx_address_lookups_bounded(dns):
    """Ten MX names are looked up, never the eleventh."""
    dns.clear_queries()
    assert spf(dns, "203.0.113.100", "x@mx11.example.net")[0] == "permerror"
    assert not [q for q in dns.queries if q[0].endswith(".mx11.example.net")]


# --------------------------------------------------------------------------
# error classes

ERRORS = [
    ("servfail", "x@servfail.example.net", "temperror"),
    ("servfail-in-a", "x@a-servfail.example.net", "temperror"),
    ("syntax", "x@syntax.example.net", "permerror"),
    ("bad-cidr", "x@badcidr.example.net", "permerror"),
    ("two-records", "x@twice.example.net", "permerror"),
    ("include-none", "x@inc-none.example.net", "permerror"),
    ("include-permerror", "x@inc-perm.example.net", "permerror"),
    ("redirect-none", "x@redir-none.example.net", "permerror"),
    ("non-ascii", "x@nonascii.example.net", "permerror"),
    ("no-record", "x@nospf.example.net", "none"),
    ("nxdomain", "x@nxdomain.example.net", "none"),
    ("not-a-domain", "x@localhost", "none"),
    ("empty-label", "x@a..example.net", "none"),
    ("domain-literal", "x@[203.0.113.1]", "none"),
]


@pytest.mark.parametrize("name,sender,want", ERRORS, ids=[e[0] for e in ERRORS])
def test_error_classes(dns, name, sender, want):
    got, why, err = spf(dns, "203.0.113.1", sender)
    assert got == want, err
    assert why is None
    if want in ("permerror", "temperror"):
        assert err.strip(), "an error should say why on stderr"


def test_timeout_is_temperror(dns):
    got, _, err = spf(dns, "203.0.113.1", "x@timeout.example.net", timeout=1)
    assert got == "temperror", err


# --------------------------------------------------------------------------
# identities and the command line

def test_null_sender_checks_helo(dns):
    assert spf(dns, "203.0.113.95", "", helo="helo.example.net")[0] == "pass"
    assert spf(dns, "203.0.113.96", "<>", helo="helo.example.net")[0] == "fail"
    assert spf(dns, "203.0.113.96", "", helo="[203.0.113.96]")[0] == "none"
    assert spf(dns, "203.0.113.96", "", helo="localhost")[0] == "none"


def test_no_local_part_is_postmaster(dns):
    got, why, _ = spf(dns, "203.0.113.1", "@exp.example.net")
    assert got == "fail"
    assert why == "203.0.113.1 is not one of exp.example.net's designated mail servers."


def test_angle_brackets_accepted(dns):
    assert spf(dns, "203.0.113.1", "<x@a.example.net>")[0] == "pass"


@pytest.mark.parametrize("args", [
    [],
    ["--ip", "203.0.113.1", "--sender", "x@a.example.net"],
    ["--ip", "203.0.113.1", "--helo", "h"],
    ["--ip", "300.1.1.1", "--sender", "x@a.example.net", "--helo", "h"],
    ["--ip", "203.0.113.1", "--sender", "x@a.example.net", "--helo", "h", "extra"],
    ["--bogus"],
])
def test_usage_errors(args):
    p = run("spf", *args)
    assert p.returncode == 2
    assert "usage" in p.stderr or "bad" in p.stderr


def test_help():
    p = run("spf", "--help")
    assert p.returncode == 0 and "--resolver" in p.stdout
