"""Partners of voucher-service."""
