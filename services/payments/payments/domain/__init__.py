"""Pure payment rules: no I/O, no framework; the gateways and the worker apply them."""
