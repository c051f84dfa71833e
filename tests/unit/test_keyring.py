"""The voucher key ring: a rotation publishes a key first and signs with it later, and every
ring that reads the same directory agrees on the signing key at every moment."""

from __future__ import annotations

import secrets
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Clock
from voucher_service import keys as keys_module
from voucher_service.clock import now, rfc3339
from voucher_service.config import ConfigurationError, Settings
from voucher_service.keys import (
    CHECK_INTERVAL_SECONDS,
    UNKNOWN_KID_INTERVAL_SECONDS,
    VOUCHER_KEYS,
    KeyRing,
    SigningKey,
    load_keys,
    parse_duration,
    rotate_voucher_key,
)


class Timer:
    """A monotonic timer the test moves by hand (how often a ring looks at its directory)."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


@pytest.fixture
def development(tmp_path: Path) -> Settings:
    """Development settings: the first load makes the keys."""
    settings = Settings(keys_dir=tmp_path / "keys")
    load_keys(settings)
    return settings


@pytest.fixture
def timer() -> Timer:
    return Timer()


def public(key: SigningKey | None) -> Any:
    return None if key is None else key.jwk()


def ring_of(settings: Settings, timer: Timer) -> KeyRing:
    """A worker's ring, as it was when the worker started."""
    return KeyRing.from_directory(settings.keys_dir / VOUCHER_KEYS, timer=timer)


def test_a_rotation_publishes_the_next_key_without_signing_with_it(
    development: Settings, timer: Timer, clock: Clock
) -> None:
    ring = ring_of(development, timer)
    old = ring.current_kid
    rotation = rotate_voucher_key(development, timedelta(hours=24))
    timer.advance(CHECK_INTERVAL_SECONDS)
    assert (rotation.previous, rotation.signs_from) == (old, clock.current + timedelta(hours=24))
    assert ring.current_kid == old
    assert ring.current.kid == old
    assert set(ring.keys) == {old, rotation.kid}
    assert public(ring.get(rotation.kid)) == rotation.key.jwk()
    assert ring.schedule.pending_kid(now()) == rotation.kid
    written = (development.keys_dir / VOUCHER_KEYS / "next").read_text()
    assert written == f"{rotation.kid} {rfc3339(rotation.signs_from)}\n"


def test_at_the_activation_time_every_ring_signs_with_the_new_key(
    development: Settings, timer: Timer, clock: Clock
) -> None:
    started_before = [ring_of(development, timer) for _ in range(2)]
    old = started_before[0].current_kid
    rotation = rotate_voucher_key(development, timedelta(hours=1))
    restarted = load_keys(development).voucher
    timer.advance(CHECK_INTERVAL_SECONDS)
    rings = [*started_before, restarted]
    clock.advance(minutes=59, seconds=59)
    assert [ring.current_kid for ring in rings] == [old] * 3
    clock.advance(seconds=1)  # the clock alone decides: nothing is read again
    assert [ring.current_kid for ring in rings] == [rotation.kid] * 3
    assert [ring.current.kid for ring in rings] == [rotation.kid] * 3
    assert ring_of(development, timer).current_kid == rotation.kid


def test_a_rotation_after_0s_signs_at_once(development: Settings, clock: Clock) -> None:
    rotation = rotate_voucher_key(development, parse_duration("0s"))
    assert rotation.signs_from <= clock.current
    assert load_keys(development).voucher.current_kid == rotation.kid


def test_a_ring_sees_a_change_of_its_directory_within_a_second(
    development: Settings, timer: Timer
) -> None:
    ring = ring_of(development, timer)
    old = ring.current_kid
    rotation = rotate_voucher_key(development)
    timer.advance(CHECK_INTERVAL_SECONDS / 2)
    assert ring.current_kid == old  # not looked yet: at most once a second
    assert rotation.kid not in ring.keys
    timer.advance(CHECK_INTERVAL_SECONDS / 2)
    assert ring.current_kid == rotation.kid
    assert set(ring.keys) == {old, rotation.kid}


def test_an_unknown_kid_reloads_the_directory_at_most_once_a_second(
    development: Settings, timer: Timer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring = ring_of(development, timer)
    reads: list[Path] = []
    read_schedule = keys_module._read_schedule

    def counted(directory: Path) -> Any:
        reads.append(directory)
        return read_schedule(directory)

    monkeypatch.setattr(keys_module, "_read_schedule", counted)
    first = rotate_voucher_key(development, timedelta(hours=24))
    assert public(ring.get(first.kid)) == first.key.jwk()  # read again at once, not in a second
    assert len(reads) == 1
    second = rotate_voucher_key(development, timedelta(hours=24))
    for _ in range(100):  # made-up kids: nothing is read again
        assert ring.get(secrets.token_urlsafe(6)) is None
    assert ring.get(second.kid) is None
    assert len(reads) == 1
    timer.advance(UNKNOWN_KID_INTERVAL_SECONDS)
    assert public(ring.get(second.kid)) == second.key.jwk()
    assert len(reads) == 2


def test_a_kid_that_cannot_be_ours_never_reloads(
    development: Settings, timer: Timer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring = ring_of(development, timer)
    monkeypatch.setattr(keys_module, "_read_schedule", lambda _: pytest.fail("read again"))
    for kid in ("", "short", "../../etc", "x" * 200, "kid with spaces"):
        assert ring.get(kid) is None


def test_rotating_again_promotes_a_signing_key_and_replaces_a_waiting_one(
    development: Settings, timer: Timer, clock: Clock
) -> None:
    ring = ring_of(development, timer)
    old = ring.current_kid
    waiting = rotate_voucher_key(development, timedelta(hours=1))
    replacing = rotate_voucher_key(development, timedelta(hours=1))
    assert (replacing.previous, replacing.superseded) == (old, waiting.kid)
    clock.advance(hours=1)
    timer.advance(CHECK_INTERVAL_SECONDS)
    assert ring.current_kid == replacing.kid
    assert ring.schedule.pending_kid(now()) is None
    later = rotate_voucher_key(development, timedelta(hours=24))
    assert (later.previous, later.superseded) == (replacing.kid, None)
    assert (development.keys_dir / VOUCHER_KEYS / "current").read_text().strip() == replacing.kid
    timer.advance(CHECK_INTERVAL_SECONDS)
    assert ring.current_kid == replacing.kid
    clock.advance(hours=24)
    assert ring.current_kid == later.kid


def test_the_first_rotation_of_an_empty_directory_makes_the_signing_key(tmp_path: Path) -> None:
    settings = Settings(keys_dir=tmp_path / "keys")
    rotation = rotate_voucher_key(settings, timedelta(hours=24))
    assert rotation.previous is None
    assert load_keys(settings).voucher.current_kid == rotation.kid


def tree(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(directory)): (path.stat().st_mtime_ns, path.stat().st_size)
        for path in sorted(directory.rglob("*"))
    }


def test_loading_and_reloading_in_production_write_nothing_to_the_keys_directory(
    development: Settings, timer: Timer
) -> None:
    (development.keys_dir / ".lock").unlink()
    rotate_voucher_key(development, timedelta(hours=1))
    (development.keys_dir / ".lock").unlink()
    production = Settings(
        environment="production", keys_dir=development.keys_dir, secret=secrets.token_bytes(32)
    )
    before = tree(development.keys_dir)
    ring = load_keys(production).voucher
    timer.advance(CHECK_INTERVAL_SECONDS)
    assert ring.get("AAAAAAAA") is None
    assert len(ring.keys) == 2
    assert tree(development.keys_dir) == before


def test_a_directory_caught_half_written_leaves_a_ring_with_the_keys_it_holds(
    development: Settings, timer: Timer
) -> None:
    ring = ring_of(development, timer)
    old = ring.current_kid
    broken = development.keys_dir / VOUCHER_KEYS / "next"
    broken.write_text(f"ZZZZZZZZ {rfc3339(now())}\n")
    timer.advance(CHECK_INTERVAL_SECONDS)
    assert ring.current_kid == old
    with pytest.raises(ConfigurationError, match="ZZZZZZZZ is missing"):
        load_keys(development)
    broken.write_text("nonsense\n")
    with pytest.raises(ConfigurationError, match="should read"):
        load_keys(development)
    broken.unlink()
    rotation = rotate_voucher_key(development)
    timer.advance(CHECK_INTERVAL_SECONDS)
    assert ring.current_kid == rotation.kid


def test_a_ring_is_safe_to_share_between_threads(development: Settings) -> None:
    ring = load_keys(development).voucher
    stop, failures = threading.Event(), []

    def use() -> None:
        while not stop.is_set():
            key = ring.current
            if ring.get(key.kid) is None or key.kid not in ring.schedule.keys:
                failures.append(key.kid)
            stop.wait(0.001)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    rotated = []
    for _ in range(6):
        rotated.append(rotate_voucher_key(development).kid)
        stop.wait(0.25)
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == []
    assert ring.get(rotated[-1]) is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("15m", timedelta(minutes=15)),
        ("0s", timedelta(0)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        (" 90S ", timedelta(seconds=90)),
    ],
)
def test_durations_are_a_number_and_a_unit(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "24", "h", "1.5h", "-1h", "1h 30m", "24 hours", "9" * 30 + "d"]
)
def test_other_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_a_delay_past_a_year_is_refused(development: Settings) -> None:
    with pytest.raises(ValueError, match="between 0s and 365d"):
        rotate_voucher_key(development, timedelta(days=366))
