"""A small Bot API server on loopback, for tests and the benchmark.

It speaks the shape of https://core.telegram.org/bots/api closely enough that
python-telegram-bot runs against it unpatched (`base_url=fake.api_url`): every answer
is `{"ok": true, "result": ...}` or `{"ok": false, "error_code", "description",
"parameters": {"retry_after": n}}`. Tests inject updates, read back every call the bot
made (`calls`, `sent`), and make the next calls of a method fail with 429, 403 or 5xx.

Long polling follows Telegram: `getUpdates(offset=n)` forgets every update below `n`
(that is the acknowledgement) and waits up to `timeout` seconds for a new one; a second
concurrent `getUpdates` ends the first with 409 Conflict; `getUpdates` while a webhook
is set is 409 as well. With a webhook set, the server POSTs pending updates to it with
`X-Telegram-Bot-Api-Secret-Token` and redelivers those not answered with 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

JsonDict = dict[str, Any]

FAKE_TOKEN = "123456:FAKE-token_for-tests"
BOT_USER: JsonDict = {
    "id": 123456,
    "is_bot": True,
    "first_name": "Pasokh",
    "username": "pasokh_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request the bot made: method, decoded parameters, uploaded files."""

    method: str
    params: Mapping[str, Any]
    files: Mapping[str, bytes]
    status: int
    at: float
    result: Any = None  # what the call returned on success (e.g. the sent Message)

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return None if value is None else int(value)


@dataclass(slots=True)
class _Failure:
    status: int
    description: str
    retry_after: int | None
    times: int
    after: int  # calls of the method to let through first


@dataclass(slots=True)
class _File:
    file_id: str
    unique_id: str
    path: str | None  # None: getFile answers without a file_path (the Bot API may)
    data: bytes
    trickle: bool = False  # the download sends a byte a second and never ends


@dataclass(slots=True)
class _Webhook:
    url: str
    secret_token: str | None
    max_connections: int


@dataclass
class FakeTelegram:
    """The fake server; `async with FakeTelegram() as fake:` starts it on a free port."""

    token: str = FAKE_TOKEN
    host: str = "127.0.0.1"
    calls: list[ApiCall] = field(default_factory=list)
    webhook_retry_delay: float = 0.2

    def __post_init__(self) -> None:
        self._updates: list[JsonDict] = []
        self._next_update_id = 1000
        self._confirmed_below = 0
        self._new_update = asyncio.Event()
        self._poll_generation = 0
        self.polls_started = 0  # getUpdates requests received (recorded in `calls` on return)
        self._failures: dict[str, list[_Failure]] = {}
        self._blocked_chats: set[int] = set()
        self._late_answers: dict[str, list[float]] = {}
        self._late_arrivals: dict[str, list[float]] = {}
        self._files: dict[str, _File] = {}
        self._message_ids: dict[int, Iterator[int]] = {}
        self._sent_messages: dict[tuple[int, int], JsonDict] = {}  # as they stand now
        self._callback_ids = itertools.count(9_000_000)
        self._webhook: _Webhook | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._in_flight: set[int] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._date = int(time.time())

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle_method)
        app.router.add_get("/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop the webhook pusher and the server."""
        await self._stop_webhook_task()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        """What PTB's `base_url` (and `PASOKH_TELEGRAM__API_URL`) should be."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def file_url(self) -> str:
        return f"http://{self.host}:{self.port}/file/bot"

    # ---- what tests inject -----------------------------------------------------------

    def add_update(self, payload: JsonDict) -> int:
        """Queue an update (`{"message": {...}}` etc.); returns its update_id."""
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": update_id, **payload})
        self._new_update.set()
        return update_id

    def user(
        self,
        user_id: int,
        *,
        first_name: str = "Sara",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "fa",
    ) -> JsonDict:
        """A `User` object for injected updates."""
        user: JsonDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        return user

    def chat(self, chat_id: int, *, chat_type: str = "private") -> JsonDict:
        chat: JsonDict = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = "Sara"
        else:
            chat["title"] = "A group"
        return chat

    def message(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        user: JsonDict | None = None,
        chat_type: str = "private",
        message_id: int | None = None,
        **extra: Any,
    ) -> JsonDict:
        """A `Message` object (not yet an update): text or any media passed in `extra`."""
        msg: JsonDict = {
            "message_id": message_id if message_id is not None else self._next_message_id(chat_id),
            "date": self._date,
            "chat": self.chat(chat_id, chat_type=chat_type),
            "from": user or self.user(chat_id),
        }
        if text is not None:
            msg["text"] = text
        msg.update(extra)
        return msg

    def add_message(self, chat_id: int, text: str | None = None, **kwargs: Any) -> int:
        """Inject a message update; returns the update_id."""
        return self.add_update({"message": self.message(chat_id, text, **kwargs)})

    def add_edit(self, chat_id: int, message_id: int, text: str, *, edit_date: int) -> int:
        msg = self.message(chat_id, text, message_id=message_id, edit_date=edit_date)
        return self.add_update({"edited_message": msg})

    def add_callback(
        self,
        chat_id: int,
        data: str,
        *,
        on_message: JsonDict | None = None,
        user: JsonDict | None = None,
    ) -> tuple[int, str]:
        """Inject a button tap on `on_message` (a message the bot sent); returns ids."""
        query_id = str(next(self._callback_ids))
        query: JsonDict = {
            "id": query_id,
            "from": user or self.user(chat_id),
            "chat_instance": f"ci{chat_id}",
            "data": data,
        }
        if on_message is not None:
            query["message"] = on_message
        return self.add_update({"callback_query": query}), query_id

    def add_file(
        self, data: bytes, *, path: str | None = "photos/file_0.jpg", trickle: bool = False
    ) -> JsonDict:
        """Make a file downloadable; returns `{"file_id", "file_unique_id", "file_size"}`.
        `path` None: getFile gives no path; `trickle`: the download never finishes."""
        unique_id = hashlib.sha256(data).hexdigest()[:16]
        file_id = f"F{unique_id}{len(self._files)}"
        self._files[file_id] = _File(file_id, unique_id, path, data, trickle)
        return {"file_id": file_id, "file_unique_id": unique_id, "file_size": len(data)}

    def fail(
        self,
        method: str,
        *,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """Make `times` calls of `method` fail with this HTTP status, after `after` more."""
        text = description or {
            429: f"Too Many Requests: retry after {retry_after}",
            403: "Forbidden: bot was blocked by the user",
            500: "Internal Server Error",
            502: "Bad Gateway",
        }.get(status, "Error")
        self._failures.setdefault(method, []).append(
            _Failure(status, text, retry_after, times, after)
        )

    def answer_late(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Do the next `times` calls of `method` at once but answer only after `seconds`
        (a slow Bot API: the message is out before the bot hears so)."""
        self._late_answers.setdefault(method, []).extend([seconds] * times)

    def arrive_late(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Let the next `times` calls of `method` reach Telegram only `seconds` after they
        were sent (a slow network or connection set-up): recorded, done and answered then."""
        self._late_arrivals.setdefault(method, []).extend([seconds] * times)

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: every send to this chat is 403 from now on."""
        self._blocked_chats.add(chat_id)

    # ---- what tests read back --------------------------------------------------------

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method == method]

    def sent(self, method: str = "sendMessage") -> list[ApiCall]:
        """Successful calls of a send method, in order."""
        return [call for call in self.calls_to(method) if call.status == 200]

    @property
    def confirmed_below(self) -> int:
        """Every update with a smaller id was acknowledged (offset or webhook 200)."""
        return self._confirmed_below

    @property
    def next_update_id(self) -> int:
        """The id the next injected update will get."""
        return self._next_update_id

    @property
    def pending(self) -> list[JsonDict]:
        return list(self._updates)

    @property
    def webhook_url(self) -> str | None:
        return None if self._webhook is None else self._webhook.url

    async def wait_for(
        self, predicate: Callable[[], object], *, within: float = 10.0, interval: float = 0.01
    ) -> None:
        """Poll `predicate()` until true; AssertionError after `within` seconds."""
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {within}s")
            await asyncio.sleep(interval)

    async def wait_acknowledged(self, update_id: int, *, within: float = 10.0) -> None:
        """Wait until `update_id` was acknowledged (offset moved past it, or webhook 200)."""
        await self.wait_for(lambda: self._confirmed_below > update_id, within=within)

    # ---- HTTP side -------------------------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, files = await _read_params(request)
        arrival = self._late_arrivals.get(method)
        if arrival:
            await asyncio.sleep(arrival.pop(0))
        if request.match_info["token"] != self.token:
            return self._record(method, params, files, _error(401, "Unauthorized"))
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return self._record(method, params, files, _error(404, "Not Found"))
        injected = self._take_failure(method)
        if injected is not None:
            return self._record(method, params, files, injected)
        chat_id = params.get("chat_id")
        if chat_id is not None and int(chat_id) in self._blocked_chats:
            response = _error(403, "Forbidden: bot was blocked by the user")
            return self._record(method, params, files, response)
        try:
            result = await handler(params, files)
        except _ApiError as exc:
            return self._record(method, params, files, _error(exc.status, exc.description))
        response = self._record(method, params, files, _ok(result), result)
        late = self._late_answers.get(method)
        if late:
            await asyncio.sleep(late.pop(0))
        return response

    def _record(
        self,
        method: str,
        params: JsonDict,
        files: dict[str, bytes],
        response: web.Response,
        result: Any = None,
    ) -> web.Response:
        call = ApiCall(method, params, files, response.status, time.monotonic(), result)
        self.calls.append(call)
        return response

    def _take_failure(self, method: str) -> web.Response | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        if failure.after > 0:
            failure.after -= 1
            return None
        failure.times -= 1
        if failure.times <= 0:
            queue.pop(0)
        return _error(failure.status, failure.description, retry_after=failure.retry_after)

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        for stored in self._files.values():
            if stored.path == path and stored.trickle:
                response = web.StreamResponse(headers={"Content-Length": str(len(stored.data))})
                await response.prepare(request)
                for byte in stored.data:
                    await response.write(bytes([byte]))
                    await asyncio.sleep(1.0)  # the client's deadline is what ends it
                return response
            if stored.path == path:
                return web.Response(body=stored.data)
        return web.Response(status=404)

    # ---- Bot API methods -------------------------------------------------------------

    async def _api_getMe(self, params: JsonDict, files: dict[str, bytes]) -> Any:
        return BOT_USER

    async def _api_getUpdates(self, params: JsonDict, files: dict[str, bytes]) -> Any:
        if self._webhook is not None:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if offset:
            self._acknowledge_below(offset)
        self.polls_started += 1
        self._poll_generation += 1
        generation = self._poll_generation
        deadline = time.monotonic() + timeout
        while True:
            if generation != self._poll_generation:
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that "
                    "only one bot instance is running",
                )
            ready = [u for u in self._updates if u["update_id"] >= offset][:limit]
            remaining = deadline - time.monotonic()
            if ready or remaining <= 0:
                return ready
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), min(remaining, 0.25))

    async def _api_setWebhook(self, params: JsonDict, files: dict[str, bytes]) -> Any:
        url = str(params.get("url") or "")
        await self._stop_webhook_task()
        if not url:
            self._webhook = None
            return True
        self._webhook = _Webhook(
            url=url,
            secret_token=params.get("secret_token"),
            max_connections=int(params.get("max_connections") or 40),
        )
        if params.get("drop_pending_updates") in ("true", True):
            self._drop_all()
        self._webhook_task = asyncio.create_task(self._push_webhook(), name="fake:webhook")
        return True

    async def _api_deleteWebhook(self, params: JsonDict, files: dict[str, bytes]) -> Any:
        await self._stop_webhook_task()
        self._webhook = None
        if params.get("drop_pending_updates") in ("true", True):
            self._drop_all()
        return True

    async def _api_sendMessage(self, params: JsonDict, files: dict[str, bytes]) -> Any:
        text = str(params.get("text") or "")
        if not text:
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        return self._sent_message(params, text=text)

    async def _api_sendPhoto(self, params: JsonDict, files: dict[str, bytes]) -> Any:
        data = files.get("photo")
        if data is None and not params.get("photo"):
            raise _ApiError(400, "Bad Request: there is no photo in the request")
        info = self.add_file(data or b"", path=f"photos/sent_{len(self._files)}.jpg")
        photo = [{**info, "width": 320, "height": 240}]
        return self._sent_message(params, photo=photo, caption=params.get("caption"))

    async def _api_sendDocument(self, params: JsonDict, files: dict[str, bytes]) -> Any:
        data = files.get("document")
        if data is None and not params.get("document"):
            raise _ApiError(400, "Bad Request: there is no document in the request")
        info = self.add_file(data or b"", path=f"documents/sent_{len(self._files)}")
        return self._sent_message(params, document=info, caption=params.get("caption"))

    async def _api_editMessageReplyMarkup(self, params: JsonDict, files: dict[str, bytes]) -> Any:
        """Replace (or, without `reply_markup`, remove) the buttons of a sent message."""
        key = (int(params.get("chat_id") or 0), int(params.get("message_id") or 0))
        message = self._sent_messages.get(key)
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        markup = params.get("reply_markup")
        if markup == message.get("reply_markup"):
            raise _ApiError(400, "Bad Request: message is not modified")
        edited = {name: value for name, value in message.items() if name != "reply_markup"}
        if markup is not None:
            edited["reply_markup"] = markup
        edited["edit_date"] = int(time.time())
        self._sent_messages[key] = edited
        return edited

    async def _api_answerCallbackQuery(self, params: JsonDict, files: dict[str, bytes]) -> Any:
        if not params.get("callback_query_id"):
            raise _ApiError(400, "Bad Request: query is too old and response timeout expired")
        return True

    async def _api_getFile(self, params: JsonDict, files: dict[str, bytes]) -> Any:
        stored = self._files.get(str(params.get("file_id")))
        if stored is None:
            raise _ApiError(
                400, "Bad Request: wrong file_id or the file is temporarily unavailable"
            )
        found = {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "file_size": len(stored.data),
        }
        return found if stored.path is None else {**found, "file_path": stored.path}

    # ---- helpers ---------------------------------------------------------------------

    def _next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def _sent_message(self, params: JsonDict, **content: Any) -> JsonDict:
        chat_id = int(params["chat_id"])
        message: JsonDict = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self.chat(chat_id),
            "from": BOT_USER,
        }
        message.update({key: value for key, value in content.items() if value is not None})
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        self._sent_messages[(chat_id, message["message_id"])] = message
        return message

    def _acknowledge_below(self, offset: int) -> None:
        self._confirmed_below = max(self._confirmed_below, offset)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]

    def _drop_all(self) -> None:
        if self._updates:
            self._acknowledge_below(self._updates[-1]["update_id"] + 1)

    async def _stop_webhook_task(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _push_webhook(self) -> None:
        """Deliver pending updates like Telegram: concurrently, redelivering non-200s."""
        assert self._webhook is not None  # set by setWebhook before the task
        hook = self._webhook
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        slots = asyncio.Semaphore(hook.max_connections)
        tasks: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(headers=headers) as session:

            async def deliver(update: JsonDict) -> None:
                try:
                    async with session.post(hook.url, data=json.dumps(update)) as response:
                        delivered = response.status == 200
                except aiohttp.ClientError:
                    delivered = False
                if delivered:
                    self._updates = [u for u in self._updates if u is not update]
                    self._update_confirmed_mark()
                else:
                    await asyncio.sleep(self.webhook_retry_delay)
                self._in_flight.discard(update["update_id"])
                slots.release()

            try:
                while True:
                    waiting = [u for u in self._updates if u["update_id"] not in self._in_flight]
                    if not waiting:
                        self._new_update.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._new_update.wait(), 0.25)
                        continue
                    for update in waiting:
                        await slots.acquire()
                        self._in_flight.add(update["update_id"])
                        task = asyncio.create_task(deliver(update), name="fake:webhook-post")
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self._in_flight.clear()

    def _update_confirmed_mark(self) -> None:
        if self._updates:
            self._confirmed_below = max(self._confirmed_below, self._updates[0]["update_id"])
        else:
            self._confirmed_below = self._next_update_id


class _ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, *, retry_after: int | None = None) -> web.Response:
    body: JsonDict = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


async def _read_params(request: web.Request) -> tuple[JsonDict, dict[str, bytes]]:
    """Decode PTB's form (or a JSON body): JSON-looking values are parsed back."""
    params: JsonDict = {}
    files: dict[str, bytes] = {}
    if request.content_type == "application/json":
        body = await request.json() if request.can_read_body else {}
        return dict(body), files
    if request.method != "POST":
        return dict(request.query), files
    form = await request.post()
    for name, value in form.items():
        if isinstance(value, web.FileField):
            files[name] = value.file.read()
        else:
            params[name] = json.loads(value) if name in _JSON_FIELDS else str(value)
    return params, files


# PTB JSON-encodes these objects inside the form; other values are sent as plain strings.
_JSON_FIELDS = frozenset({"reply_markup", "allowed_updates", "entities", "caption_entities"})
