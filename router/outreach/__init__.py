"""Proactive outreach: templates, scheduled messages, consent, purchases, the scheduler."""
