"""The [relay] shaping file through the binary: check-config reads it
(relative to the main file), reports its errors as PATH:LINE and counts
the shaping and tenant sections; serve starts with it and reads it again
on SIGHUP, sandboxed (a shaping file outside the config's directory)."""

import shutil
import subprocess
from pathlib import Path

from conftest import relais_bin

SHIPPED = Path(__file__).resolve().parents[2] / "etc" / "shaping.conf"


def run(*args, timeout=30):
    return subprocess.run([str(relais_bin()), *args], capture_output=True, text=True,
                          timeout=timeout,
                          env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
                               "PATH": "/usr/bin:/bin"})


def no_sanitizer(p):
    text = p.stdout + p.stderr
    assert "Sanitizer" not in text and "runtime error:" not in text, text


MAIN = """[listener mx]
address = 127.0.0.1:2525
[relay]
shaping = shaping.conf
[pool warm]
addresses = 192.0.2.10
[tenant acme]
users = alice@example.test
api_keys = acme-web
pool = warm
"""


def test_check_config_reads_shipped_shaping(tmp_path):
    shutil.copy(SHIPPED, tmp_path / "shaping.conf")
    (tmp_path / "relais.conf").write_text(MAIN)
    p = run("check-config", "-c", str(tmp_path / "relais.conf"))
    no_sanitizer(p)
    assert p.returncode == 0, p.stderr
    assert f"shaping file {tmp_path}/shaping.conf" in p.stdout, p.stdout
    assert "6 sites, 4 backoff rules, 1 pool, 1 tenant" in p.stdout, p.stdout


def test_check_config_shaping_errors_name_the_file(tmp_path):
    (tmp_path / "relais.conf").write_text(MAIN)
    shaping = tmp_path / "shaping.conf"
    shaping.write_text("[site a]\nmatch = a.test\n\n[tenant t]\nusers = u\n")
    p = run("check-config", "-c", str(tmp_path / "relais.conf"))
    no_sanitizer(p)
    assert p.returncode == 2
    assert f"{shaping}:4: [tenant] is not allowed in the shaping file" in p.stderr, p.stderr

    shaping.write_text("[backoff b]\nmatch = ^421 (rate\n")
    p = run("check-config", "-c", str(tmp_path / "relais.conf"))
    assert p.returncode == 2
    assert f"{shaping}:2: match: bad regular expression '^421 (rate': " in p.stderr, p.stderr

    shaping.unlink()
    p = run("check-config", "-c", str(tmp_path / "relais.conf"))
    no_sanitizer(p)
    assert p.returncode == 2
    assert f"{shaping}: cannot open: No such file or directory" in p.stderr, p.stderr


def test_serve_reloads_shaping_file(relais_factory, tmp_path):
    """A shaping file in a directory of its own: started with it, the
    daemon reads it again on SIGHUP, and refuses an edit that breaks it."""
    other = tmp_path / "shaping-dir"
    other.mkdir()
    shaping = other / "shaping.conf"
    shutil.copy(SHIPPED, shaping)
    r = relais_factory(overrides={"relay": {"shaping": str(shaping)}}).start()
    shaping.write_text(SHIPPED.read_text() + "\n[site extra]\nmatch = extra.test\n")
    assert r.reload() == "event=config.reload"
    shaping.write_text("[tenant t]\n")
    assert r.reload() == "event=config.reload.failed"
    fail = r.log_events("config.reload.failed")[-1]
    assert f"{shaping}:1: [tenant] is not allowed" in fail["error"], fail
    assert r.running()
