"""The ledger's use cases: load accounts, let the domain decide, write events, read models and
outgoing messages in one unit of work. Only ports (``ports.py``) are known here; the adapters
that implement them are wired in by ``ledger.bootstrap``."""
