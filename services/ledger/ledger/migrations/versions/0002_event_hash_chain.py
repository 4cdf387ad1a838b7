"""Tamper evidence: every event carries a hash chained to the previous event of its stream.

The hash is computed by the database on insert, from the previous event's hash and the row's
content, so no writer can forget it; `audit verify` recomputes every chain with the same
function and names the first link that no longer fits.

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
        """
        ALTER TABLE events ADD COLUMN hash text;

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

        CREATE FUNCTION chain_event() RETURNS trigger LANGUAGE plpgsql AS $$
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

        CREATE TRIGGER events_hash_chain
            BEFORE INSERT ON events
            FOR EACH ROW EXECUTE FUNCTION chain_event();
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TRIGGER events_hash_chain ON events;
        DROP FUNCTION chain_event();
        DROP FUNCTION event_hash(text, text, integer, text, jsonb, jsonb, timestamptz);
        ALTER TABLE events DROP COLUMN hash;
        """
    )
