"""The API channel: integrations post customer messages over HTTP and read replies."""

from channels.api.adapter import ApiAdapter

__all__ = ["ApiAdapter"]
