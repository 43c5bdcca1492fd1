"""Alembic migrations of the store, run from code by services.store.schema (see README.md here)."""
