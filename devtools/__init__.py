"""Tools for development and tests, never installed: the local Stripe API server, a fake
payment gateway and the demo. Not in the wheel (pyproject's hatch packages) nor in the Docker
image (deploy/Dockerfile copies `services` and `shared` only); import-linter keeps the
production packages from importing it."""
