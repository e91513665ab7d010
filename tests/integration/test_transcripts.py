"""
Golden SMTP transcripts replayed against the daemon.

Each file in transcripts/*.txt is one SMTP session against the default test
configuration (conftest.Relais: hostname mx.test, local domains example.test
and other.test, users alice/bob/carol@example.test and dave@other.test,
aliases info@, team@ (alice+bob), postmaster@other.test and the catch-all
@other.test, max_message_size 1M, max_recipients 5). The connection is
opened before the first line. One directive per line:

  # text            comment; blank lines are ignored
  C: text           send text + CRLF ("C:" alone sends an empty line)
  C< text           send text as raw bytes, nothing appended; escapes
                    \\r \\n \\t \\\\ and \\xHH are decoded
  BDAT text         send "BDAT <n>\\r\\n" + text (escapes decoded, n computed)
  BDAT-LAST text    the same with LAST (text may be empty: "BDAT 0 LAST")
  S: prefix         read the next complete reply (multi-line aware); its last
                    line must start with prefix ("250", "550 5.1.1", "5")
  S* keyword        some line of the last reply, after the code, starts with
                    keyword (case-insensitive); used for EHLO keywords
  S! keyword        no line of the last reply starts with keyword
  S~ regex          re.search(regex) over the last reply's raw text
                    (CRLF turned into LF)
  SILENT seconds    the server sends nothing for that long
  CLOSED            the server closes the connection within 5 s
  DELIVERED domain/user regex
                    within 10 s a message in that Maildir (new/ or cur/)
                    matches regex (re.M, over the file with CRLF -> LF)
  NOTDELIVERED regex
                    after 1 s, no message in any mailbox matches regex

$TOKEN anywhere is replaced by a token unique to the run, so DELIVERED and
NOTDELIVERED find this session's message and no other.

All transcripts share one daemon (module scope) to keep the run short; its
exit status and stderr are checked when the module ends, as for every test.
"""

import re
import time
from pathlib import Path

import pytest

from conftest import Relais, SMTPClosed, SMTPConn, wait_until

DIR = Path(__file__).parent / "transcripts"
FILES = sorted(DIR.glob("*.txt"))


def unescape(s):
    out = bytearray()
    i = 0
    b = s.encode("utf-8")
    while i < len(b):
        c = b[i:i + 1]
        if c == b"\\" and i + 1 < len(b):
            n = b[i + 1:i + 2]
            if n == b"r":
                out += b"\r"
            elif n == b"n":
                out += b"\n"
            elif n == b"t":
                out += b"\t"
            elif n == b"\\":
                out += b"\\"
            elif n == b"x":
                out += bytes([int(b[i + 2:i + 4], 16)])
                i += 2
            else:
                raise ValueError(f"bad escape \\{n.decode()}")
            i += 2
        else:
            out += c
            i += 1
    return bytes(out)


@pytest.fixture(scope="module")
def shared_relais(tmp_path_factory):
    r = Relais(tmp_path_factory.mktemp("transcripts") / "relais").start()
    yield r
    problems = r.teardown()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_transcripts_exist():
    assert len(FILES) >= 12


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript(shared_relais, path):
    r = shared_relais
    assert r.running(), "the shared daemon died in an earlier transcript"
    token = f"T{time.monotonic_ns()}"
    conn = SMTPConn(r.port, read_greeting=False)
    r.conns.append(conn)
    last = None
    try:
        for lineno, raw in enumerate(path.read_text().splitlines(), 1):
            line = raw.replace("$TOKEN", token)
            where = f"{path.name}:{lineno}: {raw}"
            if not line.strip() or line.startswith("#"):
                continue
            if line == "C:" or line.startswith("C: "):
                conn.line(line[3:])
            elif line.startswith("C< "):
                conn.send(unescape(line[3:]))
            elif line.startswith("BDAT-LAST ") or line == "BDAT-LAST":
                data = unescape(line[10:])
                conn.send(f"BDAT {len(data)} LAST\r\n".encode() + data)
            elif line.startswith("BDAT "):
                data = unescape(line[5:])
                conn.send(f"BDAT {len(data)}\r\n".encode() + data)
            elif line.startswith("S: "):
                want = line[3:]
                try:
                    last = conn.reply(timeout=15)
                except SMTPClosed:
                    pytest.fail(f"{where}\nconnection closed\n{conn.transcript()}")
                got = f"{last.code} {last.last}"
                assert got.startswith(want), \
                    f"{where}\nexpected '{want}...', got {last}\n{conn.transcript()}"
            elif line.startswith("S* ") or line.startswith("S! "):
                assert last is not None, f"{where}: no reply read yet"
                kw = line[3:].upper()
                present = any(t.upper().startswith(kw) for t in last.texts)
                if line.startswith("S* "):
                    assert present, f"{where}\n{kw} not in {last}"
                else:
                    assert not present, f"{where}\n{kw} unexpectedly in {last}"
            elif line.startswith("S~ "):
                assert last is not None, f"{where}: no reply read yet"
                text = last.raw.decode("utf-8", "replace").replace("\r\n", "\n")
                assert re.search(line[3:], text), f"{where}\nno match in {last}"
            elif line.startswith("SILENT"):
                secs = float(line.split()[1])
                got = conn.quiet(secs)
                assert got == b"", f"{where}\nserver sent {got!r}\n{conn.transcript()}"
            elif line == "CLOSED":
                assert conn.wait_closed(5), f"{where}\nconnection still open"
            elif line.startswith("DELIVERED "):
                _, box, rx = line.split(" ", 2)
                domain, user = box.split("/")
                pat = re.compile(rx, re.M)

                def found():
                    for p in r.maildir_files(domain, user):
                        text = p.read_bytes().decode("utf-8", "replace").replace("\r\n", "\n")
                        if pat.search(text):
                            return True
                    return False
                try:
                    wait_until(found, 10, what=rx)
                except AssertionError:
                    pytest.fail(f"{where}\nno message in {r.maildir(domain, user)} "
                                f"matches {rx!r}")
            elif line.startswith("NOTDELIVERED "):
                rx = re.compile(line[len("NOTDELIVERED "):], re.M)
                time.sleep(1.0)
                for p in r.all_mail_files():
                    text = p.read_bytes().decode("utf-8", "replace")
                    assert not rx.search(text), f"{where}\n{p} matches"
            else:
                raise AssertionError(f"{where}: unknown directive")
    finally:
        conn.close()
