"""Fault injection, the fast subset (the whole sweep is `make test-faults`,
tests/faults/run_faults.py): a handful of fault points on the write path,
each injected into the real daemon through RELAIS_FAULT. Each time the
client gets a 4xx for what was not stored (never a 250), the daemon goes on
serving, and after a restart without the fault every acknowledged message
is delivered exactly once (fault_scenario.py holds the run and its checks).
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))
from fault_scenario import LARGE, Scenario  # noqa: E402

SMALL_LOCAL = ("small-local", ["alice@example.test"], 0)
SMALL_RELAY = ("small-relay", ["rcpt1@remote.test"], 0)
LARGE_LOCAL = ("large-local", ["bob@example.test"], LARGE)


def run(tmp_path, plan, messages, name="run"):
    out = Scenario(tmp_path / name, plan, messages=messages).run()
    assert out.ok, out.summary()
    return out


def is_4xx(code):
    return isinstance(code, int) and 400 <= code < 500


@pytest.mark.parametrize("errno,code", [("EIO", 451), ("ENOSPC", 452)])
def test_body_file_write_fails(tmp_path, errno, code):
    # the first write of the run is the large body spilling to its file
    out = run(tmp_path, f"op=write,nth=1,errno={errno}",
              [LARGE_LOCAL, SMALL_LOCAL])
    assert out.injected == 1, out.summary()
    assert out.replies == {"large-local": code, "small-local": 250}, out.summary()
    assert out.fault_exit == 0


def test_body_file_fsync_fails(tmp_path):
    # the first fsync of the run is the spool's, of that body file,
    # before the commit that would acknowledge it
    out = run(tmp_path, "op=fsync,nth=1,errno=EIO",
              [LARGE_LOCAL, SMALL_LOCAL])
    assert out.injected == 1, out.summary()
    assert out.replies == {"large-local": 451, "small-local": 250}, out.summary()
    assert out.fault_exit == 0


@pytest.mark.parametrize("op,errno", [("sqlite_sync", "EIO"),
                                      ("sqlite_write", "ENOSPC")])
def test_message_commit_fails(tmp_path, op, errno):
    # how many calls of op the start makes; the next one is the commit of
    # the first message (nothing else writes SQLite while idle)
    ref = run(tmp_path, "count", [], name="count")
    n = ref.ready_counts[op] + 1
    out = run(tmp_path, f"op={op},nth={n},errno={errno}",
              [SMALL_LOCAL, SMALL_RELAY])
    assert out.injected == 1, out.summary()
    assert is_4xx(out.replies["small-local"]), out.summary()
    assert out.replies["small-relay"] == 250, out.summary()
    assert out.fault_exit == 0


def test_maildir_rename_fails(tmp_path):
    # the delivery is deferred (tmp/ file removed) and the retry delivers
    # exactly one copy
    out = run(tmp_path, "op=rename,nth=1,errno=EIO", [SMALL_LOCAL])
    assert out.injected == 1, out.summary()
    assert out.replies == {"small-local": 250}, out.summary()
    assert out.fault_exit == 0


def test_failed_commit_keeps_the_body_it_names(tmp_path):
    # the commit of a message with a body file fails at its sync, and
    # every later sync fails too: the WAL frames are written, so the
    # transaction is found again at the next start although the client
    # got a 4xx. Its body file must still be there then (it was unlinked,
    # leaving a message that could never be delivered).
    ref = run(tmp_path, "count", [], name="count")
    n = ref.ready_counts["sqlite_sync"] + 1
    out = run(tmp_path, f"op=sqlite_sync,nth={n},times=0,errno=EIO",
              [LARGE_LOCAL])
    assert is_4xx(out.replies["large-local"]), out.summary()
    assert out.fault_exit == 0


def test_failing_commits_do_not_spin_or_hang(tmp_path):
    # the message commits; from the commit of its delivery outcome on,
    # every sync fails. The outcome waits between attempts (it used to be
    # retried at once, forever: a spinning thread, a flood of log lines,
    # and a SIGTERM that never finished); at the stop it is given up (the
    # recipient stays leased) and after the restart the Maildir copy is
    # found, not written twice.
    ref = run(tmp_path, "count", [], name="count")
    n = ref.ready_counts["sqlite_sync"] + 2
    out = run(tmp_path, f"op=sqlite_sync,nth={n},times=0,errno=EIO",
              [SMALL_LOCAL])
    assert out.replies == {"small-local": 250}, out.summary()
    assert out.injected >= 1, out.summary()
    assert out.fault_exit == 0
    assert out.error_lines < 200, out.summary()


def test_disk_broken_from_the_first_commit(tmp_path):
    # every SQLite read, write and sync fails from the first commit on:
    # the first batch fails at its COMMIT, and in the next ones the insert
    # meets a failing read, on which SQLite rolls the transaction back by
    # itself; the batch must stop there (event=spool.rollback) rather than
    # go on in autocommit mode. Every message gets a 4xx, none is stored,
    # and the daemon stops cleanly.
    ref = run(tmp_path, "count", [], name="count")
    n = ref.ready_counts["sqlite"] + 1
    out = run(tmp_path, f"op=sqlite,nth={n},times=0,errno=EIO",
              [SMALL_LOCAL, SMALL_RELAY, LARGE_LOCAL])
    assert all(is_4xx(c) for c in out.replies.values()), out.summary()
    assert not out.stored_unacked, out.summary()
    assert out.fault_exit == 0
    assert "event=spool.rollback" in out.fault_log, out.summary()
    assert out.error_lines < 200, out.summary()
