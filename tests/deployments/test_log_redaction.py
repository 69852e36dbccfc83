"""The log scrubber: what a replica logs, from any logger, carries no key."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from deployments.log_redaction import REDACTED, redact_logs

PROVIDER_KEY = "provider-key-of-no-known-shape-123"
TENANT_KEY = "sy-" + "A1b2_C3d4-" * 4 + "xyz"


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter("%(message)s").format(record))


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, _Kept]]:
    """A logger whose lines are kept, with the scrubber on; the process's factory is restored."""
    factory = logging.getLogRecordFactory()
    logger = logging.getLogger("tests.log_redaction")
    kept = _Kept()
    logger.addHandler(kept)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logging.setLogRecordFactory(logging.LogRecord)  # no scrubber another test installed
    redact_logs([PROVIDER_KEY])
    try:
        yield logger, kept
    finally:
        logging.setLogRecordFactory(factory)
        logger.removeHandler(kept)


def test_known_key_values_and_key_shapes_are_blanked(
    logged: tuple[logging.Logger, _Kept],
) -> None:
    logger, kept = logged
    logger.warning("upstream said: key %s is wrong", PROVIDER_KEY)
    logger.warning("caller sent %s", TENANT_KEY)
    logger.warning("headers: %r", {"authorization": f"Bearer {TENANT_KEY}x", "x-api-key": "k9"})
    logger.warning("openai key sk-proj-abcdefghijklmnop in a message")
    text = "\n".join(kept.lines)
    for secret in (PROVIDER_KEY, TENANT_KEY, "k9", "sk-proj-abcdefghijklmnop"):
        assert secret not in text
    assert text.count(REDACTED) == 5
    assert "'authorization': 'Bearer [redacted]'" in text  # which header it was stays readable


def test_a_logged_traceback_is_scrubbed(logged: tuple[logging.Logger, _Kept]) -> None:
    logger, kept = logged
    try:
        raise RuntimeError(f"request failed with key {PROVIDER_KEY}")
    except RuntimeError:
        logger.exception("Request failed.")
    assert "Traceback" in kept.lines[0] and "RuntimeError" in kept.lines[0]
    assert PROVIDER_KEY not in kept.lines[0]


def test_a_record_without_secrets_is_left_as_it_was(logged: tuple[logging.Logger, _Kept]) -> None:
    logger, kept = logged
    logger.info("POST /v1/chat/completions 200 %.1fms", 4.25)
    logger.warning("ledger batch of %d not acknowledged", 3)
    assert kept.lines == [
        "POST /v1/chat/completions 200 4.2ms",
        "ledger batch of 3 not acknowledged",
    ]


def test_installing_twice_keeps_one_scrubber_with_both_secrets(
    logged: tuple[logging.Logger, _Kept],
) -> None:
    logger, kept = logged
    redact_logs(["second-secret-value", None, "k"])  # "k": too short to blank everywhere
    logger.warning("%s and %s", PROVIDER_KEY, "second-secret-value")
    logger.warning("ok")
    assert kept.lines == [f"{REDACTED} and {REDACTED}", "ok"]
