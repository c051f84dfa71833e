"""What an audit found: the findings as the checks make them, and the Report they add up to."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from voucher_service.ledger.note import Checkpoint

MAX_LISTED = 200  # a garbage log must not produce a million-line report

# Each check the report names, in the order it prints them, with what it covers.
GROUPS = {
    "bundle": "the bundle's zip and members",
    "manifest": "the manifest's SHA-256 of each member",
    "jwks": "jwks.json",
    "signature": "the checkpoint's signature",
    "checkpoint": "the checkpoint's origin and size",
    "root": "the Merkle root of entries.jsonl",
    "entries": "the entries' form",
    "balances": "the replayed balances",
    "vouchers": "the voucher invariants",
    "previous": "consistency with the previous checkpoint",
}


@dataclass
class Report:
    """What an audit of a bundle found; `ok` only when every check ran and held."""

    ok: bool = False
    size: int | None = None
    origin: str | None = None
    root: str | None = None
    entries_checked: int = 0
    balances: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    unlisted_failures: int = 0
    unlisted_warnings: int = 0

    @property
    def problems(self) -> int:
        return len(self.failures) + self.unlisted_failures

    def render(self) -> str:
        lines = [
            f"Audit bundle: origin {self.origin or '?'}, size {_or_unknown(self.size)}, "
            f"root {self.root or '?'}"
        ]
        lines += [f"✓ {check}" for check in self.checks]
        lines += [f"✗ {failure}" for failure in self.failures]
        if self.unlisted_failures:
            lines.append(f"✗ … and {self.unlisted_failures} more problem(s), not listed")
        lines += [f"– not checked: {what}" for what in self.not_checked]
        lines += [f"! warning: {warning}" for warning in self.warnings]
        if self.unlisted_warnings:
            lines.append(f"! … and {self.unlisted_warnings} more warning(s), not listed")
        lines += self._balance_lines()
        lines.append(self._verdict())
        return "\n".join(lines)

    def _balance_lines(self) -> list[str]:
        if not self.balances:
            return [f"Balances after {self.entries_checked} entries: no account moved"]
        kinds: dict[str, tuple[int, int]] = {}
        for account, balance in self.balances.items():
            count, total = kinds.get(_account_kind(account), (0, 0))
            kinds[_account_kind(account)] = (count + 1, total + balance)
        lines = [
            f"Balances after {self.entries_checked} entries, by kind of account (cents; "
            f"all accounts sum to {sum(self.balances.values())}):"
        ]
        width = max(len(kind) for kind in kinds)
        for kind, (count, total) in sorted(kinds.items()):
            lines.append(f"  {kind:<{width}}  {count:>7} account(s)  total {total:>16}")
        return lines

    def _verdict(self) -> str:
        if self.ok:
            return (
                f"OK: {self.entries_checked} entries verified against the signed checkpoint "
                f"(origin {self.origin}, size {self.size}, root {self.root})"
            )
        return f"FAILED: {self.problems} problem(s)"


class Findings:
    """Failures by check (the first few hundred listed, all counted) and warnings."""

    def __init__(self) -> None:
        self.failures: dict[str, list[str]] = {group: [] for group in GROUPS}
        self.counts = dict.fromkeys(GROUPS, 0)
        self.listed = 0
        self.unlisted = 0
        self.warnings: list[str] = []
        self.unlisted_warnings = 0

    def fail(self, group: str, message: str) -> None:
        self.counts[group] += 1
        if self.listed < MAX_LISTED:
            self.failures[group].append(message)
            self.listed += 1
        else:
            self.unlisted += 1

    def warn(self, message: str) -> None:
        if len(self.warnings) < MAX_LISTED:
            self.warnings.append(message)
        else:
            self.unlisted_warnings += 1

    def total(self) -> int:
        return sum(self.counts.values())

    def report(
        self,
        held: dict[str, str],
        *,
        previous_given: bool,
        checkpoint: Checkpoint | None,
        entries_checked: int,
        balances: dict[str, int],
    ) -> Report:
        """The report: `held` says what each check that ran found to hold."""
        ran = [g for g in GROUPS if g in held and self.counts[g] == 0]
        skipped = [
            GROUPS[g]
            for g in GROUPS
            if g not in held and self.counts[g] == 0 and (g != "previous" or previous_given)
        ]
        if skipped and not self.total():
            self.fail("bundle", "some checks could not run: " + ", ".join(skipped))
        return Report(
            ok=self.total() == 0 and not skipped,
            size=checkpoint.size if checkpoint else None,
            origin=checkpoint.origin if checkpoint else None,
            root=b64(checkpoint.root_hash) if checkpoint else None,
            entries_checked=entries_checked,
            balances=dict(sorted(balances.items())),
            failures=[message for g in GROUPS for message in self.failures[g]],
            warnings=list(self.warnings),
            checks=[held[g] for g in ran],
            not_checked=skipped,
            unlisted_failures=self.unlisted,
            unlisted_warnings=self.unlisted_warnings,
        )


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def short(exc: BaseException) -> str:
    """An exception as a finding quotes it."""
    return clip(str(exc) or type(exc).__name__, 160)


def clip(value: object, limit: int = 80) -> str:
    """A value as a finding quotes it: garbage may be long."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _account_kind(account: str) -> str:
    parts = account.split(":")
    return f"{parts[0]}:*:{parts[-1]}" if len(parts) >= 3 else "other"


def _or_unknown(value: int | None) -> str:
    return "?" if value is None else str(value)
