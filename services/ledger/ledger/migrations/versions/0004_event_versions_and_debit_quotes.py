"""Versioned events, leaner events: schema versions, quotes kept once, the hash as bytes.

- `events.schema_version`: the version of the payload's shape; every row written before is
  version 1. Rows are never rewritten: older versions are upcast when read.
- `debit_quotes`: each distinct quote (price list version, component, quantity) once, written
  with the debits; `MailingDebited` v2 names its quote instead of holding it.
- `events.hash` is kept as its 32 bytes rather than 64 hex characters. The digest is the same
  (the previous hash still enters it as hex), so every chain verifies as before and
  `event_hash(lag(hash) ...)` compares as before, now bytea to bytea. Converting the column
  rewrites the table once under an exclusive lock; the events' content is not touched.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from shared.migrations import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE events ADD COLUMN schema_version smallint NOT NULL DEFAULT 1;

        CREATE TABLE debit_quotes (
            price_list_id       text NOT NULL,
            price_list_version  integer NOT NULL,
            component           text NOT NULL,
            quantity            bigint NOT NULL,
            quote               jsonb NOT NULL,
            PRIMARY KEY (price_list_id, price_list_version, component, quantity)
        );

        ALTER TABLE events ALTER COLUMN hash TYPE bytea USING decode(hash, 'hex');
        DROP FUNCTION event_hash(text, text, integer, text, jsonb, jsonb, timestamptz);
        CREATE FUNCTION event_hash(
            previous bytea, originator_id text, originator_version integer, type text,
            payload jsonb, metadata jsonb, recorded_at timestamptz
        ) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
            SELECT sha256(convert_to(concat_ws(
                '|', coalesce(encode(previous, 'hex'), ''), originator_id,
                originator_version::text, type, payload::text, metadata::text,
                to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
            ), 'UTF8'))
        $$;
        CREATE OR REPLACE FUNCTION chain_event() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            previous bytea;
        BEGIN
            SELECT hash INTO previous FROM events
            WHERE originator_id = NEW.originator_id
              AND originator_version = NEW.originator_version - 1;
            NEW.hash := event_hash(previous, NEW.originator_id, NEW.originator_version, NEW.type,
                                   NEW.payload, NEW.metadata, NEW.recorded_at);
            RETURN NEW;
        END $$;
        """
    )


def downgrade() -> None:
    # Rows written as version 2 are not readable by the code before this revision.
    execute_script(
        """
        CREATE OR REPLACE FUNCTION chain_event() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            previous text;
        BEGIN
            SELECT hash INTO previous FROM events
            WHERE originator_id = NEW.originator_id
              AND originator_version = NEW.originator_version - 1;
            NEW.hash := event_hash(previous, NEW.originator_id, NEW.originator_version, NEW.type,
                                   NEW.payload, NEW.metadata, NEW.recorded_at);
            RETURN NEW;
        END $$;
        DROP FUNCTION event_hash(bytea, text, integer, text, jsonb, jsonb, timestamptz);
        CREATE FUNCTION event_hash(
            previous text, originator_id text, originator_version integer, type text,
            payload jsonb, metadata jsonb, recorded_at timestamptz
        ) RETURNS text LANGUAGE sql IMMUTABLE AS $$
            SELECT encode(sha256(convert_to(concat_ws(
                '|', coalesce(previous, ''), originator_id, originator_version::text, type,
                payload::text, metadata::text,
                to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
            ), 'UTF8')), 'hex')
        $$;
        ALTER TABLE events ALTER COLUMN hash TYPE text USING encode(hash, 'hex');

        DROP TABLE debit_quotes;
        ALTER TABLE events DROP COLUMN schema_version;
        """
    )
