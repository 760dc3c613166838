"""The knowledge base: file format, validation and loading.

A KB is one JSON or YAML file, or a folder of them. A file holds a list of entries,
or a mapping `{"language": "fa", "entries": [...]}` naming the KB's default language:

    - id: order-tracking
      questions: {fa: ["سفارشم کجاست؟"], en: ["Where is my order?"]}
      answers: {fa: "...", en: "..."}
      tags: [orders]            # optional
      handoff: false            # optional: answer, then queue the thread for a person
      suggestions: {en: [...]}  # optional quick replies, per language (or one list for all)
      not: {en: ["bank card PIN"]}  # optional: questions that look like this entry but that
                                    # it does not answer (per language, or one list for all)

`../shared/data/faq/kb.json` is in this format and loads as it is.

Limits (the same for a file, `faq check`, the console's editor and an import): YAML
anchors and aliases (`&name`, `*name`) are refused, since a few aliases
repeat one text thousands of times; a phrasing (question, `not:`, suggestion, tag) is
at most `MAX_PHRASING_CHARS` characters and an entry lists at most `MAX_PHRASINGS` of
them per language; an answer is at most `MAX_ANSWER_CHARS`; a KB holds at most
`MAX_ENTRIES` entries and `MAX_KB_CHARS` characters of text once decoded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from faq.normalise import normalise

KB_SUFFIXES = (".json", ".yaml", ".yml")
ENTRY_KEYS = frozenset({"id", "questions", "answers", "tags", "handoff", "suggestions", "not"})
DOCUMENT_KEYS = frozenset({"language", "entries"})
# A language key looks like an ISO 639 code, optionally with a region: fa, ar, en, pt-br.
_LANGUAGE_KEY = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})*")
SAMPLE_KB_PACKAGE = "faq.sample_kb"

# Sizes no real KB comes near (the largest known has answers of ~100 characters, three
# phrasings per language and 35 entries; the scale bench 5,000 entries), which keep a
# KB, its stored versions and every process's copy of it small.
MAX_PHRASINGS = 200
MAX_PHRASING_CHARS = 500
# One answer fits one Telegram message (4,096) and the web chat's own 4,000-character
# limit on what a customer may send.
MAX_ANSWER_CHARS = 4_000
MAX_ENTRIES = 10_000
MAX_KB_CHARS = 20_000_000


class KbError(ValueError):
    """A KB file cannot be read or does not follow the format; the message says where,
    and `field` names the entry key at fault when there is one (for the KB editor)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """One FAQ entry: phrasings and answers per language code (fa, ar, en, ...)."""

    id: str
    questions: Mapping[str, tuple[str, ...]]
    answers: Mapping[str, str]
    tags: tuple[str, ...] = ()
    handoff: bool = False
    suggestions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = ""
    # `not:` in the file: phrasings the entry must not answer, per language ("*": any)
    negatives: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def answer_in(self, language: str | None, fallback: str) -> tuple[str, str]:
        """Return `(language, answer)`: in `language` if the entry has it, else `fallback`,
        else the first language it has an answer in."""
        for lang in (language, fallback):
            if lang is not None and lang in self.answers:
                return lang, self.answers[lang]
        lang = next(iter(self.answers))
        return lang, self.answers[lang]

    def question_in(self, language: str | None, fallback: str) -> str:
        """The entry's first phrasing in `language` (or `fallback`, or any), for suggestions."""
        for lang in (language, fallback):
            if lang is not None and self.questions.get(lang):
                return self.questions[lang][0]
        return next(q[0] for q in self.questions.values() if q)

    def suggestions_in(self, language: str | None, fallback: str) -> tuple[str, ...]:
        """Quick replies the entry defines for `language` (or `fallback`, or language-neutral)."""
        for lang in (language, fallback, "*"):
            if lang is not None and lang in self.suggestions:
                return self.suggestions[lang]
        return ()


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    """All entries of a KB, in file order, with the language to fall back on."""

    entries: tuple[FaqEntry, ...]
    default_language: str = "fa"
    sources: tuple[str, ...] = ()
    # things that load but are probably mistakes (unknown keys, odd language keys)
    warnings: tuple[str, ...] = ()

    def by_id(self) -> dict[str, FaqEntry]:
        """Entries keyed by id."""
        return {e.id: e for e in self.entries}

    @property
    def languages(self) -> frozenset[str]:
        """Every language some entry has phrasings in."""
        return frozenset(lang for e in self.entries for lang in e.questions)


def _str_tuple(value: object, where: str, field: str | None = None) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise KbError(f"{where}: expected a list of strings", field)
    if len(value) > MAX_PHRASINGS:
        raise KbError(f"{where}: {len(value):,} texts, at most {MAX_PHRASINGS:,}", field)
    for text in value:
        if len(text) > MAX_PHRASING_CHARS:
            raise KbError(
                f"{where}: a text of {len(text):,} characters, at most {MAX_PHRASING_CHARS:,}"
                f" ({text[:40]!r}...)",
                field,
            )
    return tuple(v for v in value if v.strip())


def _per_language_lists(
    value: object, where: str, field: str | None = None
) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): _str_tuple(v, f"{where}.{k}", field) for k, v in value.items()}
    return {"*": _str_tuple(value, where, field)}


def is_language_key(key: object) -> bool:
    """Whether `key` looks like a language code (fa, ar, en, pt-br)."""
    return isinstance(key, str) and _LANGUAGE_KEY.fullmatch(key) is not None


def _check_language_keys(
    section: object, what: str, where: str, warnings: list[str], *, any_ok: bool = False
) -> None:
    if not isinstance(section, Mapping):
        return
    for key in section:
        if not is_language_key(key) and not (any_ok and key == "*"):
            warnings.append(
                f"{where}: odd language key {key!r} in {what} (expected a code such as fa, ar, en)"
            )


def _parse_entry(raw: object, where: str, warnings: list[str] | None = None) -> FaqEntry:
    if not isinstance(raw, Mapping):
        raise KbError(f"{where}: an entry must be a mapping")
    entry_id = raw.get("id")
    if not isinstance(entry_id, str | int) or not str(entry_id).strip():
        raise KbError(f"{where}: entry without an id", "id")
    where = f"{where} (id {entry_id})"
    if warnings is not None:
        for key in raw:
            if key not in ENTRY_KEYS:
                warnings.append(f"{where}: unknown key {key!r} (ignored)")
        _check_language_keys(raw.get("questions"), "questions", where, warnings)
        _check_language_keys(raw.get("answers"), "answers", where, warnings)
        _check_language_keys(raw.get("suggestions"), "suggestions", where, warnings, any_ok=True)
        _check_language_keys(raw.get("not"), "not", where, warnings)
    questions = raw.get("questions")
    if not isinstance(questions, Mapping) or not questions:
        raise KbError(
            f"{where}: 'questions' must map a language to a list of phrasings", "questions"
        )
    parsed_questions = {
        str(k): _str_tuple(v, f"{where} questions.{k}", "questions") for k, v in questions.items()
    }
    if not any(parsed_questions.values()):
        raise KbError(f"{where}: no phrasings", "questions")
    answers = raw.get("answers")
    if not isinstance(answers, Mapping) or not answers:
        raise KbError(f"{where}: 'answers' must map a language to a text", "answers")
    if not all(isinstance(v, str) and v.strip() for v in answers.values()):
        raise KbError(f"{where}: every answer must be a non-empty text", "answers")
    for lang, answer in answers.items():
        if len(answer) > MAX_ANSWER_CHARS:
            raise KbError(
                f"{where} answers.{lang}: {len(answer):,} characters, at most {MAX_ANSWER_CHARS:,}",
                "answers",
            )
    handoff = raw.get("handoff", False)
    if not isinstance(handoff, bool):
        raise KbError(f"{where}: 'handoff' must be true or false", "handoff")
    negatives = _per_language_lists(raw.get("not"), f"{where} not", "not")
    if "not" in raw and not any(negatives.values()):
        raise KbError(f"{where}: 'not' must list at least one phrasing", "not")
    shared = {q.strip().casefold() for qs in parsed_questions.values() for q in qs} & {
        n.strip().casefold() for ns in negatives.values() for n in ns
    }
    if shared:
        raise KbError(f"{where}: {sorted(shared)[0]!r} is both a question and under 'not'", "not")
    return FaqEntry(
        id=str(entry_id),
        questions=parsed_questions,
        answers={str(k): str(v) for k, v in answers.items()},
        tags=_str_tuple(raw.get("tags", ()), f"{where} tags", "tags"),
        handoff=handoff,
        suggestions=_per_language_lists(
            raw.get("suggestions"), f"{where} suggestions", "suggestions"
        ),
        source=where,
        negatives=negatives,
    )


def parse_kb_document(
    data: object, source: str, warnings: list[str] | None = None
) -> tuple[list[FaqEntry], str | None]:
    """Parse one decoded JSON/YAML document into entries and its default language, if any.

    Args:
        data: the decoded document.
        source: its name, for messages.
        warnings: if given, receives what loads but is probably a mistake.

    Raises:
        KbError: the document does not follow the format.
    """
    language: str | None = None
    if isinstance(data, Mapping):
        if warnings is not None:
            warnings.extend(
                f"{source}: unknown key {k!r} (ignored)" for k in data if k not in DOCUMENT_KEYS
            )
        language = data.get("language")
        if language is not None and not isinstance(language, str):
            raise KbError(f"{source}: 'language' must be a language code")
        data = data.get("entries")
    if not isinstance(data, list):
        raise KbError(f"{source}: expected a list of entries (or a mapping with 'entries')")
    entries = [_parse_entry(raw, f"{source} entry {i + 1}", warnings) for i, raw in enumerate(data)]
    return entries, language


def _text_size(entry: FaqEntry) -> int:
    """The characters of an entry's texts (its id, keys and every text)."""
    lists = (entry.questions, entry.suggestions, entry.negatives)
    return (
        len(entry.id)
        + sum(len(k) + len(v) for k, v in entry.answers.items())
        + sum(len(k) + sum(map(len, v)) for texts in lists for k, v in texts.items())
        + sum(map(len, entry.tags))
    )


def check_kb_size(entries: Sequence[FaqEntry]) -> None:
    """Refuse a KB of more than `MAX_ENTRIES` entries or `MAX_KB_CHARS` characters of
    text, naming the entry that crosses the limit.

    Raises:
        KbError: the KB is too large.
    """
    if len(entries) > MAX_ENTRIES:
        raise KbError(
            f"{entries[MAX_ENTRIES].source}: a KB holds at most {MAX_ENTRIES:,} entries"
            f" (this one has {len(entries):,})"
        )
    total = 0
    for entry in entries:
        total += _text_size(entry)
        if total > MAX_KB_CHARS:
            raise KbError(
                f"{entry.source}: the KB's texts pass {MAX_KB_CHARS:,} characters here"
                " (a KB holds at most that much text)"
            )


def duplicate_phrasings(
    entries: Sequence[FaqEntry], among: frozenset[str] | None = None
) -> list[str]:
    """Phrasings two entries share once normalised (the matcher could not tell which one
    a customer means): one line each, "duplicate <lang> phrasing in <a> and <b>: ...".
    With `among`, only the pairs that involve one of those entry ids."""
    owner: dict[tuple[str, str], tuple[str, str]] = {}
    found: list[str] = []
    for entry in entries:
        for lang, phrasings in entry.questions.items():
            for phrasing in phrasings:
                key = (lang, normalise(phrasing))
                if not key[1].strip():
                    continue
                first = owner.setdefault(key, (entry.id, phrasing))
                if first[0] == entry.id:
                    continue
                if among is None or entry.id in among or first[0] in among:
                    found.append(
                        f"duplicate {lang} phrasing in {first[0]} and {entry.id}:"
                        f" {first[1]!r} / {phrasing!r}"
                    )
    return found


class _KbYamlLoader(yaml.SafeLoader):
    """`yaml.safe_load` without anchors and aliases: an alias repeats a text without
    repeating its bytes, so a small file could stand for gigabytes of KB."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None,
                None,
                "anchors and aliases (&name, *name) are not allowed in a KB file",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def _decode(text: str, source: str) -> Any:
    kind = "JSON" if source.endswith(".json") else "YAML"
    try:
        return json.loads(text) if kind == "JSON" else yaml.load(text, Loader=_KbYamlLoader)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise KbError(f"{source}: not valid {kind}: {exc}") from exc
    except RecursionError:
        # Both parsers recurse per level of nesting: `[[[[...` is refused as the API's
        # JSON reader refuses it (`router.http.errors.parse_json`), not a crash.
        raise KbError(f"{source}: not valid {kind}: nested too deeply") from None


def kb_document_entries(
    text: str, source: str
) -> tuple[list[dict[str, Any]], str | None, KnowledgeBase]:
    """One KB file's entries as the mappings it holds (ids as text), its language, and
    the KB they load as: validated exactly as `load_kb_texts` validates a file.

    Raises:
        KbError: the text is not a valid KB file, or two entries share an id.
    """
    kb = load_kb_texts([(source, text)])
    data = _decode(text, source)
    language = data.get("language") if isinstance(data, Mapping) else None
    raw: list[Any] = data["entries"] if isinstance(data, Mapping) else data
    entries = [{**entry, "id": str(entry["id"])} for entry in raw]
    return entries, language, kb


def kb_files(path: Path) -> list[Path]:
    """The KB files `path` names: itself, or the JSON/YAML files under a folder (sorted)."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in KB_SUFFIXES)
    return [path]


def load_kb_texts(texts: Sequence[tuple[str, str]], default_language: str = "fa") -> KnowledgeBase:
    """Build a KB from `(source name, file text)` pairs; ids must be unique across them.

    Raises:
        KbError: a file is invalid, or two entries share an id.
    """
    entries: list[FaqEntry] = []
    seen: dict[str, str] = {}
    language: str | None = None
    warnings: list[str] = []
    for source, text in texts:
        parsed, file_language = parse_kb_document(_decode(text, source), source, warnings)
        language = language or file_language
        for entry in parsed:
            if entry.id in seen:
                raise KbError(f"{entry.source}: id {entry.id!r} already used in {seen[entry.id]}")
            seen[entry.id] = entry.source
            entries.append(entry)
    check_kb_size(entries)
    if not entries:
        raise KbError(f"no entries in {', '.join(s for s, _ in texts) or 'an empty folder'}")
    return KnowledgeBase(
        entries=tuple(entries),
        default_language=language or default_language,
        sources=tuple(s for s, _ in texts),
        warnings=tuple(warnings),
    )


def load_kb(path: Path, default_language: str = "fa") -> KnowledgeBase:
    """Load the KB at `path` (a file or a folder of files). Blocking: call it in a thread.

    Raises:
        KbError: the path is missing, a file is invalid, or ids collide.
    """
    if not path.exists():
        raise KbError(f"{path}: no such file or folder")
    files = kb_files(path)
    texts = []
    for file in files:
        try:
            texts.append((str(file), file.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise KbError(f"{file}: cannot read: {exc}") from exc
    return load_kb_texts(texts, default_language)


def sample_kb_path() -> Path:
    """The folder of the sample shop KB shipped with the package."""
    return Path(str(resources.files(SAMPLE_KB_PACKAGE)))
