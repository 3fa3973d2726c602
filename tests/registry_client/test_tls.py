"""HTTPS registries verified with a CA of the user's: `--tls-ca` and docker's
`certs.d/<host:port>/ca.crt`; a certificate the CA did not sign is refused."""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import peers
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from registry_client.client import RegistryClient
from registry_client.errors import RegistryUnreachable
from registry_client.transport import Options


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class TlsRegistry:
    address: str
    ca: Path


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRegistry]:
    home = tmp_path_factory.mktemp("tls-registry")
    cert, key = self_signed(home, "registry")
    port = peers.free_port()
    (home / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {home / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: {secrets.token_hex(16)}\n"
        f"  tls:\n    certificate: {cert}\n    key: {key}\n")
    with open(home / "registry.log", "wb") as log:
        proc = subprocess.Popen(["docker-registry", "serve", str(home / "config.yml")], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    registry = peers.Registry(home=home, proc=proc, port=port)
    try:
        # A plain-HTTP probe of a TLS port gets an HTTP 400 from Go's server: ready.
        peers.wait_until(lambda: _answers(registry), 30, "docker-registry (TLS)",
                         alive=lambda: proc.poll() is None, log=home / "registry.log")
        yield TlsRegistry(registry.address, cert)
    finally:
        peers.stop_process(proc)


def _answers(registry: peers.Registry) -> bool:
    try:
        return registry.get("/v2/") == 400
    except OSError:
        return False


def test_tls_ca_option_verifies_the_registry(tls_registry):
    with RegistryClient(tls_registry.address, Options(tls_ca=tls_registry.ca)) as client:
        assert client.catalog() == []
        assert client.transport.base_url == f"https://{tls_registry.address}"


def test_certs_d_directory_gives_the_ca(tls_registry, tmp_path):
    (tmp_path / tls_registry.address).mkdir()
    (tmp_path / tls_registry.address / "ca.crt").write_bytes(tls_registry.ca.read_bytes())
    with RegistryClient(tls_registry.address, Options(certs_dirs=(tmp_path,))) as client:
        assert client.catalog() == []


def test_a_ca_that_did_not_sign_the_certificate_is_refused_in_one_line(tls_registry, tmp_path, pybuild):
    other_ca, _ = self_signed(tmp_path, "other")
    with RegistryClient(tls_registry.address, Options(tls_ca=other_ca, retries=0)) as client:
        with pytest.raises(RegistryUnreachable, match="certificate verify failed"):
            client.catalog()
    result = pybuild("catalog", "--tls-ca", other_ca, tls_registry.address, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot reach registry {tls_registry.address}: certificate verify failed: self-signed certificate"]
