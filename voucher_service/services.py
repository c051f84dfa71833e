"""What a running service holds: its database, its context, its caches, its periodic jobs."""

from __future__ import annotations

from dataclasses import dataclass, field

from voucher_service.auth.api import PrincipalCache
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.jobs import BackgroundJobs


@dataclass
class Services:
    """What the views reach through `current_app.extensions["voucher_service"]`."""

    database: Database
    context: ServiceContext
    principals: PrincipalCache = field(default_factory=PrincipalCache)
    jobs: BackgroundJobs | None = None
