"""The web chat channel: visitor sessions, the visitor WebSocket, uploads, widget, demo.

One `WebchatAdapter` serves every visitor. It holds one subscription to the event bus
and fans each committed message out to the open sockets of that message's customer,
so a visitor sees every message of their conversation (bot, agent, other channels) in
every open tab. Visitors are named by signed tokens (`tokens.py`); a socket only ever
learns its own customer from the router, never from the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from aiohttp import BodyPartReader, WSCloseCode, WSMsgType, web
from prometheus_client import CollectorRegistry, Counter, Gauge

from channels.base import ChannelServices, ChannelSummary
from channels.webchat import pages, protocol
from channels.webchat.http import IdentityEndpoints, TeamStatusEndpoint
from channels.webchat.limits import OriginPolicy, RateLimiter
from channels.webchat.tokens import (
    InvalidToken,
    TokenSigner,
    Visitor,
    bearer_visitor,
    user_hash_matches,
    valid_user_id,
)
from config.settings import WebchatSettings
from router.core.connection_slots import ClientSlots
from router.core.events import (
    CustomersMerged,
    Event,
    EventsResumed,
    IdentityRetired,
    MessageStored,
    ThreadChanged,
    Typing,
)
from router.core.ids import parse_id
from router.core.languages import LANGUAGES
from router.core.messages import (
    AttachmentRef,
    ConversationMessage,
    DeliveryResult,
    InboundMessage,
    OutboundMessage,
    utcnow,
    wants_seen_mark,
)
from router.core.pending_uploads import PendingUploads, UploadQuota
from router.core.tasks import BackgroundTasks
from router.core.uploads import MULTIPART_ERRORS, UploadRefused, put_upload, read_upload
from router.http.errors import InvalidJson, parse_json, read_body
from router.http.files import file_response
from router.http.forwarded import client_key

logger = logging.getLogger(__name__)

CHANNEL = "webchat"
# Close codes (4000-4999 are the application's own); the widget reacts to each.
CLOSE_INVALID_TOKEN = 4401
CLOSE_ORIGIN = 4403
CLOSE_TOO_MANY_SOCKETS = 4429
CLOSE_OVERLOADED = 1013
CLOSE_GOING_AWAY = 1001

_SESSION_BODY_LIMIT = 16_384
_TYPING_INTERVAL = 2.0  # seconds between two typing events a socket may publish
_READ_BATCH = 200  # stored messages read back by one statement at most
_MAX_CATCH_UP = 1000  # messages sent on reconnect at most; older ones stay in the thread


_LOGGED_REFUSALS_PER_SOCKET = 5
_LIMIT = "webchat:"  # the names of this channel's rate buckets

# What `WebchatAdapter.send` did with an outbound message (its delivery `external_id`).
PUSHED = "webchat:pushed"  # sent on an open socket of this process
STORED = "webchat:stored"  # no socket here: in the conversation (and on the bus)


class _Socket:
    """One open visitor WebSocket: its visitor, its customer once known, its send queue."""

    def __init__(
        self, ws: web.WebSocketResponse, visitor: Visitor, number: int, client: str
    ) -> None:
        self.ws = ws
        self.visitor = visitor
        self.client = client  # the client address the socket came from
        self.number = number
        self.customer_id: int | None = None
        self.thread_id: int | None = None
        self.last_typing = 0.0
        self.refusals = 0
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(512)
        self._sent: dict[int, None] = {}  # insertion-ordered set of message ids sent
        self.overloaded = False

    def push(self, frame: dict[str, Any]) -> None:
        """Queue a frame; a socket too slow to keep up is closed (it catches up later)."""
        if self.overloaded:
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            # The writer stops at its next frame and closes; the client reconnects and
            # catches up from its last id, which costs far less than an unbounded queue.
            self.overloaded = True

    def claim(self, message_id: int) -> bool:
        """Whether `message_id` is new to this socket (and mark it sent)."""
        if message_id in self._sent:
            return False
        self._sent[message_id] = None
        if len(self._sent) > 4096:
            del self._sent[next(iter(self._sent))]
        return True

    def has(self, message_id: int) -> bool:
        """Whether `message_id` was already sent (or acked) on this socket."""
        return message_id in self._sent

    def finish(self) -> None:
        """Tell the writer to stop after what is queued."""
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    async def write_frames(self) -> None:
        """Send queued frames in order until told to stop or the socket fails."""
        while not self.overloaded:
            frame = await self._queue.get()
            if frame is None:
                break
            try:
                await self.ws.send_str(json.dumps(frame, ensure_ascii=False))
            except (ConnectionError, RuntimeError):
                break
        if self.overloaded and not self.ws.closed:
            await self.ws.close(code=CLOSE_OVERLOADED, message=b"too slow, reconnect")


def client_address(request: web.Request) -> str:
    """The key limits are counted by: the TCP peer, or the client a proxy in
    `[server] trusted_proxies` forwarded, as `router.http.forwarded.client_key` groups
    it (an IPv6 client by its /64; docs/webchat-protocol.md §4a).
    """
    return client_key(request.remote)


class WebchatAdapter:
    """The `webchat` channel adapter (see `docs/webchat-protocol.md`)."""

    name = CHANNEL
    # A delivery only stores the reply until the visitor's page shows it: the adapter
    # says when one did (`ChannelServices.seen`), and a reply nobody was shown is sent
    # again where the customer is (router/core/seen.py, docs/webchat-protocol.md §5).
    deliveries_need_seen_mark = True

    def __init__(
        self,
        *,
        settings: WebchatSettings,
        secret_key: str,
        public_url: str = "",
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
        min_free_disk_mb: int = 0,
    ) -> None:
        self._settings = settings
        self._min_free_disk_mb = min_free_disk_mb  # uploads stop before the disk is this full
        # Refused input (bad frames, limits, origins, tokens) by error code, on the
        # app's registry so /metrics shows floods and probes.
        self._refused = Counter(
            "pasokh_webchat_refused",
            "Web chat frames and requests refused, by error code",
            ["code"],
            registry=registry or CollectorRegistry(),
        )
        self._outbound = Counter(
            "pasokh_webchat_outbound",
            "Outbound web chat messages: pushed on a socket of this process, or stored"
            " (no socket here; another process or the history shows it)",
            ["result"],
            registry=registry or CollectorRegistry(),
        )
        self._sockets_gauge = Gauge(
            "pasokh_webchat_sockets",
            "Visitor sockets open in this process",
            registry=registry or CollectorRegistry(),
        )
        self._signer = TokenSigner(
            secret_key,
            visitor_ttl_seconds=settings.visitor_token_ttl_seconds,
            visitor_max_age_seconds=settings.visitor_token_max_age_seconds,
            user_hash_secret=settings.user_hash_secret,
            clock=clock,
        )
        self._origins = OriginPolicy(settings.allowed_origins, public_url)
        self._identity = IdentityEndpoints(
            settings=settings,
            signer=self._signer,
            origins=self._origins,
            services=lambda: self._services,
            address=client_address,
            refused=lambda code: self._refused.labels(code).inc(),
        )
        self._team_status = TeamStatusEndpoint(
            signer=self._signer,
            origins=self._origins,
            limit=lambda address: self._take(
                "team_status", address, settings.rate_limit_per_minute
            ),
            address=client_address,
            refuse=self._json_error,
            services=lambda: self._services,
        )
        self._services: ChannelServices | None = None
        self._assets: pages.Assets | None = None
        self._by_address: dict[str, set[_Socket]] = {}
        self._by_customer: dict[int, set[_Socket]] = {}
        self._tasks = BackgroundTasks(logger)
        self._to_read: list[MessageStored] = []  # stored messages a socket still needs
        self._reading = False  # whether `_read_stored` runs
        self._ingests = asyncio.Semaphore(max(settings.ingest_concurrency, 1))
        self._socket_count = 0
        self._slots: ClientSlots | None = None  # set at start, from the open-file limit
        self._pending: PendingUploads | None = None
        self._socket_refusals_logged = RateLimiter(1)  # a log line per client a minute

    # -- lifecycle ---------------------------------------------------------------

    async def start(self, services: ChannelServices) -> None:
        """Load the widget and pages, then follow the event bus."""
        if self._services is not None:
            raise RuntimeError("the web chat adapter is already started")
        self._assets = await asyncio.to_thread(pages.load_assets)
        self._start_limits(services)
        self._services = services
        self._tasks.spawn(self._follow_events(services), "webchat:events")

    def _start_limits(self, services: ChannelServices) -> None:
        """The caps on open sockets (per client address; in all, with the console's
        sockets: `services.sockets`) and on unsent uploads."""
        settings = self._settings
        slots = ClientSlots(total=services.sockets, per_client=settings.max_sockets_per_address)
        self._slots = slots
        self._sockets_gauge.set_function(lambda: len(slots))
        logger.info(
            "web chat: at most %d visitor sockets in this process (agents' console sockets"
            " included), %d per client address",
            slots.total,
            slots.per_client,
        )
        self._pending = PendingUploads(
            services.attachments,
            UploadQuota(
                per_client=settings.pending_upload_bytes_per_address,
                total=settings.pending_upload_bytes,
                min_free_bytes=self._min_free_disk_mb * 2**20,
            ),
        )

    async def stop(self) -> None:
        """Close every visitor socket and stop following events; no-op when stopped."""
        if self._services is None:
            return
        await self.close_connections()
        self._services = None
        await self._tasks.cancel()

    async def close_connections(self) -> None:
        """Close all open visitor sockets (1001): for the app's `on_shutdown`."""
        sockets = [s for group in self._by_address.values() for s in group]
        await asyncio.gather(
            *(s.ws.close(code=CLOSE_GOING_AWAY, message=b"server restarting") for s in sockets),
            return_exceptions=True,
        )

    # -- outbound ----------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """Push to the visitor's open sockets in this process; the message is in the
        conversation anyway.

        Messages reach sockets through the event bus (on PostgreSQL, in every process);
        pushing here too means a dropped event cannot hold a reply back. Each socket
        sends a message id once. The result says which happened (`external_id`):
        `PUSHED` when a socket of this process got it, `STORED` when none here did —
        then a socket in another process gets it from the bus, or the visitor sees it
        in the history on reconnect. It is `delivered` either way: the conversation is
        the web chat's mailbox, and retrying would not reach a socket elsewhere.
        """
        sockets = self._by_address.get(message.address)
        if not sockets:
            self._outbound.labels(STORED).inc()
            return DeliveryResult.delivered(STORED)
        shown = ConversationMessage(
            id=message.message_id,
            thread_id=message.thread_id,
            author=message.author,
            text=message.text,
            channel=CHANNEL,
            created_at=utcnow(),
            author_name=message.author_name,
            suggestions=message.suggestions,
            attachments=message.attachments,
            survey=message.survey,
        )
        self._push_message(sockets, shown)
        self._outbound.labels(PUSHED).inc()
        return DeliveryResult.delivered(PUSHED, seen=True)

    def _push_message(self, sockets: Iterable[_Socket], message: ConversationMessage) -> None:
        # File links are signed for each visitor, so each visitor gets its own frame.
        frames: dict[str, dict[str, Any]] = {}
        for socket in list(sockets):
            if socket.claim(message.id):
                address = socket.visitor.address
                if address not in frames:
                    frames[address] = protocol.message_frame(message, self._file_links(address))
                socket.push(frames[address])

    # -- event fan-out -------------------------------------------------------------

    async def _follow_events(self, services: ChannelServices) -> None:
        queue = services.events.subscribe()
        try:
            while True:
                event = await queue.get()
                try:
                    self._on_event(event, services)
                except Exception:
                    logger.exception("web chat could not route %s", type(event).__name__)
        finally:
            services.events.unsubscribe(queue)

    def _on_event(self, event: Event, services: ChannelServices) -> None:
        if isinstance(event, MessageStored):
            # Most often every socket has it already (the sender's own message, a reply
            # `send` pushed): then nothing is read and no task is started.
            if not event.internal and self._wanted(event):
                if event.shown is not None and not self._reading:
                    # Written by this process, with what the visitor is shown, and no
                    # earlier message waits to be read: pushed at once, nothing read.
                    self._show_stored([(event, event.shown)], services)
                else:
                    self._read_later(event, services)
        elif isinstance(event, Typing):
            if event.who == "agent":
                frame = protocol.typing_frame("agent", event.name)
                for socket in self._by_customer.get(event.customer_id, ()):
                    socket.push(frame)
        elif isinstance(event, ThreadChanged):
            for socket in self._by_customer.get(event.customer_id, ()):
                socket.thread_id = event.thread_id
        elif isinstance(event, CustomersMerged):
            for socket in list(self._by_customer.get(event.merged_id, ())):
                self._attach(socket, event.surviving_id, socket.thread_id)
        elif isinstance(event, IdentityRetired) and event.channel == CHANNEL:
            # Its token opens a fresh conversation now: such a socket reconnects to it.
            for socket in list(self._by_address.get(event.address, ())):
                self._tasks.spawn(self._retire(socket), f"webchat:socket:{socket.number}:retired")
        elif isinstance(event, EventsResumed):
            # Messages written by other processes while the bus was cut: read back.
            for sockets in list(self._by_customer.values()):
                for socket in list(sockets):
                    self._tasks.spawn(
                        self._send_missed(socket, services),
                        f"webchat:socket:{socket.number}:resync",
                    )

    @staticmethod
    async def _retire(socket: _Socket) -> None:
        await socket.ws.close(code=CLOSE_INVALID_TOKEN, message=b"invalid_token")

    def _read_later(self, event: MessageStored, services: ChannelServices) -> None:
        """Queue `event`'s message for the reader; start it unless it runs. Messages
        stored while a read is in flight are read together by its next statement, so a
        busy process reads a wave of answers in one transaction, not one per answer."""
        self._to_read.append(event)
        if not self._reading:
            self._reading = True
            self._tasks.spawn(self._read_stored(services), "webchat:deliver")

    async def _read_stored(self, services: ChannelServices) -> None:
        try:
            while self._to_read:
                wave = [e for e in self._to_read[:_READ_BATCH] if self._wanted(e)]
                del self._to_read[:_READ_BATCH]
                if not wave:
                    continue
                # Events of this process's writes carry the message: only the others
                # are read.
                unread = [e.message_id for e in wave if e.shown is None]
                try:
                    messages = await services.conversation.messages_by_id(unread) if unread else []
                except Exception:
                    # Those sockets get the messages from the outbox's send or on
                    # reconnect; the reader goes on with what was stored meanwhile.
                    logger.exception("web chat could not read %d stored messages", len(unread))
                    continue
                found = {m.id: m for m in messages}
                self._show_stored(
                    [
                        (e, e.shown if e.shown is not None else found.get(e.message_id))
                        for e in wave
                    ],
                    services,
                )
        finally:
            self._reading = False

    def _show_stored(
        self,
        stored: list[tuple[MessageStored, ConversationMessage | None]],
        services: ChannelServices,
    ) -> None:
        """Push each stored message (None: not the customer's to see) to its customer's
        sockets that lack it, in order."""
        shown = []
        for event, message in stored:
            sockets = self._by_customer.get(event.customer_id)
            if message is not None and sockets:
                self._push_message(sockets, message)
                shown.append(message)
        self._mark_shown(services, shown)

    def _wanted(self, event: MessageStored) -> bool:
        sockets = self._by_customer.get(event.customer_id, ())
        return any(not socket.has(event.message_id) for socket in sockets)

    # -- socket registry -------------------------------------------------------------

    def _register(self, socket: _Socket) -> None:
        self._by_address.setdefault(socket.visitor.address, set()).add(socket)

    def _attach(self, socket: _Socket, customer_id: int, thread_id: int | None) -> bool:
        """Point a socket at its customer; True when it had no customer before."""
        previous = socket.customer_id
        if previous == customer_id:
            socket.thread_id = thread_id or socket.thread_id
            return False
        if previous is not None:
            self._discard(self._by_customer, previous, socket)
        socket.customer_id = customer_id
        socket.thread_id = thread_id
        self._by_customer.setdefault(customer_id, set()).add(socket)
        return previous is None

    def _unregister(self, socket: _Socket) -> None:
        self._discard(self._by_address, socket.visitor.address, socket)
        if socket.customer_id is not None:
            self._discard(self._by_customer, socket.customer_id, socket)

    @staticmethod
    def _discard(index: dict[Any, set[_Socket]], key: Any, socket: _Socket) -> None:
        group = index.get(key)
        if group is not None:
            group.discard(socket)
            if not group:
                del index[key]

    # -- HTTP routes -------------------------------------------------------------------

    def describe(self) -> ChannelSummary:
        return ChannelSummary(
            "webchat (widget /widget.js, WebSocket /ws/webchat)",
            facts=(("origins", tuple(self._settings.allowed_origins)),),
        )

    def routes(self) -> list[web.AbstractRouteDef]:
        """The widget, the demo page, sessions, uploads, file links, the socket, the
        identity endpoints and the `/continue` page (`http.py`)."""
        routes: list[web.AbstractRouteDef] = [
            web.get("/widget.js", self._widget_js),
            web.post("/api/v1/webchat/sessions", self._create_session),
            web.options("/api/v1/webchat/sessions", self._preflight_post),
            web.post("/api/v1/webchat/uploads", self._upload),
            web.options("/api/v1/webchat/uploads", self._preflight_post),
            web.get("/api/v1/webchat/files/{sha256}", self._download),
            web.options("/api/v1/webchat/files/{sha256}", self._preflight_get),
            web.get("/ws/webchat", self._socket),
            *self._identity.routes(),
            *self._team_status.routes(),
        ]
        if self._settings.demo_page:
            routes.append(web.get("/", self._demo_page))
        return routes

    def _origin_ok(self, request: web.Request) -> bool:
        return self._origins.allows(request)

    def _cors(self, request: web.Request) -> dict[str, str]:
        return self._origins.cors(request)

    def _json_error(
        self, request: web.Request, status: int, code: str, message: str
    ) -> web.Response:
        self._count_refusal(code, f"HTTP {request.method} {request.path} {status}")
        return web.json_response(
            {"error": code, "message": message}, status=status, headers=self._cors(request)
        )

    def _rate_limited(self, request: web.Request, wait: float, message: str) -> web.Response:
        response = self._json_error(request, 429, "rate_limited", message)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response

    async def _preflight_post(self, request: web.Request) -> web.Response:
        return self._preflight(request, "POST, OPTIONS")

    async def _preflight_get(self, request: web.Request) -> web.Response:
        return self._preflight(request, "GET, OPTIONS")

    def _preflight(self, request: web.Request, methods: str) -> web.Response:
        return self._origins.preflight(request, methods)

    async def _widget_js(self, request: web.Request) -> web.StreamResponse:
        if self._assets is None:
            raise web.HTTPServiceUnavailable()
        etag = self._assets.widget_etag
        headers = {
            "Cache-Control": "public, max-age=300",
            "ETag": etag,
            "Access-Control-Allow-Origin": "*",
        }
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        response = web.Response(
            body=self._assets.widget_js,
            content_type="application/javascript",
            charset="utf-8",
            headers=headers,
        )
        response.enable_compression()
        return response

    async def _demo_page(self, request: web.Request) -> web.Response:
        if self._assets is None:
            raise web.HTTPServiceUnavailable()
        lang = request.query.get("lang", "fa")
        html = self._assets.demo_pages.get(lang) or self._assets.demo_pages["fa"]
        response = web.Response(
            text=html,
            content_type="text/html",
            charset="utf-8",
            headers={
                "Content-Security-Policy": (
                    "default-src 'self'; img-src 'self' data: blob:; "
                    "style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; "
                    "frame-ancestors 'none'"
                ),
                "X-Content-Type-Options": "nosniff",
            },
        )
        response.enable_compression()
        return response

    async def _create_session(self, request: web.Request) -> web.Response:
        """POST /api/v1/webchat/sessions: issue or resume a visitor token."""
        if not self._origin_ok(request):
            return self._json_error(request, 403, "origin_not_allowed", "origin not allowed")
        body = await self._session_body(request)
        if isinstance(body, web.Response):
            return body
        user_id, given_hash = body.get("user_id"), body.get("user_hash")
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 100):
            return self._json_error(request, 400, "invalid_request", "name: at most 100 characters")
        if user_id is not None and self._settings.user_hash_secret:
            return self._verified_session(request, user_id, given_hash, name)
        current = body.get("visitor_token")
        if isinstance(current, str):
            with contextlib.suppress(InvalidToken):
                # Resuming re-issues: the token's life starts again from now (sliding)
                # within its chain's, and one from before issue times gets one.
                visitor = self._signer.open_visitor(current, resuming=True)
                return web.json_response(
                    {
                        "visitor_token": self._signer.visitor_token(visitor),
                        "user_verified": visitor.verified,
                    },
                    headers=self._cors(request),
                )
        wait = await self._take(
            "sessions", client_address(request), self._settings.sessions_per_address_per_minute
        )
        if wait:
            return self._rate_limited(request, wait, "too many new chats from this address")
        # Without a configured secret a user id proves nothing: it is ignored, never trusted.
        token, _ = self._signer.new_anonymous()
        return web.json_response(
            {"visitor_token": token, "user_verified": False}, headers=self._cors(request)
        )

    async def _session_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        if request.content_length and request.content_length > _SESSION_BODY_LIMIT:
            return self._json_error(request, 413, "too_large", "request body too large")
        raw = await read_body(request, _SESSION_BODY_LIMIT)
        if raw is None:
            return self._json_error(request, 413, "too_large", "request body too large")
        if not raw.strip():
            return {}
        try:
            body = parse_json(raw)
        except InvalidJson:
            return self._json_error(request, 400, "invalid_json", "the body is not valid JSON")
        if not isinstance(body, dict):
            return self._json_error(request, 400, "invalid_request", "send a JSON object")
        return body

    def _verified_session(
        self, request: web.Request, user_id: Any, given_hash: Any, name: str | None
    ) -> web.Response:
        if not isinstance(user_id, str) or not valid_user_id(user_id):
            return self._json_error(
                request, 400, "invalid_user_id", "user_id: 1-128 printable ASCII characters"
            )
        if not isinstance(given_hash, str) or not given_hash:
            return self._json_error(
                request, 403, "user_hash_required", "user_id must come with its user_hash"
            )
        if not user_hash_matches(self._settings.user_hash_secret, user_id, given_hash):
            logger.warning("web chat session refused: wrong user_hash")
            return self._json_error(
                request, 403, "invalid_user_hash", "user_hash does not match user_id"
            )
        visitor = Visitor(address=f"user:{user_id}", name=name, verified=True)
        return web.json_response(
            {"visitor_token": self._signer.visitor_token(visitor), "user_verified": True},
            headers=self._cors(request),
        )

    def _visitor_request(
        self, request: web.Request
    ) -> tuple[ChannelServices, Visitor] | web.Response:
        """The services and the visitor of a visitor's HTTP call, or the refusal to send."""
        services = self._services
        if services is None:
            return self._json_error(request, 503, "unavailable", "the web chat is starting")
        if not self._origin_ok(request):
            return self._json_error(request, 403, "origin_not_allowed", "origin not allowed")
        visitor = bearer_visitor(self._signer, request.headers.get("Authorization", ""))
        if visitor is None:
            return self._json_error(request, 401, "invalid_token", "a visitor token is required")
        return services, visitor

    async def _upload(self, request: web.Request) -> web.Response:
        """POST /api/v1/webchat/uploads: one file (multipart field `file`)."""
        checked = self._visitor_request(request)
        if isinstance(checked, web.Response):
            return checked
        services, visitor = checked
        settings = self._settings
        wait = await self._take(
            "uploads", visitor.address, settings.rate_limit_per_minute
        ) or await self._take(
            "address-uploads", client_address(request), settings.uploads_per_address_per_minute
        )
        if wait:
            return self._rate_limited(request, wait, "too many uploads")
        limit = self._settings.max_upload_bytes
        if request.content_length and request.content_length > limit + 65_536:
            return self._json_error(
                request, 413, "too_large", f"files are limited to {limit} bytes"
            )
        malformed = "send multipart/form-data with a `file` field"
        try:
            reader = await request.multipart()
            part = await reader.next()
            while part is not None and getattr(part, "name", None) != "file":
                part = await reader.next()
        except MULTIPART_ERRORS:
            return self._json_error(request, 400, "invalid_request", malformed)
        if not isinstance(part, BodyPartReader):
            return self._json_error(request, 400, "invalid_request", "no `file` field")
        try:
            ref = await self._store_counted(part, services, client_address(request), visitor)
        except UploadRefused as refused:
            return self._json_error(request, refused.status, refused.code, refused.message)
        except MULTIPART_ERRORS:
            return self._json_error(request, 400, "invalid_request", malformed)
        return web.json_response(
            {
                "upload": self._signer.upload_token(
                    visitor.address, ref, self._settings.upload_ttl_seconds
                ),
                "filename": ref.filename,
                "content_type": ref.content_type,
                "size": ref.size,
                "url": self._file_links(visitor.address)(ref),
            },
            headers=self._cors(request),
        )

    async def _store_counted(
        self, part: BodyPartReader, services: ChannelServices, client: str, visitor: Visitor
    ) -> AttachmentRef:
        """Read the file, count it against the quotas of unsent uploads, store it.
        Raises UploadRefused."""
        settings, pending = self._settings, self._pending
        if pending is None:
            raise UploadRefused(503, "unavailable", "the web chat is starting")
        upload = await read_upload(
            part, max_bytes=settings.max_upload_bytes, allowed_types=settings.upload_types
        )
        sha256 = hashlib.sha256(upload.data).hexdigest()
        marker = await pending.admit(client, visitor.address, sha256, len(upload.data))
        try:
            return await put_upload(
                upload, services.attachments, max_bytes=settings.max_upload_bytes
            )
        except BaseException:
            await pending.cancel(marker)
            raise

    def _uploads_sent(self, visitor: Visitor, attachments: tuple[AttachmentRef, ...]) -> None:
        """Uploads now in a message no longer count as unsent."""
        if attachments and self._pending is not None:
            shas = [ref.sha256 for ref in attachments]
            self._tasks.spawn(self._pending.sent(visitor.address, shas), "webchat:uploads-sent")

    def _file_links(self, address: str) -> protocol.FileLink:
        """How files are linked for the visitor `address`: signed for them, expiring."""
        expires = self._signer.expiry(self._settings.file_link_ttl_seconds)

        def link(ref: AttachmentRef) -> str:
            signature = self._signer.file_signature(
                ref.sha256, ref.content_type, ref.filename, address, expires
            )
            query = urlencode(
                {"t": ref.content_type, "n": ref.filename, "e": expires, "s": signature}
            )
            return f"/api/v1/webchat/files/{ref.sha256}?{query}"

        return link

    async def _download(self, request: web.Request) -> web.Response:
        """GET a file of the conversation: its signed link and its visitor's token.

        The widget fetches files with `Authorization: Bearer <visitor token>`, so a link
        copied out of the page, a log or a history opens nothing for anybody else.
        """
        checked = self._visitor_request(request)
        if isinstance(checked, web.Response):
            return checked
        services, visitor = checked
        sha = request.match_info["sha256"]
        kind, name, signature = (request.query.get(k, "") for k in ("t", "n", "s"))
        expires = parse_id(request.query.get("e"), minimum=0)
        if expires is None or not self._signer.file_signature_matches(
            sha, kind, name, visitor.address, expires, signature
        ):
            return self._json_error(request, 404, "not_found", "no such file")
        if self._signer.expired(expires):
            return self._json_error(request, 410, "link_expired", "reconnect for a fresh link")
        try:
            data = await services.attachments.read(sha)
        except (FileNotFoundError, ValueError):
            return self._json_error(request, 404, "not_found", "no such file")
        # Not cached either (the file response's default): the widget keeps a file it
        # fetched for the page's life, and a copy in the browser's cache would outlive
        # the visitor's token on a shared computer.
        return file_response(data, content_type=kind, filename=name, headers=self._cors(request))

    # -- the visitor socket ------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        """GET /ws/webchat?token=...&after=<last id>&lang=fa: the visitor's live chat."""
        settings = self._settings
        client = client_address(request)
        churning = await self._socket_opens_refused(request, client)
        if churning is not None:
            return churning
        ws = web.WebSocketResponse(
            heartbeat=30.0, max_msg_size=max(settings.max_frame_bytes * 4, 65_536)
        )
        await ws.prepare(request)
        services = self._services
        if services is None:
            await self._refuse(ws, "unavailable", "the web chat is starting", CLOSE_OVERLOADED)
            return ws
        if not self._origin_ok(request):
            await self._refuse(ws, "origin_not_allowed", "origin not allowed", CLOSE_ORIGIN)
            return ws
        try:
            visitor = self._signer.open_visitor(request.query.get("token", ""))
        except InvalidToken:
            await self._refuse(ws, "invalid_token", "get a new visitor token", CLOSE_INVALID_TOKEN)
            return ws
        if len(self._by_address.get(visitor.address, ())) >= settings.max_sockets_per_visitor:
            await self._refuse(
                ws, "too_many_sockets", "too many open chat windows", CLOSE_TOO_MANY_SOCKETS
            )
            return ws
        slots = self._slots
        if slots is None or not await self._socket_slot(ws, slots, client):
            return ws
        self._socket_count += 1
        socket = _Socket(ws, visitor, self._socket_count, client)
        lang = request.query.get("lang")
        language = lang if lang in LANGUAGES else None
        self._register(socket)
        writer = self._tasks.spawn(socket.write_frames(), f"webchat:socket:{socket.number}:writer")
        try:
            await self._greet(socket, services, parse_id(request.query.get("after"), minimum=0))
            await self._read_frames(socket, services, language)
        finally:
            self._unregister(socket)
            slots.release(client)
            socket.finish()
            await asyncio.gather(writer, return_exceptions=True)
            await ws.close()
        return ws

    async def _socket_opens_refused(self, request: web.Request, client: str) -> web.Response | None:
        """429 before the upgrade when `client` opened its sockets of the minute already
        (each reads the history): a churning client then costs no handshake, no frame
        and no read, and is logged once a minute, not once a socket. The widget sees a
        failed connection and backs off."""
        per_minute = self._settings.socket_opens_per_address_per_minute
        wait = await self._take("socket-opens", client, per_minute) if per_minute > 0 else 0.0
        if not wait:
            return None
        self._refused.labels("too_many_socket_opens").inc()
        if not self._socket_refusals_logged.take(client):
            logger.warning(
                "web chat refused: code=too_many_socket_opens client=%s (more from it this"
                " minute are counted, not logged)",
                client,
            )
        return web.json_response(
            {
                "error": "too_many_socket_opens",
                "message": "too many chat connections from this address; wait a little",
            },
            status=429,
            headers={"Retry-After": str(int(wait) + 1), **self._cors(request)},
        )

    async def _socket_slot(
        self, ws: web.WebSocketResponse, slots: ClientSlots, client: str
    ) -> bool:
        """Count the socket in against its client address's cap (4429 over it) and the
        process's (1013: try again later); the caller registers it with no await between,
        so concurrent opens cannot pass one cap together."""
        refusal = slots.admit(client)
        if refusal is None:
            return True
        if refusal == "client":
            await self._refuse(
                ws,
                "too_many_address_sockets",
                "too many open chats from this address",
                CLOSE_TOO_MANY_SOCKETS,
            )
        else:
            await self._refuse(
                ws, "server_busy", "too many open chats; try later", CLOSE_OVERLOADED
            )
        return False

    async def _take(self, name: str, key: str, per_minute: int) -> float:
        """Spend one of `key`'s `per_minute` (shared by every process on PostgreSQL);
        0.0 when allowed, else seconds to wait."""
        services = self._services
        if services is None:
            return 0.0  # not started: the handler answers "unavailable" anyway
        return await services.limits.take(_LIMIT + name, key, per_minute, 60.0)

    def _count_refusal(self, code: str, where: str) -> None:
        self._refused.labels(code).inc()
        logger.warning("web chat refused: code=%s %s", code, where)

    def _count_frame_refusal(self, socket: _Socket, code: str) -> None:
        # A flooding socket is counted frame by frame but logged only a few times,
        # so it cannot flood the log as well.
        socket.refusals += 1
        if socket.refusals <= _LOGGED_REFUSALS_PER_SOCKET:
            self._count_refusal(code, f"socket={socket.number} visitor={socket.visitor.address}")
            if socket.refusals == _LOGGED_REFUSALS_PER_SOCKET:
                logger.warning(
                    "web chat socket %s: further refusals are counted, not logged", socket.number
                )
        else:
            self._refused.labels(code).inc()

    async def _refuse(self, ws: web.WebSocketResponse, code: str, message: str, close: int) -> None:
        self._count_refusal(code, "socket closed")
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_json(protocol.error_frame(code, message))
        await ws.close(code=close, message=code.encode())

    async def _greet(self, socket: _Socket, services: ChannelServices, after: int | None) -> None:
        """`ready`, then the recent history (or what was missed after `after`)."""
        settings = self._settings
        socket.push(
            {
                "type": "ready",
                "limits": {
                    "max_message_length": settings.max_message_length,
                    "max_frame_bytes": settings.max_frame_bytes,
                    "rate_limit_per_minute": settings.rate_limit_per_minute,
                    "max_upload_bytes": settings.max_upload_bytes,
                    "upload_types": list(settings.upload_types),
                },
            }
        )
        # Join the fan-out before reading history so nothing falls between the two.
        location = await services.conversation.locate(CHANNEL, socket.visitor.address)
        if location is not None:
            self._attach(socket, location.customer_id, location.thread_id)
            await self._send_history(socket, services, after)
        else:
            socket.push(protocol.history_frame([], self._file_links(socket.visitor.address)))

    async def _send_history(
        self, socket: _Socket, services: ChannelServices, after: int | None
    ) -> None:
        limit = self._settings.history_limit
        reader = services.conversation
        address = socket.visitor.address
        messages = await reader.history(CHANNEL, address, after_id=after, limit=limit)
        if after is not None:
            # Catching up: page through everything missed, up to a bound.
            page = messages
            while len(page) == limit and len(messages) < _MAX_CATCH_UP:
                page = await reader.history(CHANNEL, address, after_id=page[-1].id, limit=limit)
                messages += page
        # The history is always whole; a message pushed live meanwhile may appear in both
        # (clients dedupe by id), and nothing is pushed live after this that it holds.
        for message in messages:
            socket.claim(message.id)
        socket.push(protocol.history_frame(messages, self._file_links(socket.visitor.address)))
        self._mark_shown(services, messages)

    async def _read_frames(
        self, socket: _Socket, services: ChannelServices, language: str | None
    ) -> None:
        settings = self._settings
        async for raw in socket.ws:
            if raw.type == WSMsgType.TEXT:
                try:
                    frame = protocol.parse_client_frame(
                        raw.data,
                        max_frame_bytes=settings.max_frame_bytes,
                        max_text_length=settings.max_message_length,
                    )
                    await self._handle(socket, services, frame, language)
                except protocol.ProtocolError as refused:
                    self._count_frame_refusal(socket, refused.code)
                    socket.push(refused.frame())
            elif raw.type == WSMsgType.BINARY:
                self._count_frame_refusal(socket, "binary_not_supported")
                socket.push(protocol.error_frame("binary_not_supported", "send JSON text frames"))
            elif raw.type == WSMsgType.ERROR:
                error = socket.ws.exception()
                if getattr(error, "code", None) == WSCloseCode.MESSAGE_TOO_BIG:
                    # Over the hard cap aiohttp drops the connection (close 1009).
                    self._count_frame_refusal(socket, "frame_too_large")
                else:
                    logger.info("web chat socket %s ended: %s", socket.number, error)
                break

    async def _handle(
        self,
        socket: _Socket,
        services: ChannelServices,
        frame: protocol.ClientFrame,
        language: str | None,
    ) -> None:
        if isinstance(frame, protocol.Ping):
            socket.push({"type": "pong"})
        elif isinstance(frame, protocol.StartTyping):
            self._publish_typing(socket, services)
        else:
            await self._accept_message(socket, services, frame, language)

    def _publish_typing(self, socket: _Socket, services: ChannelServices) -> None:
        now = asyncio.get_running_loop().time()
        if socket.customer_id is None or socket.thread_id is None:
            return
        if now - socket.last_typing < _TYPING_INTERVAL:
            return
        socket.last_typing = now
        services.events.publish(
            Typing(
                thread_id=socket.thread_id,
                customer_id=socket.customer_id,
                who="customer",
                name=socket.visitor.name,
            )
        )

    async def _accept_message(
        self,
        socket: _Socket,
        services: ChannelServices,
        frame: protocol.SendMessage,
        language: str | None,
    ) -> None:
        visitor = socket.visitor
        wait = await self._take("messages", visitor.address, self._settings.rate_limit_per_minute)
        if wait:
            raise protocol.ProtocolError(
                "rate_limited",
                f"at most {self._settings.rate_limit_per_minute} messages a minute",
                client_id=frame.client_id,
                retry_after=wait,
            )
        try:
            attachments = tuple(
                self._signer.open_upload(visitor.address, token) for token in frame.attachments
            )
        except InvalidToken:
            raise protocol.ProtocolError(
                "invalid_attachment", "unknown upload", client_id=frame.client_id
            ) from None
        inbound = InboundMessage(
            channel=CHANNEL,
            # The visitor's address scopes the client's id: ids of two visitors never meet.
            external_id=f"{visitor.address}/{frame.client_id}",
            sender_address=visitor.address,
            sender_name=visitor.name,
            sender_verified=visitor.verified,
            text=frame.text,
            attachments=attachments,
            language=language,
            conversational=True,
            # No customer found for the visitor when the socket greeted them, and none
            # stored through a socket of theirs since: most likely a new visitor.
            sender_unknown=socket.customer_id is None,
        )
        # Whether a message hands the conversation to people is known only once the
        # router has decided: a token is set aside first and given back if it did not.
        handoffs = self._settings.handoffs_per_address_per_minute
        wait = await self._take("handoffs", socket.client, handoffs)
        if wait:
            raise protocol.ProtocolError(
                "rate_limited",
                "too many conversations handed to people from this address; wait a little",
                client_id=frame.client_id,
                retry_after=wait,
            )
        try:
            async with self._ingests:
                result = await services.ingest(inbound)
        except Exception:
            logger.exception("web chat ingest failed (socket %s)", socket.number)
            await services.limits.refund(_LIMIT + "handoffs", socket.client, handoffs, 60.0)
            raise protocol.ProtocolError(
                "server_error",
                "the message was not saved; it will be sent again",
                client_id=frame.client_id,
                retry_after=5.0,
            ) from None
        # The ack goes first: the refund is a round trip to the database on PostgreSQL,
        # and the answer may already be on its way out through the outbox.
        socket.claim(result.message_id)  # the sender has it; its ack carries the id
        socket.push(protocol.ack_frame(frame.client_id, result.message_id))
        self._uploads_sent(visitor, attachments)
        # Before anything here awaits: the events of the ingest's commit (its bot answer)
        # are handled after this, when the visitor's sockets know their customer.
        for sibling in list(self._by_address.get(visitor.address, ())):
            if self._attach(sibling, result.customer_id, result.thread_id) and (
                not result.new_customer
            ):
                # The socket's first message went to a customer stored before it: what
                # was stored for them meanwhile (by another process, an identity proof)
                # was published before the socket knew them, and is read back now. A
                # customer the ingest created has nothing but what its commit published.
                self._tasks.spawn(
                    self._send_missed(sibling, services), f"webchat:socket:{sibling.number}:catchup"
                )
        if not result.queued:
            await services.limits.refund(_LIMIT + "handoffs", socket.client, handoffs, 60.0)

    async def _send_missed(self, socket: _Socket, services: ChannelServices) -> None:
        messages = await services.conversation.history(
            CHANNEL, socket.visitor.address, limit=self._settings.history_limit
        )
        self._push_message_list(socket, messages, services)

    def _push_message_list(
        self, socket: _Socket, messages: list[ConversationMessage], services: ChannelServices
    ) -> None:
        links = self._file_links(socket.visitor.address)
        pushed = []
        for message in messages:
            if socket.claim(message.id):
                socket.push(protocol.message_frame(message, links))
                pushed.append(message)
        self._mark_shown(services, pushed)

    def _mark_shown(
        self, services: ChannelServices, messages: Iterable[ConversationMessage]
    ) -> None:
        """Record that a page was shown the replies among `messages` that may be resent
        when not shown (bot answers add no writes)."""
        ids = [m.id for m in messages if wants_seen_mark(m.author, m.survey)]
        if ids:
            self._tasks.spawn(services.seen.shown(CHANNEL, ids), "webchat:seen")
