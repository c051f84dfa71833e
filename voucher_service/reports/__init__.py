"""Funders' reports: a programme's months, summed from its ledger entries alone."""
