"""
tlscerts.py - certificates for the outbound TLS tests, made with the
`openssl` command, and the TLSA data that names them.

    from tlscerts import CertMaker, tlsa_311, tlsa_201

    mk = CertMaker(tmp_path / "certs")
    leaf = mk.self_signed("mx.sec.test")                  # valid 30 days
    old = mk.self_signed("mx.sec.test", expired=True)     # ended yesterday
    ca = mk.ca("Test CA")
    good = mk.issue(ca, "mx.ta.test")                     # SAN DNS:mx.ta.test
    ip = mk.issue(ca, "redis", ["127.0.0.1"])             # SAN IP:127.0.0.1
    cli = mk.issue_client(ca, "relais")                   # clientAuth
    bad = mk.issue(ca, "other.ta.test", expired=True)
    good.crt, good.key          # PEM files
    good.fullchain              # leaf then CA: what a server presents
    tlsa_311(leaf)              # "3 1 1 <sha256 of SubjectPublicKeyInfo>"
    tlsa_201(ca)                # "2 0 1 <sha256 of the CA certificate>"

Every certificate is signed with `openssl ca` and explicit -startdate /
-enddate (OpenSSL 3.0's req and x509 cannot date a certificate in the
past); keys are P-256. Names go into the subjectAltName (and the CN).
"""

import datetime
import hashlib
import ipaddress
import subprocess
from pathlib import Path

_CNF = """\
[ca]
default_ca = test_ca

[test_ca]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}/issued
serial = {dir}/serial
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no

[policy_any]
commonName = supplied

[req]
distinguished_name = req_dn
prompt = no

[req_dn]
CN = unused
"""


def _run(*args, cwd=None):
    r = subprocess.run(["openssl", *args], capture_output=True, text=True,
                       timeout=30, cwd=cwd)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def _is_ip(name):
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def _stamp(when):
    return when.strftime("%Y%m%d%H%M%SZ")


class Cert:
    def __init__(self, name, crt, key, fullchain, names):
        self.name = name
        self.crt = Path(crt)              # PEM certificate
        self.key = Path(key)              # PEM private key
        self.fullchain = Path(fullchain)  # the certificate, then its CA
        self.names = names                # subjectAltName DNS names

    def der(self):
        return subprocess.run(["openssl", "x509", "-in", str(self.crt),
                               "-outform", "DER"], capture_output=True,
                              check=True, timeout=30).stdout

    def spki_der(self):
        pem = _run("x509", "-in", str(self.crt), "-pubkey", "-noout")
        return subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                              input=pem.encode(), capture_output=True,
                              check=True, timeout=30).stdout

    def __repr__(self):
        return f"Cert({self.name!r}, names={self.names!r})"


class CertMaker:
    def __init__(self, root):
        self.root = Path(root)
        (self.root / "issued").mkdir(parents=True, exist_ok=True)
        self.cnf = self.root / "openssl.cnf"
        self.cnf.write_text(_CNF.format(dir=self.root))
        (self.root / "index.txt").write_text("")
        (self.root / "serial").write_text("1000\n")
        self.n = 0

    def _new(self, cn, names, issuer, ca, expired, days,
             usage="serverAuth"):
        self.n += 1
        base = self.root / f"{self.n:02d}-{cn.replace(' ', '_').replace('*', 'star')}"
        key, csr, crt, ext = (Path(f"{base}{s}") for s in
                              (".key", ".csr", ".crt", ".ext"))
        _run("genpkey", "-algorithm", "EC", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-out", str(key))
        _run("req", "-new", "-config", str(self.cnf), "-key", str(key),
             "-subj", f"/CN={cn}", "-out", str(csr))
        lines = ["[v3]", "subjectKeyIdentifier = hash"]
        if ca:
            lines += ["basicConstraints = critical,CA:TRUE",
                      "keyUsage = critical,keyCertSign,cRLSign"]
        else:
            lines += ["basicConstraints = CA:FALSE",
                      "keyUsage = digitalSignature,keyEncipherment",
                      f"extendedKeyUsage = {usage}"]
            if issuer is not None:
                lines.append("authorityKeyIdentifier = keyid")
        if names:
            lines.append("subjectAltName = " +
                         ",".join(f"IP:{n}" if _is_ip(n) else f"DNS:{n}"
                                  for n in names))
        ext.write_text("\n".join(lines) + "\n")
        now = datetime.datetime.now(datetime.timezone.utc)
        if expired:
            start, end = now - datetime.timedelta(days=60), \
                now - datetime.timedelta(days=1)
        else:
            start, end = now - datetime.timedelta(days=1), \
                now + datetime.timedelta(days=days)
        args = ["ca", "-batch", "-notext", "-config", str(self.cnf),
                "-in", str(csr), "-out", str(crt), "-extfile", str(ext),
                "-extensions", "v3", "-startdate", _stamp(start),
                "-enddate", _stamp(end)]
        if issuer is None:
            args += ["-selfsign", "-keyfile", str(key)]
        else:
            args += ["-cert", str(issuer.crt), "-keyfile", str(issuer.key)]
        _run(*args)
        full = Path(f"{base}.fullchain.pem")
        full.write_text(crt.read_text() +
                        (issuer.crt.read_text() if issuer is not None else ""))
        return Cert(cn, crt, key, full, list(names))

    def self_signed(self, name, names=None, expired=False, days=30):
        """A self-signed server certificate for name (SAN: names, default
        [name])."""
        return self._new(name, names if names is not None else [name], None,
                         False, expired, days)

    def ca(self, name="relais test CA", days=365):
        """A self-signed CA certificate (no SAN)."""
        return self._new(name, [], None, True, False, days)

    def issue(self, ca, name, names=None, expired=False, days=30):
        """A server certificate for name signed by ca."""
        return self._new(name, names if names is not None else [name], ca,
                         False, expired, days)

    def issue_client(self, ca, name, days=30):
        """A client certificate (extendedKeyUsage clientAuth) signed by
        ca."""
        return self._new(name, [], ca, False, False, days,
                         usage="clientAuth")


def tlsa_data(cert, selector, mtype=1):
    """The hex association data of cert for selector 0 (certificate) or 1
    (SubjectPublicKeyInfo), matching type 0 (full), 1 (SHA-256), 2
    (SHA-512)."""
    der = cert.der() if selector == 0 else cert.spki_der()
    if mtype == 0:
        return der.hex()
    return (hashlib.sha256 if mtype == 1 else hashlib.sha512)(der).hexdigest()


def tlsa_311(cert):
    """A DANE-EE(3) SPKI(1) SHA-256(1) record's rdata for cert."""
    return f"3 1 1 {tlsa_data(cert, 1)}"


def tlsa_201(ca):
    """A DANE-TA(2) Cert(0) SHA-256(1) record's rdata for the CA ca."""
    return f"2 0 1 {tlsa_data(ca, 0)}"
