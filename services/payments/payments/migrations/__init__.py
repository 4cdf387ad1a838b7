"""Alembic migrations of the payments database."""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent
