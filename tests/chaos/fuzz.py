"""Hostile HTTP requests for the web edge, generated with hypothesis from the live ``/openapi.json``.

Every route of the OpenAPI document (intake, robot callback, department
actions) and the dashboard pages (kept out of the document) is requested with
valid, stale and junk keys, real and made-up ticket ids, and hostile bodies:
deep JSON, 5,000-digit numbers, NaN, wrong types, NUL and lone surrogates,
60 KB strings, invalid UTF-8, wrong content types, huge headers, blank
``Idempotency-Key``. ``generate`` draws the requests up front (hypothesis,
generate phase only, seeded); ``fuzz_client.send_all`` sends them and keeps
every answer, so 5xx answers can be counted and shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

DASHBOARD = (
    ("GET", "/dashboard", ("from", "to")),
    ("GET", "/dashboard/tickets/{ticket_id}", ()),
    ("GET", "/dashboard/ticket", ("id",)),
    ("GET", "/dashboard/enterprise", ("q",)),
    ("GET", "/dashboard/project", ("q",)),
    ("GET", "/dashboard/login", ("next",)),
    ("POST", "/dashboard/login", ()),
    ("POST", "/dashboard/logout", ()),
    ("POST", "/dashboard/tickets/{ticket_id}/accept", ()),
    ("POST", "/dashboard/tickets/{ticket_id}/dispatch", ()),
    ("GET", "/admin/users", ()),
    ("POST", "/admin/users", ()),
    ("GET", "/", ()),
    ("GET", "/docs", ()),
    ("GET", "/openapi.json", ()),
    ("GET", "/healthz", ()),
    ("GET", "/metrics", ()),
    ("GET", "/static/dashboard.css", ()),
)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    query: tuple[str, ...]
    schema: dict[str, Any] | None = None
    """the JSON body's schema (properties, examples), when the route takes one"""


@dataclass(frozen=True)
class Context:
    """What the fuzzer aims with: the live routes, real keys, real tickets and a signed-in cookie."""

    routes: tuple[Route, ...]
    keys: tuple[str, ...]
    channel_keys: tuple[str, ...]
    department_keys: tuple[str, ...]
    ticket_ids: tuple[str, ...]
    cookie: str | None


@dataclass(frozen=True)
class FuzzRequest:
    method: str
    path: str
    headers: tuple[tuple[str, bytes], ...]
    body: bytes | None
    route: str = "(junk path)"
    """the route template it aims at, for the per-route summary"""


def routes_from_openapi(document: dict[str, Any]) -> tuple[Route, ...]:
    schemas = document.get("components", {}).get("schemas", {})
    out = []
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            query = tuple(p["name"] for p in operation.get("parameters", []) if p.get("in") == "query")
            content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = str(content.get("schema", {}).get("$ref", "")).rsplit("/", 1)[-1]
            out.append(Route(method.upper(), path, query, schemas.get(ref) if ref else None))
    return tuple(out) + tuple(Route(m, p, q) for m, p, q in DASHBOARD)


# ---------------------------------------------------------------- hostile JSON


@dataclass(frozen=True)
class Raw:
    """JSON text inserted as is: numbers Python cannot print, nesting it cannot build."""

    text: str


def encode(value: Any) -> str:
    """JSON text for ``value``, with ``Raw`` inserted verbatim and NaN/Infinity as Python writes them."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return json.dumps(value)


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """A branch drawn with these weights (``one_of`` would ignore a strategy given twice)."""
    options = [strategy for weight, strategy in choices if weight > 0]
    picks = [i for i, (weight, _) in enumerate(c for c in choices if c[0] > 0) for _ in range(weight)]
    return st.sampled_from(picks).flatmap(lambda i: options[i])


def _huge_number() -> st.SearchStrategy[Raw]:
    return st.integers(300, 6000).map(lambda n: Raw("9" * n))


def _deep() -> st.SearchStrategy[Raw]:
    return st.integers(50, 100_000).map(lambda d: Raw("[" * d + "]" * d))


SPECIAL_STRINGS = [
    "",
    " ",
    "\t\n",
    "\u3000",
    "\0",
    "a\0b",
    "\ud800",
    "\udfff企",
    "🏭" * 3,
    "%00",
    "../",
    "null",
]


def hostile_strings(huge: bool = True) -> st.SearchStrategy[str]:
    big = st.one_of(
        st.integers(1000, 70_000).map(lambda n: "企" * (n // 3)),
        st.integers(60_000, 70_000).map(lambda n: "a" * n),
    )
    return weighted((5, st.text(max_size=40)), (3, st.sampled_from(SPECIAL_STRINGS)), (1 if huge else 0, big))


def hostile_values() -> st.SearchStrategy[Any]:
    scalars = weighted(
        (4, hostile_strings()),
        (1, st.integers()),
        (1, st.floats(allow_nan=True, allow_infinity=True)),
        (1, st.booleans()),
        (1, st.none()),
        (1, _huge_number()),
    )
    return weighted(
        (6, scalars),
        (1, st.lists(scalars, max_size=4)),
        (1, st.dictionaries(st.text(max_size=8), scalars, max_size=4)),
        (1, _deep()),
    )


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def json_bodies(schema: dict[str, Any] | None) -> st.SearchStrategy[bytes]:
    """Mostly a valid example (fresh message id) with one or two fields spoiled; sometimes no JSON at all."""
    props = sorted((schema or {}).get("properties", {}))
    example = ((schema or {}).get("examples") or [{}])[0]
    base = st.integers(0, 10**12).map(lambda n: {**example, "channel_message_id": f"fuzz-{n}"})
    if "channel_message_id" not in props:
        base = st.just(example)
    change = st.tuples(st.sampled_from([*props, "extra"]), hostile_values())
    spoiled = st.tuples(base, st.lists(change, min_size=1, max_size=2)).map(lambda p: {**p[0], **dict(p[1])})
    fresh = st.dictionaries(st.sampled_from(props or ["text"]), hostile_values(), max_size=len(props) + 1)
    documents = weighted((6, spoiled), (2, base), (1, fresh)).map(lambda d: _utf8(encode(d)))
    return weighted(
        (9, documents),
        (1, hostile_values().map(lambda v: _utf8(encode(v)))),
        (1, st.binary(max_size=200)),
        (1, st.just(b"")),
        (
            1,
            st.sampled_from(
                [b"\xff\xfe{}", b'{"text": "\xc3\x28"}', b'{"text": "\xe4\xbc"}', "诉求".encode("gbk")]
            ),
        ),
        (1, st.integers(50, 100_000).map(lambda d: b'{"a":' * d + b"1" + b"}" * d)),
        (
            1,
            st.sampled_from([b"text=%E8%AF%89%E6%B1%82&x=1", b"key=&next=/dashboard", b"{", b"NaN", b"[1,]"]),
        ),
    )


# ---------------------------------------------------------------- requests


def _path(route: Route, context: Context) -> st.SearchStrategy[str]:
    if "{ticket_id}" not in route.path:
        return st.just(route.path)
    known = st.sampled_from(context.ticket_ids or ("ZTC-20990101-DEADBEEF",))
    ids = weighted(
        (6, known),
        (2, hostile_strings(huge=False).map(lambda s: quote(_utf8(s), safe=""))),
        (1, st.sampled_from(["..", "%2e%2e", "%zz", "%00", "ZTC-20990101-DEADBEEF", "x" * 5000, "%F0%9F"])),
    )
    return ids.map(lambda i: route.path.replace("{ticket_id}", i))


def _query(route: Route) -> st.SearchStrategy[str]:
    values = weighted(
        (2, hostile_strings(huge=False)),
        (1, st.floats(allow_nan=True, allow_infinity=True).map(str)),
        (
            2,
            st.sampled_from(
                ["0", "0.1", "-1", "30", "31", "1e309", "nan", "2026-11-28", "2026-13-45", "/dashboard"]
            ),
        ),
    )
    if not route.query:
        return st.just("")
    chosen = st.dictionaries(st.sampled_from(route.query), values, max_size=len(route.query))
    return chosen.map(lambda q: "?" + urlencode({k: _utf8(v) for k, v in q.items()}) if q else "")


def _header_text(text: str) -> bytes:
    return _utf8(text.replace("\r", " ").replace("\n", " "))


def _keys(route: Route, context: Context) -> st.SearchStrategy[bytes | None]:
    """Mostly a key of the right kind for the route, else any key, junk or none."""
    if route.path in ("/api/tickets", "/api/robot/callback"):
        right = context.channel_keys
    elif route.path.startswith("/api/"):
        right = context.department_keys
    else:
        right = context.keys
    return weighted(
        (5, st.sampled_from(right or context.keys).map(str.encode)),
        (1, st.sampled_from(context.keys).map(str.encode)),
        (1, hostile_strings(huge=False).map(_header_text)),
        (1, st.none()),
    )


def _headers(route: Route, context: Context) -> st.SearchStrategy[tuple[tuple[str, bytes], ...]]:
    idempotency = weighted(
        (4, st.none()),
        (2, st.sampled_from([" ", "   ", "\t", "\u3000"]).map(_header_text)),
        (2, hostile_strings(huge=False).map(_header_text)),
        (1, st.integers(0, 10**9).map(lambda n: f"fuzz-idem-{n}".encode())),
    )
    odd_types = [
        b"text/plain", b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x",
        b"application/json; charset=gbk", b"\xff\xfe", b"",
    ]  # fmt: skip
    content_type = weighted(
        (5, st.just(b"application/json")), (2, st.sampled_from(odd_types)), (1, st.none())
    )
    lengths = [(("Content-Length", b"abc"),), (("Content-Length", b"-1"),), (("Content-Length", b"9" * 30),)]
    jars = [(("Cookie", b"ztc_session=forged.token"),), (("Cookie", b"ztc_session=" + b"\xff" * 10),)]
    extra = weighted(
        (6, st.just(())),
        (1, st.integers(1, 120_000).map(lambda n: (("X-Filler", b"f" * n),))),
        (1, st.integers(1, 300).map(lambda n: tuple((f"X-Many-{i}", b"v") for i in range(n)))),
        (1, st.sampled_from(lengths)),
        (1, st.sampled_from(jars)),
    )
    session = () if context.cookie is None else (("Cookie", context.cookie.encode()),)
    cookie = weighted((3, st.just(session)), (1, st.just(())))

    def assemble(parts: tuple[Any, ...]) -> tuple[tuple[str, bytes], ...]:
        api_key, idem, ctype, more, jar = parts
        out = [("X-API-Key", api_key)] if api_key is not None else []
        out += [("Idempotency-Key", idem)] if idem is not None else []
        out += [("Content-Type", ctype)] if ctype is not None else []
        return (*out, *more, *jar)

    return st.tuples(_keys(route, context), idempotency, content_type, extra, cookie).map(assemble)


def requests(context: Context) -> st.SearchStrategy[FuzzRequest]:
    def for_route(route: Route) -> st.SearchStrategy[FuzzRequest]:
        method = weighted((6, st.just(route.method)), (1, st.sampled_from(["GET", "POST", "PUT", "DELETE"])))
        body = (
            weighted((1, st.none()), (6, json_bodies(route.schema))) if route.method == "POST" else st.none()
        )
        parts = st.tuples(method, _path(route, context), _query(route), _headers(route, context), body)
        name = f"{route.method} {route.path}"
        return parts.map(lambda p: FuzzRequest(p[0], p[1] + p[2], p[3], p[4], name))

    junk_path = hostile_strings().map(lambda s: "/" + quote(_utf8(s)))
    anywhere = Route("GET", "/", ())
    junk = st.tuples(junk_path, _headers(anywhere, context)).map(
        lambda p: FuzzRequest("GET", p[0], p[1], None)
    )
    return st.one_of(*[for_route(r) for r in context.routes], junk)


def generate(context: Context, n: int, seed_value: int = 20261128) -> list[FuzzRequest]:
    """``n`` requests drawn by hypothesis (generate phase only; seeded, so a run can be repeated)."""
    out: list[FuzzRequest] = []
    strategy = requests(context)

    @seed(seed_value)
    @settings(
        max_examples=max(1, n),
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(request: FuzzRequest) -> None:
        out.append(request)

    for _ in range(20):
        if len(out) >= n:
            break
        collect()
    return out[:n]
