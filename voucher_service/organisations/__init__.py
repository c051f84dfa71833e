"""Organisations of voucher-service."""
