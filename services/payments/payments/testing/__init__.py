"""Test tools: a local Stripe API server and an in-process fake gateway."""
