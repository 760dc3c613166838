"""Service levels: business-hour calendars, SLA clocks and the dates customers are told.

`calendars` and `dates` are pure logic: no database, no HTTP. Callers pass aware
datetimes and get aware UTC back.
"""
