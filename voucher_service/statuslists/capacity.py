"""How large a programme's status list is: fixed numbers, importable by the models."""

from __future__ import annotations

# CONTRACT §9: a list has at least 2^17 entries, so that an index tells little of how many
# vouchers the programme issued, or when.
MIN_CAPACITY = 2**17


def capacity_for(count: int, capacity: int = MIN_CAPACITY) -> int:
    """The capacity a list of `count` indices needs, from `capacity`: doubled until they fill
    at most half of it, so that a random draw lands on a free index one time in two at worst."""
    while 2 * count > capacity:
        capacity *= 2
    return capacity
