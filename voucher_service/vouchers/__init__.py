"""Vouchers of voucher-service."""
