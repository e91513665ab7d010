"""
dnsserver.py - a small authoritative DNS server for the integration tests.

It answers on 127.0.0.1, UDP and TCP on the same free port, from a zone held
in a Python dict, so a test can point `relais ... --resolver HOST:PORT` (or
`[dns] resolver`) at it and control every answer:

    from dnsserver import DNSServer

    zone = {
        "example.com": {
            "A": ["192.0.2.1"],
            "AAAA": ["2001:db8::1"],
            "MX": [(10, "mx.example.com")],
            "TXT": ["v=spf1 mx -all"],          # str, bytes, or a list of
        },                                      # strings for one record
        "mx.example.com": {"A": ["192.0.2.25"]},
        "1.2.0.192.in-addr.arpa": {"PTR": ["example.com"]},
        "www.example.com": {"CNAME": "example.com"},
        "broken.example.com": "SERVFAIL",       # every type
        "slow.example.com": "TIMEOUT",          # never answered
        "half.example.com": {"A": ["192.0.2.9"], "TXT": "TIMEOUT"},
        "*.wild.example.com": {"A": ["192.0.2.7"]},
    }
    with DNSServer(zone) as dns:
        run(["relais", "spf", ..., "--resolver", dns.address])
        assert ("example.com", "TXT") in dns.queries

A zone value may also be a list of (TYPE, DATA) pairs, the form the openspf
test suite uses: [("A", "192.0.2.1"), ("TXT", "v=spf1 -all"), "TIMEOUT"].

Semantics: names match case-insensitively; an unknown name is NXDOMAIN
(unless a name below it exists: then it is an empty non-terminal, NOERROR
with no answer); a known name without the type asked is NOERROR/NODATA;
"SERVFAIL" / "TIMEOUT" apply to the whole name or, as the value of one type,
to that type only; "REFUSED" works the same way. A CNAME is followed within
the zone (the chain goes into the answer). TXT strings longer than 255
octets are split into several character-strings of one record. UDP answers
that do not fit the client's EDNS size (512 without EDNS) are truncated
(TC=1), so resolvers retry over TCP, which is served too.

relais's dns.c sends every name to a configured resolver, special-use ones
(*.test, *.invalid, private and documentation reverse zones) included;
libunbound does rotate the order of RRsets, so do not rely on it.

Answer shapes beyond a well-formed zone, for the standards tests:

    "raw.example.com": {"TXT": [RawTXT(b"\x00"), "v=spf1 -all"]},
        # RawTXT(b): a TXT record whose rdata is b, octet for octet
        # (empty rdata, empty or 255-octet strings, a length octet that
        # runs past the end...); the RR's rdlength is len(b)
    "tc.example.com": TruncateUDP({"TXT": "v=spf1 -all"}, keep=1),
        # over UDP: TC=1 and only the first `keep` answer records; over
        # TCP: the whole answer (RFC 7766: resolvers retry over TCP)
    "loop.example.com": Wire(fn),
        # fn(request, tcp) -> the whole reply message in wire form
        # (bytes), or None for no reply: compression loops, pointers
        # past the end, wrong rdlength... reply_wire() and rr_wire()
        # build such messages

The zone can be changed while the server runs (set(), remove(), or
assignment to .zone); every question is appended to .queries as
(name lower-cased, TYPE), and to .transports as (name, TYPE, "udp" or
"tcp"). Loopback only; stop() (or leaving the with block) closes both
sockets and joins the threads.
"""

import ipaddress
import select
import socket
import struct
import threading

from dnslib import (AAAA, CNAME, MX, PTR, QTYPE, RCODE, RD, RR, TXT, A,
                    DNSRecord, DNSLabel, SOA)

SPECIAL = ("SERVFAIL", "TIMEOUT", "REFUSED")


class RawTXT:
    """A TXT record given as its rdata in wire form, octet for octet."""

    def __init__(self, rdata):
        self.rdata = bytes(rdata)


class TruncateUDP:
    """A zone value answered with TC=1 (and only `keep` answer records)
    over UDP, and in full over TCP."""

    def __init__(self, value, keep=0):
        self.value = value
        self.keep = keep


class Wire:
    """A zone value answered by fn(request, tcp) -> reply bytes or None."""

    def __init__(self, fn):
        self.fn = fn


def rr_wire(owner, rtype, rdata, rdlength=None, ttl=60):
    """One resource record in wire form: owner is the encoded name (e.g.
    b"\xc0\x0c", a pointer to the question), rdlength defaults to
    len(rdata) but may lie."""
    if rdlength is None:
        rdlength = len(rdata)
    return owner + struct.pack("!HHIH", rtype, 1, ttl, rdlength) + rdata


def reply_wire(request, answers=b"", ancount=0, tc=False, rcode=0):
    """A reply to request in wire form: its header and question, then the
    answer records given as bytes (see rr_wire) counted as ancount."""
    question = DNSRecord(q=request.q).pack()[12:]
    flags = 0x8400 | (0x0100 if request.header.rd else 0) | \
        (0x0200 if tc else 0) | rcode
    return struct.pack("!HHHHHH", request.header.id, flags, 1, ancount, 0,
                       0) + question + answers


def _labels(name):
    """Tuple of lower-cased label bytes of a name given as str or DNSLabel."""
    if isinstance(name, DNSLabel):
        return tuple(l.lower() for l in name.label)
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    name = name.rstrip(".")
    if not name:
        return ()
    return tuple(l.encode("latin-1").lower() for l in name.split("."))


def _label_obj(name):
    """A DNSLabel from a str name, keeping odd octets (spaces, %...)."""
    if isinstance(name, DNSLabel):
        return name
    name = name.rstrip(".")
    return DNSLabel([l.encode("latin-1") for l in name.split(".")] if name else [])


def _txt_strings(data):
    """TXT data (str, bytes or list of them) to a list of <=255-octet bytes."""
    items = data if isinstance(data, (list, tuple)) else [data]
    out = []
    for item in items:
        b = item.encode("latin-1") if isinstance(item, str) else bytes(item)
        if not b:
            out.append(b"")
        while b:
            out.append(b[:255])
            b = b[255:]
    return out


class DNSServer:
    def __init__(self, zone=None, host="127.0.0.1", port=0, ttl=60):
        self.host = host
        self.ttl = ttl
        self.zone = zone if zone is not None else {}
        self.queries = []
        self.transports = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # one port for both: take a UDP port, then bind TCP to it (retry)
        for _ in range(50):
            self.udp.bind((host, port))
            self.port = self.udp.getsockname()[1]
            try:
                self.tcp.bind((host, self.port))
                break
            except OSError:
                if port:
                    raise
                self.udp.close()
                self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        else:
            raise RuntimeError("no free port for UDP and TCP")
        self.tcp.listen(16)

    # -- lifecycle ---------------------------------------------------------
    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def start(self):
        for target in (self._serve_udp, self._serve_tcp):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []
        self.udp.close()
        self.tcp.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- zone editing ------------------------------------------------------
    def set(self, name, records):
        with self._lock:
            self.zone[name] = records

    def remove(self, name):
        with self._lock:
            self.zone.pop(name, None)

    def clear_queries(self):
        with self._lock:
            self.queries = []

    def count(self, name, qtype=None):
        """How many questions were asked for name (and type)."""
        key = name.rstrip(".").lower()
        with self._lock:
            return sum(1 for n, t in self.queries
                       if n == key and (qtype is None or t == qtype))

    # -- lookup ------------------------------------------------------------
    def _index(self):
        with self._lock:
            return {_labels(k): (k, v) for k, v in self.zone.items()}

    @staticmethod
    def _normalise(value):
        """Zone value to (special or None, {TYPE: [data...] or special})."""
        if isinstance(value, str):
            return value, {}
        if isinstance(value, dict):
            return None, value
        special, types = None, {}
        for item in value:
            if isinstance(item, str):
                special = item
                continue
            rtype, data = item
            if rtype == "SPF":  # the type-99 records of old test suites
                continue
            if data in SPECIAL or data == "NONE":
                types.setdefault(rtype, data)
                continue
            lst = types.setdefault(rtype, [])
            if isinstance(lst, list):
                lst.append(data)
        return special, types

    def _find(self, index, labels):
        hit = index.get(labels)
        if hit is None and labels:
            hit = index.get((b"*",) + labels[1:])
        return hit

    def _rr(self, owner, rtype, data):
        ttl = self.ttl
        if rtype == "A":
            return RR(owner, QTYPE.A, rdata=A(data), ttl=ttl)
        if rtype == "AAAA":
            return RR(owner, QTYPE.AAAA,
                      rdata=AAAA(str(ipaddress.IPv6Address(data))), ttl=ttl)
        if rtype == "MX":
            pref, host = data
            return RR(owner, QTYPE.MX,
                      rdata=MX(_label_obj(host) if host else DNSLabel([]), pref),
                      ttl=ttl)
        if rtype == "TXT":
            if isinstance(data, RawTXT):
                return RR(owner, QTYPE.TXT, rdata=RD(data.rdata), ttl=ttl)
            return RR(owner, QTYPE.TXT, rdata=TXT(_txt_strings(data)), ttl=ttl)
        if rtype == "PTR":
            return RR(owner, QTYPE.PTR, rdata=PTR(_label_obj(data)), ttl=ttl)
        if rtype == "CNAME":
            return RR(owner, QTYPE.CNAME, rdata=CNAME(_label_obj(data)), ttl=ttl)
        raise ValueError(f"unsupported record type {rtype}")

    def resolve(self, request, tcp=False, _untruncated=False):
        """The reply to request (a DNSRecord, or bytes from a Wire value),
        or None to stay silent (TIMEOUT)."""
        q = request.q
        qname, qtype = q.qname, QTYPE[q.qtype]
        lname = b".".join(qname.label).decode("latin-1").lower()
        if not _untruncated:
            with self._lock:
                self.queries.append((lname, qtype))
                self.transports.append((lname, qtype,
                                        "tcp" if tcp else "udp"))
        reply = request.reply()
        reply.header.aa = 1
        index = self._index()
        labels = _labels(qname)
        owner = qname
        for _ in range(9):  # CNAME chain limit
            hit = self._find(index, labels)
            if hit is None:
                exists_below = any(len(k) > len(labels) and
                                   k[len(k) - len(labels):] == labels
                                   for k in index)
                if not exists_below:
                    reply.header.rcode = RCODE.NXDOMAIN
                self._add_soa(reply, owner)
                return reply
            value = hit[1]
            if isinstance(value, Wire):
                return value.fn(request, tcp)
            if isinstance(value, TruncateUDP):
                if not tcp and not _untruncated:
                    full = self.resolve(request, tcp, _untruncated=True)
                    if not isinstance(full, DNSRecord):
                        return full
                    short = request.reply()
                    short.header.aa = 1
                    short.header.tc = 1
                    for rr in full.rr[:value.keep]:
                        short.add_answer(rr)
                    return short
                value = value.value
            special, types = self._normalise(value)
            if special == "TIMEOUT":
                return None
            if special in ("SERVFAIL", "REFUSED"):
                reply.header.rcode = getattr(RCODE, special)
                return reply
            if qtype != "CNAME" and "CNAME" in types:
                target = types["CNAME"]
                target = target[0] if isinstance(target, list) else target
                reply.add_answer(self._rr(owner, "CNAME", target))
                owner = _label_obj(target)
                labels = _labels(target)
                continue
            data = types.get(qtype)
            if data == "TIMEOUT":
                return None
            if data in ("SERVFAIL", "REFUSED"):
                reply.header.rcode = getattr(RCODE, data)
                return reply
            if not data or data == "NONE":
                self._add_soa(reply, owner)
                return reply
            if isinstance(data, (str, bytes, tuple)) and qtype != "TXT":
                data = [data]
            elif qtype == "TXT" and not isinstance(data, list):
                data = [data]
            for item in data:
                reply.add_answer(self._rr(owner, qtype, item))
            return reply
        reply.header.rcode = RCODE.SERVFAIL
        return reply

    def _add_soa(self, reply, owner):
        """A SOA in the authority section, so negative answers are cached
        and read as authoritative. Its owner is the name's last label."""
        labels = _labels(owner)
        apex = DNSLabel(list(labels[-1:])) if labels else DNSLabel([])
        reply.add_auth(RR(apex, QTYPE.SOA, ttl=self.ttl, rdata=SOA(
            "ns.test", "hostmaster.test", (1, 3600, 600, 86400, self.ttl))))

    def _answer(self, data, tcp):
        try:
            request = DNSRecord.parse(data)
        except Exception:
            return None
        if not request.questions:
            return None
        reply = self.resolve(request, tcp)
        if reply is None:
            return None
        if isinstance(reply, bytes):
            return reply
        packed = reply.pack()
        if not tcp:
            limit = 512
            for rr in request.ar:
                if rr.rtype == QTYPE.OPT:
                    limit = max(512, rr.rclass)
            if len(packed) > limit:
                short = request.reply()
                short.header.aa = 1
                short.header.tc = 1
                short.header.rcode = reply.header.rcode
                packed = short.pack()
        return packed

    # -- sockets -----------------------------------------------------------
    def _serve_udp(self):
        while not self._stop.is_set():
            r, _, _ = select.select([self.udp], [], [], 0.1)
            if not r:
                continue
            try:
                data, peer = self.udp.recvfrom(65535)
            except OSError:
                return
            out = self._answer(data, tcp=False)
            if out is not None:
                try:
                    self.udp.sendto(out, peer)
                except OSError:
                    pass

    def _serve_tcp(self):
        while not self._stop.is_set():
            r, _, _ = select.select([self.tcp], [], [], 0.1)
            if not r:
                continue
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve_conn, args=(conn,),
                                 daemon=True)
            t.start()

    def _serve_conn(self, conn):
        conn.settimeout(2.0)
        buf = b""
        try:
            while not self._stop.is_set():
                while len(buf) < 2 or len(buf) < 2 + struct.unpack(
                        "!H", buf[:2])[0]:
                    chunk = conn.recv(65535)
                    if not chunk:
                        return
                    buf += chunk
                n = struct.unpack("!H", buf[:2])[0]
                msg, buf = buf[2:2 + n], buf[2 + n:]
                out = self._answer(msg, tcp=True)
                if out is not None:
                    conn.sendall(struct.pack("!H", len(out)) + out)
        except (OSError, socket.timeout):
            pass
        finally:
            conn.close()
