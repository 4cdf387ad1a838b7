"""PostgreSQL and Kafka: where the worker keeps its state and how messages come and go."""
