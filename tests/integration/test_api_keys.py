"""relais apikey new|list|revoke end to end through the real binary
(issue 12, API keys): the token is printed once and only its hash is
stored, list shows no secret material, revoke keeps the line, names are
unique among active keys and checked, a key says which sender domains it
may use, the file is written whole (mode 0640, owner and group kept) and
concurrent runs do not lose a key."""

import os
import re
import stat
import subprocess
import warnings

import pytest

TOKEN_RE = re.compile(r"^relais_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")


def crypt_ok(token, stored):
    """Does stored ("{CRYPT}$y$...") hash token (libxcrypt via python)?"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # noqa: deprecated in 3.11, still present
    h = stored[len("{CRYPT}"):] if stored.startswith("{CRYPT}") else stored
    return crypt.crypt(token, h) == h


def no_sanitizer(p):
    text = p.stdout + p.stderr
    assert "Sanitizer" not in text and "runtime error:" not in text, text


@pytest.fixture
def r(relais_factory):
    """A Relais whose config and data dir the CLI finds (not started:
    the commands work on the file alone)."""
    return relais_factory()


def apikey(r, *args):
    p = r.cli("apikey", *args)
    no_sanitizer(p)
    return p


def new_key(r, name, *domains, extra=()):
    args = ["new", name, *extra]
    if domains:
        for d in domains:
            args += ["--from-domain", d]
    else:
        args.append("--any-domain")
    p = apikey(r, *args)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 1, f"stdout must be the token alone: {p.stdout!r}"
    m = TOKEN_RE.match(lines[0])
    assert m, lines[0]
    return lines[0], m.group(1), m.group(2), p


def keys_path(r):
    return r.data_dir / "api-keys"


def list_rows(r, *extra):
    p = apikey(r, "list", *extra)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["NAME", "KEYID", "STATE", "CREATED", "DOMAINS"]
    return {ln.split()[0]: ln.split() for ln in lines[1:]}, p


def test_new_prints_token_once_and_stores_only_its_hash(r):
    token, keyid, secret, p = new_key(r, "web", "A.example", "b.example")
    assert "only" in p.stderr and "web" in p.stderr, p.stderr
    assert token not in p.stderr and secret not in p.stderr
    path = keys_path(r)
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640, oct(st.st_mode)
    text = path.read_text()
    assert token not in text and secret not in text
    (line,) = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    fields = line.split(":")
    assert fields[0] == "web" and fields[1] == keyid
    assert fields[2].startswith("{CRYPT}$y$"), "yescrypt, as relais passwd"
    assert "domains=a.example,b.example" in fields[3:]
    assert any(re.fullmatch(r"created=\d+", f) for f in fields[3:])
    assert crypt_ok(token, fields[2]), "the stored hash is the token's"
    assert not crypt_ok(token[:-1] + ("A" if token[-1] != "A" else "B"),
                        fields[2])
    # a second key: another token, another KEYID
    token2, keyid2, _, _ = new_key(r, "ci")
    assert token2 != token and keyid2 != keyid
    assert "domains=*" in path.read_text()


def test_list_shows_keys_without_secret_material(r):
    token, keyid, secret, _ = new_key(r, "web", "a.example", "b.example")
    new_key(r, "any")
    rows, p = list_rows(r)
    assert rows["web"][1] == keyid
    assert rows["web"][2] == "active"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rows["web"][3])
    assert rows["web"][4] == "a.example,b.example"
    assert rows["any"][4] == "*"
    stored = keys_path(r).read_text()
    hashes = re.findall(r"\{CRYPT\}(\$y\$[^:]+)", stored)
    assert len(hashes) == 2
    out = p.stdout + p.stderr
    assert secret not in out and token not in out
    assert "$y$" not in out and "CRYPT" not in out
    for h in hashes:
        assert h not in out and h.split("$")[-1] not in out


def test_revoke_keeps_the_line(r):
    token, keyid, _, _ = new_key(r, "web", "a.example")
    new_key(r, "other", "a.example")
    p = apikey(r, "revoke", "web")
    assert p.returncode == 0, p.stderr
    assert "web" in p.stdout
    rows, _ = list_rows(r)
    assert rows["web"][2] == "revoked"
    assert rows["other"][2] == "active"
    lines = [ln for ln in keys_path(r).read_text().splitlines()
             if ln.startswith("web:")]
    assert len(lines) == 1 and re.search(r":revoked=\d+$", lines[0]), lines
    # revoked twice: there is no active key of that name any more
    p = apikey(r, "revoke", "web")
    assert p.returncode == 1
    assert "no active key named 'web'" in p.stderr
    p = apikey(r, "revoke", "nobody")
    assert p.returncode == 1 and "nobody" in p.stderr
    # the name is free again; the old line stays
    _, keyid2, _, _ = new_key(r, "web", "c.example")
    assert keyid2 != keyid
    text = keys_path(r).read_text()
    assert text.count("\nweb:") + text.startswith("web:") == 2
    rows, _ = list_rows(r)
    p = apikey(r, "list")
    states = [ln.split()[2] for ln in p.stdout.splitlines()[1:]
              if ln.split()[0] == "web"]
    assert sorted(states) == ["active", "revoked"]


def test_duplicate_active_name_refused(r):
    new_key(r, "web", "a.example")
    before = keys_path(r).read_bytes()
    p = apikey(r, "new", "web", "--any-domain")
    assert p.returncode == 1
    assert p.stdout == "", "no token for a refused key"
    assert "an active key named 'web' exists" in p.stderr
    assert keys_path(r).read_bytes() == before


@pytest.mark.parametrize("name", ["a b", "a:b", "x" * 64, "caf\u00e9",
                                  "a/b", "-", "a@b"])
def test_bad_name_refused(r, name):
    if name == "-":
        name = "-x"  # an option-looking name is refused as one
    p = apikey(r, "new", name, "--any-domain")
    assert p.returncode == 2, p.stderr
    assert p.stdout == ""
    assert not keys_path(r).exists()


def test_name_limits_accepted(r):
    new_key(r, "x" * 63)
    new_key(r, "A-z_0.9")


def test_missing_from_domain_refused(r):
    p = apikey(r, "new", "web")
    assert p.returncode == 2
    assert p.stdout == ""
    assert "--from-domain" in p.stderr and "--any-domain" in p.stderr
    assert "sender domain" in p.stderr
    assert not keys_path(r).exists()
    # both, or a malformed domain: refused too
    p = apikey(r, "new", "web", "--any-domain", "--from-domain", "a.example")
    assert p.returncode == 2 and "exclude" in p.stderr
    p = apikey(r, "new", "web", "--from-domain", "bad domain")
    assert p.returncode == 2 and "bad domain" in p.stderr
    p = apikey(r, "new", "web", "--from-domain")
    assert p.returncode == 2
    assert not keys_path(r).exists()


def test_usage_errors(r):
    for args in (("frob",), ("revoke",), ("list", "extra"),
                 ("new", "a", "b", "c", "--any-domain"), ("list", "--bogus")):
        p = apikey(r, *args)
        assert p.returncode == 2, (args, p.stderr)
        assert p.stdout == ""
    p = r.cli("apikey", "--help")
    assert p.returncode == 0 and "apikey" in p.stdout
    p = r.cli("--help")
    assert "apikey" in p.stdout


def test_keys_path_from_config_and_option(r, tmp_path):
    # [http] keys in the config, -c given explicitly (from another cwd)
    other = tmp_path / "elsewhere" / "keys"
    other.parent.mkdir()
    r.write_config(overrides={"http": {"keys": str(other)}})
    p = subprocess.run([str(r.bin), "apikey", "new", "web", "-c",
                        str(r.conf_path), "--any-domain"],
                       capture_output=True, text=True, timeout=30,
                       env=r.env(), cwd=str(tmp_path))
    no_sanitizer(p)
    assert p.returncode == 0, p.stderr
    assert other.exists() and not keys_path(r).exists()
    assert "web:" in other.read_text()
    c = r.cli("check-config")
    assert c.returncode == 0, c.stderr
    # --keys wins over the config
    alt = tmp_path / "alt-keys"
    new_key(r, "alt", extra=("--keys", str(alt)))
    assert "alt:" in alt.read_text() and "alt:" not in other.read_text()
    rows, _ = list_rows(r, f"--keys={alt}")
    assert list(rows) == ["alt"]
    rows, _ = list_rows(r)
    assert list(rows) == ["web"]


def test_missing_file_lists_nothing(r):
    rows, p = list_rows(r)
    assert rows == {}
    assert not keys_path(r).exists()


def test_other_lines_kept(r):
    path = keys_path(r)
    path.write_text("# our keys\n\nnot a key line\n")
    new_key(r, "web", "a.example")
    text = path.read_text()
    assert text.startswith("# our keys\n\nnot a key line\nweb:")
    rows, p = list_rows(r)
    assert list(rows) == ["web"]
    assert ":3:" in p.stderr and "ignored" in p.stderr
    assert apikey(r, "revoke", "web").returncode == 0
    assert path.read_text().startswith("# our keys\n\nnot a key line\nweb:")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")
def test_owner_and_group_kept(r):
    path = keys_path(r)
    new_key(r, "first", "a.example")
    os.chown(path, 4321, 4322)
    os.chmod(path, 0o600)
    new_key(r, "second", "a.example")
    st = path.stat()
    assert (st.st_uid, st.st_gid) == (4321, 4322)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert apikey(r, "revoke", "first").returncode == 0
    st = path.stat()
    assert (st.st_uid, st.st_gid) == (4321, 4322)
    # a first file takes its directory's group
    d = r.root / "grp"
    d.mkdir()
    os.chown(d, 0, 4323)
    new_key(r, "g", "a.example", extra=("--keys", str(d / "keys")))
    assert (d / "keys").stat().st_gid == 4323
    assert sorted(os.listdir(d)) == ["keys"], "no temporary file left"


def test_concurrent_new_loses_nothing(r):
    procs = [subprocess.Popen([str(r.bin), "apikey", "new", f"k{i}",
                               "--from-domain", "a.example"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=r.env(), cwd=str(r.root))
             for i in range(6)]
    tokens = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert "Sanitizer" not in err
        tokens.append(out.strip())
    assert len(set(tokens)) == 6
    rows, _ = list_rows(r)
    assert sorted(rows) == [f"k{i}" for i in range(6)]
    assert sorted(os.listdir(r.data_dir)) == ["api-keys"]
