"""The JavaScript client's own tests (``npm test`` in clients/js: node's built-in test runner)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

JS_CLIENT = Path(__file__).resolve().parents[2] / "clients" / "js"


def require_tool(name: str) -> str:
    """The tool's path; skip without it, except under CI=true where a missing tool is a failure."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (Node.js 18+ with npm is needed for the JS client tests)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(reason)
    return path


def test_npm_test_passes() -> None:
    require_tool("node")
    npm = require_tool("npm")
    result = subprocess.run(
        [npm, "test", "--silent"], cwd=JS_CLIENT, capture_output=True, text=True, timeout=240, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"npm test failed in {JS_CLIENT}:\n{output[-6000:]}"
    assert "# fail 0" in output, output[-3000:]
