"""One module per schema change, applied in the order of their numbers (Alembic skips this file)."""
