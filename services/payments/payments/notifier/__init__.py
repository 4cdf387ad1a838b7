"""Reminder e-mails to partners for the ledger's notifications."""
