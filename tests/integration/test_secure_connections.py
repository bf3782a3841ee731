"""Secure Redis connections by settings alone, against real servers on loopback.

- an ACL user with a password (``ZTC_REDIS_USERNAME`` / ``ZTC_REDIS_PASSWORD``) on the
  embedded Redis: it reaches its own keys only, a wrong password is refused;
- TLS (``rediss://`` + ``ZTC_REDIS_SSL_CA_CERTS``) with a CA the test makes with the
  openssl CLI, on a TLS-capable redis-server (Debian's: ``make redis-tls`` unpacks it
  into ``.venv/redis-tls``; skipped where there is none): a server certificate from
  another CA is refused;
- Sentinel discovery (``ZTC_REDIS_SENTINELS``, ``ZTC_REDIS_SENTINEL_MASTER``): a
  password-protected master found through a real Sentinel.

Kafka's SASL_SSL cannot be exercised here (the embedded broker speaks neither TLS
nor SASL): ``tests/unit/test_secure_settings.py`` checks what each client is given.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from deploy.embedded import EmbeddedStack, free_port, redis_binary
from schemas.settings import Settings
from ztc.bootstrap import redis_client

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
PASSWORD = "s3cret-for-the-test-only"
OPENSSL_REQ = ("openssl", "req", "-newkey", "rsa:2048", "-nodes")


def tls_redis_server() -> tuple[str, dict[str, str]] | None:
    """A redis-server built with TLS and the environment it needs, else None."""
    unpacked = Path(sys.prefix) / "redis-tls"
    candidates = [(unpacked / "usr" / "bin" / "redis-server", unpacked / "usr" / "lib" / "x86_64-linux-gnu")]
    on_path = shutil.which("redis-server")
    if on_path:
        candidates.append((Path(on_path), Path("/usr/lib")))
    for binary, libs in candidates:
        if not binary.exists():
            continue
        env = {**os.environ, "LD_LIBRARY_PATH": str(libs)}
        done = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, env=env, check=False
        )
        linked = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, env=env, check=False)
        if done.returncode == 0 and "libssl" in linked.stdout:
            return str(binary), env
    return None


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed CA: (certificate, key)."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [*OPENSSL_REQ, "-x509", "-days", "2", "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def make_server_cert(directory: Path, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, signed by ``ca``: (certificate, key)."""
    cert, key, request = directory / "server.crt", directory / "server.key", directory / "server.csr"
    extensions = directory / "san.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n", encoding="utf-8")
    subprocess.run(
        [*OPENSSL_REQ, "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(request)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *("openssl", "x509", "-req", "-in", str(request), "-CA", str(ca[0]), "-CAkey", str(ca[1])),
            *("-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def acl_user(stack: EmbeddedStack) -> Iterator[str]:
    admin = redis.Redis.from_url(stack.redis_url)
    user = "ztc-acl-test"
    admin.acl_setuser(user, enabled=True, passwords=[f"+{PASSWORD}"], keys=["acl-test:*"], commands=["+@all"])
    yield user
    admin.acl_deluser(user)


def test_an_acl_user_with_a_password_reaches_its_own_keys_only(stack: EmbeddedStack, acl_user: str) -> None:
    url = f"redis://127.0.0.1:{stack.redis_port}/0"
    client = redis_client(Settings(redis_url=url, redis_username=acl_user, redis_password=PASSWORD))
    client.set("acl-test:ticket", b"ok")
    assert client.get("acl-test:ticket") == b"ok"
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.set("ztc:ticket:someone-else", b"no")
    wrong = redis_client(Settings(redis_url=url, redis_username=acl_user, redis_password="wrong"))
    with pytest.raises(redis.exceptions.AuthenticationError):
        wrong.ping()


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    """(port, the CA that signed its certificate, another CA)."""
    found = tls_redis_server()
    if found is None:
        pytest.skip("no redis-server with TLS here (make redis-tls unpacks Debian's into .venv/redis-tls)")
    binary, env = found
    ca = make_ca(tmp_path, "ztc-test-ca")
    other = make_ca(tmp_path, "another-ca")
    cert, key = make_server_cert(tmp_path, ca)
    port = free_port()
    argv = [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv += ["--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(ca[0])]
    argv += ["--tls-auth-clients", "no", "--requirepass", PASSWORD, "--dir", str(tmp_path)]
    server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        yield port, ca[0], other[0]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_redis_over_tls_checks_the_server_against_the_ca_it_is_given(
    tls_redis: tuple[int, Path, Path],
) -> None:
    port, ca, other = tls_redis
    url = f"rediss://127.0.0.1:{port}/0"
    client = redis_client(Settings(redis_url=url, redis_password=PASSWORD, redis_ssl_ca_certs=ca))
    client.set("tls-test", b"over TLS")
    assert client.get("tls-test") == b"over TLS"
    stranger = redis_client(Settings(redis_url=url, redis_password=PASSWORD, redis_ssl_ca_certs=other))
    with pytest.raises(redis.exceptions.ConnectionError, match="certificate verify failed"):
        stranger.ping()


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A password-protected master and one Sentinel watching it as ``ztcmaster``: (Sentinel, master) ports."""
    master_port, sentinel_port = free_port(), free_port()
    master = subprocess.Popen(
        [
            *(redis_binary(), "--port", str(master_port), "--bind", "127.0.0.1", "--save", ""),
            *("--requirepass", PASSWORD, "--masterauth", PASSWORD, "--dir", str(tmp_path)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor ztcmaster 127.0.0.1 {master_port} 1\n"
        f"sentinel auth-pass ztcmaster {PASSWORD}\n",
        encoding="utf-8",
    )
    watcher = subprocess.Popen(
        [redis_binary(), str(config), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        wait_for_port(master_port)
        wait_for_port(sentinel_port)
        yield sentinel_port, master_port
    finally:
        for process in (watcher, master):
            process.terminate()
            process.wait(timeout=10)


def test_the_master_is_found_through_sentinel(sentinel: tuple[int, int]) -> None:
    sentinel_port, master_port = sentinel
    settings = Settings(
        redis_sentinels=f"127.0.0.1:{sentinel_port}",
        redis_sentinel_master="ztcmaster",
        redis_password=PASSWORD,
    )
    client = redis_client(settings)
    assert isinstance(client.connection_pool, SentinelConnectionPool)
    client.set("sentinel-test", b"found")
    assert client.get("sentinel-test") == b"found"
    direct = redis.Redis(port=master_port, password=PASSWORD)
    assert direct.get("sentinel-test") == b"found"  # written to the master the Sentinel named
