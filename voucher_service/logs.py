"""Structured logs: one JSON object a line (or a readable console in development), for
structlog's loggers and the standard library's alike, with secrets scrubbed on the way out."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from voucher_service.config import Settings
from voucher_service.vouchers.codes import InvalidCode, normalise_code

# Defence in depth: the code never logs a token, code or API key on purpose, but an
# exception's text (a driver error with its parameters, a library's message) might.
JWS = re.compile(r"eyJ[\w-]{2,}\.[\w-]{2,}\.[\w-]{2,}")
API_KEY = re.compile(r"vsk_[\w-]{8,}")
BEARER = re.compile(r"(?i)\bbearer\s+[^\s\"',]+")
CODE_LIKE = re.compile(r"(?<![\w-])(?:\w{4}[- ]?){3}\w(?![\w-])")
# A bank account number (a partner's, a funder's), compact as stored or in groups of four as
# typed: a driver error names it among its parameters. Upper case only, as IBANs are written
# and stored (a lower-case hex id, such as a request id, is left alone).
IBAN_LIKE = re.compile(
    r"\b[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)\b"
)


def redact_text(text: str) -> str:
    """The text with every voucher token, API key, bearer credential, IBAN and voucher code
    (printed or compact, recognised by its check character) replaced by a placeholder."""
    text = JWS.sub("[token]", text)
    text = API_KEY.sub("[api-key]", text)
    text = BEARER.sub("Bearer [redacted]", text)
    text = IBAN_LIKE.sub("[iban]", text)
    return CODE_LIKE.sub(_redact_code, text)


def _redact_code(match: re.Match[str]) -> str:
    try:
        normalise_code(match.group(0))
    except InvalidCode:
        return match.group(0)
    return "[code]"


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Scrub every text value of a log line (its message and formatted exception too)."""
    return {
        key: redact_text(value) if isinstance(value, str) else value
        for key, value in event_dict.items()
    }


class _LineHandler(logging.Handler):
    """Writes each record as one line to `target`, or to the sys.stderr of the moment
    (test runners and process managers swap it after start-up)."""

    def __init__(self, target: TextIO | None) -> None:
        super().__init__()
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = self.target or sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # a logging failure must not fail the request that logged
            self.handleError(record)


class _WithoutServerAccessLines(logging.Filter):
    """The development server's own access lines repeat ours and carry the raw query
    string (a holder's name on a booklet's PDF): ours, with the route, replace them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.INFO and " - - [" in str(record.msg))


SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,  # the request id, bound per request
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(
    settings: Settings, *, stream: TextIO | None = None, level: int | str = logging.INFO
) -> None:
    """Route structlog and the standard library's `logging` to one handler on `stream`
    (standard error by default): JSON lines, or a console renderer in development when
    standard error is a terminal. Calling it again replaces what it set up before."""
    # fontTools, which fpdf2 calls to subset the typefaces, logs at INFO some sixty lines a
    # PDF, among them the glyphs used: the letters of a holder's name. Warnings only.
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = _LineHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_secrets,
                _renderer(settings, stream or sys.stderr),
            ],
        )
    )
    root = logging.getLogger()
    for installed in [h for h in root.handlers if isinstance(h, _LineHandler)]:
        root.removeHandler(installed)
    root.addHandler(handler)
    root.setLevel(level)
    server = logging.getLogger("werkzeug")
    if not any(isinstance(f, _WithoutServerAccessLines) for f in server.filters):
        server.addFilter(_WithoutServerAccessLines())


def _renderer(settings: Settings, stream: TextIO) -> Processor:
    if not settings.production and _is_terminal(stream):
        # Plain tracebacks: the richer ones print local variables, secrets among them.
        return structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    return structlog.processors.JSONRenderer()


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger named like a module's standard one."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
