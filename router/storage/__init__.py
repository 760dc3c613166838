"""Storage: typed SQLAlchemy models, engine factory, migrations."""
