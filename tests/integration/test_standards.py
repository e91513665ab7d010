"""Standards edge cases through `relais spf` and `relais dmarc` against the
test DNS server: TXT answers of every shape (RFC 7208 3.3 and 4.5, RFC 1035
3.3.14), answers malformed at the message level (compression loops,
pointers past the end, wrong rdlength), a UDP answer truncated with TC=1
that must be retried over TCP (RFC 7766 5, RFC 1035 4.2.1), and DMARC
policy records as RFC 7489 6.6.3 and RFC 9091 (np=) treat them. Each test
names the section it pins; docs/reliability.md ("Standards edge cases")
lists them."""

import re
import struct
import subprocess

import pytest

from conftest import relais_bin
from dnsserver import DNSServer, RawTXT, TruncateUDP, Wire, reply_wire, rr_wire

CLIENT = "192.0.2.1"
TXT = 16


def run(*args, input=None, timeout=60):
    p = subprocess.run([str(relais_bin()), *args], input=input,
                       capture_output=True, timeout=timeout)
    err = p.stderr.decode("utf-8", "replace")
    assert "Sanitizer" not in err and "runtime error" not in err, err
    return p


def strings(*parts):
    """TXT rdata: each part one character-string (bytes, <= 255 octets)."""
    out = b""
    for s in parts:
        assert len(s) <= 255
        out += bytes([len(s)]) + s
    return out


def padded(head, length, tail=b""):
    """A character-string of exactly length octets, spaces in between."""
    return head + b" " * (length - len(head) - len(tail)) + tail


# -- message-level shapes (Wire values) ------------------------------------

def _question_len(request):
    return len(reply_wire(request)) - 12


def loop_owner(request, tcp):
    """The answer's owner name is a compression pointer to itself."""
    at = 12 + _question_len(request)
    owner = struct.pack("!H", 0xC000 | at)
    return reply_wire(request, rr_wire(owner, TXT, strings(b"v=spf1 +all")), 1)


def loop_second(request, tcp):
    """A valid SPF record, then a record whose owner is a pointer to
    itself."""
    first = rr_wire(b"\xc0\x0c", TXT, strings(b"v=spf1 +all"))
    at = 12 + _question_len(request) + len(first)
    second = rr_wire(struct.pack("!H", 0xC000 | at), TXT, strings(b"x"))
    return reply_wire(request, first + second, 2)


def pointer_past_end(request, tcp):
    return reply_wire(request, rr_wire(b"\xff\xff", TXT,
                                       strings(b"v=spf1 +all")), 1)


def rdlength_long(request, tcp):
    """rdlength claims more octets than the message holds."""
    rd = strings(b"v=spf1 +all")
    return reply_wire(request, rr_wire(b"\xc0\x0c", TXT, rd, len(rd) + 40), 1)


def rdlength_short(request, tcp):
    """rdlength stops inside the string: the rest reads as garbage."""
    rd = strings(b"v=spf1 +all")
    return reply_wire(request, rr_wire(b"\xc0\x0c", TXT, rd, 4), 1)


def ancount_high(request, tcp):
    """ANCOUNT says 2, the message holds 1 record."""
    return reply_wire(request, rr_wire(b"\xc0\x0c", TXT,
                                       strings(b"v=spf1 +all")), 2)


SPF_ZONE = {
    # RFC 7208 3.3: strings of one record joined without spaces
    "split.example.net": {"TXT": RawTXT(strings(b"v=spf1 ip4:192.0.2.", b"1 -all"))},
    "split-version.example.net": {"TXT": RawTXT(strings(b"v=sp", b"f1 +all"))},
    "split-nospace.example.net": {"TXT": RawTXT(strings(b"v=spf1", b"+all"))},
    # RFC 1035 3.3.14 shapes: empty strings, empty rdata, 0..255 octets
    "empty-strings.example.net": {"TXT": RawTXT(strings(b"", b"v=spf1 +all", b"", b""))},
    "zero-only.example.net": {"TXT": RawTXT(b"\x00")},
    "empty-rdata.example.net": {"TXT": [RawTXT(b""), "v=spf1 +all"]},
    "empty-rdata-only.example.net": {"TXT": RawTXT(b"")},
    "s255.example.net": {"TXT": RawTXT(strings(padded(b"v=spf1", 255, b"+all")))},
    "lengths.example.net": {"TXT": RawTXT(strings(
        b"", b"v=spf1", *[padded(b"", n, b"+all" if n == 255 else b"")
                          for n in range(1, 256) if n != 6]))},
    "many.example.net": {"TXT": RawTXT(strings(
        *[bytes([c]) for c in b"v=spf1"], *[b" "] * 1500, *[bytes([c]) for c in b"-all"]))},
    # a big record: 40 strings of 255 octets (10 KB, over any UDP size)
    "big.example.net": {"TXT": RawTXT(strings(*[
        padded((b"v=spf1 " if i == 0 else b"") + b"ip4:198.51.100.%d" % i,
               255, b"ip4:192.0.2.1 -all" if i == 39 else b"")
        for i in range(40)]))},
    # RFC 7208 4.5: selecting the record
    "spf10.example.net": {"TXT": "v=spf10 +all"},
    "upper.example.net": {"TXT": "V=SPF1 +all"},
    "tab.example.net": {"TXT": "v=spf1\t+all"},
    "mixed.example.net": {"TXT": ["hello", "v=spf10 -all", "v=DMARC1; p=reject",
                                  "spf1 -all", "v=spf1 +all", ""]},
    "two.example.net": {"TXT": ["v=spf1 -all", RawTXT(strings(b"v=spf1", b" +all"))]},
    # malformed rdata inside a well-formed message: dropped, the rest kept
    "overrun.example.net": {"TXT": [RawTXT(b"\x0aabc"), "v=spf1 +all"]},
    "overrun-spf.example.net": {"TXT": [RawTXT(strings(b"v=spf1 +all") + b"\x05x"),
                                        "v=spf1 -all"]},
    "overrun-only.example.net": {"TXT": RawTXT(b"\x0aabc")},
    "pointer-text.example.net": {"TXT": [RawTXT(strings(b"x\xc0\x0cy")), "v=spf1 +all"]},
    # message-level damage: libunbound refuses the message
    "loop-owner.example.net": Wire(loop_owner),
    "loop-second.example.net": Wire(loop_second),
    "past-end.example.net": Wire(pointer_past_end),
    "rdlength-long.example.net": Wire(rdlength_long),
    "rdlength-short.example.net": Wire(rdlength_short),
    "ancount-high.example.net": Wire(ancount_high),
    # RFC 7766 5 / RFC 1035 4.2.1: TC=1 over UDP, the answer over TCP
    "tc.example.net": TruncateUDP({"TXT": "v=spf1 ip4:192.0.2.1 -all"}),
    "tc-partial.example.net": TruncateUDP(
        {"TXT": ["v=spf1 -all", "v=spf1 ip4:192.0.2.1 -all"]}, keep=1),
}


@pytest.fixture(scope="module")
def dns():
    with DNSServer(dict(SPF_ZONE)) as server:
        yield server


def spf(dns, domain, timeout=3):
    p = run("spf", "--ip", CLIENT, "--sender", f"a@{domain}", "--helo",
            "h.example.net", "--resolver", dns.address, "--timeout",
            str(timeout))
    assert p.returncode == 0, p.stderr
    return p.stdout.decode().split("\n")[0], p.stderr.decode()


@pytest.mark.parametrize("domain,want", [
    ("split.example.net", "pass"),            # 3.3: no space added
    ("split-version.example.net", "pass"),    # 3.3: even inside v=spf1
    ("split-nospace.example.net", "none"),    # 3.3, 4.5: "v=spf1+all"
    ("empty-strings.example.net", "pass"),    # 3.3: "" adds nothing
    ("zero-only.example.net", "none"),        # 4.5: no v=spf1 record
    ("s255.example.net", "pass"),             # 3.3: a 255-octet string
    ("lengths.example.net", "pass"),          # 3.3: every length 0..255
    ("many.example.net", "fail"),             # 3.3: 1510 strings
    ("big.example.net", "pass"),              # 3.3: 10 KB, via TCP
    ("spf10.example.net", "none"),            # 4.5: "v=spf10" discarded
    ("upper.example.net", "pass"),            # 4.5, 12: any case
    ("tab.example.net", "none"),              # 4.5: SP or end after v=spf1
    ("mixed.example.net", "pass"),            # 4.5: others discarded
    ("two.example.net", "permerror"),         # 4.5: two records
    ("overrun.example.net", "pass"),          # malformed rdata dropped
    ("overrun-spf.example.net", "fail"),      # ... and not a 2nd record
    ("pointer-text.example.net", "pass"),     # 0xc0 0x0c in TXT is text
])
def test_spf_txt_shapes(dns, domain, want):
    """RFC 7208 3.3 and 4.5 on answers of every shape; none gives a
    temperror while a valid SPF record is in the answer."""
    got, err = spf(dns, domain)
    assert got == want, err


def test_spf_big_record_came_over_tcp(dns):
    """A 10 KB TXT answer does not fit UDP: the server sets TC=1 and the
    resolver asks again over TCP (RFC 7766 5)."""
    dns.clear_queries()
    dns.transports.clear()
    assert spf(dns, "big.example.net")[0] == "pass"
    seen = {t for n, q, t in dns.transports if n == "big.example.net"}
    assert seen == {"udp", "tcp"}, dns.transports


@pytest.mark.parametrize("domain", ["tc.example.net", "tc-partial.example.net"])
def test_spf_truncated_udp_retried_over_tcp(dns, domain):
    """RFC 1035 4.2.1, RFC 7766 5: a UDP answer with TC=1 (empty, or with
    one of its two records) is not used; the full answer comes over TCP.
    tc-partial would be a fail with only the UDP part: its TCP answer has
    two SPF records, a permerror (RFC 7208 4.5)."""
    dns.transports.clear()
    got, err = spf(dns, domain)
    assert got == ("pass" if domain == "tc.example.net" else "permerror"), err
    seen = [t for n, q, t in dns.transports if n == domain and q == "TXT"]
    assert "udp" in seen and "tcp" in seen, dns.transports


@pytest.mark.parametrize("domain", ["empty-rdata.example.net",
                                    "empty-rdata-only.example.net"])
def test_spf_empty_rdata_refused_by_libunbound(dns, domain):
    """A TXT record with rdlength 0 (no character-string at all, which RFC
    1035 3.3.14 does not allow) makes libunbound (1.17) answer SERVFAIL
    for the whole RRset, the valid SPF record beside it included: nothing
    reaches our parser (which would read it as an empty text, see
    test_dns_rdata.c), and RFC 7208 4.4 makes a SERVFAIL a temperror. Pinned
    so that a libunbound that passes such records on is noticed: then the
    first case must become a pass (test_spf_eval.c already says so)."""
    got, err = spf(dns, domain)
    assert got == "temperror", err


def test_spf_rdata_all_malformed_is_temperror(dns):
    """Every rdata of the RRset malformed (a string running past its
    rdlength): no record can be read, as when a strict resolver answers
    SERVFAIL; RFC 7208 4.4: temperror."""
    got, err = spf(dns, "overrun-only.example.net")
    assert got == "temperror", err


@pytest.mark.parametrize("domain", [
    "loop-owner.example.net", "loop-second.example.net",
    "past-end.example.net", "rdlength-long.example.net",
    "rdlength-short.example.net", "ancount-high.example.net",
])
def test_spf_malformed_message(dns, domain):
    """Damage at the message level (RFC 1035 4.1.4 pointers that loop or
    point past the end, an rdlength past the end, an ANCOUNT too high):
    libunbound refuses the whole message (SERVFAIL), nothing of it reaches
    our parser, and the lookup ends as a DNS error (RFC 7208 4.4:
    temperror), without a crash. An rdlength that stops inside the string
    does reach us (libunbound ignores the trailing octets): the rdata
    "\x0bv=s" is malformed and dropped, leaving nothing: temperror too.
    The same record served correctly passes (split.example.net above)."""
    got, err = spf(dns, domain)
    assert got == "temperror", err


# -- DMARC: RFC 7489 6.6.3 and RFC 9091 ------------------------------------

AUTHSERV = "mx.relais.example"

DMARC_ZONE = {
    # SPF of the envelope domain: never aligned with the From domains below
    "bounce.example.net": {"TXT": "v=spf1 ip4:192.0.2.0/24 -all"},
    # 6.6.3 step 6: invalid p= / sp=, with and without a valid rua=
    "_dmarc.badp-rua.example.org": {"TXT": "v=DMARC1; p=bogus; rua=mailto:d@example.org"},
    "_dmarc.badp.example.org": {"TXT": "v=DMARC1; p=bogus"},
    "_dmarc.badsp-rua.example.org": {"TXT": "v=DMARC1; p=reject; sp=bogus; rua=mailto:d@example.org"},
    "_dmarc.badsp.example.org": {"TXT": "v=DMARC1; p=reject; sp=bogus"},
    # 6.3: unknown tags and bad optional values ignored
    "_dmarc.lenient.example.org": {"TXT": "v=DMARC1; p=reject; foo=bar; pct=300; adkim=x"},
    # 6.6.3 step 2: not v=DMARC1 first: discarded, then the org domain
    "_dmarc.notfirst.example.com": {"TXT": ["p=none; v=DMARC1", "v=dmarc1; p=none"]},
    "notfirst.example.com": {"A": ["192.0.2.81"]},
    # 6.6.3 step 5: several records at the From domain
    "_dmarc.two.example.org": {"TXT": ["v=DMARC1; p=none", "v=DMARC1; p=reject"]},
    # the org domain's policy for its subdomains, with np= (RFC 9091)
    "_dmarc.example.com": {"TXT": "v=DMARC1; p=none; sp=quarantine; np=reject"},
    "exists.example.com": {"A": ["192.0.2.80"]},
    "mxonly.example.com": {"MX": [(10, "mx.example.net")]},
    "aaaaonly.example.com": {"AAAA": ["2001:db8::80"]},
    "txtonly.example.com": {"TXT": "hello"},
    "broken.example.com": {"A": "SERVFAIL"},
    # the record split over strings and RRs of every shape still counts
    "_dmarc.shapes.example.org": {"TXT": [RawTXT(strings(b"v=DMARC1;", b" p=rej", b"ect")),
                                          RawTXT(b"\x00"), RawTXT(b"\x0aabc")]},
    # a DNS error at the org domain
    "_dmarc.example.info": "SERVFAIL",
}


@pytest.fixture(scope="module")
def dmarc_dns():
    with DNSServer(dict(DMARC_ZONE)) as server:
        yield server


def dmarc(dns, from_domain):
    message = (f"From: a@{from_domain}\r\nTo: b@example.net\r\n"
               f"Subject: x\r\n\r\nbody\r\n").encode()
    p = run("dmarc", "--ip", CLIENT, "--helo", "h.example.net", "--sender",
            "b@bounce.example.net", "--resolver", dns.address,
            "--authserv-id", AUTHSERV, "--timeout", "3", "--pct-sample", "0",
            input=message)
    assert p.returncode == 0, p.stderr
    value = p.stdout.decode().strip()
    word = re.search(r"dmarc=(\w+)", value).group(1)
    disp = re.search(r"disposition=(\w+)", p.stderr.decode()).group(1)
    return word, disp, value


@pytest.mark.parametrize("frm,word,disp", [
    # 6.6.3 step 6.1: no valid p=, valid rua=: as p=none (still evaluated)
    ("badp-rua.example.org", "fail", "none"),
    # 6.6.3 step 6.2: no valid p=, no rua=: no DMARC
    ("badp.example.org", "none", "none"),
    # 6.6.3 step 6: an invalid sp= is treated the same way
    ("badsp-rua.example.org", "fail", "none"),
    ("badsp.example.org", "none", "none"),
    # 6.3: unknown tags, pct=300, adkim=x ignored: p=reject applies
    ("lenient.example.org", "fail", "reject"),
    # 6.6.3 steps 2-3: non-DMARC1 records dropped, org record: sp (exists)
    ("notfirst.example.com", "fail", "quarantine"),
    # 6.6.3 step 5: two records: no DMARC
    ("two.example.org", "none", "none"),
    # 6.6.3 step 1: the org domain's own record: p=
    ("example.com", "fail", "none"),
    # RFC 9091 2.7: A, AAAA or MX: exists -> sp=
    ("exists.example.com", "fail", "quarantine"),
    ("mxonly.example.com", "fail", "quarantine"),
    ("aaaaonly.example.com", "fail", "quarantine"),
    # RFC 9091 2.7 / 3.2: NXDOMAIN or NODATA for all three -> np=
    ("nx.example.com", "fail", "reject"),
    ("deep.nx.example.com", "fail", "reject"),
    ("txtonly.example.com", "fail", "reject"),
    # an A lookup failing is not "non-existent": sp=
    ("broken.example.com", "fail", "quarantine"),
    # RFC 7208 3.3 applies to TXT generally: split strings, odd RRs beside
    ("shapes.example.org", "fail", "reject"),
    # 6.6.3 (DNS errors left to the receiver): temperror
    ("sub.example.info", "temperror", "none"),
])
def test_dmarc_policy_discovery(dmarc_dns, frm, word, disp):
    got_word, got_disp, value = dmarc(dmarc_dns, frm)
    assert (got_word, got_disp) == (word, disp), value


def test_dmarc_np_shown_in_results(dmarc_dns):
    """The Authentication-Results comment shows np= when the record has
    one, and a record read as p=none by 6.6.3 step 6.1 says so."""
    _, _, value = dmarc(dmarc_dns, "nx.example.com")
    assert "p=none sp=quarantine np=reject" in value
    assert "policy.dmarc=reject" in value
    _, _, value = dmarc(dmarc_dns, "badsp-rua.example.org")
    assert "invalid policy, rua: none" in value


def test_dmarc_existence_probed_only_when_needed(dmarc_dns):
    """np= only matters for a subdomain without a record of its own: the
    From domain's A/AAAA/MX are asked then, and not for the org domain
    itself."""
    dmarc_dns.clear_queries()
    dmarc(dmarc_dns, "example.com")
    assert dmarc_dns.count("example.com", "MX") == 0
    dmarc(dmarc_dns, "nx.example.com")
    for t in ("A", "AAAA", "MX"):
        assert dmarc_dns.count("nx.example.com", t) >= 1, dmarc_dns.queries
