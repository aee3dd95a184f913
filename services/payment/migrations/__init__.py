"""Alembic revisions of the payment database.

The first one revises the runtime's `runtime_0001`."""
