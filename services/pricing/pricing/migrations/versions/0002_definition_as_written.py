"""Store version definitions as written (json), not as jsonb.

jsonb re-orders object keys (shorter keys first), and a version's components are an object
keyed by id whose order is the order of a quote's lines. json keeps the canonical text the
service wrote, byte for byte, which is also what an audit wants to see. Changing a column's
type rewrites the table without firing the UPDATE trigger that keeps versions immutable.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from shared.migrations import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        "ALTER TABLE price_list_versions ALTER COLUMN definition TYPE json USING definition::json;"
    )


def downgrade() -> None:
    execute_script(
        "ALTER TABLE price_list_versions"
        " ALTER COLUMN definition TYPE jsonb USING definition::jsonb;"
    )
