"""Code both services use: the event contracts on Kafka and small pieces of plumbing."""
