"""Every I/O of payments: PostgreSQL stores and the unit of work, Stripe, the SEPA bank files,
SMTP. Each implements a Protocol of `payments.service_layer.ports`."""
