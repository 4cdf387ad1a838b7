"""The payments HTTP server: Stripe webhooks, health and metrics."""
