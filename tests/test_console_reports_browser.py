"""The console's Reports page in a real browser (Debian's Chromium through Playwright).

The scripted day of tests/test_reports.py (through the real ingest, queue and reply
paths, on an injected clock) is what the page shows: an admin opens Reports, reads the
day's figures, groups them by agent and by day, and switches to Persian (right to
left, Persian digits, the Solar Hijri date). Screenshots in en and fa go to
`artifacts/`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.async_api import ConsoleMessage, Page, Route, expect

from config.settings import Settings
from router.http.console import PAGE_HEADERS
from tests.browser_support import ARTIFACTS, running_chromium, sign_in_to_console
from tests.console_support import add_agent
from tests.report_support import MONDAY_9AM, install_clock
from tests.test_reports import OFFICE_WINDOW, _office_day, _scripted_day

pytestmark = pytest.mark.browser


def kpi(page: Page, name: str) -> Any:
    return page.locator(f'#report-cards [data-kpi="{name}"] .kpi-value')


async def chart_labels(page: Page, canvas: str) -> Any:
    return await page.evaluate(f"() => Chart.getChart('{canvas}').data.labels")


async def test_an_admin_reads_the_day_in_english_and_persian(
    settings: Settings, start_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = install_clock(monkeypatch, MONDAY_9AM)
    client, context, _, _ = await _scripted_day(settings, start_app, clock)
    await add_agent(context, "lead@example.com", name="Lead", admin=True, language="en")
    url = str(client.make_url("/")).rstrip("/")
    console = await client.get("/console")
    assert console.headers["Content-Security-Policy"] == PAGE_HEADERS["Content-Security-Policy"]
    assert "'unsafe-inline'" not in console.headers["Content-Security-Policy"]
    chart_library = await client.get("/console/static/vendor/chart.umd.min.js")
    assert chart_library.status == 200 and "Chart.js" in (await chart_library.text())[:200]

    async with running_chromium() as browser:
        page = await (
            await browser.new_context(viewport={"width": 1280, "height": 1400})
        ).new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))

        def console_error(message: ConsoleMessage) -> None:
            if message.type == "error":  # a CSP refusal is reported here
                problems.append(message.text)

        page.on("console", console_error)
        await sign_in_to_console(page, url, "lead@example.com")
        await page.locator('.page-tab[data-page="reports"]').click()
        await expect(page.locator("#reports")).to_be_visible()
        await expect(page.locator("main.panes")).to_be_hidden()
        # the last seven days, today included: "To" is a day of the window, not after it
        today = datetime.now(UTC).date().isoformat()
        await expect(page.locator("#report-to")).to_have_value(today)
        await expect(page.locator("label:has(#report-to) span")).to_have_text("To (inclusive)")
        # one day, from and to the same: the API is asked for [that day, the next)
        await page.locator("#report-from").fill("2030-01-07")
        await page.locator("#report-to").fill("2030-01-07")
        await page.locator("#report-show").click()
        csv_link = page.locator("#report-csv")
        await expect(csv_link).to_have_attribute(
            "href", "/api/v1/reports/summary?from=2030-01-07&to=2030-01-08&format=csv"
        )

        await expect(kpi(page, "kpi_threads_created")).to_have_text("5")
        await expect(kpi(page, "kpi_threads_resolved")).to_have_text("4")
        await expect(kpi(page, "kpi_first_response")).to_have_text("4 mins")  # 240 s
        await expect(kpi(page, "kpi_csat")).to_have_text("66.7%")
        await expect(kpi(page, "kpi_csat_sent")).to_have_text("3")
        await expect(kpi(page, "kpi_csat_response_rate")).to_have_text("100%")
        await expect(kpi(page, "kpi_threads_merged")).to_have_text("0")
        await expect(kpi(page, "kpi_nps")).to_have_text("+25")
        await expect(kpi(page, "kpi_nps_sent")).to_have_text("4")
        await expect(kpi(page, "kpi_nps_response_rate")).to_have_text("100%")
        await expect(kpi(page, "kpi_backlog")).to_have_text("1")
        await expect(page.locator("#report-scope")).to_have_text("The whole team's figures.")

        await page.locator("#report-group-by").select_option("agent")
        rows = page.locator("#report-rows tr")
        names = ["Sara", "Reza", "No agent (bot, new threads)"]
        await expect(rows.locator("th")).to_have_text(names)
        await expect(rows.locator('[data-kpi="kpi_fcr"]')).to_have_text(["0%", "100%", "—"])
        assert await chart_labels(page, "chart-volume") == names
        created = await page.evaluate("() => Chart.getChart('chart-volume').data.datasets[0].data")
        assert created == [0, 0, 5]
        assert await page.evaluate("() => document.documentElement.dir") == "ltr"
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "console-reports-en.png"), full_page=True)

        # Persian: right to left, Persian digits, the day named in the Solar Hijri calendar
        await page.locator("#console .lang-select").select_option("fa")
        assert await page.evaluate("() => document.documentElement.dir") == "rtl"
        await expect(kpi(page, "kpi_threads_created")).to_have_text("۵")
        await expect(kpi(page, "kpi_first_response")).to_have_text("۴ دقیقه")
        await expect(page.locator("label:has(#report-to) span")).to_have_text("تا پایانِ")
        await page.locator("#report-group-by").select_option("day")
        await expect(rows.locator("th")).to_have_text(["۱۸ دی ۱۴۰۸"])  # 7 January 2030
        await expect(page.locator("#report-period")).to_contain_text("۱۸ دی ۱۴۰۸")
        assert await chart_labels(page, "chart-volume") == ["۱۸ دی ۱۴۰۸"]
        assert await page.evaluate("() => Chart.getChart('chart-volume').options.scales.x.reverse")
        await page.screenshot(path=str(ARTIFACTS / "console-reports-fa.png"), full_page=True)
        assert problems == []


async def test_business_hours_sla_and_bot_feedback_in_english_persian_and_arabic(
    settings: Settings, start_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The office-hours days of tests/test_reports.py: the figures the page adds to the
    wall-clock ones (business-hours times, SLA attainment, CSAT mean, bot helped)."""
    clock = install_clock(monkeypatch, MONDAY_9AM)
    client, context, _ = await _office_day(settings, start_app, clock)
    await add_agent(context, "lead@example.com", name="Lead", admin=True, language="en")
    url = str(client.make_url("/")).rstrip("/")
    async with running_chromium() as browser:
        page = await (
            await browser.new_context(viewport={"width": 1280, "height": 1400})
        ).new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        await sign_in_to_console(page, url, "lead@example.com")
        await page.locator('.page-tab[data-page="reports"]').click()
        # Monday and Tuesday: OFFICE_WINDOW's exclusive end is Wednesday
        await page.locator("#report-from").fill(OFFICE_WINDOW["from"])
        await page.locator("#report-to").fill("2030-01-08")
        await page.locator("#report-show").click()
        assert OFFICE_WINDOW["to"] == "2030-01-09"

        # first responses 500 and 1000 business seconds: median 750 s
        await expect(kpi(page, "kpi_first_response_business")).to_have_text("12.5 mins")
        await expect(kpi(page, "kpi_next_response_business")).to_have_text("40 mins")  # 2400 s
        # the agents' resolutions, 1100 and 16400 business seconds: median 8750 s
        await expect(kpi(page, "kpi_resolution_business")).to_have_text("2.4 hrs")
        await expect(kpi(page, "kpi_sla_first_response")).to_have_text("50%")
        await expect(kpi(page, "kpi_sla_next_response")).to_have_text("100%")
        await expect(kpi(page, "kpi_sla_resolution")).to_have_text("50%")
        await expect(kpi(page, "kpi_sla_breaches")).to_have_text("2")
        await expect(kpi(page, "kpi_bot_helped")).to_have_text("50%")
        await expect(kpi(page, "kpi_csat_mean")).to_have_text("—")  # nobody was asked
        await expect(
            page.locator('#report-cards [data-kpi="kpi_sla_breaches"] .kpi-label')
        ).to_have_text("SLA breaches")
        await page.locator("#report-group-by").select_option("agent")
        rows = page.locator("#report-rows tr")
        await expect(rows.locator('[data-kpi="kpi_sla_first_response"]')).to_have_text(
            ["100%", "0%", "—"]  # Sara, Reza, nobody
        )
        legend = await page.evaluate(
            "() => Chart.getChart('chart-quality').data.datasets.map((d) => d.label)"
        )
        assert "SLA met: first response" in legend and "Bot answer helped" in legend

        await page.locator("#console .lang-select").select_option("fa")
        await expect(kpi(page, "kpi_sla_first_response")).to_have_text("۵۰٪")
        await expect(kpi(page, "kpi_sla_breaches")).to_have_text("۲")
        await expect(kpi(page, "kpi_first_response_business")).to_have_text("۱۲٫۵ دقیقه")
        await expect(
            page.locator('#report-cards [data-kpi="kpi_bot_helped"] .kpi-label')
        ).to_have_text("پاسخ ربات کمک کرد")
        await page.locator("#console .lang-select").select_option("ar")
        assert await page.evaluate("() => document.documentElement.dir") == "rtl"
        await expect(kpi(page, "kpi_sla_breaches")).to_have_text("٢")
        await expect(
            page.locator('#report-cards [data-kpi="kpi_sla_resolution"] .kpi-label')
        ).to_have_text("الالتزام باتفاقية الخدمة: الحل")
        await expect(page.locator("label:has(#report-to) span")).to_have_text("حتى نهاية")
        assert problems == []


async def test_a_report_answering_after_a_newer_one_is_not_shown(
    settings: Settings, start_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening Reports reads the default window; the admin picks another window before
    that read answers. The default window's late answer must not replace the chosen one."""
    clock = install_clock(monkeypatch, MONDAY_9AM)
    client, context, _ = await _office_day(settings, start_app, clock)
    await add_agent(context, "lead@example.com", name="Lead", admin=True, language="en")
    url = str(client.make_url("/")).rstrip("/")
    held: list[Route] = []
    first_read_held = asyncio.Event()

    async def hold_the_first_read(route: Route) -> None:
        if not held:
            held.append(route)
            first_read_held.set()
            return
        await route.continue_()

    async with running_chromium() as browser:
        page = await (await browser.new_context()).new_page()
        await sign_in_to_console(page, url, "lead@example.com")
        await page.route("**/api/v1/reports/summary*", hold_the_first_read)
        await page.locator('.page-tab[data-page="reports"]').click()
        await asyncio.wait_for(first_read_held.wait(), 15)
        assert "from=" + OFFICE_WINDOW["from"] not in held[0].request.url  # the default window

        await page.locator("#report-from").fill(OFFICE_WINDOW["from"])
        await page.locator("#report-to").fill("2030-01-08")
        await page.locator("#report-show").click()
        await expect(kpi(page, "kpi_first_response_business")).to_have_text("12.5 mins")
        cards = page.locator("#report-cards")
        await expect(cards).to_have_attribute("aria-busy", "true")  # the first read is open

        await held[0].continue_()
        await expect(cards).to_have_attribute("aria-busy", "false")
        await expect(kpi(page, "kpi_first_response_business")).to_have_text("12.5 mins")
        await expect(kpi(page, "kpi_sla_breaches")).to_have_text("2")
