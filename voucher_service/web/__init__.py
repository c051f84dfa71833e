"""Web of voucher-service."""
