"""HTTPS for the registry: a certificate and key given by the operator, or a self-signed
certificate for 127.0.0.1 and localhost made once and kept under the store's root
(`tls/self-signed.crt`, `tls/self-signed.key`), so clients can pin it across restarts
(docker: copy it to `/etc/docker/certs.d/HOST:PORT/ca.crt`)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

from oci.atomicfile import atomic_write
from oci.errors import UserError
from registry_server.config import TlsConfig

SELF_SIGNED_DIR = "tls"
CERT_NAME = "self-signed.crt"
KEY_NAME = "self-signed.key"
VALIDITY_DAYS = 825


class BadTls(UserError):
    """A certificate or key the server cannot load."""


def make_self_signed(directory: Path) -> tuple[Path, Path]:
    """The self-signed certificate and key under `directory`, made if missing: ECDSA
    P-256, subjectAltName 127.0.0.1, ::1 and localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    if cert_path.is_file() and key_path.is_file():
        return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pybuild registry (self-signed)")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    # The key first: a certificate on disk always has its key beside it.
    atomic_write(key_path, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), 0o600)
    atomic_write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert_path, key_path


def server_context(config: TlsConfig, root: Path) -> ssl.SSLContext | None:
    """The SSL context for the listening socket, or None for plain HTTP."""
    if not config.enabled:
        return None
    if config.self_signed:
        cert, key = make_self_signed(root / SELF_SIGNED_DIR)
    else:
        assert config.cert is not None and config.key is not None
        cert, key = config.cert, config.key
    for path, what in ((cert, "--tls-cert"), (key, "--tls-key")):
        if not Path(path).is_file():
            raise BadTls(f"{path}: no such file ({what})")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise BadTls(f"{cert}, {key}: not a PEM certificate and its key ({exc.reason or exc.strerror or exc})") from None
    return context
