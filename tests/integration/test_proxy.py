"""PROXY protocol (v1 and v2) on listeners: relais behind HAProxy.

One relais for the module with three listeners: mx (no proxy_protocol),
pv (proxy_protocol, proxy_from 127.0.0.1) and pvs (the same with implicit
TLS); trusted_networks is 127.0.0.1 only, HAProxy's own address. Two
HAProxy instances (send-proxy-v2 and send-proxy) in front of pv. Clients
bind to other loopback addresses (127.0.0.5 ...) so that their real
address differs from the proxy's. Raw sockets write headers by hand for
what HAProxy never sends. Each test uses its own client addresses, so the
per-address counts of one do not touch another.
"""

import socket
import struct
import time

import pytest

from conftest import (HOST, Relais, SMTPConn, free_port, message,
                      split_headers, tls_client_context, wait_until)
from dnsserver import DNSServer
from haproxy import Backend, HAProxy, haproxy  # noqa: F401 (fixture)
from milter_peer import MilterPeer

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(cmd=1, fam=0x11, src=None, dst=None, sport=0, dport=25,
              tlv=b""):
    """A PROXY v2 header: cmd 0 LOCAL / 1 PROXY; fam 0x11 TCP4, 0x21 TCP6,
    0x00 UNSPEC."""
    body = b""
    if fam == 0x11:
        body = (socket.inet_pton(socket.AF_INET, src) +
                socket.inet_pton(socket.AF_INET, dst) +
                struct.pack("!HH", sport, dport))
    elif fam == 0x21:
        body = (socket.inet_pton(socket.AF_INET6, src) +
                socket.inet_pton(socket.AF_INET6, dst) +
                struct.pack("!HH", sport, dport))
    body += tlv
    return V2_SIG + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(body)) + body


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("proxy")
    dns = DNSServer({
        # SPF passes only for the real client, never for HAProxy (127.0.0.1)
        "spf.test": {"TXT": "v=spf1 ip4:127.0.0.5 ip4:127.0.0.6 -all"},
    }).start()
    peer = MilterPeer().start()
    r = Relais(root / "relais")
    r.pv_port = free_port()
    r.pvs_port = free_port()
    r.pvm_port = free_port()
    r.write_config(overrides={
        "listener pv": {"address": f"{HOST}:{r.pv_port}", "role": "mx",
                        "proxy_protocol": "yes", "proxy_from": "127.0.0.1/32"},
        "listener pvs": {"address": f"{HOST}:{r.pvs_port}", "role": "mx",
                         "tls": "implicit", "proxy_protocol": "yes",
                         "proxy_from": "127.0.0.1"},
        "listener pvm": {"address": f"{HOST}:{r.pvm_port}", "role": "mx",
                         "proxy_protocol": "yes", "proxy_from": "127.0.0.1",
                         "milters": peer.address},
        "relay": {"trusted_networks": "127.0.0.1/32"},
        "dns": {"resolver": dns.address},
        "limits": {"max_connections_per_ip": "3"},
    })
    haps = []
    try:
        r.start()
        for mode in ("v2", "v1"):
            haps.append(HAProxy(root / f"hap-{mode}",
                                [Backend(HOST, r.pv_port)],
                                send_proxy=mode).start())
        yield {"relais": r, "v2": haps[0], "v1": haps[1], "milter": peer}
    finally:
        for h in haps:
            h.stop()
        problems = r.teardown()
        peer.stop()
        dns.stop()
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)


def conn(port, source, **kw):
    return SMTPConn(port, source=source, **kw)


def raw(port, source=HOST, timeout=10.0):
    return socket.create_connection((HOST, port), timeout=timeout,
                                    source_address=(source, 0))


def closed_silently(sock, timeout=10.0):
    """The server closes sock without sending an octet."""
    sock.settimeout(timeout)
    got = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass
    assert got == b"", f"the server replied {got!r}"
    return True


def send_mail(c, token, sender="sender@spf.test", rcpt="alice@example.test"):
    c.ehlo()
    c.expect(f"MAIL FROM:<{sender}>", 250)
    c.expect(f"RCPT TO:<{rcpt}>", 250)
    c.expect("DATA", 354)
    c.send(message(token, sender=sender, to=rcpt).encode() + b".\r\n")
    c.expect(None, 250)
    c.expect("QUIT", 221)


@pytest.mark.parametrize("mode,client", [("v2", "127.0.0.5"), ("v1", "127.0.0.6")])
def test_mail_through_haproxy_shows_the_real_client(env, mode, client, unique):
    r, hap = env["relais"], env[mode]
    off = r.log_offset()
    tok = unique(f"hap-{mode}")
    c = conn(hap.port, client)
    assert c.greeting.code == 220, c.greeting
    send_mail(c, tok)
    c.close()
    files = r.find_token(tok, timeout=10)
    assert files, "not delivered"
    heads, _ = split_headers(files[0].read_bytes())
    received = [h for h in heads if h.startswith("Received:")]
    assert received and f"[{client}]" in received[0], received
    assert all("127.0.0.1" not in h for h in received), received
    # SPF ran on the real client: the record lists it, not HAProxy
    ar = " ".join(h for h in heads if h.startswith("Authentication-Results:"))
    assert "spf=pass" in ar, ar
    r.wait_log(rf"event=smtp\.connect session=\d+ client={client} "
               rf"listener=pv proxy=127\.0\.0\.1\b", since=off)
    r.wait_log(rf"event=received id=\S+ .*client={client} listener=pv",
               since=off)


def test_per_ip_limit_counts_the_real_client(env):
    """max_connections_per_ip = 3: the fourth from 127.0.0.7 is refused,
    while 127.0.0.8 (the fourth connection from HAProxy) is not."""
    r, hap = env["relais"], env["v2"]
    off = r.log_offset()
    held = [conn(hap.port, "127.0.0.7") for _ in range(3)]
    try:
        for c in held:
            assert c.greeting.code == 220, c.greeting
        extra = conn(hap.port, "127.0.0.7")
        assert extra.greeting.code == 421, extra.greeting
        assert "from your address" in extra.greeting.text
        extra.close()
        other = conn(hap.port, "127.0.0.8")
        assert other.greeting.code == 220, other.greeting
        other.expect("QUIT", 221)
        other.close()
        r.wait_log(r"event=limit\.max_connections_per_ip client=127\.0\.0\.7 "
                   r"listener=pv", since=off)
    finally:
        for c in held:
            c.close()


def test_trusted_proxy_does_not_make_its_clients_trusted(env):
    """trusted_networks holds HAProxy's address: relaying is still refused
    to a client whose own address is not trusted; the trusted one (HAProxy's
    host itself as a client) may relay."""
    r, hap = env["relais"], env["v2"]
    c = conn(hap.port, "127.0.0.9")
    c.ehlo()
    c.expect("MAIL FROM:<a@spf.test>", 250)
    c.expect("RCPT TO:<someone@elsewhere.test>", 554, "5.7.1")
    c.expect("QUIT", 221)
    c.close()
    c = conn(env["v1"].port, "127.0.0.9")
    c.ehlo()
    c.expect("MAIL FROM:<a@spf.test>", 250)
    c.expect("RCPT TO:<someone@elsewhere.test>", 554, "5.7.1")
    c.close()
    t = conn(hap.port, HOST)
    t.ehlo()
    t.expect("MAIL FROM:<a@spf.test>", 250)
    t.expect("RCPT TO:<someone@elsewhere.test>", 250)
    t.expect("RSET", 250)
    t.expect("QUIT", 221)
    t.close()


def test_peer_not_in_proxy_from_is_refused(env):
    r = env["relais"]
    off = r.log_offset()
    s = raw(r.pv_port, "127.0.0.12")
    try:
        s.sendall(v2_header(src="127.0.0.5", dst=HOST, sport=1234))
    except OSError:
        pass
    assert closed_silently(s)
    s.close()
    r.wait_log(r"event=proxy\.refused session=\d+ peer=127\.0\.0\.12 "
               r"listener=pv", since=off)


@pytest.mark.parametrize("name,data,reason", [
    ("garbage", b"EHLO client.test\r\n", "not a PROXY protocol header"),
    ("tls hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "not a PROXY"),
    ("v2 oversize", V2_SIG + b"\x21\x11" + struct.pack("!H", 2000) + bytes(64),
     "over 1024"),
    ("v2 version 1", V2_SIG + b"\x11\x11\x00\x0c" + bytes(12), "version"),
    ("v2 udp", V2_SIG + b"\x21\x12\x00\x0c" + bytes(12), "unsupported"),
    ("v1 overlong", b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n", "over 107"),
    ("v1 bad port", b"PROXY TCP4 127.0.0.5 127.0.0.1 0123 25\r\n", "bad port"),
    ("v1 bad address", b"PROXY TCP4 127.0.0.500 127.0.0.1 1 25\r\n",
     "bad address"),
])
def test_bad_header_closes_silently(env, name, data, reason):
    r = env["relais"]
    off = r.log_offset()
    s = raw(r.pv_port)
    s.sendall(data)
    assert closed_silently(s)
    s.close()
    m = r.wait_log(r"event=proxy\.bad session=\d+ peer=127\.0\.0\.1 "
                   r'listener=pv reason="([^"]*)"', since=off)
    assert reason in m.group(1), m.group(0)


def test_truncated_header_is_logged(env):
    r = env["relais"]
    off = r.log_offset()
    s = raw(r.pv_port)
    s.sendall(v2_header(src="127.0.0.5", dst=HOST)[:20])
    s.shutdown(socket.SHUT_WR)
    assert closed_silently(s)
    s.close()
    r.wait_log(r'event=proxy\.bad session=\d+ peer=127\.0\.0\.1 listener=pv '
               r'reason="closed within the header"', since=off)


def test_slow_header_times_out(env):
    """10 s for the whole header: one that stops half-way and one that
    trickles an octet a second are both closed, silently."""
    r = env["relais"]
    off = r.log_offset()
    line = b"PROXY TCP4 127.0.0.5 127.0.0.1 1234 25\r\n"
    stalled = raw(r.pv_port, timeout=20)
    stalled.sendall(line[:10])
    trickle = raw(r.pv_port, timeout=20)
    trickle.setblocking(False)
    sent, closed = 0, False
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and sent < len(line) - 2:
        try:
            trickle.send(line[sent:sent + 1])
            sent += 1
        except OSError:
            closed = True
            break
        try:
            if trickle.recv(1) == b"":
                closed = True
                break
        except BlockingIOError:
            pass
        except ConnectionResetError:
            closed = True
            break
        time.sleep(0.5)
    trickle.setblocking(True)
    assert closed or closed_silently(trickle, timeout=5), \
        "the trickled header was never cut off"
    assert sent < len(line) - 2, "the whole trickled header was taken"
    assert closed_silently(stalled, timeout=15)
    stalled.close()
    trickle.close()
    wait_until(lambda: len(r.log_events("proxy.timeout", since=off)) >= 2, 5,
               what="two event=proxy.timeout lines")


def test_v2_local_keeps_the_socket_address(env):
    """LOCAL (HAProxy's health check): the peer's own address stays."""
    r = env["relais"]
    off = r.log_offset()
    s = raw(r.pv_port)
    s.sendall(v2_header(cmd=0, fam=0x00))
    c = adopt(s)
    c.check(c.reply(), 220)
    c.ehlo()
    c.expect("QUIT", 221)
    c.close()
    r.wait_log(r"event=smtp\.connect session=\d+ client=127\.0\.0\.1 "
               r"listener=pv proxy=127\.0\.0\.1", since=off)


def adopt(sock):
    """An SMTPConn over a socket that already sent its header."""
    c = SMTPConn.__new__(SMTPConn)
    c.sock, c.timeout, c.buf, c.log, c.eof = sock, 10.0, b"", [], False
    return c


@pytest.mark.parametrize("src,shown", [
    ("2001:db8::5", "2001:db8::5"),
    ("::ffff:127.0.0.13", "127.0.0.13"),
])
def test_v2_ipv6_client(env, src, shown, unique):
    r = env["relais"]
    off = r.log_offset()
    tok = unique("v6")
    s = raw(r.pv_port)
    # the header and the client's first command in one segment
    s.sendall(v2_header(fam=0x21, src=src, dst="2001:db8::1", sport=4242,
                        tlv=b"\x01\x00\x02h2"))
    c = adopt(s)
    c.check(c.reply(), 220)
    send_mail(c, tok, sender="someone@nowhere.test")
    c.close()
    files = r.find_token(tok, timeout=10)
    assert files
    heads, _ = split_headers(files[0].read_bytes())
    received = [h for h in heads if h.startswith("Received:")]
    assert f"[{shown}]" in received[0], received
    r.wait_log(rf"event=smtp\.connect session=\d+ client={shown} listener=pv "
               rf"proxy=127\.0\.0\.1", since=off)


def test_implicit_tls_after_the_header(env):
    """On a tls = implicit listener the header comes before the handshake."""
    r = env["relais"]
    off = r.log_offset()
    s = raw(r.pvs_port)
    s.sendall(v2_header(src="127.0.0.14", dst=HOST, sport=5555, dport=465))
    ts = tls_client_context().wrap_socket(s, server_hostname="mx.test")
    c = adopt(ts)
    c.check(c.reply(), 220)
    c.ehlo()
    c.expect("QUIT", 221)
    c.close()
    r.wait_log(r"event=smtp\.connect session=\d+ client=127\.0\.0\.14 "
               r"listener=pvs proxy=127\.0\.0\.1 tls=implicit", since=off)


def test_milters_see_the_real_client(env):
    r, peer = env["relais"], env["milter"]
    s = raw(r.pvm_port)
    s.sendall(v2_header(src="127.0.0.17", dst="127.0.0.3", sport=4711,
                        dport=25))
    c = adopt(s)
    c.check(c.reply(), 220)
    c.ehlo()
    c.expect("QUIT", 221)
    c.close()
    wait_until(lambda: peer.args("connect"), 10, what="the milter's connect")
    host, family, port, addr = peer.args("connect")[0][:4]
    assert (host, family, port, addr) == ("[127.0.0.17]", "4", 4711,
                                          "127.0.0.17")
    assert peer.macro("{client_addr}") == ["127.0.0.17"]
    assert peer.macro("{client_port}") == ["4711"]
    assert peer.macro("{daemon_addr}") == ["127.0.0.3"]


def test_listener_without_proxy_protocol_sees_an_unknown_command(env):
    r = env["relais"]
    c = conn(r.port, HOST)
    assert c.greeting.code == 220
    c.expect("PROXY TCP4 127.0.0.5 127.0.0.1 1234 25", 500)
    c.ehlo()
    c.expect("QUIT", 221)
    c.close()


def test_haproxy_health_checks_send_local(env, haproxy, unique):  # noqa: F811
    """check + check-send-proxy with option smtpchk: HAProxy's checks
    arrive as LOCAL, get the greeting, and the server stays up."""
    r = env["relais"]
    off = r.log_offset()
    hap = haproxy([Backend(HOST, r.pv_port, check=True)], send_proxy="v2",
                  smtpchk=True, inter="200ms")
    r.wait_log(r"event=proxy\.header session=\d+ peer=127\.0\.0\.1 version=2 "
               r"command=local", since=off)
    tok = unique("chk")
    c = conn(hap.port, "127.0.0.5")
    assert c.greeting.code == 220
    send_mail(c, tok)
    c.close()
    assert r.find_token(tok, timeout=10)
    assert "proxy.bad" not in r.log()[off:]


def test_proxy_protocol_needs_proxy_from(tmp_path):
    r = Relais(tmp_path / "bad")
    r.write_config(overrides={"listener mx": {"proxy_protocol": "yes"}})
    out = r.cli("check-config", "-c", str(r.conf_path))
    assert out.returncode != 0
    assert "proxy_protocol = yes needs proxy_from" in out.stdout + out.stderr


def test_proxy_from_follows_a_reload(env):
    """Last: proxy_from changes on SIGHUP like role and tls."""
    r = env["relais"]
    r.write_config(overrides=dict(r.overrides, **{
        "listener pv": dict(r.overrides["listener pv"],
                            proxy_from="127.0.0.15/32")}))
    assert r.reload() == "event=config.reload"
    off = r.log_offset()
    s = raw(r.pv_port)
    s.sendall(v2_header(src="127.0.0.5", dst=HOST))
    assert closed_silently(s)
    s.close()
    r.wait_log(r"event=proxy\.refused session=\d+ peer=127\.0\.0\.1 ", since=off)
    s = raw(r.pv_port, "127.0.0.15")
    s.sendall(v2_header(src="127.0.0.16", dst=HOST))
    c = adopt(s)
    c.check(c.reply(), 220)
    c.expect("QUIT", 221)
    c.close()
