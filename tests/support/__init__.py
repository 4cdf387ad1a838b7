"""What tests, benchmarks and the demo share: the canonical price lists, message builders and
small clients. Production code never imports it (an import-linter contract)."""
