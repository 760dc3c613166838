"""KPI reports: thread events recorded as they happen, and summaries computed from them."""
