"""A summary as CSV: one row for the total, then one per group; nested figures
flattened with underscores (`first_response_seconds_median`).

UTF-8 with a byte-order mark and CRLF line ends: Excel opens it with Persian and Arabic
labels intact (without the mark it guesses a legacy code page); other readers skip it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any

from router.service.reports.kpis import Figures
from router.service.reports.summary import Summary

BOM = "\ufeff"


def _flat(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for name, inner in value.items():
            flat.update(_flat(f"{prefix}_{name}" if prefix else name, inner))
        return flat
    return {prefix: "" if value is None else value}


# A cell starting with one of these is a formula to Excel, LibreOffice and Google
# Sheets («=HYPERLINK(...)»); keys and labels come from customers (a language an
# integration sent) and agents, so such a cell is written as text, after a quote (the
# OWASP rule).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _row(key: Any, label: str | None, figures: Figures) -> dict[str, Any]:
    return {
        "key": "" if key is None else (_text_cell(key) if isinstance(key, str) else key),
        "label": _text_cell(label or ""),
        **_flat("", dataclasses.asdict(figures)),
    }


def summary_csv(report: Summary) -> str:
    """The CSV text, BOM first."""
    rows = [_row("total", "total", report.total)]
    rows += [_row(group.key, group.label, group.figures) for group in report.groups]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return BOM + out.getvalue()
