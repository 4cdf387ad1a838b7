"""Partners bill their customers: usage per customer and day, resale contracts, statements.

- `customer_usage_daily`: per partner, customer and UTC day of `sent_at`, the mailings,
  recipients and credits debited (kept with the debits, in the same transaction). A period's
  usage is read from at most one row per day, however many mailings it had.
- `customer_contracts`: every contract change, by the day it takes effect.
- `statements`: every statement issued, with the pricing service's quote as answered.

Rows are functions of the events alone (`ops replay` rebuilds and compares them). Existing
debits are counted by `python -m ledger migrate` (a rebuild in place when the usage table is
empty but debits exist); debits stored before `MailingDebited` v3 count on the day their
event was recorded.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from shared.migrations import execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE customer_usage_daily (
            partner_id   text NOT NULL,
            customer_id  text NOT NULL,
            day          date NOT NULL,
            mailings     bigint NOT NULL,
            recipients   bigint NOT NULL,
            credits      bigint NOT NULL,
            PRIMARY KEY (partner_id, customer_id, day)
        );

        CREATE TABLE customer_contracts (
            partner_id       text NOT NULL,
            customer_id      text NOT NULL,
            starts_on        date NOT NULL,
            price_list_id    text NOT NULL,
            plan_variant_id  text NOT NULL,
            billing_anchor   date NOT NULL,
            billing_period   text NOT NULL,
            booked           jsonb NOT NULL,
            first_starts_on  date NOT NULL,
            changed_at       timestamptz NOT NULL,
            PRIMARY KEY (partner_id, customer_id, starts_on)
        );

        CREATE TABLE statements (
            partner_id          text NOT NULL,
            customer_id         text NOT NULL,
            period_start        date NOT NULL,
            period_end          date NOT NULL,
            price_list_id       text NOT NULL,
            price_list_version  integer NOT NULL,
            plan_variant_id     text NOT NULL,
            currency            text NOT NULL,
            total               text NOT NULL,
            total_minor         bigint NOT NULL,
            mailings            bigint NOT NULL,
            recipients          bigint NOT NULL,
            credits             bigint NOT NULL,
            quote               jsonb NOT NULL,
            issued_at           timestamptz NOT NULL,
            PRIMARY KEY (partner_id, customer_id, period_start)
        );
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE statements;
        DROP TABLE customer_contracts;
        DROP TABLE customer_usage_daily;
        """
    )
