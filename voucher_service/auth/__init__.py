"""Auth of voucher-service."""
