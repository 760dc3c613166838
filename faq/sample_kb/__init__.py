"""The sample shop KB shipped with Pasokh, used when no `[faq] path` is configured."""
