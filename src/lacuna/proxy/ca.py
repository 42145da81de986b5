"""The proxy's local certificate authority: how it reads HTTPS bodies.

To inspect an HTTPS request the proxy ends the client's TLS itself, with a certificate for the
requested host signed by a CA of its own, created on first use in ``proxy.ca_dir``
(``$LACUNA_HOME/proxy`` by default: ``ca.pem``, and ``ca-key.pem`` with mode 0600). Clients must
trust that CA: ``lacuna proxy ca -o lacuna-ca.pem`` exports it (then e.g.
``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE``, or ``verify=`` in code). The key never leaves the folder.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import ssl
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lacuna.errors import ConfigError

CA_NAME = "Lacuna egress proxy CA"
_DAY = dt.timedelta(days=1)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


class CertificateAuthority:
    """The CA in ``folder``, created there on first use; issues per-host TLS contexts, the
    last :attr:`max_contexts` hosts' kept in memory (a client that names many hosts does not
    grow the proxy's memory), none on disk."""

    max_contexts = 256  # per-host TLS contexts kept (the least recently used go)

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cert_path = folder / "ca.pem"
        self.key_path = folder / "ca-key.pem"
        self._contexts: OrderedDict[str, ssl.SSLContext] = OrderedDict()
        self._lock = threading.Lock()
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.cert_path.exists() or not self.key_path.exists():
                self._create()
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
            self.cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        except (OSError, ValueError) as exc:
            msg = (f"the proxy's CA in {folder} cannot be used ({exc}). Fix the folder's "
                   "permissions or set proxy.ca_dir in lacuna.yaml to a folder you own.")
            raise ConfigError(msg) from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            msg = f"{self.key_path} is not the proxy's EC key; delete {folder} to make a new CA."
            raise ConfigError(msg)
        self.key = key
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        # per-host certificates and keys an earlier version kept, one pair per host named
        shutil.rmtree(folder / "hosts", ignore_errors=True)

    def _create(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lacuna")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _DAY).not_valid_after(now + 3650 * _DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_private(self.key_path, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def pem(self) -> bytes:
        """The CA certificate, PEM: what clients trust."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def context_for(self, host: str) -> ssl.SSLContext:
        """A server-side TLS context presenting a certificate for ``host``."""
        with self._lock:
            ctx = self._contexts.get(host)
            if ctx is None:
                ctx = self._contexts[host] = self._issue(host)
                while len(self._contexts) > self.max_contexts:
                    self._contexts.popitem(last=False)
            self._contexts.move_to_end(host)
            return ctx

    def _issue(self, host: str) -> ssl.SSLContext:
        try:
            alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            alt = x509.DNSName(host)
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host[:64])]))
            .issuer_name(self.cert.subject).public_key(self._leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _DAY).not_valid_after(now + 365 * _DAY)
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        # (ssl loads a certificate and its key only from files: written to a private folder
        # in the CA's, loaded, removed; nothing is left per host)
        with tempfile.TemporaryDirectory(prefix=".issue-", dir=self.folder) as private:
            chain, key = Path(private) / "cert.pem", Path(private) / "key.pem"
            chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + self.pem())
            _write_private(key, self._leaf_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(chain, key)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx


def ca_folder(configured: Path | None) -> Path:
    from lacuna.config import lacuna_home

    return Path(configured).expanduser() if configured else lacuna_home() / "proxy"
