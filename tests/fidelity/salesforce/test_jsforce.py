"""jsforce (npm), unchanged, against the emulated org: a second real client.

The node script in jsforce/ does the checks; this test installs jsforce on first use (npm,
pinned in jsforce/package.json) and runs the script with the emulator's CA trusted.
"""

import os
import shutil
import subprocess
from pathlib import Path

from .conftest import contact_count

HERE = Path(__file__).resolve().parent / "jsforce"


def _node_env(ca: str) -> dict:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NODE_EXTRA_CA_CERTS"] = ca
    return env


def test_jsforce_queries_writes_and_searches(org, http, token):
    assert shutil.which("node") and shutil.which("npm"), "node and npm are needed (bash .ci/run installs them)"
    if not (HERE / "node_modules" / "jsforce").exists():
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--no-package-lock"],
            cwd=HERE,
            check=True,
            timeout=600,
            capture_output=True,
        )
    url, ca = org
    done = subprocess.run(
        ["node", "check.mjs", url, token, str(contact_count(org, http, token))],
        cwd=HERE,
        env=_node_env(ca),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok INVALID_SESSION_ID error code" in done.stdout
