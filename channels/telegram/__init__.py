"""Telegram channel: python-telegram-bot in polling or webhook mode, acknowledging after commit."""

from channels.telegram.adapter import TelegramAdapter

__all__ = ["TelegramAdapter"]
