"""The money cycle: partners paid for their redemptions, a month at a time."""
