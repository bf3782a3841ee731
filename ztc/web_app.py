"""Composition root of the web edge: one FastAPI app for intake, department API, dashboard and metrics.

``create_app`` builds everything from ``Settings`` and the routing policy;
nothing connects until a request needs it (the Kafka producer is created on
first use and closed at shutdown), so ``ztc api spec`` can export the OpenAPI
document without a broker.
"""

from __future__ import annotations

import functools
import hmac
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Protocol

import redis
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from kafka.errors import KafkaError
from prometheus_client import CollectorRegistry

from consumers import views
from consumers.access import KeyRing, principal_dependency
from consumers.account_store import AccountStore, RedisAccountStore
from consumers.accounts import Passwords, SignIn
from consumers.admin_pages import AdminPages, admin_router
from consumers.api_docs import docs_page, markdown_code
from consumers.api_errors import add_error_handlers
from consumers.attachment_pages import (
    Attachments,
    api_attachment_router,
    staff_attachment_router,
    status_attachment_router,
)
from consumers.attachment_store import AttachmentStore
from consumers.dashboard import STATIC, TEMPLATES, TicketPage, dashboard_router, make_templates
from consumers.department_api import Performer, department_router
from consumers.hotspot_views import hotspot_router, recent_hotspots
from consumers.inbox_index import InboxIndex, RedisInboxIndex
from consumers.metrics import CountRequests, TicketGauges, exposition
from consumers.report import DetectedHotSpots
from consumers.report_pages import report_router
from consumers.status_page import StatusPages, status_router
from consumers.ticket_store import RedisTicketStore, TicketStore
from consumers.web_actions import action_router
from consumers.web_sessions import WebSessions, sign_in_router
from consumers.work_pages import WorkPages, export_router, notice_router, work_router
from producers.department_client import DepartmentClient
from producers.gateway import MAX_BODY_BYTES, BodyLimit, Intake, body_schemas, gateway_router
from producers.idempotency import RedisFingerprints
from producers.outbox import RedisOutbox
from producers.publisher import TicketPublisher
from producers.robot_gateway import RobotSecrets, group_street, robot_router
from schemas.events import now_in_district
from schemas.hotspot_events import HotSpotDetected
from schemas.policy import RoutingPolicy
from schemas.settings import Settings
from schemas.status_links import StatusLinks
from ztc.bootstrap import attachment_store, redis_client, status_links

log = logging.getLogger(__name__)

DESCRIPTION = """营商效能督办直通车（ZTC）Web 接口：渠道提交诉求、群机器人回调、部门接单与反馈。

The ZTC web edge: channels submit tickets, the group robot calls back, departments act on their tickets.
Every call carries its API key in the `X-API-Key` header. Retry a submission with the same
`Idempotency-Key` (or `channel_message_id`): you get the same ticket id back.
"""


class Resources:
    """Adapters of one web process; the Kafka producer is made on first use, closed at shutdown."""

    def __init__(
        self,
        settings: Settings,
        policy: RoutingPolicy,
        clock: Callable[[], datetime],
        accounts: AccountStore | None = None,
        passwords: Passwords | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.clock = clock
        self.redis = redis_client(settings)
        self._store = RedisTicketStore(self.redis, settings.redis_prefix)
        self._accounts = accounts or RedisAccountStore(self.redis, settings.redis_prefix)
        self._passwords = passwords or Passwords()
        self._sign_in = SignIn(self._accounts, self._passwords)
        self._publisher: TicketPublisher | None = None
        self._links: StatusLinks | None = None
        self._attachment_store: AttachmentStore | None = None
        self.attachments = Attachments(self.attachment_store, settings.attachment_rules)
        self._lock = threading.Lock()

    def attachment_store(self) -> AttachmentStore:
        with self._lock:
            if self._attachment_store is None:
                self._attachment_store = attachment_store(self.settings)
            return self._attachment_store

    def store(self) -> RedisTicketStore:
        return self._store

    def inboxes(self) -> InboxIndex:
        return RedisInboxIndex(self.redis, self.settings.redis_prefix)

    def accounts(self) -> AccountStore:
        return self._accounts

    def passwords(self) -> Passwords:
        return self._passwords

    def sign_in(self) -> SignIn:
        return self._sign_in

    def status_links(self) -> StatusLinks:
        """The enterprise status links, their secret read (or made) on first use."""
        with self._lock:
            if self._links is None:
                self._links = status_links(self.settings)
            return self._links

    def publisher(self) -> TicketPublisher:
        with self._lock:
            if self._publisher is None:
                outbox = RedisOutbox(self.redis, self.settings.redis_prefix)
                self._publisher = TicketPublisher(
                    self.settings.kafka_bootstrap,
                    self.settings.topics.submitted,
                    outbox,
                    self.clock,
                    client_options=self.settings.kafka_client_options(),
                )
            return self._publisher

    def client(self) -> DepartmentClient:
        return DepartmentClient(
            self._store,
            self.publisher(),
            self.settings.topics.feedback,
            self.policy.department_codes,
            self.clock,
        )

    def close(self) -> None:
        with self._lock:
            if self._publisher is not None:
                self._publisher.close()
                self._publisher = None
        self.redis.close()


def scraper_allowed(token: str | None, request: Request) -> bool:
    """``/metrics``: with a token set, only a bearer of it; without one, only loopback clients."""
    if token is None:
        host = request.client.host if request.client else ""
        return host in ("127.0.0.1", "::1")
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s: backend unavailable: %s", request.method, request.url.path, type(exc).__name__)
    return JSONResponse({"detail": "服务暂不可用，请稍后重试 / temporarily unavailable, retry later"}, 503)


class PageResources(Protocol):
    """What the pages need: ``Resources`` in production, in-memory stand-ins in unit tests."""

    @property
    def settings(self) -> Settings: ...
    @property
    def policy(self) -> RoutingPolicy: ...
    @property
    def clock(self) -> Callable[[], datetime]: ...

    def store(self) -> TicketStore: ...
    def inboxes(self) -> InboxIndex: ...
    def client(self) -> Performer: ...
    def accounts(self) -> AccountStore: ...
    def passwords(self) -> Passwords: ...
    def sign_in(self) -> SignIn: ...
    @property
    def attachments(self) -> Attachments: ...


def web_pages(resources: PageResources) -> APIRouter:
    """The pages people sign in to: sign-in, dashboard and ticket pages with their forms, admin."""
    policy, clock = resources.policy, resources.clock
    templates = make_templates(policy)
    templates.env.globals["attachment_rules"] = resources.attachments.rules
    sessions = WebSessions(resources.sign_in, clock, resources.settings.secure_cookies)
    dashboard = dashboard_router(resources.store, policy, clock, sessions, templates)
    ticket_page = TicketPage(templates, policy, clock)
    pages = APIRouter(include_in_schema=False)
    pages.include_router(sign_in_router(sessions, templates))
    pages.include_router(dashboard)
    spots = DetectedHotSpots(_hotspot_reader(resources))
    pages.include_router(report_router(resources.store, policy, clock, sessions, templates.env, spots))
    work = WorkPages(resources.store, resources.inboxes, policy, clock, templates)
    pages.include_router(work_router(work, sessions))
    pages.include_router(export_router(work, sessions))
    pages.include_router(notice_router(work, sessions))
    pages.include_router(hotspot_router(_hotspot_reader(resources), sessions, templates, clock))
    pages.include_router(
        action_router(
            resources.store,
            resources.client,
            sessions,
            ticket_page.render,
            ticket_page.actions,
            resources.attachments,
        )
    )
    pages.include_router(staff_attachment_router(resources.attachments, resources.store, sessions))
    admin = AdminPages(resources.accounts, resources.passwords, templates, policy.department_codes, clock)
    pages.include_router(admin_router(admin, sessions))
    return pages


def _hotspot_reader(resources: PageResources) -> Callable[[], list[HotSpotDetected]]:
    """The hot spots the worker keeps beside the tickets (none where the store is not Redis)."""

    def read() -> list[HotSpotDetected]:
        client = getattr(resources.store(), "client", None)
        return recent_hotspots(client, resources.settings.redis_prefix) if client is not None else []

    return read


def status_pages(resources: Resources) -> APIRouter:
    """The enterprise status page behind its signed link (no account, no cookie)."""
    policy = resources.policy

    def name(code: str) -> str:
        department = policy.department(code)
        return department.name if department is not None else code

    templates = make_templates(policy)
    templates.env.globals["attachment_rules"] = resources.attachments.rules
    pages = StatusPages(
        resources.store,
        resources.client,
        resources.status_links,
        templates,
        resources.clock,
        name,
        resources.attachments,
    )
    router = status_router(pages)
    router.include_router(status_attachment_router(resources.attachments, resources.store, pages.ticket_id))
    return router


def robot_secrets(settings: Settings) -> RobotSecrets:
    return RobotSecrets(
        dingtalk_app_secret=settings.dingtalk_app_secret,
        wecom_token=settings.wecom_token,
        wecom_aes_key=settings.wecom_aes_key,
        wecom_receive_id=settings.wecom_receive_id,
    )


def create_app(
    settings: Settings,
    policy: RoutingPolicy,
    keys: KeyRing,
    clock: Callable[[], datetime] = now_in_district,
    intake: Intake | None = None,
    accounts: AccountStore | None = None,
) -> FastAPI:
    """The web app; ``intake``, ``accounts``: instead of Redis and Kafka (unit tests)."""
    resources = Resources(settings, policy, clock, accounts)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        resources.close()

    app = FastAPI(
        title="营商效能督办直通车 ZTC API",
        version="1",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    principal = principal_dependency(keys, clock)
    intake = intake or Intake(
        resources.publisher, clock, RedisFingerprints(resources.redis, settings.redis_prefix)
    )
    streets = functools.partial(group_street, policy)
    app.include_router(
        gateway_router(
            intake,
            principal,
            resources.status_links,
            streets,
            verify_attachments=resources.attachments.verified,
        )
    )
    app.include_router(robot_router(intake, policy, lambda: robot_secrets(settings)))
    app.include_router(
        department_router(
            resources.store,
            resources.client,
            principal,
            policy.privacy,
            verify_attachments=resources.attachments.verified,
        )
    )
    app.include_router(api_attachment_router(resources.attachments, resources.store, principal))
    app.include_router(web_pages(resources))
    app.include_router(status_pages(resources))
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.add_api_route(
        "/docs",
        docs_page(app, TEMPLATES),
        methods=["GET"],
        include_in_schema=False,
        response_class=HTMLResponse,
    )

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = markdown_code(generate())
            document.setdefault("components", {}).setdefault("schemas", {}).update(body_schemas())
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    gauges = CollectorRegistry(auto_describe=False)
    gauges.register(TicketGauges(lambda: views.gauges(resources.store(), clock())))

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        if not scraper_allowed(settings.metrics_token, request):
            return Response("需要 ZTC_METRICS_TOKEN / metrics need the bearer token\n", status_code=401)
        body, content_type = exposition(gauges)
        return Response(body, media_type=content_type)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(CountRequests)
    upload_limit = MAX_BODY_BYTES + settings.attachment_rules.max_bytes * settings.attachment_rules.max_files
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES, upload_limit=upload_limit)
    add_error_handlers(app)
    app.add_exception_handler(KafkaError, _unavailable)
    app.add_exception_handler(redis.RedisError, _unavailable)
    return app
