"""YAML for the FAQ's word lists and lexicons, parsed with libyaml's C parser where
PyYAML has it: the same safe loader's result, about ten times quicker than the
pure-Python parser, which was most of what a process spent importing `faq.triage`
(the shipped lists are read at import) and building a matcher's lexicon."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml

_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """`yaml.safe_load(text)`, with the C parser when there is one.

    Raises:
        yaml.YAMLError: `text` is not valid YAML.
    """
    return yaml.load(text, Loader=_SAFE_LOADER)


@functools.cache
def shipped_yaml(filename: str) -> Any:
    """A YAML file of the `faq` package, parsed once per process: several modules read
    the same list (`organisations.yaml` four times). Shared: never change it."""
    return parse_yaml(resources.files("faq").joinpath(filename).read_text(encoding="utf-8"))
