"""The inbox keys events by (source, id), as CloudEvents 1.0 does; dead letters keep their
headers (and the `by_hand` mark the shared consumer reads).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from shared.migrations import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        -- Rows from before: the source they came from was not kept. '' (never a real source)
        -- marks them, and the inbox treats such a row as seen from every source.
        ALTER TABLE inbox ADD COLUMN source text NOT NULL DEFAULT '';
        ALTER TABLE inbox ALTER COLUMN source DROP DEFAULT;
        ALTER TABLE inbox DROP CONSTRAINT inbox_pkey;
        ALTER TABLE inbox ADD PRIMARY KEY (source, message_id);

        -- Binary-mode events carry their attributes in headers: keep them with the bytes.
        ALTER TABLE dead_letters ADD COLUMN message_headers jsonb NOT NULL DEFAULT '[]';
        -- Set aside by an operator before the consumer reached it: the consumer skips it.
        ALTER TABLE dead_letters ADD COLUMN by_hand boolean NOT NULL DEFAULT false;
        CREATE INDEX dead_letters_by_hand ON dead_letters (topic, partition, "offset")
            WHERE by_hand;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP INDEX dead_letters_by_hand;
        ALTER TABLE dead_letters DROP COLUMN by_hand;
        ALTER TABLE dead_letters DROP COLUMN message_headers;

        -- One row per id again: keep any one of the sources that used it.
        DELETE FROM inbox a USING inbox b
        WHERE a.message_id = b.message_id AND a.source > b.source;
        ALTER TABLE inbox DROP CONSTRAINT inbox_pkey;
        ALTER TABLE inbox DROP COLUMN source;
        ALTER TABLE inbox ADD PRIMARY KEY (message_id);
        """
    )
