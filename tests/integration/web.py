"""Shared helpers for tests that talk to a running ``ztc api`` process."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from consumers.access import write_demo_keys
from deploy.embedded import free_port
from schemas.settings import Settings
from tests.integration.conftest import settings_env


class Api:
    """A running ``ztc api`` process, its keys and its log."""

    def __init__(self, base_url: str, keys: dict[str, str], keys_file: Path, log_path: Path) -> None:
        self.base_url = base_url
        self.keys = keys
        self.keys_file = keys_file
        self.log_path = log_path

    def client(self, key_name: str | None = None) -> httpx.Client:
        headers = {"X-API-Key": self.keys[key_name]} if key_name else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_until_serving(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"ztc api exited with {process.returncode}: {log_path.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"ztc api did not answer within 60s: {log_path.read_text()}")


@contextmanager
def running_api(settings: Settings, department_codes: tuple[str, ...]) -> Iterator[Api]:
    """``ztc api`` on a free port with fresh demo keys, stopped with SIGTERM afterwards."""
    keys_file = settings.data_dir / "api-keys.toml"
    keys = write_demo_keys(keys_file, department_codes)
    port = free_port()
    log_path = settings.data_dir / "api.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ztc", "api", "--port", str(port)],
            env={**settings_env(settings), "ZTC_API_KEYS": str(keys_file)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, base_url, log_path)
        yield Api(base_url, keys, keys_file, log_path)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


PASSWORD = "integration password 1"


def add_user(
    settings: Settings, username: str, role: str, department: str | None = None, password: str = PASSWORD
) -> subprocess.CompletedProcess[str]:
    """``ztc user add`` with the password on stdin, as an operator would script it."""
    where = ["--department", department] if department else []
    return subprocess.run(
        [sys.executable, "-m", "ztc", "user", "add", username, "--role", role, *where, "--password-stdin"],
        input=password + "\n",
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def form_token(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, page[:500]
    return found.group(1)


def sign_in(http: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    """The sign-in form as a browser fills it: its token from the page, the cookie it set."""
    token = form_token(http.get("/dashboard/login").text)
    form = {"username": username, "password": password, "csrf": token, "next": "/dashboard"}
    return http.post("/dashboard/login", data=form)


@contextmanager
def signed_in(api: Api, username: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    """A browser-like client with ``username``'s session cookie."""
    with api.client() as http:
        answer = sign_in(http, username, password)
        assert answer.status_code == 303, answer.text
        yield http
