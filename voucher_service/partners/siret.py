"""SIRET numbers: 14 digits whose Luhn checksum holds (La Poste's establishments excepted)."""

from __future__ import annotations

LA_POSTE_SIREN = "356000000"


def is_valid_siret(siret: str) -> bool:
    if len(siret) != 14 or not siret.isascii() or not siret.isdigit():
        return False
    if siret.startswith(LA_POSTE_SIREN) and siret != LA_POSTE_SIREN + "00000":
        # INSEE numbers La Poste's many establishments by a digit sum divisible by 5.
        return sum(int(d) for d in siret) % 5 == 0
    return luhn_valid(siret)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0
