"""A random workload of issue, redeem, reverse and key rotation against a plain model.

After every step the programme's figures equal the model's; at the end the log, once
integrated, balances to the model's accounts and the offline verifier accepts it.
"""

from __future__ import annotations

import shutil
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import PG_AVAILABLE, _truncate_all, make_world
from voucher_service.cli import main
from voucher_service.config import Settings
from voucher_service.db import Database
from voucher_service.keys import rotate_voucher_key
from voucher_service.ledger.sequencer import integrate_all
from voucher_service.web.app import create_app

FACE = 1000


class LedgerMachine(RuleBasedStateMachine):
    """The service, and beside it the plain truth: each voucher's state and each account."""

    vouchers = Bundle("vouchers")
    redemptions = Bundle("redemptions")

    def __init__(self, settings: Settings, workdir: Path) -> None:
        super().__init__()
        self.settings, self.workdir = settings, workdir
        self.database = Database(settings.database_url)
        self.app = create_app(settings, self.database, start_sequencer=False)
        self.world = make_world(self.app, self.app.test_client(), budget_cents=60 * FACE)
        self.state: dict[str, str] = {}
        self.issued = 0

    # -- rules ---------------------------------------------------------------------------

    @rule(target=vouchers, beneficiary=st.sampled_from(["a", "b", "c"]), size=st.integers(1, 10))
    def issue(self, beneficiary: str, size: int) -> Any:
        response = self.world.issue(beneficiary, size=size)
        held = sum(1 for v in self.state.values() if v.startswith(beneficiary + ":"))
        if self.issued + size > 60 or held + size > 20:
            assert response.status_code == 409, response.json
            return multiple()
        assert response.status_code == 201, response.json
        self.issued += size
        for voucher in response.json["vouchers"]:
            self.state[voucher["id"]] = f"{beneficiary}:issued"
        return multiple(*response.json["vouchers"])

    @rule(target=redemptions, voucher=vouchers, by_code=st.booleans())
    def redeem(self, voucher: dict[str, Any], by_code: bool) -> Any:
        body = {"code": voucher["code"]} if by_code else {"token": voucher["token"]}
        response = self.world.redeem(**body)
        owner, status = self.state[voucher["id"]].split(":")
        if status == "issued":
            assert response.status_code == 201, response.json
            self.state[voucher["id"]] = f"{owner}:redeemed"
            return response.json
        assert response.status_code == 409
        return multiple()

    @rule(redemption=consumes(redemptions))
    def reverse(self, redemption: dict[str, Any]) -> None:
        response = self.world.reverse(redemption["id"], "model")
        assert response.status_code == 200, response.json
        owner = self.state[redemption["voucher_id"]].split(":")[0]
        self.state[redemption["voucher_id"]] = f"{owner}:issued"

    @rule()
    def rotate_keys(self) -> None:
        rotate_voucher_key(self.settings)
        self.app = create_app(self.settings, self.database, start_sequencer=False)
        self.world.client = self.app.test_client()

    @rule()
    def integrate(self) -> None:
        services = self.app.extensions["voucher_service"]
        integrate_all(services.database, services.context)

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def figures_follow_the_model(self) -> None:
        figures = self.world.client.get(
            f"/v1/programs/{self.world.program_id}", headers=self.world.headers("auditor")
        ).json["figures"]
        counts = Counter(state.split(":")[1] for state in self.state.values())
        assert figures["issued_cents"] == len(self.state) * FACE
        assert figures["redeemed_cents"] == counts["redeemed"] * FACE
        assert figures["outstanding_cents"] == counts["issued"] * FACE
        assert figures["available_cents"] == 60 * FACE - len(self.state) * FACE

    def teardown(self) -> None:
        try:
            self._check_ledger()
        finally:
            self.database.dispose()

    def _check_ledger(self) -> None:
        services = self.app.extensions["voucher_service"]
        integrate_all(services.database, services.context)
        balances = self.world.client.get(
            "/v1/ledger/balances", headers=self.world.headers("auditor")
        ).json["balances"]
        counts = Counter(state.split(":")[1] for state in self.state.values())
        program, partner = self.world.program_id, self.world.partner_id
        assert balances[f"program:{program}:available"] == 60 * FACE - len(self.state) * FACE
        assert balances.get(f"program:{program}:outstanding", 0) == counts["issued"] * FACE
        assert balances.get(f"partner:{partner}:payable", 0) == counts["redeemed"] * FACE
        archive = self.world.client.get("/v1/audit/bundle", headers=self.world.headers("auditor"))
        path = self.workdir / f"{uuid.uuid4().hex}.zip"
        path.write_bytes(archive.data)
        archive.close()
        key = self.world.client.get("/v1/ledger/checkpoint/key").text.strip()
        result = CliRunner().invoke(main, ["audit", "verify", str(path), "--key", key])
        assert result.exit_code == 0, result.output


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_ledger_follows_a_random_workload(
    backend: str, tmp_path: Path, sqlite_template: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "postgresql" and not PG_AVAILABLE:
        pytest.skip("PostgreSQL does not answer")
    pg_url = request.getfixturevalue("pg_database_url") if backend == "postgresql" else None
    runs = iter(range(10_000))

    def fresh() -> LedgerMachine:
        run = next(runs)
        if pg_url is None:
            path = tmp_path / f"model-{run}.db"
            shutil.copyfile(sqlite_template, path)
            url = f"sqlite:///{path}"
        else:
            _truncate_all(pg_url)
            url = pg_url
        keys = tmp_path / f"keys-{run}"
        settings = Settings(database_url=url, keys_dir=keys, public_base_url="https://pass.example.fr",
                            run_sequencer=False)  # fmt: skip
        return LedgerMachine(settings, tmp_path)

    run_state_machine_as_test(
        fresh,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
