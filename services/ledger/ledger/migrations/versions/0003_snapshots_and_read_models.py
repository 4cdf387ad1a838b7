"""Snapshots, and read models for every question the API answers.

- `snapshots`: the account's state every N events (a cache: deleting it changes no answer).
- `partners`, `customers`: what `GET /partners/{id}`, `/billing` and `/customers` answer.
- `purchases`, `charges` and `reservations.mailing_id`: the records of what left the account's
  state when it closed, for the checks that still need it (an id used twice, a late result).

Existing rows of these tables are filled by `python -m ledger migrate`, which rebuilds the
projections from the events when it finds events but no partner rows (`ledger.adapters.rebuild`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from shared.migrations import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE snapshots (
            partner_id      text NOT NULL,
            version         integer NOT NULL,
            schema_version  integer NOT NULL,
            state           jsonb NOT NULL,
            recorded_at     timestamptz NOT NULL,
            PRIMARY KEY (partner_id, version)
        );
        -- `as_of` looks for the last snapshot recorded at or before a time.
        CREATE INDEX snapshots_by_time ON snapshots (partner_id, recorded_at, version);

        CREATE TABLE partners (
            partner_id               text PRIMARY KEY,
            name                     text NOT NULL,
            locale                   text NOT NULL,
            currency                 text NOT NULL,
            credit_price_list_id     text NOT NULL,
            mailing_price_list_id    text NOT NULL,
            billing_mode             text NOT NULL,
            reminder_threshold       bigint,
            auto_purchase_credits    bigint,
            auto_purchase_trigger    bigint,
            auto_purchase_suspended  boolean NOT NULL,
            payment_method           jsonb
        );

        CREATE TABLE customers (
            partner_id   text NOT NULL,
            customer_id  text NOT NULL,
            name         text NOT NULL,
            attached_at  timestamptz NOT NULL,
            PRIMARY KEY (partner_id, customer_id)
        );

        ALTER TABLE reservations ADD COLUMN mailing_id text;

        CREATE TABLE purchases (
            partner_id    text NOT NULL,
            purchase_id   text NOT NULL,
            credits       bigint NOT NULL,
            amount_minor  bigint NOT NULL,
            reason        text NOT NULL,
            status        text NOT NULL,
            PRIMARY KEY (partner_id, purchase_id)
        );

        CREATE TABLE charges (
            partner_id    text NOT NULL,
            charge_id     text NOT NULL,
            credits       bigint NOT NULL,
            amount_minor  bigint NOT NULL,
            status        text NOT NULL,
            PRIMARY KEY (partner_id, charge_id)
        );
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE charges;
        DROP TABLE purchases;
        ALTER TABLE reservations DROP COLUMN mailing_id;
        DROP TABLE customers;
        DROP TABLE partners;
        DROP TABLE snapshots;
        """
    )
