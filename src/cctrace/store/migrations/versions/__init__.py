"""Alembic revisions, oldest first: ``0001`` is schema 1 as cctrace 0.1 created it."""
