"""Service levels: business-hour calendars and the dates customers are told.

Pure logic: no database, no HTTP. Callers pass aware datetimes and get aware UTC back.
"""
