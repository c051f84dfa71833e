"""`make bench`: redemption beside the yardstick, the ledger's speeds, printing (a 10-voucher
booklet, a 2,300-voucher batch and its peak memory), the costs at scale (a programme of
BENCH_SCALE_VOUCHERS vouchers beside an empty one), settling a month of 100,000 redemptions,
building a status list of 1,000,000 vouchers, and /r's time to its verdict in Chromium with
the CPU throttled 4×, as one JSON.

The scale table goes to stderr, so that the JSON on stdout stays whole for var/bench.json.
"""

from __future__ import annotations

import json

from bench import ledger, r_page, redemption, scale, settlement, status_list
from voucher_service.printing.bench import bench_render


def main() -> None:
    results = {
        "redemption": redemption.run(),
        "ledger": ledger.run(),
        "printing": bench_render(),
        "scale": scale.run(),
        "settlement": settlement.run(),
        "status_list": status_list.run(),
        "r_page": r_page.run(),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
