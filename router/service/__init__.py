"""Service levels, surveys, KPI reports and outreach: what a team measures and promises."""
