"""Giving vouchers their status list indices: at random over the list, never in issuance order.

An index in issuance order would tell anyone holding two vouchers how many were issued
between them, and the list would show who was issued together; a uniform draw over a list at
most half full tells neither. Issuance holds its programme's row lock (`lock_program`) while it
draws, so the candidates it checks cannot be taken meanwhile; the unique index on
(program_id, status_index) is the last guard all the same.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from voucher_service.programs.models import Program
from voucher_service.statuslists.capacity import capacity_for
from voucher_service.vouchers.models import Voucher

# Each round draws this many candidates per index still needed: with the list at most half
# full, a round then falls short with a probability that shrinks exponentially in its size.
CANDIDATES_PER_INDEX = 2
MAX_ROUNDS = 64  # never reached: each candidate is free with a probability of one half at least


class IndicesExhausted(RuntimeError):
    """No free index found in MAX_ROUNDS draws: the list's count and its rows disagree."""


def allocate_indices(session: Session, program: Program, count: int) -> list[int]:
    """`count` free indices of the programme's list, drawn uniformly, in the order drawn.

    The caller holds the programme's row lock. The list grows (doubles) first if these
    indices would fill more than half of it; the programme's row keeps capacity and count."""
    used = program.status_list_count
    capacity = capacity_for(used + count, program.status_list_capacity)
    chosen: list[int] = []
    for _ in range(MAX_ROUNDS):
        needed = count - len(chosen)
        if needed == 0:
            break
        chosen += _free(session, program.id, _draw(capacity, needed, set(chosen)))[:needed]
    if len(chosen) < count:
        raise IndicesExhausted(f"no free status list index for programme {program.code}")
    program.status_list_capacity, program.status_list_count = capacity, used + count
    return chosen


def _draw(capacity: int, needed: int, excluded: set[int]) -> list[int]:
    """Distinct candidates, uniform over [0, capacity), none of them already chosen."""
    candidates: dict[int, None] = {}  # ordered, distinct
    wanted = min(CANDIDATES_PER_INDEX * needed, capacity - len(excluded))
    while len(candidates) < wanted:
        candidate = secrets.randbelow(capacity)
        if candidate not in excluded:
            candidates[candidate] = None
    return list(candidates)


def _free(session: Session, program_id: str, candidates: list[int]) -> list[int]:
    """The candidates no voucher of the programme holds yet: one query for the batch."""
    taken = set(
        session.scalars(
            select(Voucher.status_index).where(
                Voucher.program_id == program_id, Voucher.status_index.in_(candidates)
            )
        )
    )
    return [candidate for candidate in candidates if candidate not in taken]
