"""The FAQ's word lists and lexicons read with libyaml's parser give what PyYAML's own
safe loader gives, file by file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import yaml

from faq.yaml_files import parse_yaml, shipped_yaml

SHIPPED = sorted(p.name for p in Path(str(resources.files("faq"))).glob("*.yaml"))
OWNER_LEXICONS = sorted((Path(__file__).parents[1] / "bench" / "lexicons").glob("*.yaml"))


def test_the_shipped_files_are_all_read() -> None:
    assert {"lexicon.yaml", "light_words.yaml", "finglish.yaml", "organisations.yaml"} <= set(
        SHIPPED
    )


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_file_reads_as_the_safe_loader_reads_it(name: str) -> None:
    text = resources.files("faq").joinpath(name).read_text(encoding="utf-8")
    assert shipped_yaml(name) == yaml.safe_load(text)


@pytest.mark.parametrize("path", OWNER_LEXICONS, ids=lambda p: p.name)
def test_an_owner_lexicon_reads_as_the_safe_loader_reads_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert parse_yaml(text) == yaml.safe_load(text)


def test_invalid_yaml_raises_the_yaml_error_callers_catch() -> None:
    with pytest.raises(yaml.YAMLError):
        parse_yaml("a: [1, 2\nb: 3")
    with pytest.raises(yaml.YAMLError):  # the safe loader: no Python objects
        parse_yaml("!!python/object/apply:os.system ['true']")
