"""The use cases: record payment requests, drive them through a gateway, apply Stripe's webhooks
and the bank's files, record and send reminder e-mails. They see the world only through
`ports`, so they run on PostgreSQL and on in-memory fakes alike."""
