"""SIRET numbers are checked before a partner is qualified."""

from __future__ import annotations

import pytest

from voucher_service.partners.siret import is_valid_siret


@pytest.mark.parametrize("siret", ["73282932000074", "44306184100047", "35600000000010"])
def test_valid_sirets_pass(siret: str) -> None:
    assert is_valid_siret(siret)


@pytest.mark.parametrize(
    "siret",
    ["73282932000075", "7328293200007", "732829320000745", "7328293200007A", "", "٧٣٢٨٢٩٣٢٠٠٠٠٧٤"],
)
def test_invalid_sirets_fail(siret: str) -> None:
    assert not is_valid_siret(siret)
