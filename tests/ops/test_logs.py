"""JSON logs: one parseable object per line with the extra fields; text stays the default."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from threatwatch.ops.logs import configure_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_level_logger_message_extra_and_exception(
    restore_root: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(level=logging.INFO, log_format="json")
    log = logging.getLogger("threatwatch.test")
    log.info("stored %d posts", 3, extra={"source_id": 7})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["level"] == "INFO" and lines[0]["logger"] == "threatwatch.test"
    assert lines[0]["message"] == "stored 3 posts" and lines[0]["source_id"] == 7
    assert lines[0]["ts"].endswith("+00:00")
    assert lines[1]["level"] == "ERROR" and "RuntimeError: boom" in lines[1]["exc"]


def test_configuring_twice_keeps_one_handler_and_text_is_plain(
    restore_root: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(level=logging.INFO, log_format="json")
    configure_logging(log_format="text")
    logging.getLogger("threatwatch.test").info("hello")
    assert capsys.readouterr().err.strip().splitlines() == ["INFO threatwatch.test: hello"]
    with pytest.raises(ValueError, match="'text' or 'json'"):
        configure_logging(log_format="xml")
