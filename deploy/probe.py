"""Is a server there and ready? A Kafka ApiVersions request and an authenticated Redis PING.

An open port is not a ready server: redis-server listens before it has loaded
its AOF (every command then fails with ``LOADING``), and a port may belong to
something else. These checks ask the real question within a timeout and
without kafka-python's slow client start-up. The embedded stack waits on them
(``wait_ready``); the CLI calls ``require_servers`` before a command that needs
the broker or Redis, so a stopped stack is one line in about a second.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, AuthenticationWrongNumberOfArgsError, BusyLoadingError
from redis.retry import Retry

from schemas.settings import Settings

BROKER = "broker"
REDIS = "redis"

EMBEDDED_TIMEOUT_S = 1.0
"""The embedded servers run on this machine: they answer in milliseconds or not at all."""
EXTERNAL_TIMEOUT_S = 3.0
"""A configured Kafka or Redis gets this long (in total) to answer."""
LOADING_WAIT_S = 15.0
"""The CLI waits this long for a Redis that is still loading its data."""
HOW_TO_START = "start ZTC with `make run` or `ztc dev up`"

_API_VERSIONS_KEY = 18
_CORRELATION_ID = 0x5A7C
_CLIENT_ID = b"ztc-probe"
_MAX_FRAME = 1 << 20


class NotReady(Exception):
    """The server does not (yet) answer as a ready one; the message says what happened."""


class NotListening(NotReady):
    """Nothing listens on the port (connection refused)."""


class Loading(NotReady):
    """Redis answers ``LOADING``: it is reading its AOF."""


class AccessDenied(Exception):
    """Redis refused the credentials: waiting will not help."""


class Exited(Exception):
    """The process that should answer has exited."""


class ServiceUnavailable(RuntimeError):
    """A server the command needs does not answer; the message is one line for the user."""


def _recv_exactly(sock: socket.socket, size: int, deadline: float) -> bytes:
    data = bytearray()
    while len(data) < size:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise NotReady("the connection was closed without an answer")
        data += chunk
    return bytes(data)


def kafka_api_versions(host: str, port: int, timeout_s: float) -> int:
    """Ask for the broker's API versions (ApiVersions v0); return how many APIs it lists.

    Raise NotListening if nothing listens, NotReady for no answer in ``timeout_s``
    or an answer that is not a Kafka one.
    """
    deadline = time.monotonic() + timeout_s
    request = struct.pack(">hhih", _API_VERSIONS_KEY, 0, _CORRELATION_ID, len(_CLIENT_ID)) + _CLIENT_ID
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            sock.sendall(struct.pack(">i", len(request)) + request)
            (size,) = struct.unpack(">i", _recv_exactly(sock, 4, deadline))
            if not 10 <= size <= _MAX_FRAME:
                raise NotReady(f"{host}:{port} does not speak Kafka (frame of {size} bytes)")
            body = _recv_exactly(sock, size, deadline)
    except ConnectionRefusedError:
        raise NotListening(f"nothing listens on {host}:{port}") from None
    except TimeoutError:
        raise NotReady(f"no answer from {host}:{port} within {timeout_s:g}s") from None
    except OSError as exc:
        raise NotReady(f"{host}:{port}: {exc.strerror or exc}") from None
    correlation, error, count = struct.unpack_from(">ihi", body)
    if correlation != _CORRELATION_ID:
        raise NotReady(f"{host}:{port} does not speak Kafka (wrong correlation id)")
    if error != 0:
        raise NotReady(f"{host}:{port} answered ApiVersions with error code {error}")
    return int(count)


def probe_client(url: str, timeout_s: float, **options: Any) -> redis.Redis:
    """A client for one check: short timeouts and no retries, so LOADING and refusals show.

    ``options``: credentials and TLS files (``Settings.redis_connection_options``)."""
    no_retry = Retry(NoBackoff(), 0)
    return redis.Redis.from_url(
        url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, retry=no_retry, **options
    )


def _refused(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def redis_ping(client: redis.Redis) -> None:
    """One PING that must come back PONG; Loading, NotListening or NotReady otherwise.

    Raise AccessDenied when the server refuses the password (or wants one).
    """
    try:
        answer = client.ping()
    except BusyLoadingError:
        raise Loading("Redis is loading its data (LOADING)") from None
    except (AuthenticationError, AuthenticationWrongNumberOfArgsError) as exc:
        raise AccessDenied(_one_line(exc)) from None
    except redis.RedisError as exc:
        if _refused(exc):
            raise NotListening(_one_line(exc)) from None
        raise NotReady(_one_line(exc)) from None
    if answer is not True:
        raise NotReady(f"PING answered {answer!r}")


def redis_ready(url: str, timeout_s: float) -> None:
    """``redis_ping`` on a fresh connection to ``url``, closed afterwards."""
    client = probe_client(url, timeout_s)
    try:
        redis_ping(client)
    finally:
        client.close()


def wait_ready(
    check: Callable[[], None],
    timeout_s: float,
    *,
    alive: Callable[[], bool] = lambda: True,
    interval_s: float = 0.05,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Call ``check`` until it passes; retry NotReady (Redis LOADING included) until ``timeout_s``.

    Raise the last NotReady at the deadline, Exited as soon as ``alive()`` is false,
    and let anything else (AccessDenied) through at once.
    """
    deadline = clock() + timeout_s
    while True:
        try:
            check()
            return
        except NotReady as exc:
            last = exc
        if not alive():
            raise Exited(str(last))
        if clock() >= deadline:
            raise last
        sleep(interval_s)


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***``, fit to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port is not None else "")
    return urlunsplit(parts._replace(netloc=netloc))


def bootstrap_addresses(servers: str) -> list[tuple[str, int]]:
    """``kafka-1:9092,PLAINTEXT://[::1]:9093`` as (host, port) pairs (port 9092 when missing)."""
    out = []
    for entry in servers.split(","):
        address = entry.strip().rpartition("://")[2]
        if not address:
            continue
        host, sep, port = address.rpartition(":")
        if not sep or "]" in port:
            host, port = address, "9092"
        out.append((host.strip("[]"), int(port) if port.isdigit() else 9092))
    return out


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def require_servers(settings: Settings, needs: Collection[str], redis_url: str) -> None:
    """Raise ServiceUnavailable (one line) unless every server in ``needs`` answers as a ready one.

    ``redis_url``: the URL the command will use (the embedded one carries its password).
    """
    if BROKER in needs:
        _require_broker(settings)
    if REDIS in needs:
        _require_redis(settings, redis_url)


def _require_broker(settings: Settings) -> None:
    if settings.bootstrap_servers is None:
        address = f"127.0.0.1:{settings.broker_port}"
        try:
            kafka_api_versions("127.0.0.1", settings.broker_port, EMBEDDED_TIMEOUT_S)
        except NotListening:
            raise ServiceUnavailable(
                f"嵌入式消息代理未运行 the embedded broker ({address}) is not running; {HOW_TO_START}"
            ) from None
        except NotReady as exc:
            raise ServiceUnavailable(
                f"嵌入式消息代理无响应 the embedded broker ({address}) does not answer: {exc}; "
                "restart it with `ztc dev down` and `ztc dev up`"
            ) from None
        return
    addresses = bootstrap_addresses(settings.bootstrap_servers)
    deadline = time.monotonic() + EXTERNAL_TIMEOUT_S
    reason = "no address in ZTC_BOOTSTRAP_SERVERS"
    for index, (host, port) in enumerate(addresses):
        share = (deadline - time.monotonic()) / (len(addresses) - index)
        try:
            if settings.kafka_tls:  # a plaintext ApiVersions cannot cross TLS: a listener is all we check
                _listening(host, port, max(0.05, share))
            else:
                kafka_api_versions(host, port, max(0.05, share))
            return
        except NotReady as exc:
            reason = str(exc)
    raise ServiceUnavailable(
        f"Kafka ({settings.bootstrap_servers}) 无响应 did not answer within {EXTERNAL_TIMEOUT_S:g}s: "
        f"{reason}; check ZTC_BOOTSTRAP_SERVERS"
    )


def _listening(host: str, port: int, timeout_s: float) -> None:
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        raise NotReady(f"{host}:{port}: {exc}") from None


def _require_redis(settings: Settings, url: str) -> None:
    if settings.redis_sentinels:
        return  # the master is known only by asking the Sentinels: the command's client says what is wrong
    embedded = settings.redis_url is None
    where = f"the embedded Redis (127.0.0.1:{settings.redis_port})" if embedded else f"Redis ({redact(url)})"
    fix = "restart it with `ztc dev down` and `ztc dev up`" if embedded else "check ZTC_REDIS_URL"
    timeout_s = EMBEDDED_TIMEOUT_S if embedded else EXTERNAL_TIMEOUT_S
    client = probe_client(url, timeout_s, **settings.redis_connection_options())
    try:
        _ping_once_loaded(client)
    except Loading:
        raise ServiceUnavailable(
            f"Redis 仍在加载数据 {where} is still loading its data after {LOADING_WAIT_S:g}s; "
            "try again shortly"
        ) from None
    except AccessDenied as exc:
        raise ServiceUnavailable(f"Redis 拒绝访问 {where} refused access: {exc}; {fix}") from None
    except NotListening:
        if embedded:
            raise ServiceUnavailable(f"嵌入式 Redis 未运行 {where} is not running; {HOW_TO_START}") from None
        raise ServiceUnavailable(
            f"Redis 无响应 {where} does not answer: nothing listens there; {fix}"
        ) from None
    except NotReady as exc:
        raise ServiceUnavailable(
            f"Redis 无响应 {where} did not answer within {timeout_s:g}s: {exc}; {fix}"
        ) from None
    finally:
        client.close()


def _ping_once_loaded(client: redis.Redis) -> None:
    """``redis_ping``, waiting up to LOADING_WAIT_S while Redis loads its data; fail at once otherwise."""
    loading_until = time.monotonic() + LOADING_WAIT_S
    while True:
        try:
            redis_ping(client)
            return
        except Loading:
            if time.monotonic() >= loading_until:
                raise
        time.sleep(0.1)
