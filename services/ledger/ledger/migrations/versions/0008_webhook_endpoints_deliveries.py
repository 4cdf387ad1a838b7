"""Signed webhooks to partner portals (Standard Webhooks).

- `webhook_endpoints`: a partner's registered URLs, the signing secret (and, for a grace period
  after a rotation, the previous one), an optional filter of event types, and the sequence the
  next delivery to the endpoint gets (contiguous per endpoint, so a partner can see a gap).
- `webhook_deliveries`: one row per endpoint and outgoing message (unique: a Kafka redelivery
  adds nothing); `id` is the `webhook-id` header, the same on every retry and re-send. `body`
  is the exact JSON sent (signed anew on every attempt). Due rows are found through a partial
  index over the pending ones only, so the delivery loop's cost does not grow with history.
- `webhook_attempts`: every attempt (status code or error), for the delivery log.

Not rebuilt from the events (`ops replay` leaves them alone): deliveries are a side effect of
the outgoing topics, like the outbox.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from shared.migrations import execute_script

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE webhook_endpoints (
            id                          text PRIMARY KEY,
            partner_id                  text NOT NULL,
            url                         text NOT NULL,
            event_types                 text[],
            secret                      text NOT NULL,
            previous_secret             text,
            previous_secret_expires_at  timestamptz,
            enabled                     boolean NOT NULL DEFAULT true,
            disabled_reason             text,
            next_sequence               bigint NOT NULL DEFAULT 1,
            created_at                  timestamptz NOT NULL,
            updated_at                  timestamptz NOT NULL
        );
        CREATE INDEX webhook_endpoints_partner ON webhook_endpoints (partner_id, created_at);

        CREATE TABLE webhook_deliveries (
            id                 text PRIMARY KEY,
            endpoint_id        text NOT NULL REFERENCES webhook_endpoints (id),
            message_source     text NOT NULL,
            message_id         text NOT NULL,
            event_type         text NOT NULL,
            sequence           bigint NOT NULL,
            stream_version     bigint,
            body               text NOT NULL,
            status             text NOT NULL
                               CHECK (status IN ('pending', 'delivered', 'failed')),
            attempts           integer NOT NULL DEFAULT 0,
            last_status_code   integer,
            last_error         text,
            next_attempt_at    timestamptz,
            window_started_at  timestamptz NOT NULL,
            window_attempts    integer NOT NULL DEFAULT 0,
            created_at         timestamptz NOT NULL,
            delivered_at       timestamptz,
            UNIQUE (endpoint_id, message_source, message_id),
            UNIQUE (endpoint_id, sequence)
        );
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
            WHERE status = 'pending';

        CREATE TABLE webhook_attempts (
            delivery_id   text NOT NULL REFERENCES webhook_deliveries (id),
            attempt       integer NOT NULL,
            attempted_at  timestamptz NOT NULL,
            status_code   integer,
            error         text,
            duration_ms   integer NOT NULL,
            PRIMARY KEY (delivery_id, attempt)
        );
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE webhook_attempts;
        DROP TABLE webhook_deliveries;
        DROP TABLE webhook_endpoints;
        """
    )
