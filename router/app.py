"""The composition root: `build_app(settings)` wires storage, events, the responder,
the outbox worker and the channel adapters into one aiohttp application.

Start-up and teardown are `cleanup_ctx` generators in dependency order; teardown runs
in reverse and only for what started.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import TierZeroBot, build_responder
from bot.texts import DEFAULT_TEXTS as BOT_TEXTS
from channels.base import ChannelAdapter, ChannelServices
from channels.email.render import EMAIL_TEXTS
from config.settings import Settings
from faq.decide import Thresholds
from faq.gaps import GapEmbeddings
from router.agents.assignment import assignment_ctx
from router.context import AppContext
from router.core.conversation import DatabaseConversationReader
from router.core.file_collector import file_collector_ctx
from router.core.ingest import ingest
from router.core.leadership import DatabaseLeadership
from router.core.messages import InboundMessage, IngestResult
from router.core.outbox_worker import OutboxWorker, outbox_depth
from router.core.rate_limits import rate_limits_for
from router.core.responder import QueueEveryThread, Responder
from router.core.seen import DatabaseSeenMarks, unseen_resend_ctx
from router.core.shared_events import PostgresEventBus, listen_dsn
from router.core.texts import (
    ROUTER_TEXTS,
    TextCatalogue,
    TextOverrideError,
    TextTable,
    check_overrides,
    read_overrides,
)
from router.enabled_channels import (
    api_adapter,
    build_adapters,
    channel_roles,
    channels_off,
    chat_links,
)
from router.http import (
    admin_api,
    agent_api,
    console,
    customer_api,
    knowledge_api,
    outreach_api,
    reports_api,
    surveys_api,
)
from router.http.auth import IntegrationTokenCheck, bearer_token
from router.http.compressed_bodies import SERVER_OPTIONS, compressed_body_middleware
from router.http.console_sessions import tokens_equal
from router.http.errors import api_errors_as_json
from router.http.forwarded import TrustedProxies, forwarded_client_middleware
from router.http.keys import CONTEXT
from router.http.malformed_requests import malformed_request_log_ctx
from router.http.slow_bodies import slow_body_middleware
from router.http.unstorable_urls import unstorable_url_middleware
from router.identity.dialogue import IdentityDialogue
from router.identity.service import IdentityProofService
from router.loop_lag import loop_lag_ctx
from router.metrics import Metrics
from router.outreach.scheduler import outreach_scheduler_ctx
from router.service.breaches import sla_scheduler_ctx
from router.service.expectations import ServiceHours, TeamStatusService
from router.service.knowledge_sync import LiveKbFile
from router.service.surveys import SurveyDoor
from router.startup import StartupSummary, summary_ctx
from router.storage.engine import is_sqlite, new_engine, new_sessionmaker
from router.storage.migrate import upgrade_to_head

logger = logging.getLogger(__name__)


def ensure_secret_key(settings: Settings) -> Settings:
    """Settings with a server secret: the configured one, else one kept in the data dir."""
    if settings.server.secret_key:
        return settings
    path = settings.data_dir / "secret.key"
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    key = path.read_text().strip()
    return replace(settings, server=replace(settings.server, secret_key=key))


@dataclass(frozen=True)
class InstalledTexts:
    """The installation's customer texts: each owner's catalogue with its overrides."""

    router: TextCatalogue
    email: TextCatalogue
    bot: TextTable  # the bot's overrides; the bot merges them into its own table


def installed_texts(settings: Settings) -> InstalledTexts:
    """The `[texts] overrides` file applied to each owner's catalogue, and the bot's
    share with `[bot.texts]` on top. Built per app: nothing global changes.

    Raises:
        TextOverrideError: the file or `[bot.texts]` names an unknown language or key, or
            changes a text's placeholders.
    """
    catalogues: dict[str, TextTable] = {
        "router": ROUTER_TEXTS.defaults,
        "email": EMAIL_TEXTS.defaults,
        "bot": BOT_TEXTS,
    }
    split = (
        read_overrides(settings.texts.overrides, catalogues)
        if settings.texts.overrides
        else {owner: {} for owner in catalogues}
    )
    inline: dict[str, dict[str, object]] = {}
    for key, by_lang in settings.bot.texts.items():
        if not isinstance(by_lang, dict):
            raise TextOverrideError(f"[bot.texts] {key}: must be a table of language = text")
        for language, value in by_lang.items():
            inline.setdefault(language, {})[key] = value
    bot_inline = check_overrides(inline, {"bot": BOT_TEXTS}, where="[bot.texts]")["bot"]
    bot: dict[str, dict[str, str]] = {key: dict(texts) for key, texts in split["bot"].items()}
    for key, texts in bot_inline.items():
        bot.setdefault(key, {}).update(texts)
    return InstalledTexts(
        router=ROUTER_TEXTS.with_overrides(split["router"]),
        email=EMAIL_TEXTS.with_overrides(split["email"]),
        bot=bot,
    )


def default_responder(
    settings: Settings, bot_texts: TextTable | None = None, faq_path: Path | None = None
) -> Responder:
    """The tier-0 bot when enabled; otherwise every thread goes to the queue.

    `faq_path`: the KB file the bot loads (the database's KB, kept by `LiveKbFile`);
    default `[faq] path`.
    """
    if not settings.bot.enabled:
        return QueueEveryThread()
    if faq_path is None and settings.faq.path:
        faq_path = Path(settings.faq.path)
    return build_responder(
        faq_path=faq_path,
        text_overrides=settings.bot.texts if bot_texts is None else bot_texts,
        language_default=settings.faq.default_language,
        embedding_reranker=settings.faq.reranker,
        lexicon_path=Path(settings.faq.lexicon) if settings.faq.lexicon else None,
        cache_dir=settings.data_dir / "faq-cache",
        match_in_thread_from_phrasings=settings.bot.match_in_thread_from_phrasings,
        thresholds=Thresholds(learned=settings.faq.learned_answers),
    )


def gap_embeddings(bot: Responder) -> GapEmbeddings | None:
    """The gap report's embeddings: the bot's own model when the semantic extra is on."""
    embedder = bot.watcher.embedder if isinstance(bot, TierZeroBot) else None
    return GapEmbeddings(embedder) if embedder is not None else None


def build_app(
    settings: Settings,
    *,
    responder: Responder | None = None,
    adapters: Sequence[ChannelAdapter] | None = None,
    migrate: bool | None = None,
) -> web.Application:
    """The whole Pasokh server as an aiohttp app.

    Args:
        settings: validated settings (the secret key is filled in if missing).
        responder: overrides the configured responder (tests).
        adapters: overrides the adapters the settings enable (tests).
        migrate: run migrations at start; default: only for the embedded SQLite.
    """
    settings = ensure_secret_key(settings)
    texts = installed_texts(settings)
    metrics = Metrics()
    middlewares: list[Middleware] = [
        unstorable_url_middleware(metrics.rejected_input),
        compressed_body_middleware(metrics.rejected_input),
    ]
    if settings.server.body_timeout:
        middlewares.insert(
            0,
            slow_body_middleware(
                settings.server.body_timeout,
                settings.server.body_min_rate,
                metrics.rejected_input,
            ),
        )
    if settings.server.trusted_proxies:
        proxies = TrustedProxies.of(settings.server.trusted_proxies)
        middlewares.insert(0, forwarded_client_middleware(proxies))
    # Outermost: the other middlewares answer what they handle (a slow body's 408)
    # first, and whatever is still an exception past them is a JSON error under /api/.
    middlewares.insert(0, api_errors_as_json)
    app = web.Application(
        client_max_size=settings.server.max_request_bytes, middlewares=middlewares
    )
    app.on_response_prepare.append(_server_header)
    app.router.add_routes(agent_api.routes)
    app.router.add_routes(reports_api.routes)
    app.router.add_routes(customer_api.routes)
    app.router.add_routes(knowledge_api.routes)
    app.router.add_routes(outreach_api.routes)
    app.router.add_routes(surveys_api.routes)
    app.router.add_routes(admin_api.routes)
    console.setup(app, settings.console.sign_in_attempts_per_minute)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/favicon.ico", favicon)
    if not settings.server.metrics_port:
        app.router.add_get("/metrics", metrics_page)

    chosen_adapters = (
        list(adapters) if adapters is not None else build_adapters(settings, metrics, texts.email)
    )
    if not any(adapter.name == "api" for adapter in chosen_adapters):
        # Every server takes integrations' messages, whichever other channels run.
        chosen_adapters.insert(0, api_adapter(settings, metrics))
    for adapter in chosen_adapters:
        app.router.add_routes(adapter.routes())
    # The bot answers from the database's KB (seeded once from `[faq] path`).
    live_kb = LiveKbFile(settings.data_dir) if responder is None and settings.bot.enabled else None

    async def storage_ctx(app: web.Application) -> AsyncIterator[None]:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        engine = new_engine(
            settings.database_url,
            pool_size=settings.database.pool_size,
            echo=settings.database.echo,
            connect_timeout=settings.database.connect_timeout or None,
            statement_timeout=settings.database.statement_timeout or None,
        )
        if migrate if migrate is not None else is_sqlite(settings.database_url):
            await upgrade_to_head(engine)
        shared_bus = shared_event_bus(engine, settings, metrics)
        if shared_bus is not None:
            await shared_bus.start()
        bot = responder or default_responder(settings, texts.bot, live_kb.path if live_kb else None)
        context = AppContext(
            settings=settings,
            engine=engine,
            sessions=new_sessionmaker(engine),
            # The identity dialogue speaks for the router around whichever bot answers.
            # Then the service hours: a hand-off nobody can answer now says when one will.
            responder=IdentityDialogue.around(
                ServiceHours.around(
                    bot,
                    settings,
                    clock=lambda: app[CONTEXT].clock(),
                    texts=texts.router,
                ),
                settings,
                texts.router,
            ),
            metrics=metrics,
            roles=channel_roles(settings),
            texts=texts.router,
            gap_embeddings=gap_embeddings(bot),
        )
        if shared_bus is not None:
            context.events = shared_bus
        app[CONTEXT] = context
        yield
        if shared_bus is not None:
            await shared_bus.stop()
        await engine.dispose()

    async def live_kb_ctx(app: web.Application) -> AsyncIterator[None]:
        if live_kb is not None:
            await live_kb.start(app[CONTEXT])
        yield
        if live_kb is not None:
            await live_kb.stop()

    async def responder_ctx(app: web.Application) -> AsyncIterator[None]:
        chosen = app[CONTEXT].responder
        start = getattr(chosen, "start", None)
        if start is not None:
            await start()
        yield
        stop = getattr(chosen, "stop", None)
        if stop is not None:
            await stop()

    async def outbox_ctx(app: web.Application) -> AsyncIterator[None]:
        worker = OutboxWorker(app[CONTEXT])
        await worker.start()
        yield
        await worker.stop()

    async def adapters_ctx(app: web.Application) -> AsyncIterator[None]:
        context = app[CONTEXT]

        async def ingest_message(msg: InboundMessage) -> IngestResult:
            return await ingest(context, msg)

        integrations = IntegrationTokenCheck(context)
        await integrations.start()
        services = ChannelServices(
            ingest=ingest_message,
            events=context.events,
            attachments=context.attachment_store,
            conversation=DatabaseConversationReader(context.read_sessions),
            identity=IdentityProofService(context, chat_links(chosen_adapters)),
            leadership=DatabaseLeadership(context.engine),
            integrations=integrations,
            texts=context.texts,
            surveys=SurveyDoor(context),
            team=TeamStatusService(context),
            limits=rate_limits_for(context.engine),
            seen=DatabaseSeenMarks(context),
            sockets=context.sockets,
        )
        started: list[ChannelAdapter] = []
        try:
            for adapter in chosen_adapters:
                await adapter.start(services)
                context.adapters[adapter.name] = adapter
                started.append(adapter)
                logger.info("channel %s started", adapter.name)
            yield
        finally:
            for adapter in reversed(started):
                try:
                    await adapter.stop()
                except Exception:
                    logger.exception("channel %s failed to stop cleanly", adapter.name)
            await integrations.stop()

    async def close_channel_connections(app: web.Application) -> None:
        # Open WebSockets would otherwise hold shutdown until aiohttp's own timeout.
        for adapter in chosen_adapters:
            await adapter.close_connections()

    async def metrics_listener_ctx(app: web.Application) -> AsyncIterator[None]:
        # /metrics on a port of its own (e.g. reachable only from the monitoring host).
        metrics_app = web.Application()
        metrics_app[CONTEXT] = app[CONTEXT]
        metrics_app.router.add_get("/metrics", metrics_page)
        runner = web.AppRunner(metrics_app, access_log=None, **SERVER_OPTIONS)
        await runner.setup()
        site = web.TCPSite(runner, settings.server.metrics_host, settings.server.metrics_port)
        await site.start()
        logger.info(
            "metrics on http://%s:%d/metrics",
            settings.server.metrics_host,
            settings.server.metrics_port,
        )
        yield
        await runner.cleanup()

    app.on_shutdown.append(close_channel_connections)
    app.cleanup_ctx.append(malformed_request_log_ctx(metrics.rejected_input))
    app.cleanup_ctx.extend([storage_ctx, live_kb_ctx, responder_ctx, adapters_ctx, outbox_ctx])
    if settings.server.metrics_port:
        app.cleanup_ctx.append(metrics_listener_ctx)
    app.cleanup_ctx.append(assignment_ctx)  # after storage; stops first
    descriptions = [adapter.describe() for adapter in chosen_adapters]
    summary = StartupSummary(
        on=tuple(d.line for d in descriptions),
        off=tuple(channels_off(settings, chosen_adapters)),
        missing=(*(line for d in descriptions for line in d.missing), *_open_metrics(settings)),
    )
    app.cleanup_ctx.append(summary_ctx(summary))
    app.cleanup_ctx.append(sla_scheduler_ctx)
    app.cleanup_ctx.append(outreach_scheduler_ctx)
    app.cleanup_ctx.append(file_collector_ctx)
    app.cleanup_ctx.append(unseen_resend_ctx)
    app.cleanup_ctx.append(loop_lag_ctx)
    return app


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    """Name the product, not the Python and aiohttp versions a scanner would look up;
    and keep every API answer out of caches unless its route says otherwise.

    API answers are customers' conversations, notes and files, read with a cookie or a
    token; a browser on a shared agent workstation would otherwise keep them on disk.
    A hook on every response, not a middleware, so aiohttp's own errors (404, 405,
    413) get it too.
    """
    response.headers["Server"] = "Pasokh"
    if request.path.startswith("/api/") and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"


def _open_metrics(settings: Settings) -> tuple[str, ...]:
    """The warning for a `/metrics` on the main port, with no token, that other machines
    can reach (counts of messages, agents and deliveries are the business's own)."""
    server = settings.server
    if server.metrics_port or server.metrics_token or _is_loopback(server.host):
        return ()
    return (
        f"/metrics on port {server.http_port} answers anyone who reaches it: set [server] "
        "metrics_token (PASOKH_SERVER__METRICS_TOKEN) or metrics_port, and keep it out of "
        "the reverse proxy (deploy/nginx/pasokh.conf does)",
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # "" or "0.0.0.0" listen everywhere; a name may be anything
        return False


def shared_event_bus(
    engine: AsyncEngine, settings: Settings, metrics: Metrics
) -> PostgresEventBus | None:
    """On PostgreSQL the bus reaches every process sharing the database; on the
    embedded SQLite (one process) the in-process bus is all there is."""
    if engine.dialect.name != "postgresql":
        return None
    return PostgresEventBus(
        listen_dsn(engine.url),
        metrics.shared_events,
        connect_timeout=settings.database.connect_timeout or 5.0,
    )


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers and the data dir has room; 503 otherwise.

    Answers within `server.health_timeout` even when the database hangs.
    """
    context = request.app[CONTEXT]
    server = context.settings.server
    database = "ok"
    try:
        async with asyncio.timeout(server.health_timeout):
            # A read session: on SQLite it does not queue for the write lock.
            async with context.read_sessions() as session:
                await session.execute(text("SELECT 1"))
    except TimeoutError:
        database = "timeout"
    except Exception as exc:
        logger.warning("health check: database unavailable: %s", exc)
        database = "down"
    free_mb = await _free_disk_mb(context.settings.data_dir)
    disk = "ok" if free_mb is None or free_mb >= server.min_free_disk_mb else "low"
    body: dict[str, object] = {"database": database, "disk": disk, "disk_free_mb": free_mb}
    if database != "ok" or disk != "ok":
        logger.warning("health check: database %s, disk %s (%s MB free)", database, disk, free_mb)
        context.metrics.database_unavailable.labels("health").inc()
        return web.json_response({"status": "unavailable", **body}, status=503)
    return web.json_response({"status": "ok", **body})


async def _free_disk_mb(path: Path) -> int | None:
    """Free space where the data dir is, in MB; None when it cannot be read."""
    try:
        usage = await asyncio.to_thread(shutil.disk_usage, path)
    except OSError:
        return None
    return usage.free // 2**20


FAVICON = Path(__file__).parent / "http" / "static" / "favicon.ico"


async def favicon(_: web.Request) -> web.FileResponse:
    """A small icon, so browsers asking for one do not fill the log with 404s."""
    return web.FileResponse(FAVICON, headers={"Cache-Control": "public, max-age=86400"})


async def metrics_page(request: web.Request) -> web.Response:
    """Prometheus exposition of the app's own registry (behind `metrics_token` if set)."""
    context = request.app[CONTEXT]
    token = context.settings.server.metrics_token
    if token and not tokens_equal(bearer_token(request), token):
        context.metrics.rejected_input.labels("metrics", "unauthorized").inc()
        logger.warning("/metrics refused to %s: no or wrong bearer token", request.remote)
        raise web.HTTPUnauthorized(headers={"WWW-Authenticate": "Bearer"})
    try:
        context.metrics.outbox_depth.set(await outbox_depth(context))
    except Exception:
        logger.exception("could not count the outbox for /metrics")
    body = generate_latest(context.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
