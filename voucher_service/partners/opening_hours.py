"""A venue's opening hours: the same every week, day by day, as intervals of local time.

`{"mo": [["09:00", "12:00"], ["14:00", "18:00"]], "sa": [["09:00", "12:00"]]}`: a day absent
or empty is closed, None is "unknown". The JSON Schema (`opening-hours.json`) checks the
days and the times; what it cannot say, the order of the intervals, is checked here.
"""

from __future__ import annotations

from voucher_service.errors import InvalidRequest

OpeningHours = dict[str, list[list[str]]]

DAYS = ("mo", "tu", "we", "th", "fr", "sa", "su")


def check_opening_hours(hours: OpeningHours | None, path: str = "/opening_hours") -> None:
    """Each interval ends after it starts and after the previous one ends (touching is
    allowed: 12:00–14:00 then 14:00–18:00). Times are zero-padded HH:MM, so they compare as
    text."""
    errors = [
        {"path": f"{path}/{day}/{index}", "message": message}
        for day, intervals in (hours or {}).items()
        for index, message in _disorders(intervals)
    ]
    if errors:
        raise InvalidRequest("opening hours out of order or overlapping", errors)


def _disorders(intervals: list[list[str]]) -> list[tuple[int, str]]:
    found = []
    previous_end = ""
    for index, (opens, closes) in enumerate(intervals):
        if closes <= opens:
            found.append((index, f"closes ({closes}) before it opens ({opens})"))
        elif opens < previous_end:
            found.append((index, f"opens ({opens}) before the previous interval closes"))
        previous_end = max(previous_end, closes)
    return found
