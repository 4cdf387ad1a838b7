"""A debit writes no `partner_history` row: the event row is the history.

`partner_history` held one row per event (its version, type, credit change, balance after it and
the mailing it debited), as many rows as the events table, written in every batch. What read it
now reads the events:
- "was this mailing debited already?" uses a unique index on the debits' `mailing_id` in
  `events` (the same guarantee the history's unique index gave);
- `ops audit export` folds the partner's events from the snapshot before the period to get each
  event's credit change and running balance, so it reads the period and at most one snapshot
  interval more.
`GET /partners/{id}/events` has read the events table all along.

Downgrading brings the table back empty, and the older code does not refill it by itself: its
`ledger.adapters.rebuild.rebuild_in_place` does, from the events.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from shared.migrations import execute_script

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        -- A mailing is debited once, even when the platform sends it twice under two event ids.
        CREATE UNIQUE INDEX IF NOT EXISTS events_mailing_debited
            ON events ((payload ->> 'mailing_id'), originator_id)
            WHERE type = 'MailingDebited';
        DROP TABLE IF EXISTS partner_history;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        CREATE TABLE partner_history (
            partner_id     text NOT NULL,
            version        integer NOT NULL,
            type           text NOT NULL,
            credits_delta  bigint NOT NULL,
            balance_after  bigint NOT NULL,
            mailing_id     text,
            occurred_at    timestamptz NOT NULL
                DEFAULT NULLIF(current_setting('mailbill.batch_time', true), '')::timestamptz,
            PRIMARY KEY (partner_id, version)
        );
        CREATE UNIQUE INDEX partner_history_mailing
            ON partner_history (mailing_id, partner_id) WHERE mailing_id IS NOT NULL;
        DROP INDEX events_mailing_debited;
        """
    )
