"""pytest plugin used by scripts/test: count the tests that were executed.

A test counts when its body ran: passed, failed, xfailed or xpassed. Tests skipped or deselected
do not. The count is written to the file named by $PYTEST_EXECUTED_FILE when the session ends, so
that scripts/test can fail a run that executed no test, whatever the output options.
"""

from __future__ import annotations

import os

import pytest

_executed = 0


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _executed  # noqa: PLW0603 - one count per pytest process
    if report.when == "call" and (not report.skipped or hasattr(report, "wasxfail")):
        _executed += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("PYTEST_EXECUTED_FILE")
    if path and not hasattr(session.config, "workerinput"):  # pytest-xdist: the controller counts
        with open(path, "w", encoding="ascii") as f:
            f.write(f"{_executed}\n")
