"""Survey answers: the one API endpoint every channel's rating ends in, and the rating
page the email channel links to.

`POST /api/v1/surveys/{token}` `{"score": 4, "comment": "..."}` takes no login: the
token is the credential. The widget calls it from the customer's site, so it answers
any origin (no cookies are involved). `GET /surveys/{token}` is the page a mail's
score link opens: `?score=N` only chooses N on the page, because mail scanners fetch
every link of a message and a GET must not vote; its form (a POST, no script needed)
records the score and an optional comment. Both speak through
`router.service.surveys.answer`.
"""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web

from router.core.languages import LANGUAGES, localised_number, text_direction
from router.http.errors import json_error, read_json_object
from router.http.keys import CONTEXT
from router.http.validation import body_problem
from router.service import surveys
from router.service.surveys import SurveyReceipt, SurveyRefused

routes = web.RouteTableDef()

_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
}
_STATUS = {"invalid": 404, "expired": 410, "score": 422, "comment": 422, "no_score": 422}


def receipt_json(receipt: SurveyReceipt) -> dict[str, Any]:
    return {
        "kind": receipt.kind,
        "scale": receipt.scale,
        "score": receipt.score,
        "comment": receipt.comment,
        "answered_at": receipt.answered_at.isoformat() if receipt.answered_at else None,
        "expires_at": receipt.expires_at.isoformat(),
    }


@routes.options("/api/v1/surveys/{token}")
async def survey_preflight(request: web.Request) -> web.StreamResponse:
    """The browser's preflight for the widget's cross-origin JSON POST."""
    return web.Response(status=204, headers=_CORS)


@routes.post("/api/v1/surveys/{token}")
async def answer_survey(request: web.Request) -> web.StreamResponse:
    """Answer (or change the answer of) the survey the token names."""
    context = request.app[CONTEXT]
    body = await read_json_object(request, context.settings.server.max_request_bytes)
    if isinstance(body, web.Response):
        body.headers.update(_CORS)
        return body
    problem = body_problem(body, "SurveyAnswerRequest")
    if problem is not None:
        context.metrics.rejected_input.labels("surveys", "body").inc()
        return _with_cors(json_error(422, problem))
    try:
        receipt = await surveys.answer(
            context, request.match_info["token"], body["score"], body.get("comment")
        )
    except SurveyRefused as exc:
        return _with_cors(json_error(_STATUS[exc.reason], str(exc), reason=exc.reason))
    return _with_cors(web.json_response({"survey": receipt_json(receipt)}))


def _with_cors(response: web.Response) -> web.Response:
    response.headers.update(_CORS)
    return response


# --- the rating page (email links) -------------------------------------------------


@routes.get("/surveys/{token}")
async def rating_page(request: web.Request) -> web.StreamResponse:
    """The survey in the customer's language, `?score=N` chosen; records nothing."""
    context = request.app[CONTEXT]
    token = request.match_info["token"]
    chosen = _score_of(request.query.get("score"))
    try:
        receipt = await surveys.look_up(context, token)
    except SurveyRefused as exc:
        return _refusal_page(request, exc)
    if chosen not in receipt.offer_scores():
        chosen = None
    language = _language(request, receipt.language)
    return _page(request, token, receipt, language, chosen=chosen)


@routes.post("/surveys/{token}")
async def rating_form(request: web.Request) -> web.StreamResponse:
    """The page's form: a score and an optional comment."""
    context = request.app[CONTEXT]
    token = request.match_info["token"]
    form = await request.post()
    score = _score_of(str(form.get("score", "")))
    comment = str(form.get("comment", "")) or None
    try:
        receipt = await surveys.answer(context, token, score, comment)
    except SurveyRefused as exc:
        return _refusal_page(request, exc)
    return _page(request, token, receipt, _language(request, receipt.language))


def _score_of(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 2:
        return None
    return int(value)


def _language(request: web.Request, stored: str | None) -> str:
    for candidate in (request.query.get("lang"), stored):
        short = (candidate or "")[:2].lower()
        if short in LANGUAGES:
            return short
    return "en"


def _refusal_page(request: web.Request, exc: SurveyRefused) -> web.Response:
    context = request.app[CONTEXT]
    language = _language(request, None)
    key = "survey_expired" if exc.reason == "expired" else "survey_invalid"
    status = _STATUS[exc.reason] if exc.reason in ("invalid", "expired") else 422
    texts = context.texts
    body = f"<p>{html.escape(texts.text(key, language))}</p>"
    return _document(texts.text("survey_page_title", language), language, body, status)


def _page(
    request: web.Request,
    token: str,
    receipt: SurveyReceipt,
    language: str,
    *,
    chosen: int | None = None,
) -> web.Response:
    """The question, what is saved, and the form; `chosen` (a link's score, not yet
    recorded) is preselected and the customer asked to confirm it."""
    texts = request.app[CONTEXT].texts
    ask_key = "survey_nps_ask" if receipt.kind == surveys.NPS else "survey_csat_ask"
    parts = [f"<p>{html.escape(texts.text(ask_key, language))}</p>"]
    if receipt.score is not None:
        saved = texts.text(
            "survey_saved", language, score=localised_number(receipt.score, language)
        )
        parts.append(f'<p class="saved" role="status">{html.escape(saved)}</p>')
    if chosen is not None:
        confirm = texts.text("survey_confirm", language, score=localised_number(chosen, language))
        parts.append(f'<p class="confirm">{html.escape(confirm)}</p>')
    checked = chosen if chosen is not None else receipt.score
    action = html.escape(f"/surveys/{token}?lang={language}", quote=True)
    choices = "".join(
        f'<label><input type="radio" name="score" value="{n}"'
        f"{' checked' if n == checked else ''} required>"
        f"<span>{localised_number(n, language)}</span></label>"
        for n in receipt.offer_scores()
    )
    comment = html.escape(receipt.comment or "")
    label = html.escape(texts.text("survey_comment_label", language))
    send = html.escape(texts.text("survey_send", language))
    parts.append(
        f'<form method="post" action="{action}"><div class="scores">{choices}</div>'
        f'<label for="comment">{label}</label>'
        f'<textarea id="comment" name="comment" dir="auto" rows="4">{comment}</textarea>'
        f'<button type="submit">{send}</button></form>'
    )
    return _document(texts.text("survey_page_title", language), language, "".join(parts), 200)


_STYLE = (
    "body{font:16px/1.6 Vazirmatn,Tahoma,system-ui,sans-serif;max-width:34em;margin:2em auto;"
    "padding:0 1em;color:#1f2937}.scores{display:flex;flex-wrap:wrap;gap:.4em;margin:1em 0}"
    ".scores label{border:1px solid #2563eb;border-radius:.5em;padding:.2em .7em}"
    "textarea{display:block;width:100%;margin:.4em 0 1em}.saved{color:#166534}"
    ".confirm{font-weight:bold}"
)


def _document(title: str, language: str, body: str, status: int) -> web.Response:
    direction = text_direction(language)
    page = (
        f'<!DOCTYPE html><html lang="{language}" dir="{direction}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(
        text=page,
        status=status,
        content_type="text/html",
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline';"
            " form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        },
    )
