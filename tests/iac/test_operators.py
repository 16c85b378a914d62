"""`make operator` refuses what Cognito would, before any call to AWS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "operators.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    # No credentials and no region: a call to AWS would fail otherwise.
    env = {"PATH": "/usr/bin:/bin", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60)


def test_an_operator_needs_an_email_and_a_group_of_the_pool() -> None:
    for email, group, said in [
        ("", "admins", "is not an e-mail address"),
        ("alice", "admins", "is not an e-mail address"),
        ("alice @example.org", "admins", "is not an e-mail address"),
        ("alice@example.org", "", "admins (enrol and read) or viewers"),
        ("alice@example.org", "root", "admins (enrol and read) or viewers"),
    ]:
        result = run("add", "--config-env", "dev", "--email", email, "--group", group)
        assert result.returncode == 2, (email, group, result.stderr)
        assert said in result.stderr, result.stderr


def test_only_the_two_environments() -> None:
    result = run("outputs", "--config-env", "staging")
    assert result.returncode == 2 and "invalid choice" in result.stderr
