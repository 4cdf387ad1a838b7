"""Event store, inbox, consumer offsets, outbox, dead letters and the projections.

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
        -- One stream per partner account. (originator_id, originator_version) is unique, so two
        -- writers that read the same version cannot both append: the second one conflicts.
        CREATE TABLE events (
            global_position     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            originator_id       text NOT NULL,
            originator_version  integer NOT NULL CHECK (originator_version >= 1),
            type                text NOT NULL,
            payload             jsonb NOT NULL,
            metadata            jsonb NOT NULL,
            recorded_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
            UNIQUE (originator_id, originator_version)
        );

        CREATE FUNCTION refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'events are immutable: % refused', TG_OP;
        END $$;
        CREATE TRIGGER events_append_only
            BEFORE UPDATE OR DELETE ON events
            FOR EACH ROW EXECUTE FUNCTION refuse_event_change();
        CREATE TRIGGER events_no_truncate
            BEFORE TRUNCATE ON events
            FOR EACH STATEMENT EXECUTE FUNCTION refuse_event_change();

        -- Every incoming message id that took effect (or was dead-lettered): a redelivery finds
        -- its id here and changes nothing.
        CREATE TABLE inbox (
            message_id   text PRIMARY KEY,
            topic        text NOT NULL,
            received_at  timestamptz NOT NULL DEFAULT now()
        );

        -- The next offset to read, written in the same transaction as the events it produced.
        CREATE TABLE consumer_offsets (
            consumer_group  text NOT NULL,
            topic           text NOT NULL,
            partition       integer NOT NULL,
            next_offset     bigint NOT NULL,
            PRIMARY KEY (consumer_group, topic, partition)
        );

        -- Messages for other services (and dead letters), written in the same transaction as
        -- what caused them; the relay publishes them in id order per partner.
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

        CREATE TABLE dead_letters (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            topic         text NOT NULL,
            partition     integer NOT NULL,
            "offset"      bigint NOT NULL,
            message_key   bytea,
            message       bytea,
            reason        text NOT NULL,
            recorded_at   timestamptz NOT NULL DEFAULT now(),
            UNIQUE (topic, partition, "offset")
        );

        -- Projections: derived from the events, updated in the same transaction, rebuildable.
        CREATE TABLE partner_balances (
            partner_id    text PRIMARY KEY,
            balance       bigint NOT NULL,
            held          bigint NOT NULL,
            debt_credits  bigint NOT NULL,
            debt_minor    bigint NOT NULL,
            version       integer NOT NULL,
            updated_at    timestamptz NOT NULL
        );

        CREATE TABLE partner_history (
            partner_id     text NOT NULL,
            version        integer NOT NULL,
            type           text NOT NULL,
            credits_delta  bigint NOT NULL,
            balance_after  bigint NOT NULL,
            mailing_id     text,
            occurred_at    timestamptz NOT NULL,
            PRIMARY KEY (partner_id, version)
        );
        -- A mailing is debited once, even when the platform sends it twice under two event ids.
        CREATE UNIQUE INDEX partner_history_mailing
            ON partner_history (mailing_id, partner_id) WHERE mailing_id IS NOT NULL;

        CREATE TABLE reservations (
            partner_id      text NOT NULL,
            reservation_id  text NOT NULL,
            credits         bigint NOT NULL,
            status          text NOT NULL,
            expires_at      timestamptz NOT NULL,
            PRIMARY KEY (partner_id, reservation_id)
        );
        CREATE INDEX reservations_active ON reservations (expires_at) WHERE status = 'active';

        -- Not events: secrets and request bookkeeping.
        CREATE TABLE partner_tokens (
            partner_id  text PRIMARY KEY,
            token_hash  text NOT NULL UNIQUE,
            created_at  timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE idempotency_keys (
            scope            text NOT NULL,
            key              text NOT NULL,
            request_hash     text NOT NULL,
            response_status  integer NOT NULL,
            response_body    jsonb NOT NULL,
            created_at       timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (scope, key)
        );
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE idempotency_keys;
        DROP TABLE partner_tokens;
        DROP TABLE reservations;
        DROP TABLE partner_history;
        DROP TABLE partner_balances;
        DROP TABLE dead_letters;
        DROP TABLE outbox;
        DROP TABLE consumer_offsets;
        DROP TABLE inbox;
        DROP TABLE events;
        DROP FUNCTION refuse_event_change();
        """
    )
