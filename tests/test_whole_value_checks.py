"""Values checked as a whole are checked to their last character.

`re.match` with a pattern ending in `$` lets one trailing newline through (`$` also
matches before a final "\\n"): a user id, a client id, a survey token or a host name
with a newline on the end would have been taken as valid and carried into logs, frames
or headers. Each check here is the one the server uses, fed a valid value and the same
value with "\\n" appended.
"""

from __future__ import annotations

import json

import pytest

from channels.email.parse import mail_address
from channels.webchat.protocol import ProtocolError, parse_client_frame
from channels.webchat.tokens import valid_user_id
from router.core.email_addresses import a_labels
from router.identity.display import customer_display_name
from router.service.surveys import read_token, survey_token
from router.storage.models import Identity

SECRET = "s" * 32


def test_a_user_id_with_a_trailing_newline_is_refused() -> None:
    assert valid_user_id("user-42")
    assert not valid_user_id("user-42\n")


def test_a_host_name_with_a_trailing_newline_is_no_host_name() -> None:
    assert a_labels("example.com") == "example.com"
    assert a_labels("example.com\n") is None
    assert mail_address("ali@example.com") == "ali@example.com"


def test_a_survey_token_with_a_trailing_newline_is_not_read() -> None:
    token = survey_token(SECRET, 7, 9)
    assert read_token(SECRET, token) == (7, 9)
    assert read_token(SECRET, token + "\n") is None


@pytest.mark.parametrize("client_id", ["c-1\n", "c-1\n\n"])
def test_a_client_id_with_a_trailing_newline_is_a_protocol_error(client_id: str) -> None:
    good = json.dumps({"type": "message", "client_id": "c-1", "text": "سلام"})
    assert parse_client_frame(good, max_frame_bytes=4096, max_text_length=100)
    bad = json.dumps({"type": "message", "client_id": client_id, "text": "سلام"})
    with pytest.raises(ProtocolError):
        parse_client_frame(bad, max_frame_bytes=4096, max_text_length=100)


def test_a_phone_number_with_a_trailing_newline_is_not_shown_as_the_name() -> None:
    def phone(address: str) -> Identity:
        return Identity(id=1, channel="whatsapp", address=address, verified=False)

    assert customer_display_name(None, [phone("+98 912 123 4567")]) == "+98 912 123 4567"
    assert customer_display_name(None, [phone("+98 912 123 4567\n")]) is None
