"""The matcher's indexes on disk, keyed by a hash of everything they are built from.

A KB of 30,000 phrasings takes seconds to analyse (normalisation, spoken Persian,
the lexicon, character n-grams); its indexes load from this cache in a fraction of a
second. The key hashes the KB's phrasings, the matcher's configuration, the lexicon's
content and the source of the modules that turn text into features, so a change to
any of them is a different file (a stale cache is never read). The file is one numpy
`.npz` read with `allow_pickle=False`, its texts and vocabularies stored as JSON bytes
inside it: nothing in it can run code. It is written to a temporary file and renamed
into place, so concurrent writers and readers only ever see a whole file; one that
cannot be read or does not fit together is logged and rebuilt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import os
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faq.index import AlignPack, ContrastIndex, TfIdfIndex
from faq.kb import KnowledgeBase

logger = logging.getLogger(__name__)

FORMAT = 2
PREFIX = "faq-index-"
KEEP_FILES = 8  # newest cache files kept in the folder (one per KB and configuration)
# The modules (and data) that decide the features a phrasing gets.
_SOURCES = (
    "index.py",
    "index_cache.py",
    "matcher.py",
    "normalise.py",
    "colloquial.py",
    "lexicon.py",
    "lexicon.yaml",
    "finglish.py",
    "finglish.yaml",
    "morphology.py",
    "language.py",
)


@dataclass(frozen=True, slots=True)
class MatcherArrays:
    """Everything `faq.matcher.Matcher` precomputes for a KB."""

    texts: list[str]  # each indexed phrasing as written
    normalised: list[str]  # its words after the language layers, space-joined
    entry_of: npt.NDArray[np.int64]  # the entry (by position) of each phrasing
    words: TfIdfIndex
    chars: TfIdfIndex
    centroid_words: TfIdfIndex
    centroid_chars: TfIdfIndex
    forms: list[str]  # stage-2 token forms, by id
    phrasing_align: AlignPack
    bag_align: AlignPack
    # naive Bayes over the entries' word and character features (`ContrastIndex`)
    contrast_words: ContrastIndex
    contrast_chars: ContrastIndex


class CacheInvalid(ValueError):
    """A cache file does not describe an index of the expected KB."""


@functools.cache
def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file renamed into place: readers see a whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _code_fingerprint() -> str:
    """Hash of the feature-building code, read once per process (the code it runs)."""
    folder = Path(__file__).parent
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update(name.encode())
        with contextlib.suppress(OSError):
            digest.update(hashlib.sha256((folder / name).read_bytes()).digest())
    digest.update(f"{sys.version_info[:2]} numpy {np.__version__}".encode())
    return digest.hexdigest()


def _canonical(value: object) -> Any:
    """A JSON-able form of plain data (mappings and sets sorted); TypeError otherwise."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        items = [[_canonical(k), _canonical(v)] for k, v in value.items()]
        return sorted(items, key=json.dumps)
    if isinstance(value, set | frozenset):
        return sorted((_canonical(v) for v in value), key=json.dumps)
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            type(value).__name__,
            [_canonical(getattr(value, f.name)) for f in dataclasses.fields(value)],
        ]
    raise TypeError(f"cannot fingerprint a {type(value).__name__}")


def _state(obj: object) -> dict[str, object]:
    slots: list[str] = []
    for cls in type(obj).__mro__:
        declared = getattr(cls, "__slots__", ())
        slots.extend((declared,) if isinstance(declared, str) else declared)
    if slots:
        return {name: getattr(obj, name) for name in slots if hasattr(obj, name)}
    return dict(vars(obj))


def cache_key(kb: KnowledgeBase, config: object, lexicon: object | None) -> str | None:
    """The cache key of a matcher over `kb`, or None if the lexicon holds something that
    cannot be fingerprinted (then nothing is cached)."""
    try:
        lexicon_state = None if lexicon is None else _canonical(_state(lexicon))
        config_state = _canonical(config)
    except TypeError as exc:
        logger.info("FAQ index not cached: %s", exc)
        return None
    content = {
        "format": FORMAT,
        "code": _code_fingerprint(),
        "config": config_state,
        "lexicon": lexicon_state,
        "kb": [[e.id, [[lang, list(qs)] for lang, qs in e.questions.items()]] for e in kb.entries],
    }
    raw = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()


def cache_path(cache_dir: Path, key: str) -> Path:
    """Where the cache of `key` lives."""
    return cache_dir / f"{PREFIX}{key[:40]}.npz"


def _index_meta(index: TfIdfIndex) -> dict[str, object]:
    damped, damping = index.damping
    return {"n": index.document_frequency_base, "damped": sorted(damped), "damping": damping}


def save(cache_dir: Path, key: str, arrays: MatcherArrays) -> None:
    """Write the cache of `key` (temporary file, then rename); failures are logged only."""
    meta = {
        "format": FORMAT,
        "key": key,
        "texts": arrays.texts,
        "normalised": arrays.normalised,
        "forms": arrays.forms,
        "entries": int(arrays.centroid_chars.max_document()) + 1,
        "words": {**_index_meta(arrays.words), "vocabulary": arrays.words.vocabulary()},
        "chars": {**_index_meta(arrays.chars), "vocabulary": arrays.chars.vocabulary()},
    }
    data: dict[str, npt.NDArray[np.generic]] = {
        "meta": np.frombuffer(json.dumps(meta, ensure_ascii=False).encode(), dtype=np.uint8),
        "entry_of": arrays.entry_of,
    }
    for name in ("words", "chars", "centroid_words", "centroid_chars"):
        for part, array in getattr(arrays, name).arrays().items():
            if not (name.startswith("centroid") and part == "idf"):  # shared with the base
                data[f"{name}.{part}"] = array
    for name in ("contrast_words", "contrast_chars"):
        for part, array in getattr(arrays, name).arrays().items():
            data[f"{name}.{part}"] = array
    for name in ("phrasing_align", "bag_align"):
        pack: AlignPack = getattr(arrays, name)
        data[f"{name}.ids"], data[f"{name}.weights"] = pack.ids, pack.weights
        data[f"{name}.bounds"] = pack.bounds
    try:
        write_atomically(
            cache_path(cache_dir, key),
            lambda tmp: np.savez(tmp, **data),  # type: ignore[arg-type]
        )
        _prune(cache_dir)
    except OSError as exc:
        logger.warning("FAQ index cache not written to %s: %s", cache_dir, exc)


def _prune(cache_dir: Path, pattern: str = f"{PREFIX}*.npz") -> None:
    """Keep the newest `KEEP_FILES` cache files (files named by `pattern`)."""
    files = []
    for path in cache_dir.glob(pattern):
        with contextlib.suppress(OSError):
            files.append((path.stat().st_mtime_ns, path))
    for _, path in sorted(files, reverse=True)[KEEP_FILES:]:
        with contextlib.suppress(OSError):
            path.unlink()


def prune(cache_dir: Path, pattern: str) -> None:
    """Keep the newest `KEEP_FILES` files named by `pattern` in `cache_dir` (for caches
    kept beside the index, such as the KB's embeddings)."""
    _prune(cache_dir, pattern)


def _strings(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CacheInvalid(f"{what} is not a list of texts")
    return value


def _pack(z: Mapping[str, npt.NDArray[Any]], name: str, sides: int, forms: int) -> AlignPack:
    pack = AlignPack(
        np.asarray(z[f"{name}.ids"], dtype=np.int64),
        np.asarray(z[f"{name}.weights"], dtype=np.float64),
        np.asarray(z[f"{name}.bounds"], dtype=np.int64),
    )
    b = pack.bounds
    if (
        len(b) != sides + 1
        or b[0] != 0
        or bool(np.any(np.diff(b) < 0))
        or int(b[-1]) != len(pack.ids)
        or len(pack.ids) != len(pack.weights)
        or (len(pack.ids) and (int(pack.ids.min()) < 0 or int(pack.ids.max()) >= forms))
    ):
        raise CacheInvalid(f"{name} does not fit together")
    return pack


def _read(path: Path, key: str, n_entries: int) -> MatcherArrays:
    with np.load(path, allow_pickle=False) as npz:
        z = {name: npz[name] for name in npz.files}
    meta = json.loads(bytes(z["meta"]).decode())
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("key") != key:
        raise CacheInvalid("written for another KB, configuration or version")
    if meta.get("entries") != n_entries:
        raise CacheInvalid("entry count differs")
    texts = _strings(meta["texts"], "texts")
    normalised = _strings(meta["normalised"], "normalised")
    forms = _strings(meta["forms"], "forms")
    entry_of = np.asarray(z["entry_of"], dtype=np.int64)
    n = len(texts)
    if len(normalised) != n or len(entry_of) != n:
        raise CacheInvalid("phrasing lists differ in length")
    if n and (
        int(entry_of.min()) < 0
        or int(entry_of.max()) >= n_entries
        or bool(np.any(np.diff(entry_of) < 0))
    ):
        raise CacheInvalid("phrasings out of entry order")
    indexes: dict[str, TfIdfIndex] = {}
    contrasts: dict[str, ContrastIndex] = {}
    for base in ("words", "chars"):
        info = meta[base]
        arrays = {part: z[f"{base}.{part}"] for part in ("indptr", "doc_ids", "weights", "idf")}
        n_docs = int(info["n"])
        damped = frozenset(_strings(info["damped"], "damped"))
        damping = float(info["damping"])
        vocabulary = _strings(info["vocabulary"], "vocabulary")
        index = TfIdfIndex.restore(arrays, vocabulary, n=n_docs, damped=damped, damping=damping)
        centroid_arrays = {p: z[f"centroid_{base}.{p}"] for p in ("indptr", "doc_ids", "weights")}
        centroid = TfIdfIndex.restore(
            {**centroid_arrays, "idf": arrays["idf"]},
            index.vocabulary_ids(),
            n=n_docs,
            damped=damped,
            damping=damping,
        )
        if index.max_document() >= n or centroid.max_document() >= n_entries:
            raise CacheInvalid(f"{base} postings name unknown documents")
        indexes[base], indexes[f"centroid_{base}"] = index, centroid
        contrast_arrays = {
            p: z[f"contrast_{base}.{p}"] for p in ("indptr", "doc_ids", "weights", "bias")
        }
        contrasts[base] = ContrastIndex.restore(contrast_arrays, len(vocabulary), n_entries)
    return MatcherArrays(
        texts=texts,
        normalised=normalised,
        entry_of=entry_of,
        words=indexes["words"],
        chars=indexes["chars"],
        centroid_words=indexes["centroid_words"],
        centroid_chars=indexes["centroid_chars"],
        forms=forms,
        phrasing_align=_pack(z, "phrasing_align", n, len(forms)),
        bag_align=_pack(z, "bag_align", n_entries, len(forms)),
        contrast_words=contrasts["words"],
        contrast_chars=contrasts["chars"],
    )


def load(cache_dir: Path, key: str, n_entries: int) -> MatcherArrays | None:
    """The cached indexes of `key`, or None if there are none or they cannot be used
    (logged; the caller rebuilds and overwrites them)."""
    path = cache_path(cache_dir, key)
    if not path.exists():
        return None
    try:
        return _read(path, key, n_entries)
    except (OSError, EOFError, KeyError, TypeError, ValueError, zipfile.BadZipFile) as exc:
        # CacheInvalid and json.JSONDecodeError are ValueErrors.
        logger.warning("FAQ index cache %s is unusable (%s); rebuilding it", path, exc)
        return None
