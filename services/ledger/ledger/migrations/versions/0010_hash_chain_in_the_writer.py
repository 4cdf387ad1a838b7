"""The hash chain computed by the event store's writer, one pass per batch; the row trigger only
fills in a hash the writer left out.

Before, `chain_event()` looked up the previous event's hash with one SELECT per inserted row,
the largest single cost of a consumer's batch. The writer now reads each stream's last hash once
per batch and hashes the batch in Python (`ledger.adapters.stored_events.chain_hash`, the same
digest as `event_hash`); a row inserted without a hash (any other writer, a value the writer
cannot render exactly) is still chained by the trigger. `ops audit verify` recomputes every hash
with `event_hash` in the database, so a writer's mistake would show there.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from shared.migrations import execute_script

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        DROP TRIGGER events_hash_chain ON events;
        CREATE TRIGGER events_hash_chain
            BEFORE INSERT ON events
            FOR EACH ROW WHEN (NEW.hash IS NULL) EXECUTE FUNCTION chain_event();
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TRIGGER events_hash_chain ON events;
        CREATE TRIGGER events_hash_chain
            BEFORE INSERT ON events
            FOR EACH ROW EXECUTE FUNCTION chain_event();
        """
    )
