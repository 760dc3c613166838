"""What a team promises and measures: business-hour calendars, SLA clocks and breaches,
the dates customers are told, KPI reports and knowledge gaps.

`calendars` and `dates` are pure logic: no database, no HTTP. Callers pass aware
datetimes and get aware UTC back.
"""
