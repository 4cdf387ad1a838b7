"""The time a batch's rows share, sent once per COPY instead of once per row.

asyncpg's COPY encodes every timestamptz value on its own (to UTC, minus the epoch: about 1 µs
a value, more than the rest of an event's row), yet all the events and history rows a batch
writes carry the same time. The writer now sets it once as the transaction's
`mailbill.batch_time` and leaves the column out of the COPY; the column's default takes it from
there (`ledger.adapters.copy_rows`). Without the setting the defaults are as before: the clock
for `events.recorded_at`, none (so the NOT NULL refuses the row) for `partner_history.occurred_at`.
Rows written with a time of their own are unchanged.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from shared.migrations import execute_script

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# NULLIF: a setting made local to one transaction is left as '' in the session afterwards.
_BATCH_TIME = "NULLIF(current_setting('mailbill.batch_time', true), '')::timestamptz"


def upgrade() -> None:
    execute_script(
        f"""
        ALTER TABLE events ALTER COLUMN recorded_at
            SET DEFAULT COALESCE({_BATCH_TIME}, clock_timestamp());
        ALTER TABLE partner_history ALTER COLUMN occurred_at SET DEFAULT {_BATCH_TIME};
        """
    )


def downgrade() -> None:
    execute_script(
        """
        ALTER TABLE events ALTER COLUMN recorded_at SET DEFAULT clock_timestamp();
        ALTER TABLE partner_history ALTER COLUMN occurred_at DROP DEFAULT;
        """
    )
