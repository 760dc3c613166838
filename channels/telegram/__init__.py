"""Telegram channel: python-telegram-bot in polling or webhook mode, acknowledging after commit.

Configuration (`[telegram]`, or `PASOKH_TELEGRAM__<KEY>`):

- `token` (secret, environment only): the channel runs when it is set.
- `api_url`: PTB's `base_url`, e.g. `http://127.0.0.1:8081/bot` for a self-hosted Bot
  API server; `file_url` defaults to the same host's `/file/bot`.
- `mode`: `auto` (webhook when `[server] public_url` is set, else polling),
  `polling` or `webhook`. Webhook mode registers `<public_url>/telegram/webhook`
  with a secret token (`webhook_secret`, or one derived from the bot token so that
  every process agrees on it).
- `messages_per_second` (bot-wide, PTB's `AIORateLimiter`), `chat_interval` (per
  chat), `max_retry_wait` (a longer flood wait goes back to the outbox),
  `max_file_bytes`, `poll_timeout`, `ingest_concurrency`, `leader_retry_interval`.

Guarantees: an update is acknowledged to Telegram (offset moved, or webhook 200) only
after the router committed it; a redelivery carries the same dedupe key
(`tg:msg:<chat>:<message_id>`, `tg:edit:...`, `tg:cb:<query id>`). On PostgreSQL only
the holder of an advisory lock polls, so several processes never meet 409 Conflict.
"""

from channels.telegram.adapter import TelegramAdapter

__all__ = ["TelegramAdapter"]
