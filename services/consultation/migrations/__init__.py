"""Alembic revisions of the consultation database.

The first one revises the runtime's `runtime_0001`."""
