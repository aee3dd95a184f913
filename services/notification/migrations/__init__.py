"""Alembic revisions of the notification database.

The first one revises the runtime's `runtime_0001`."""
