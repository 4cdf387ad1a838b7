"""Pure payment rules: no I/O, no framework; the service layer and the gateways apply them."""
