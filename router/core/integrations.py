"""Customers of integrations: an integration names its customers by its own external
ids, kept as identities of the integrations' channel (`ChannelRoles.integrations`)
in that integration's namespace."""

from __future__ import annotations


def integration_address(token_id: int, external_id: str) -> str:
    """The address, on the integrations' channel, of the customer that integration
    `token_id` calls `external_id`."""
    # Two integrations may both have a customer "42": the token names the namespace.
    return f"{token_id}:{external_id}"
