"""
test_package.py - what relais installs, and the Debian package.

- make install into a scratch tree (DESTDIR, PREFIX=/usr): the files and
  their modes, the sendmail script and its man page link, the systemd unit
  with the installed paths, man pages that mandoc renders without a
  warning, an existing configuration kept, another MTA's sendmail left
  alone, make uninstall;
- the installed sendmail script (PREFIX and SYSCONFDIR in a scratch tree)
  hands a message to the daemon its configuration names (a capture server
  here);
- the man pages against the code: every key of src/conf/conf.c's tables
  under its section in relais.conf(5), every command of src/main.c in
  relais(8); debian/ against the build (version, Build-Depends);
- the .deb that `make deb` built, when there is a current one (always
  under `make test-deb`): dpkg -x into a scratch tree, the files, dpkg-deb
  -I fields (Depends names the package of every library the binary
  links, Provides mail-transport-agent), lintian without an E: line.

Building the .deb takes about a minute on two cores, so `make test` does
not build it; nothing is ever installed on this machine (no dpkg -i).
"""

import filecmp
import os
import pwd
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from capture_smtp import CaptureSMTP
from conftest import HOST, REPO, free_port, relais_bin

ASAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}


def version():
    text = (REPO / "src/core/version.h").read_text()
    return re.search(r'#define RELAIS_VERSION\s+"([^"]+)"', text).group(1)


def make(*args, timeout=120):
    # not the jobserver of a make that runs the tests
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = subprocess.run(["make", "--no-print-directory", "-C", str(REPO),
                        *args], capture_output=True, text=True,
                       timeout=timeout, env=env)
    assert r.returncode == 0, f"make {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r


def run(cmd, timeout=60, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True,
                          text=True, timeout=timeout, **kw)


def mode(p):
    return stat.S_IMODE(os.lstat(p).st_mode)


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if not p.is_dir() or p.is_symlink())


def check_man_page(path):
    """mandoc finds nothing at warning level or above, and renders it."""
    r = run(["mandoc", "-T", "lint", "-W", "warning", path])
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr
    r = run(["mandoc", "-T", "ascii", path])
    assert r.returncode == 0, r.stderr
    text = re.sub(".\b", "", r.stdout)
    for heading in ("NAME", "SYNOPSIS" if path.name[-1] != "5" else
                    "DESCRIPTION", "SEE ALSO"):
        assert f"\n{heading}\n" in text, (path, heading)
    return text


def unit_file(root):
    [unit] = [p for p in (root / "lib/systemd/system/relais.service",
                          root / "usr/lib/systemd/system/relais.service")
              if p.exists()]
    return unit


# --- make install / uninstall ----------------------------------------------

def test_make_install_tree(tmp_path):
    root = tmp_path / "root"
    bin_ = relais_bin()
    make("install", f"DESTDIR={root}", "PREFIX=/usr", f"INSTALL_BIN={bin_}")

    unit = unit_file(root)
    expect = {
        "usr/sbin/relais": 0o755,
        "usr/sbin/sendmail": 0o755,
        "usr/share/man/man1/relais-sendmail.1": 0o644,
        "usr/share/man/man5/relais.conf.5": 0o644,
        "usr/share/man/man8/relais.8": 0o644,
        "usr/share/doc/relais/README.md": 0o644,
        "usr/share/doc/relais/configuration.md": 0o644,
        "etc/relais/relais.conf": 0o644,
        "etc/relais/shaping.conf": 0o644,
        str(unit.relative_to(root)): 0o644,
    }
    for rel, m in expect.items():
        assert (root / rel).is_file(), rel
        assert mode(root / rel) == m, (rel, oct(mode(root / rel)))
    assert filecmp.cmp(root / "usr/sbin/relais", bin_, shallow=False)
    for rel in ("etc/relais/relais.conf", "etc/relais/shaping.conf"):
        assert filecmp.cmp(root / rel, REPO / "etc" / Path(rel).name,
                           shallow=False)
    docs = {p.name for p in (REPO / "docs").glob("*.md")}
    assert docs <= set(os.listdir(root / "usr/share/doc/relais"))
    man1 = root / "usr/share/man/man1"
    assert os.readlink(man1 / "sendmail.1") == "relais-sendmail.1"
    # nothing else: no stray temporary file, no data directory
    extra = set(files_under(root)) - set(expect) - {
        "usr/share/man/man1/sendmail.1"} - {
        f"usr/share/doc/relais/{d}" for d in docs}
    assert extra == set()

    # the installed binary runs, and takes the installed configuration
    env = {**os.environ, **ASAN_ENV}
    r = run([root / "usr/sbin/relais", "--version"], env=env)
    assert r.returncode == 0 and r.stdout == f"relais {version()}\n", r
    r = run([root / "usr/sbin/relais", "check-config", "-c",
             root / "etc/relais/relais.conf"], env=env)
    assert r.returncode == 0, r.stderr

    # sendmail: a script that runs the installed relais on the installed
    # configuration (a later -c wins)
    sm = (root / "usr/sbin/sendmail").read_text()
    assert sm.startswith("#!/bin/sh\n")
    assert ('\nexec /usr/sbin/relais sendmail -c /etc/relais/relais.conf '
            '"$@"\n') in sm
    assert "@" not in sm.replace('"$@"', "")
    assert run(["sh", "-n", root / "usr/sbin/sendmail"]).returncode == 0

    # the unit names the installed paths
    u = unit.read_text()
    assert "\nExecStart=/usr/sbin/relais serve -c /etc/relais/relais.conf\n" in u
    assert ("\nExecStartPre=/usr/sbin/relais check-config -c "
            "/etc/relais/relais.conf\n") in u
    assert "man:relais(8)" in u

    # the man pages
    for sec, name in (("1", "relais-sendmail"), ("5", "relais.conf"),
                      ("8", "relais")):
        text = check_man_page(root / f"usr/share/man/man{sec}/{name}.{sec}")
        assert f"{name.upper()}({sec})" in text

    # a second install keeps a configuration that is there
    conf = root / "etc/relais/relais.conf"
    conf.write_text("# mine\n")
    r = make("install", f"DESTDIR={root}", "PREFIX=/usr",
             f"INSTALL_BIN={bin_}")
    assert "exists: kept" in r.stdout
    assert conf.read_text() == "# mine\n"

    # uninstall: everything but the changed configuration
    r = make("uninstall", f"DESTDIR={root}", "PREFIX=/usr")
    assert "was changed: kept" in r.stdout
    assert files_under(root) == ["etc/relais/relais.conf"]


def test_make_install_leaves_another_mta_alone(tmp_path):
    root = tmp_path / "root"
    sbin = root / "usr/local/sbin"
    sbin.mkdir(parents=True)
    (sbin / "sendmail").write_text("#!/bin/sh\n# another MTA's sendmail\n")
    (sbin / "sendmail").chmod(0o755)
    r = make("install", f"DESTDIR={root}", f"INSTALL_BIN={relais_bin()}")
    assert "belongs to another MTA" in r.stdout
    assert (sbin / "sendmail").read_text().endswith("another MTA's sendmail\n")
    assert not (root / "usr/local/share/man/man1/sendmail.1").exists()
    # PREFIX=/usr/local: the unit where systemd looks for local units
    assert (root / "usr/local/lib/systemd/system/relais.service").is_file()
    assert (sbin / "relais").is_file()
    make("uninstall", f"DESTDIR={root}")
    assert (sbin / "sendmail").exists()
    assert files_under(root) == ["usr/local/sbin/sendmail"]


def test_installed_sendmail_uses_installed_config(tmp_path):
    """The script hands the message to the daemon that SYSCONFDIR's
    relais.conf names, wherever it is run from."""
    prefix, etc = tmp_path / "prefix", tmp_path / "etc"
    port = free_port()
    (etc / "relais").mkdir(parents=True)
    (etc / "relais/relais.conf").write_text(
        "[server]\nhostname = mx.pkg.test\n"
        f"data_dir = {tmp_path / 'data'}\n\n"
        f"[listener mx]\naddress = {HOST}:{port}\n\n"
        "[local]\ndomains = pkg.test\n")
    make("install", f"PREFIX={prefix}", f"SYSCONFDIR={etc}",
         f"INSTALL_BIN={relais_bin()}")
    sendmail = prefix / "sbin/sendmail"
    assert f"-c {etc}/relais/relais.conf" in sendmail.read_text()
    unit = prefix / "lib/systemd/system/relais.service"
    assert (f"ExecStart={prefix}/sbin/relais serve -c {etc}/relais/relais.conf"
            in unit.read_text())
    # systemd takes the unit (its binary exists, its man pages are found)
    if shutil.which("systemd-analyze"):
        r = run(["systemd-analyze", "verify", unit],
                env={**os.environ, "MANPATH": str(prefix / "share/man")})
        assert r.returncode == 0, r.stdout + r.stderr
    login = pwd.getpwuid(os.getuid()).pw_name
    with CaptureSMTP(HOST, port, name="daemon.pkg.test") as peer:
        r = run([sendmail, "-t"], input="To: Alice <alice@remote.test>\n"
                "Subject: installed sendmail\n\nhello\n",
                cwd=tmp_path, env={**os.environ, **ASAN_ENV})
        assert r.returncode == 0, r.stderr
        [tx] = peer.messages
    assert tx.sender == f"{login}@mx.pkg.test"
    assert [a for a, _, _ in tx.rcpts] == ["alice@remote.test"]
    assert b"Subject: installed sendmail" in tx.data
    make("uninstall", f"PREFIX={prefix}", f"SYSCONFDIR={etc}")
    assert not sendmail.exists()


# --- the man pages and debian/ against the code -----------------------------

def conf_keys():
    """{section title in relais.conf(5): {key, ...}} from conf.c's tables"""
    src = (REPO / "src/conf/conf.c").read_text()
    titles = {}
    for m in re.finditer(r'\{ \.name = "([a-z_]+)", \.id = (CONF_SEC_[A-Z_]+)'
                         r'(,\s*\.add = )?', src):
        name, sid, named = m.group(1), m.group(2), m.group(3)
        arg = {"listener": "NAME", "dkim": "DOMAIN"}.get(name, "NAME")
        titles[sid] = f"[{name} {arg}]" if named else f"[{name}]"
    keys = {}
    for m in re.finditer(r'\.section = (CONF_SEC_[A-Z_]+), \.name = '
                         r'"([a-z0-9_]+)"', src):
        keys.setdefault(titles[m.group(1)], set()).add(m.group(2))
    assert len(keys) >= 15 and "[server]" in keys
    return keys


def man_sections(path, macro=".Ss"):
    """{.Ss title: {first word of each .It Ic line}}"""
    out, cur = {}, None
    for line in path.read_text().splitlines():
        if line.startswith(macro + " "):
            cur = line[len(macro) + 1:]
            out[cur] = set()
        elif cur and line.startswith(".It Ic "):
            out[cur].add(line.split()[2])
    return out


def test_conf_man_page_has_every_key():
    man = man_sections(REPO / "man/relais.conf.5")
    missing = []
    for title, keys in conf_keys().items():
        if title not in man:
            missing.append(title)
            continue
        missing += [f"{title} {k}" for k in sorted(keys - man[title])]
    assert missing == [], "not in man/relais.conf.5: " + ", ".join(missing)
    # [tls_policy] has lines, not keys
    assert "[tls_policy]" in man


def test_relais_man_page_has_every_command():
    src = (REPO / "src/main.c").read_text()
    cmds = re.findall(r'\{ "([a-z-]+)", cli_', src)
    assert "serve" in cmds and "sendmail" in cmds
    man = (REPO / "man/relais.8").read_text()
    missing = [c for c in cmds
               if not re.search(rf"^\.Ss relais {re.escape(c)}\b", man, re.M)]
    assert missing == []


def control_field(text, name):
    m = re.search(rf"^{name}:(.*(?:\n[ \t].*)*)", text, re.M)
    return m.group(1) if m else ""


def test_debian_metadata():
    changelog = (REPO / "debian/changelog").read_text()
    assert changelog.startswith(f"relais ({version()}) "), \
        "debian/changelog and src/core/version.h differ"
    assert (REPO / "debian/source/format").read_text() == "3.0 (native)\n"
    assert os.access(REPO / "debian/rules", os.X_OK)
    control = (REPO / "debian/control").read_text()
    bdeps = {d.strip().split()[0] for d in
             control_field(control, "Build-Depends").split(",") if d.strip()}
    deps_sh = (REPO / "scripts/deps.sh").read_text()
    build = re.search(r'^build="([^"]*)"', deps_sh, re.M).group(1).split()
    # gcc and make come with build-essential
    missing = set(build) - {"gcc", "make"} - bdeps
    assert missing == set(), f"debian/control Build-Depends lacks {missing}"
    for field in ("Provides", "Conflicts", "Replaces"):
        assert control_field(control, field).strip() == "mail-transport-agent"
    assert "${shlibs:Depends}" in control_field(control, "Depends")


# --- the .deb ----------------------------------------------------------------

def current_deb():
    """RELAIS_DEB (make test-deb), else build/relais_VERSION_ARCH.deb if it
    is newer than everything it is made from, else None."""
    given = os.environ.get("RELAIS_DEB")
    if given:
        assert Path(given).is_file(), given
        return Path(given)
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    deb = REPO / "build" / f"relais_{version()}_{arch}.deb"
    if not deb.exists():
        return None
    newest = max(p.stat().st_mtime for d in ("src", "debian", "man", "etc",
                                             "docs")
                 for p in (REPO / d).rglob("*") if p.is_file())
    newest = max(newest, (REPO / "Makefile").stat().st_mtime)
    return deb if deb.stat().st_mtime >= newest else None


def test_deb_package(tmp_path):
    deb = current_deb()
    if deb is None:
        pytest.skip("no current .deb: make deb (or make test-deb) builds it")
    info = run(["dpkg-deb", "-I", deb])
    assert info.returncode == 0, info.stderr
    fields = run(["dpkg-deb", "-f", deb]).stdout
    assert control_field(fields, "Package").strip() == "relais"
    assert control_field(fields, "Version").strip() == version()
    for f in ("Provides", "Conflicts", "Replaces"):
        assert control_field(fields, f).strip() == "mail-transport-agent", f
    depends = {d.strip().split()[0] for d in
               control_field(fields, "Depends").split(",")}
    assert "adduser" in depends

    root = tmp_path / "root"
    r = run(["dpkg", "-x", deb, root])
    assert r.returncode == 0, r.stderr
    for rel, m in (("usr/sbin/relais", 0o755), ("usr/sbin/sendmail", 0o755),
                   ("etc/relais/relais.conf", 0o644),
                   ("etc/relais/shaping.conf", 0o644),
                   ("usr/share/man/man8/relais.8.gz", 0o644),
                   ("usr/share/man/man5/relais.conf.5.gz", 0o644),
                   ("usr/share/man/man1/relais-sendmail.1.gz", 0o644),
                   ("usr/share/doc/relais/copyright", 0o644)):
        assert (root / rel).is_file() and mode(root / rel) == m, rel
    assert os.readlink(root / "usr/lib/sendmail") == "../sbin/sendmail"
    assert os.readlink(root / "usr/share/man/man1/sendmail.1.gz") == \
        "relais-sendmail.1.gz"
    assert "/usr/sbin/relais sendmail -c /etc/relais/relais.conf" in \
        (root / "usr/sbin/sendmail").read_text()
    assert "ExecStart=/usr/sbin/relais serve -c /etc/relais/relais.conf" in \
        unit_file(root).read_text()
    assert not (root / "var").exists()
    r = run([root / "usr/sbin/relais", "--version"])
    assert r.returncode == 0 and r.stdout == f"relais {version()}\n", r
    r = run([root / "usr/sbin/relais", "check-config", "-c",
             root / "etc/relais/relais.conf"])
    assert r.returncode == 0, r.stderr

    # Depends names the package of every library the binary links
    needed = re.findall(r"NEEDED\s+(\S+)",
                        run(["objdump", "-p", root / "usr/sbin/relais"]).stdout)
    assert any(n.startswith("libevent_core") for n in needed)
    for lib in needed:
        owner = run(["dpkg", "-S", f"*/{lib}"])
        assert owner.returncode == 0, (lib, owner.stderr)
        pkgs = {ln.split(":")[0] for ln in owner.stdout.splitlines()}
        assert pkgs & depends, f"{lib} ({pkgs}) not in Depends {depends}"

    # maintainer scripts: the user and directory, the unit enabled
    ctl = tmp_path / "control"
    assert run(["dpkg-deb", "-e", deb, ctl]).returncode == 0
    postinst = (ctl / "postinst").read_text()
    assert "adduser --quiet --system --group --home /var/lib/relais" in postinst
    assert "install -d -o relais -g relais -m 0700 /var/lib/relais" in postinst
    assert "deb-systemd-helper enable 'relais.service'" in postinst
    assert (ctl / "conffiles").read_text().split() == [
        "/etc/relais/relais.conf", "/etc/relais/shaping.conf"]

    if shutil.which("lintian") is None:
        pytest.fail("lintian is not installed (scripts/deps.sh deb)")
    r = run(["lintian", "--no-tag-display-limit", deb], timeout=300)
    errors = [ln for ln in r.stdout.splitlines() if ln.startswith("E:")]
    assert errors == [], r.stdout
