"""The State-funding ledger: double-entry transfers in a tamper-evident Merkle log."""
