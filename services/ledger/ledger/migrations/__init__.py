"""Alembic migrations of the ledger database."""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent
