"""
postfix_instance.py - a private Postfix instance for the interop tests.

    pf = PostfixInstance(tmp_path / "postfix", "127.0.0.9", port,
                         domain="remote.example", users=["bob"],
                         tls=(crt, key))
    pf.start()          # postfix -c DIR check, then postfix -c DIR start
    pf.wait_mail("bob", 1)
    pf.stop()           # postfix -c DIR stop; waits for its master to exit

Everything lives under the given directory: config_directory (main.cf,
master.cf, the virtual mailbox map), queue_directory, data_directory, the
virtual Maildir base and the log file (maillog_file through postlogd). The
instance listens on one loopback address and port only (inet_interfaces),
delivers the test domain with virtual(8) into Maildirs (owned by nobody),
and offers STARTTLS with the given certificate. It must run as root
(postfix start needs it). inet_interfaces is 127.0.0.1 (Postfix takes
only an address some interface holds; lo has 127.0.0.1/8), and the one
smtpd service in master.cf binds ADDRESS:PORT; the ancestors of the directory get the
other-execute bit for the time the instance runs (Postfix daemons drop to
the postfix / nobody users and must reach their directories), and get
their modes back at stop().
"""

import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"

MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def available():
    """None when Postfix can be used here, else the reason it cannot."""
    if not os.path.exists(POSTFIX):
        return "postfix is not installed (scripts/deps.sh test installs it)"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root (postfix start)"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "no postfix user"
    return None


class PostfixInstance:
    def __init__(self, root, address, port, domain, users, tls=None,
                 hostname="pf.remote.example"):
        assert address.startswith("127."), "loopback only"
        self.root = Path(root)
        self.address = address
        self.port = port
        self.domain = domain
        self.users = list(users)
        self.tls = tls
        self.hostname = hostname
        self.conf = self.root / "conf"
        self.queue = self.root / "queue"
        self.data = self.root / "data"
        self.mail = self.root / "mail"
        self.log = self.root / "postfix.log"
        self.started = False
        self._modes = []

    # -- setup
    def _open_path(self):
        """o+x on every ancestor of root that lacks it (restored at stop)."""
        p = self.root
        for d in [p] + list(p.parents):
            if str(d) == "/":
                break
            st = d.stat()
            if not st.st_mode & stat.S_IXOTH:
                self._modes.append((d, stat.S_IMODE(st.st_mode)))
                os.chmod(d, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)

    def _restore_path(self):
        for d, mode in reversed(self._modes):
            try:
                os.chmod(d, mode)
            except OSError:
                pass
        self._modes = []

    def write_config(self):
        for d in (self.conf, self.queue, self.data, self.mail):
            d.mkdir(parents=True, exist_ok=True)
        nobody = pwd.getpwnam("nobody")
        os.chown(self.mail, nobody.pw_uid, nobody.pw_gid)
        pf = pwd.getpwnam("postfix")
        os.chown(self.data, pf.pw_uid, pf.pw_gid)
        os.chmod(self.data, 0o700)
        vmap = self.conf / "vmailbox"
        vmap.write_text("".join(f"{u}@{self.domain} {u}/\n" for u in self.users))
        keys = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue),
            "data_directory": str(self.data),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": self.hostname,
            "mydomain": self.domain,
            "myorigin": self.hostname,
            "mydestination": "",
            # Postfix accepts only addresses configured on an interface
            # here (lo holds 127.0.0.1/8, not 127.0.0.9 itself): the
            # instance is confined to loopback, and its one smtpd service
            # binds exactly ADDRESS:PORT through its master.cf name
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "virtual_mailbox_domains": self.domain,
            "virtual_mailbox_base": str(self.mail),
            "virtual_mailbox_maps": f"texthash:{vmap}",
            "virtual_uid_maps": f"static:{nobody.pw_uid}",
            "virtual_gid_maps": f"static:{nobody.pw_gid}",
            "virtual_minimum_uid": "100",
            "smtpd_banner": "$myhostname ESMTP",
            "smtpd_peername_lookup": "no",
            "smtputf8_enable": "yes",
            "biff": "no",
            "maillog_file": str(self.log),
            "maillog_file_prefixes": str(self.root),
            "smtp_dns_support_level": "disabled",
            "smtpd_tls_security_level": "may" if self.tls else "none",
            "smtpd_tls_loglevel": "1",
            "smtpd_tls_received_header": "yes",
            "message_size_limit": "10240000",
        }
        if self.tls:
            crt, key = self.tls
            keys["smtpd_tls_cert_file"] = str(crt)
            keys["smtpd_tls_key_file"] = str(key)
        (self.conf / "main.cf").write_text(
            "".join(f"{k} = {v}\n" for k, v in keys.items()))
        (self.conf / "master.cf").write_text(
            MASTER_CF.format(listen=f"{self.address}:{self.port}"))

    def run(self, *args, timeout=60):
        return subprocess.run([POSTFIX, "-c", str(self.conf), *args],
                              capture_output=True, text=True, timeout=timeout)

    def diagnose(self, *args):
        """Postfix prints its fatal errors only to a terminal (else to the
        log): re-run the command under script(1) to see them."""
        cmd = " ".join([POSTFIX, "-c", str(self.conf), *args])
        if shutil.which("script"):
            out = subprocess.run(["script", "-qec", cmd, "/dev/null"],
                                 capture_output=True, text=True, timeout=60)
            return out.stdout + out.stderr
        return ""

    def master_pid(self):
        try:
            pid = int((self.queue / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def start(self, timeout=20):
        self._open_path()
        self.write_config()
        chk = self.run("check")
        if chk.returncode != 0:
            raise RuntimeError(f"postfix check failed ({chk.returncode}):\n"
                               f"{chk.stdout}{chk.stderr}{self.diagnose('check')}")
        out = self.run("start")
        if out.returncode != 0:
            raise RuntimeError(f"postfix start failed ({out.returncode}):\n"
                               f"{out.stdout}{out.stderr}\n{self.log_text()}"
                               f"{self.diagnose('start')}")
        self.started = True
        import socket
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.address, self.port), timeout=1) as s:
                    s.settimeout(5)
                    if s.recv(100).startswith(b"220"):
                        s.sendall(b"QUIT\r\n")
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"postfix smtpd not answering on {self.address}:{self.port}\n"
                           f"{self.log_text()}")

    def stop(self, timeout=15):
        if self.started:
            pid = self.master_pid()
            self.run("stop")
            deadline = time.monotonic() + timeout
            while pid and time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except OSError:
                    break
                time.sleep(0.1)
            else:
                if pid:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
            self.started = False
        self._restore_path()

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    # -- mailboxes
    def maildir_files(self, user):
        out = []
        for sub in ("new", "cur"):
            d = self.mail / user / sub
            if d.is_dir():
                out.extend(sorted(p for p in d.iterdir() if p.is_file()))
        return out

    def wait_mail(self, user, count=1, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            files = self.maildir_files(user)
            if len(files) >= count:
                return [p.read_bytes() for p in files]
            time.sleep(0.1)
        raise AssertionError(f"no mail for {user} in Postfix's Maildir within {timeout}s; "
                             f"postfix log:\n{self.log_text()[-4000:]}")
