"""`make bench`: redemption beside the yardstick, the ledger's speeds, then the costs at scale
(a programme of BENCH_SCALE_VOUCHERS vouchers beside an empty one), as one JSON.

The scale table goes to stderr, so that the JSON on stdout stays whole for var/bench.json.
"""

from __future__ import annotations

import json

from bench import ledger, redemption, scale


def main() -> None:
    results = {"redemption": redemption.run(), "ledger": ledger.run(), "scale": scale.run()}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
