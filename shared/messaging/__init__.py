"""Exactly-once messaging plumbing both services use: Kafka clients, the inbox (message ids,
stored offsets, dead letters), the transactional outbox and its relay, and the batch consumer."""
