"""Idempotency of voucher-service."""
