"""Price lists and their immutable versions.

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
        CREATE TABLE price_lists (
            id          text PRIMARY KEY,
            name        text NOT NULL,
            currency    text NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE price_list_versions (
            price_list_id   text NOT NULL REFERENCES price_lists (id),
            version         integer NOT NULL CHECK (version >= 1),
            effective_from  timestamptz NOT NULL,
            definition      jsonb NOT NULL,
            created_at      timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (price_list_id, version)
        );
        CREATE INDEX price_list_versions_effective
            ON price_list_versions (price_list_id, effective_from DESC);

        -- A version, once written, is evidence for every quote and debit that named it.
        CREATE FUNCTION refuse_version_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'price list versions are immutable';
        END $$;
        CREATE TRIGGER price_list_versions_immutable
            BEFORE UPDATE OR DELETE ON price_list_versions
            FOR EACH ROW EXECUTE FUNCTION refuse_version_change();
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE price_list_versions;
        DROP FUNCTION refuse_version_change();
        DROP TABLE price_lists;
        """
    )
