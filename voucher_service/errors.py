"""One exception class per business rule; the web layer maps each to its problem+json."""

from __future__ import annotations

from typing import Any, ClassVar


class ServiceError(Exception):
    """A refusal: the request changes nothing and the client is told why."""

    slug: ClassVar[str] = "invalid-request"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Invalid request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidRequest(ServiceError):
    slug, status, title = "invalid-request", 400, "Invalid request"

    def __init__(self, detail: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail, errors=errors or [{"path": "", "message": detail}])


class Unauthorized(ServiceError):
    slug, status, title = "unauthorized", 401, "Unauthorized"


class Forbidden(ServiceError):
    slug, status, title = "forbidden", 403, "Forbidden"


class NotFound(ServiceError):
    slug, status, title = "not-found", 404, "Not found"


class InvalidVoucherToken(ServiceError):
    slug, status, title = "invalid-voucher-token", 400, "Invalid voucher token"


class VoucherNotFound(ServiceError):
    slug, status, title = "voucher-not-found", 404, "Voucher not found"


class VoucherAlreadyRedeemed(ServiceError):
    slug, status, title = "voucher-already-redeemed", 409, "Voucher already redeemed"


class VoucherExpired(ServiceError):
    slug, status, title = "voucher-expired", 410, "Voucher expired"


class VoucherRevoked(ServiceError):
    slug, status, title = "voucher-revoked", 410, "Voucher revoked"


class PartnerNotEligible(ServiceError):
    slug, status, title = "partner-not-eligible", 403, "Partner not eligible"


class BudgetExhausted(ServiceError):
    slug, status, title = "budget-exhausted", 409, "Budget exhausted"


class BeneficiaryLimitReached(ServiceError):
    slug, status, title = "beneficiary-limit-reached", 409, "Beneficiary limit reached"


class IdempotencyKeyRequired(ServiceError):
    slug, status, title = "idempotency-key-required", 400, "Idempotency-Key required"


class IdempotencyKeyReused(ServiceError):
    slug, status, title = "idempotency-key-reused", 422, "Idempotency-Key reused"


class IdempotencyKeyInUse(ServiceError):
    slug, status, title = "idempotency-key-in-use", 409, "Idempotency-Key in use"


class ReversalNotAllowed(ServiceError):
    slug, status, title = "reversal-not-allowed", 409, "Reversal not allowed"


class VoucherNotActivated(ServiceError):
    """A pre-printed voucher whose booklet was not yet handed to a beneficiary."""

    slug, status, title = "voucher-not-activated", 409, "Voucher not activated"


class BookletAlreadyActivated(ServiceError):
    slug, status, title = "booklet-already-activated", 409, "Booklet already activated"


class ProgramNotActive(ServiceError):
    slug, status, title = "program-not-active", 409, "Programme not active"


class SettlementNotAllowed(ServiceError):
    """A settlement of a period not yet over, or a payment already confirmed."""

    slug, status, title = "settlement-not-allowed", 409, "Settlement not allowed"


class RateLimited(ServiceError):
    slug, status, title = "rate-limited", 429, "Too many requests"


class ServiceUnavailable(ServiceError):
    """The database (or another part a request needs) cannot be reached: try again soon."""

    slug, status, title = "service-unavailable", 503, "Service unavailable"


class Conflict(ServiceError):
    """A unique value (a programme code, a SIRET) already belongs to another object."""

    slug, status, title = "conflict", 409, "Conflict"


ALL_ERRORS: tuple[type[ServiceError], ...] = (
    InvalidRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    InvalidVoucherToken,
    VoucherNotFound,
    VoucherAlreadyRedeemed,
    VoucherExpired,
    VoucherRevoked,
    PartnerNotEligible,
    BudgetExhausted,
    BeneficiaryLimitReached,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    IdempotencyKeyInUse,
    ReversalNotAllowed,
    VoucherNotActivated,
    BookletAlreadyActivated,
    ProgramNotActive,
    SettlementNotAllowed,
    RateLimited,
    ServiceUnavailable,
    Conflict,
)
