"""Alembic entry point; the logic is shared by both services."""

from shared.migrations import run_env

run_env()
