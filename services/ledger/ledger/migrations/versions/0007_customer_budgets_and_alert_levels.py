"""Customer budgets and balance alert levels.

- `customer_budgets`: each customer's monthly budget as the partner set it last (a customer
  without a budget has no row). What the customer used and holds this month is read from
  `customer_usage_daily` and `reservations`.
- `reservations.customer_id`: the customer whose budget a hold counts against (NULL for holds
  that name none, and for every hold before this revision).
- `partners.reminder_thresholds`: the partner's balance alert levels, highest first.

Rows are functions of the events alone (`ops replay` rebuilds and compares them).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from shared.migrations import execute_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE customer_budgets (
            partner_id       text NOT NULL,
            customer_id      text NOT NULL,
            monthly_credits  bigint NOT NULL,
            alert_percents   integer[] NOT NULL,
            set_at           timestamptz NOT NULL,
            PRIMARY KEY (partner_id, customer_id)
        );

        ALTER TABLE reservations ADD COLUMN customer_id text;
        CREATE INDEX reservations_active_per_customer ON reservations (partner_id, customer_id)
            WHERE status = 'active' AND customer_id IS NOT NULL;

        ALTER TABLE partners ADD COLUMN reminder_thresholds bigint[] NOT NULL DEFAULT '{}';
        """
    )


def downgrade() -> None:
    execute_script(
        """
        ALTER TABLE partners DROP COLUMN reminder_thresholds;
        DROP INDEX reservations_active_per_customer;
        ALTER TABLE reservations DROP COLUMN customer_id;
        DROP TABLE customer_budgets;
        """
    )
