"""Shared fixtures of the offline infrastructure tests (run by `make test-iac`)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from translate import load_template, translate  # noqa: E402

TEMPLATE = ROOT / "template.yaml"
GUARD_RULES = ROOT / "config" / "guard"


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture()
def mutable_template(sam_template: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(sam_template)


@pytest.fixture(scope="session")
def cfn_template(sam_template: dict[str, Any]) -> dict[str, Any]:
    return translate(sam_template)


@dataclass(frozen=True)
class GuardResult:
    failed: frozenset[str]
    passed: frozenset[str]
    not_applicable: frozenset[str]


def _cfn_guard_binary() -> str:
    binary = os.environ.get("CFN_GUARD") or shutil.which("cfn-guard")
    if not binary or not Path(binary).exists():
        # A missing tool is a broken setup, not a reason to skip the proof.
        pytest.fail("cfn-guard not found: run through `make test-iac`, which installs it")
    return binary


@pytest.fixture(scope="session")
def run_guard(tmp_path_factory: pytest.TempPathFactory) -> Callable[[dict[str, Any]], GuardResult]:
    binary = _cfn_guard_binary()
    directory = tmp_path_factory.mktemp("guard")

    def run(cfn: dict[str, Any]) -> GuardResult:
        data = directory / "template.json"
        data.write_text(json.dumps(cfn), encoding="utf-8")
        completed = subprocess.run(
            [binary, "validate", "--rules", str(GUARD_RULES), "--data", str(data),
             "--structured", "--output-format", "json", "--show-summary", "none"],
            capture_output=True, text=True, check=False,
        )
        # 0: all rules pass; 19: some rule failed; anything else: guard itself failed.
        if completed.returncode not in (0, 19):
            pytest.fail(f"cfn-guard exited {completed.returncode}: {completed.stderr or completed.stdout}")
        [report] = json.loads(completed.stdout)
        return GuardResult(
            failed=frozenset(entry["Rule"]["name"] for entry in report["not_compliant"]),
            passed=frozenset(report["compliant"]),
            not_applicable=frozenset(report["not_applicable"]),
        )

    return run


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Never report success for a run that proved nothing.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = len(reporter.stats.get("passed", [])) if reporter else 0
    if exitstatus == 0 and passed == 0:
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
