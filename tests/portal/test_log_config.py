"""Log records rendered as the deployment sees them: JSON lines with a real traceback."""

import io
import json
import logging

import pytest

from portal.log_config import logging_config


def formatter_of(renderer: str) -> logging.Formatter:
    """The formatter the deployment's logging configuration builds, as dictConfig would."""
    spec = dict(logging_config(level="INFO", renderer=renderer)["formatters"]["structured"])
    return spec.pop("()")(**spec)


@pytest.fixture
def rendered():
    """`rendered(renderer)` → a private logger and a function returning what it wrote."""
    created = []

    def make(renderer: str):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter_of(renderer))
        logger = logging.getLogger(f"tests.log_config.{renderer}")
        logger.addHandler(handler)
        logger.propagate = False
        created.append((logger, handler))
        return logger, stream.getvalue

    yield make
    for logger, handler in created:
        logger.removeHandler(handler)
        logger.propagate = True


def fail_deep_inside():
    raise ValueError("the HSM said no")


def test_json_lines_carry_the_formatted_traceback(rendered):
    # given
    logger, written = rendered("json")
    # when
    try:
        fail_deep_inside()
    except ValueError:
        logger.exception("request.execute_failed", extra={"request": "r-1"})
    # then
    (line,) = written().splitlines()
    record = json.loads(line)
    assert (record["event"], record["request"], record["level"]) == (
        "request.execute_failed",
        "r-1",
        "error",
    )
    assert record["exception"].startswith("Traceback (most recent call last):")
    assert 'in fail_deep_inside\n    raise ValueError("the HSM said no")' in record["exception"]
    assert record["exception"].endswith("ValueError: the HSM said no")
    assert "exc_info" not in record
    assert "<traceback object" not in line


def test_console_lines_carry_the_traceback_too(rendered):
    logger, written = rendered("console")
    try:
        fail_deep_inside()
    except ValueError:
        logger.exception("request.execute_failed")
    assert "ValueError: the HSM said no" in written()
    assert "<traceback object" not in written()
