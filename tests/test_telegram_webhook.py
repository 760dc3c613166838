"""Webhook mode: secret checked, 200 only after commit, setWebhook with a public URL."""

from __future__ import annotations

import json

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from channels.base import ChannelServices
from channels.telegram import TelegramAdapter
from channels.telegram.adapter import SECRET_HEADER
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import RecordingIngest, telegram_settings, webhook_host

CHAT = 5550002
SECRET = "s3cret-Webhook_token"


def webhook_adapter(
    fake: FakeTelegram, public_url: str, registry: CollectorRegistry | None = None
) -> TelegramAdapter:
    # A reverse proxy may publish the site under a path; the adapter's route is the same.
    settings = telegram_settings(fake, webhook_secret=SECRET, mode="auto")
    return TelegramAdapter(settings=settings, public_url=public_url, registry=registry)


def refused(registry: CollectorRegistry, reason: str) -> float | None:
    return registry.get_sample_value("pasokh_telegram_refused_total", {"reason": reason})


async def test_webhook_is_registered_with_the_public_url_and_secret(
    fake: FakeTelegram, services: ChannelServices
) -> None:
    async with webhook_host(lambda url: webhook_adapter(fake, url), services) as (adapter, base):
        await fake.wait_for(lambda: fake.sent("setWebhook"))
        assert adapter.mode == "webhook"
    [call] = fake.sent("setWebhook")
    assert call.params["url"] == f"{base}/telegram/webhook"
    assert call.params["secret_token"] == SECRET
    assert fake.calls_to("getUpdates") == []


async def test_wrong_or_missing_secret_is_refused_with_403(
    fake: FakeTelegram,
    ingest: RecordingIngest,
    services: ChannelServices,
    caplog: pytest.LogCaptureFixture,
) -> None:
    update = {"update_id": 1, "message": fake.message(CHAT, "forged")}
    registry = CollectorRegistry()
    async with (
        webhook_host(lambda url: webhook_adapter(fake, url, registry), services) as (_, base),
        aiohttp.ClientSession() as http,
    ):
        await fake.wait_for(lambda: fake.sent("setWebhook"))
        url = f"{base}/telegram/webhook"
        for headers in ({SECRET_HEADER: "guess"}, {}, {SECRET_HEADER: SECRET + "x"}):
            async with http.post(url, json=update, headers=headers) as response:
                assert response.status == 403
        async with http.post(url, json=update, headers={SECRET_HEADER: SECRET}) as response:
            assert response.status == 200
    assert ingest.texts == ["forged"]  # only the request with the secret got through
    assert caplog.text.count("without the secret; 403") == 3
    assert refused(registry, "secret") == 3.0


async def test_updates_pushed_by_telegram_are_stored_and_answered_200_after_commit(
    fake: FakeTelegram, ingest: RecordingIngest, services: ChannelServices
) -> None:
    ingest.fail_next = 1  # the first delivery finds the database down
    ingest.observe = lambda: fake.confirmed_below
    async with webhook_host(lambda url: webhook_adapter(fake, url), services):
        update_id = fake.add_message(CHAT, "سلام از وب‌هوک")
        await fake.wait_acknowledged(update_id)
    assert ingest.texts == ["سلام از وب‌هوک"]
    assert len(ingest.calls) == 2  # redelivered after the 500
    assert all(below <= update_id for below in ingest.observed)


async def test_text_with_a_nul_or_a_lone_surrogate_is_taken_as_polling_takes_it(
    fake: FakeTelegram, ingest: RecordingIngest, services: ChannelServices
) -> None:
    # Telegram cannot change the update: refused, it would be redelivered and dropped.
    # The channel passes it on as polling does; ingest makes it storable (logged, counted).
    async with (
        webhook_host(lambda url: webhook_adapter(fake, url), services) as (_, base),
        aiohttp.ClientSession() as http,
    ):
        await fake.wait_for(lambda: fake.sent("setWebhook"))
        message = fake.message(CHAT, "a\u0000b \ud83d")
        message["from"] = {**message["from"], "first_name": "Sa\u0000ra"}
        update = {"update_id": fake.next_update_id, "message": message}
        async with http.post(
            f"{base}/telegram/webhook",
            data=json.dumps(update),
            headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"},
        ) as response:
            assert response.status == 200, await response.text()
    assert ingest.texts == ["a\u0000b \ud83d"]


async def test_malformed_body_is_a_400_not_a_crash(
    fake: FakeTelegram,
    ingest: RecordingIngest,
    services: ChannelServices,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    async with (
        webhook_host(lambda url: webhook_adapter(fake, url, registry), services) as (_, base),
        aiohttp.ClientSession() as http,
    ):
        await fake.wait_for(lambda: fake.sent("setWebhook"))
        async with http.post(
            f"{base}/telegram/webhook",
            data=json.dumps(["not", "an", "update"]),
            headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"},
        ) as response:
            assert response.status == 400
        async with http.post(
            f"{base}/telegram/webhook",
            data=b'{"update_id": 7, "message": "\xff\xfe"}',
            headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"},
        ) as response:
            assert response.status == 400  # not UTF-8
        out_of_range = {
            "update_id": 8,
            "message": {
                "message_id": 1,
                "date": 10**20,  # after any calendar's last year: an OverflowError
                "chat": {"id": 5, "type": "private"},
                "text": "hi",
            },
        }
        async with http.post(
            f"{base}/telegram/webhook",
            json=out_of_range,
            headers={SECRET_HEADER: SECRET},
        ) as response:
            assert response.status == 400  # not a 500 that Telegram would redeliver
    assert ingest.calls == []
    assert caplog.text.count("is not an update") == 3
    assert refused(registry, "not_update") == 3.0


def test_webhook_mode_without_public_url_is_a_configuration_error(fake: FakeTelegram) -> None:
    with pytest.raises(ValueError, match="public_url"):
        TelegramAdapter(settings=telegram_settings(fake, mode="webhook"))


def test_polling_mode_serves_no_webhook_route(fake: FakeTelegram) -> None:
    adapter = TelegramAdapter(
        settings=telegram_settings(fake, mode="polling"), public_url="http://x"
    )
    assert adapter.mode == "polling"
    assert adapter.routes() == []


def test_pasokh_serve_reports_webhook_mode_without_public_url_as_a_setting_error(
    fake: FakeTelegram,
) -> None:
    from config.settings import SettingsError, load_settings

    settings = load_settings(
        env={"PASOKH_TELEGRAM__TOKEN": "1:x", "PASOKH_TELEGRAM__MODE": "webhook"}
    )
    with pytest.raises(SettingsError, match="public_url"):
        TelegramAdapter.from_settings(settings)
    assert TelegramAdapter.from_settings(load_settings(env={})) is None  # no token, no channel


async def test_json_nested_too_deeply_is_a_400_not_a_500(
    fake: FakeTelegram,
    ingest: RecordingIngest,
    services: ChannelServices,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    deep = '{"update_id": 8, "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    async with (
        webhook_host(lambda url: webhook_adapter(fake, url, registry), services) as (_, base),
        aiohttp.ClientSession() as http,
    ):
        await fake.wait_for(lambda: fake.sent("setWebhook"))
        async with http.post(
            f"{base}/telegram/webhook",
            data=deep,
            headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"},
        ) as response:
            assert response.status == 400
            assert "nested too deeply" in await response.text()
        # The server is still there and takes the next real update.
        update = {"update_id": 9, "message": fake.message(CHAT, "بعدی")}
        async with http.post(
            f"{base}/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET}
        ) as response:
            assert response.status == 200
    assert ingest.texts == ["بعدی"]
    assert caplog.text.count("is not an update") == 1
    assert refused(registry, "not_update") == 1.0
