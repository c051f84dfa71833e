"""`make bench`: redemption beside the yardstick, then the ledger's speeds, as one JSON."""

from __future__ import annotations

import json

from bench import ledger, redemption


def main() -> None:
    results = {"redemption": redemption.run(), "ledger": ledger.run()}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
