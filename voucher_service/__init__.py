"""voucher-service: signed QR vouchers for public digital-inclusion programmes."""
