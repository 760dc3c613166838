"""The web chat channel: visitor WebSocket, embeddable widget and demo shop page."""

from channels.webchat.adapter import WebchatAdapter

__all__ = ["WebchatAdapter"]
