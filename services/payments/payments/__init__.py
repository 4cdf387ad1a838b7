"""The payment worker: card charges and SEPA direct debits for the ledger's requests."""
