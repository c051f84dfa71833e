"""Programs of voucher-service."""
