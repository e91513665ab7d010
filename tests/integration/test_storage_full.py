"""A spool that runs out of space: the message is refused with 452 4.3.1
(insufficient system storage), the client may retry, nothing half-written
is kept, and the daemon goes on serving. Needs root for a small tmpfs."""
import os
import subprocess

import pytest

from conftest import message


@pytest.fixture
def small_fs(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs and must run as root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                   check=True, timeout=30)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False, timeout=30)


def test_body_file_on_full_disk_gets_452(relais_factory, small_fs, unique):
    r = relais_factory(overrides={"server": {"data_dir": str(small_fs / "data")},
                                  "limits": {"max_message_size": "10M"}})
    r.data_dir = small_fs / "data"
    r.start()
    tok = unique("full")
    c = r.conn()
    c.ehlo()
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    big = ("x" * 76 + "\r\n") * (4 * 1024 * 1024 // 78)   # 4 MB > 2 MB fs
    c.send(message(tok, body=big).encode() + b".\r\n")
    rep = c.reply(30)
    assert rep.code == 452, rep
    assert "4.3.1" in str(rep), rep
    # nothing of it stays in the spool's body directory
    bodies = small_fs / "data" / "spool" / "bodies"
    assert not any(bodies.iterdir())
    # and a small message still goes through
    tok2 = unique("after")
    c.expect("MAIL FROM:<s@remote.test>", 250)
    c.expect("RCPT TO:<alice@example.test>", 250)
    c.expect("DATA", 354)
    c.send(message(tok2).encode() + b".\r\n")
    c.expect(None, 250)
