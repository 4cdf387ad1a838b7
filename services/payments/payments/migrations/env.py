"""Alembic entry point; the migration runner lives in `shared.migrations`."""

from shared.migrations import run_env

run_env()
