"""The message path: the channel-neutral model, ingest, threads, the outbox, shared rules."""
