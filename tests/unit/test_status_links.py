"""Enterprise status links: signed over ticket id and expiry, verified with the secret alone; any
alteration, another secret or the passing of the expiry makes them worthless."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.settings import Settings
from schemas.status_links import StatusLinks, token_expiry
from tests.unit.factories import NOW
from ztc.api_cmd import redact_status_links
from ztc.bootstrap import SecretFileError, secret_file, status_links

SECRET = bytes(range(32))
LINKS = StatusLinks(SECRET, 90, "https://ztc.example.gov.cn/")
TICKET = "ZTC-20261127-1C2D3E4F"


def test_a_link_opens_its_ticket_until_the_end_of_its_last_day() -> None:
    link = LINKS.link(TICKET, NOW)
    assert link.url == f"https://ztc.example.gov.cn/status/{link.token}"
    assert link.token.startswith(f"{TICKET}.") and len(link.token) < 60
    assert (link.expires_at.date(), link.expires_at.hour) == ((NOW + timedelta(days=90)).date(), 23)
    assert LINKS.link(TICKET, NOW + timedelta(hours=5)) == link  # the same link all that day
    assert LINKS.ticket_of(link.token, NOW) == TICKET
    assert LINKS.ticket_of(link.token, link.expires_at - timedelta(seconds=1)) == TICKET
    assert LINKS.ticket_of(link.token, link.expires_at) is None
    assert token_expiry(link.token) == link.expires_at


def test_another_secret_or_ticket_opens_nothing() -> None:
    token = LINKS.link(TICKET, NOW).token
    other = StatusLinks(bytes(32), 90, "http://x")
    assert other.ticket_of(token, NOW) is None
    ticket, expires, signature = token.split(".")
    for forged in (
        f"ZTC-20261127-1C2D3E40.{expires}.{signature}",  # another ticket, same signature
        f"{ticket}.{int(expires) + 86400}.{signature}",  # a longer life
        f"{ticket}.{expires}.{signature[:-1]}A"
        if signature[-1] != "A"
        else f"{ticket}.{expires}.{signature[:-1]}B",
        f"{ticket}.{expires}",
        f"{ticket.lower()}.{expires}.{signature}",
        "",
        "...",
        f"{ticket}.-1.{signature}",
        f"{ticket}.{expires}.{signature}.x",
    ):
        assert LINKS.ticket_of(forged, NOW) is None, forged


@given(st.text(max_size=80))
def test_no_string_that_is_not_a_signed_token_opens_anything(token: str) -> None:
    assert LINKS.ticket_of(token, NOW) is None


def test_a_short_secret_or_a_bad_id_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        StatusLinks(b"short", 90, "http://x")
    with pytest.raises(ValueError, match="not a ticket id"):
        LINKS.token("ZTC/../x", NOW)


def test_the_secret_is_made_once_owner_only_and_shared(tmp_path: Path) -> None:
    path = tmp_path / "data" / "status-link.key"
    first = secret_file(path)
    assert len(first) == 32 and secret_file(path) == first
    assert path.stat().st_mode & 0o777 == 0o600
    settings = Settings(data_dir=tmp_path / "data", public_url="https://ztc.example.gov.cn/")
    links = status_links(settings)
    assert links.secret == first and links.base_url == "https://ztc.example.gov.cn"
    path.write_text("not hex\n")
    with pytest.raises(SecretFileError, match="delete it"):
        secret_file(path)


def test_without_a_public_url_links_point_where_ztc_api_listens(tmp_path: Path) -> None:
    links = status_links(Settings(data_dir=tmp_path, api_port=8099))
    assert links.link(TICKET, NOW).url.startswith("http://127.0.0.1:8099/status/ZTC-")


def test_the_access_log_keeps_the_ticket_id_but_not_the_signature() -> None:
    token = LINKS.link(TICKET, NOW).token
    for path, shown in (
        (f"/status/{token}?done=rate", f"/status/{TICKET}.…"),
        (f"/status/{token}/supply", f"/status/{TICKET}.…/supply"),
        ("/dashboard", "/dashboard"),
    ):
        record = logging.LogRecord(
            "uvicorn.access", 20, "", 0, '%s - "%s %s" %d', ("ip", "GET", path, 200), None
        )
        assert redact_status_links(record) and record.getMessage() == f'ip - "GET {shown}" 200'
        assert token.split(".")[2] not in record.getMessage()
