"""Payment attempts, inbox and offsets, outbox, Stripe events, SEPA files, notifications.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from shared.migrations import execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        -- Message ids of consumed requests and notifications: a redelivery changes nothing.
        CREATE TABLE inbox (
            message_id   text PRIMARY KEY,
            topic        text NOT NULL,
            received_at  timestamptz NOT NULL DEFAULT now()
        );

        -- Next offset per partition, written in the transaction that recorded the messages.
        CREATE TABLE consumer_offsets (
            consumer_group  text NOT NULL,
            topic           text NOT NULL,
            partition       integer NOT NULL,
            next_offset     bigint NOT NULL,
            PRIMARY KEY (consumer_group, topic, partition)
        );

        -- Messages that could not be read; kept with the reason for an operator.
        CREATE TABLE dead_letters (
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            topic        text NOT NULL,
            partition    integer NOT NULL,
            "offset"     bigint NOT NULL,
            message_key  bytea,
            message      bytea,
            reason       text NOT NULL,
            recorded_at  timestamptz NOT NULL DEFAULT now(),
            UNIQUE (topic, partition, "offset")
        );

        -- Payment results for the ledger, written with the state change that caused them.
        CREATE TABLE outbox (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            partner_id    text NOT NULL,
            topic         text NOT NULL,
            message_key   bytea,
            message       bytea,
            headers       jsonb NOT NULL DEFAULT '[]',
            created_at    timestamptz NOT NULL DEFAULT now(),
            published_at  timestamptz
        );
        CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

        -- One row per purchase or charge request, recorded before any gateway call. `tries`
        -- counts calls that may have reached the gateway: above zero, look up before charging.
        CREATE TABLE payment_attempts (
            request_id         text PRIMARY KEY,
            message_id         text NOT NULL,
            partner_id         text NOT NULL,
            kind               text NOT NULL CHECK (kind IN ('purchase', 'charge')),
            amount_minor       bigint NOT NULL CHECK (amount_minor >= 0),
            currency           text NOT NULL,
            gateway            text NOT NULL,
            method_key         text,
            request            jsonb NOT NULL,
            idempotency_key    text NOT NULL UNIQUE,
            status             text NOT NULL
                CHECK (status IN ('charging', 'pending', 'succeeded', 'failed', 'returned')),
            gateway_reference  text,
            code               text,
            reason             text,
            retryable          boolean,
            tries              integer NOT NULL DEFAULT 0,
            next_try_at        timestamptz NOT NULL DEFAULT now(),
            last_error         text,
            created_at         timestamptz NOT NULL DEFAULT now(),
            updated_at         timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX payment_attempts_due ON payment_attempts (next_try_at)
            WHERE status = 'charging';
        CREATE INDEX payment_attempts_reference ON payment_attempts (gateway_reference);
        CREATE INDEX payment_attempts_declines ON payment_attempts (method_key, updated_at)
            WHERE status = 'failed';

        -- Stripe delivers webhooks at least once: an event id seen here is not applied again.
        CREATE TABLE stripe_events (
            event_id     text PRIMARY KEY,
            type         text NOT NULL,
            received_at  timestamptz NOT NULL DEFAULT now()
        );

        -- SEPA direct debits collected through the platform's bank: queued by the worker,
        -- put into one pain.008 file per day.
        CREATE TABLE sepa_batches (
            message_id       text PRIMARY KEY,
            batch_date       date NOT NULL UNIQUE,
            collection_date  date NOT NULL,
            -- The file as first built: building the same day again returns it byte for byte,
            -- so the bank never sees one batch under two message ids.
            document         bytea NOT NULL,
            created_at       timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE sepa_collections (
            idempotency_key    text PRIMARY KEY,
            request_id         text NOT NULL UNIQUE,
            end_to_end_id      text NOT NULL UNIQUE,
            partner_id         text NOT NULL,
            amount_minor       bigint NOT NULL CHECK (amount_minor > 0),
            currency           text NOT NULL,
            iban               text NOT NULL,
            bic                text,
            account_holder     text NOT NULL,
            mandate_reference  text NOT NULL,
            mandate_signed_on  date NOT NULL,
            batch_message_id   text REFERENCES sepa_batches (message_id),
            created_at         timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX sepa_collections_queued ON sepa_collections (created_at)
            WHERE batch_message_id IS NULL;
        CREATE INDEX sepa_collections_mandate ON sepa_collections (mandate_reference);

        -- Reminder e-mails: at most one per message id. `sending` rows whose process died are
        -- in doubt and never sent again (see docs/payments.md).
        CREATE TABLE notifications (
            message_id   text PRIMARY KEY,
            partner_id   text NOT NULL,
            type         text NOT NULL,
            locale       text NOT NULL,
            recipient    text NOT NULL,
            subject      text NOT NULL,
            body         text NOT NULL,
            status       text NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
            tries        integer NOT NULL DEFAULT 0,
            next_try_at  timestamptz NOT NULL DEFAULT now(),
            last_error   text,
            created_at   timestamptz NOT NULL DEFAULT now(),
            sent_at      timestamptz
        );
        CREATE INDEX notifications_due ON notifications (next_try_at) WHERE status = 'pending';
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE notifications;
        DROP TABLE sepa_collections;
        DROP TABLE sepa_batches;
        DROP TABLE stripe_events;
        DROP TABLE payment_attempts;
        DROP TABLE outbox;
        DROP TABLE dead_letters;
        DROP TABLE consumer_offsets;
        DROP TABLE inbox;
        """
    )
