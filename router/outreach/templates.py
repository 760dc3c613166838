"""Outreach templates: per language a body, an optional email subject and optional
suggested replies, filled with named parameters.

A parameter whose value is an ISO date (`2027-03-21`) is written the way the reader
reads dates: Solar Hijri with Persian digits in Persian, Gregorian (or Umm al-Qura)
with Arabic-Indic digits in Arabic, Gregorian in English.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from router.core.languages import LANGUAGES
from router.core.storable_text import fit
from router.core.texts import fill, placeholders
from router.service.dates import ArabicCalendar, render_date
from router.storage.column_sizes import column_limit
from router.storage.models import Message, Thread

NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PARAMETER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PART_KEYS = frozenset({"subject", "body", "suggestions"})
MAX_BODY = 4000
MAX_SUBJECT = 200
_STORED_SUBJECT = column_limit(Thread.subject, Message.subject)
MAX_SUGGESTIONS = 5
MAX_SUGGESTION = 64


class TemplateError(ValueError):
    """A template body or its filling that cannot be used; `problems` lists why."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(problems))


@dataclass(frozen=True, slots=True)
class TemplateText:
    """One language's texts of a template."""

    body: str
    subject: str | None = None
    suggestions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    texts: Mapping[str, TemplateText]

    def parameters(self) -> frozenset[str]:
        """Every `{name}` any of its texts is filled with."""
        found: set[str] = set()
        for text in self.texts.values():
            for part in (text.body, text.subject or "", *text.suggestions):
                found |= placeholders(part)
        return frozenset(found)


@dataclass(frozen=True, slots=True)
class RenderedText:
    """A template filled for one customer, in one language."""

    language: str
    body: str
    subject: str | None
    suggestions: tuple[str, ...]


def template_from_json(name: str, body: object) -> Template:
    """The template a `PUT /api/v1/templates/{name}` body describes.

    Raises:
        TemplateError: listing every problem found.
    """
    problems: list[str] = []
    if not NAME.fullmatch(name):
        problems.append("name: 1-64 letters, digits, '_' or '-'")
    if not isinstance(body, Mapping) or set(body) != {"texts"}:
        raise TemplateError([*problems, 'the body must be {"texts": {"fa": {...}, ...}}'])
    raw_texts = body["texts"]
    if not isinstance(raw_texts, Mapping) or not raw_texts:
        raise TemplateError([*problems, "texts: an object with at least one language"])
    texts: dict[str, TemplateText] = {}
    for language, raw in raw_texts.items():
        path = f"texts.{language}"
        if language not in LANGUAGES:
            problems.append(f"{path}: unknown language; use one of {', '.join(LANGUAGES)}")
            continue
        parsed = _text_from_json(path, raw, problems)
        if parsed is not None:
            texts[language] = parsed
    if problems:
        raise TemplateError(problems)
    return Template(name, texts)


def _text_from_json(path: str, raw: object, problems: list[str]) -> TemplateText | None:
    if not isinstance(raw, Mapping):
        problems.append(f'{path}: an object {{"body": ..., "subject"?, "suggestions"?}}')
        return None
    problems.extend(f"{path}.{key}: unknown field" for key in sorted(set(raw) - _PART_KEYS))
    body, subject, suggestions = raw.get("body"), raw.get("subject"), raw.get("suggestions", [])
    if not isinstance(body, str) or not body.strip() or len(body) > MAX_BODY:
        problems.append(f"{path}.body: a text of 1-{MAX_BODY} characters is required")
        body = ""
    if subject is not None and (not isinstance(subject, str) or len(subject) > MAX_SUBJECT):
        problems.append(f"{path}.subject: a text of at most {MAX_SUBJECT} characters")
        subject = None
    if (
        not isinstance(suggestions, list)
        or len(suggestions) > MAX_SUGGESTIONS
        or not all(isinstance(s, str) and 0 < len(s) <= MAX_SUGGESTION for s in suggestions)
    ):
        problems.append(
            f"{path}.suggestions: at most {MAX_SUGGESTIONS} texts of 1-{MAX_SUGGESTION} characters"
        )
        suggestions = []
    text = TemplateText(body, subject or None, tuple(suggestions))
    for part in (text.body, text.subject or "", *text.suggestions):
        try:
            names = placeholders(part)
        except ValueError as exc:
            problems.append(f"{path}: {exc} (write {{{{ and }}}} for braces)")
            continue
        problems.extend(
            f"{path}: {{{field}}} is not a parameter name"
            for field in sorted(names)
            if not _PARAMETER.fullmatch(field)
        )
    return text


def template_to_json(template: Template) -> dict[str, Any]:
    """The JSON body of `template`; `template_from_json` reads it back to an equal one."""
    texts: dict[str, Any] = {}
    for language in LANGUAGES:
        text = template.texts.get(language)
        if text is None:
            continue
        part: dict[str, Any] = {"body": text.body, "suggestions": list(text.suggestions)}
        if text.subject is not None:
            part["subject"] = text.subject
        texts[language] = part
    return {"texts": texts}


def choose_language(template: Template, *wanted: str | None) -> str:
    """The first of `wanted` the template has, else the first it has in `LANGUAGES` order."""
    for language in wanted:
        if language is not None and language in template.texts:
            return language
    return next(language for language in LANGUAGES if language in template.texts)


# Filled by the sender from the customer (their name, or "valued customer").
BUILT_IN_PARAMETERS = frozenset({"customer_name"})


def missing_parameters(template: Template, params: Mapping[str, object]) -> list[str]:
    """The template's parameters `params` does not give (built-in ones aside), sorted.

    Raises:
        TemplateError: a text of the template is not valid (stored before
            placeholders were limited to names).
    """
    try:
        return sorted(template.parameters() - set(params) - BUILT_IN_PARAMETERS)
    except ValueError as exc:
        raise TemplateError([f"template {template.name}: {exc}"]) from None


def render(
    template: Template,
    language: str,
    params: Mapping[str, object],
    *,
    arabic_calendar: ArabicCalendar = "gregorian",
) -> RenderedText:
    """`template` in `language` filled with `params` (dates written for the language).

    Raises:
        TemplateError: a parameter is missing, or the template lacks the language.
    """
    text = template.texts.get(language)
    if text is None:
        raise TemplateError([f"template {template.name} has no {language} text"])
    missing = missing_parameters(template, params)
    if missing:
        raise TemplateError([f"missing parameter {name}" for name in missing])
    values = {name: _written(value, language, arabic_calendar) for name, value in params.items()}
    # (`missing_parameters` read every text of the template: each is valid here.)
    return RenderedText(
        language=language,
        body=fill(text.body, values),
        # Parameters are not bounded as the template's text is: a filled subject is cut
        # to where it is stored (PostgreSQL refuses a longer one).
        subject=fit(fill(text.subject, values), _STORED_SUBJECT) if text.subject else None,
        suggestions=tuple(fill(s, values) for s in text.suggestions),
    )


def _written(value: object, language: str, arabic_calendar: ArabicCalendar) -> str:
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return render_date(date.fromisoformat(value), language, arabic_calendar)
        except ValueError:
            return value
    return str(value)
