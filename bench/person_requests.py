"""Count requests for a person detected, and look-alikes taken for one, on one half of a
person-requests set (`tests/fixtures/faq/person_requests*.jsonl`).

    python bench/person_requests.py tests/fixtures/faq/person_requests2.jsonl tune

Triage only (`faq.triage.triage`), no KB. Held halves are for the final count of a round,
never for choices (tests/fixtures/faq/README.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faq.triage import MessageKind, triage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("split", choices=["tune", "held"])
    args = parser.parse_args()
    lines = args.file.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    rows = [row for row in rows if row["split"] == args.split]
    taken = {id(row): triage(row["text"]).kind is MessageKind.HUMAN for row in rows}
    asked = [row for row in rows if row["request"]]
    others = [row for row in rows if not row["request"]]
    print(
        f"{args.file.name} {args.split}: requests detected "
        f"{sum(taken[id(r)] for r in asked)}/{len(asked)}; look-alikes taken "
        f"{sum(taken[id(r)] for r in others)}/{len(others)}"
    )


if __name__ == "__main__":
    main()
