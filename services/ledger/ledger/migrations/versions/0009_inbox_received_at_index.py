"""The inbox keeps event ids for a dedup window, not forever: an index on `received_at` lets
the pruner find the oldest ids without reading the table.

`received_at` exists since 0001 (`DEFAULT now()`, the start of the transaction that recorded the
id), so no insert changes. Building the index holds back new inbox rows (and so ingest) for as
long as the build takes; on a large inbox, build it beforehand without that, by hand:
`CREATE INDEX CONCURRENTLY IF NOT EXISTS inbox_received_at ON inbox (received_at)`; this
migration then finds it and does nothing (docs/operations.md).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from shared.migrations import execute_script

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("CREATE INDEX IF NOT EXISTS inbox_received_at ON inbox (received_at);")


def downgrade() -> None:
    execute_script("DROP INDEX IF EXISTS inbox_received_at;")
