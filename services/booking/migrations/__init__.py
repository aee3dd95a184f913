"""Alembic revisions of the booking database.

The first one revises the runtime's `runtime_0001`."""
