"""Starts the Salesforce emulator (HTTPS) for the fidelity tests.

The emulator comes from $CTIBRIDGE_BIN (`ctibridge emulate salesforce --tls`) when that binary
knows the subcommand; else from the emulator crate's `serve` example (built binary if present,
otherwise `cargo run`). Everything talks to 127.0.0.1 only.
"""

import os
import queue
import subprocess
import threading
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[3]
READY = "salesforce emulator listening on "
CA = "ca-cert "
CONTACTS = 2500
CLIENT_ID = "demo-consumer-key"
CLIENT_SECRET = "demo-consumer-secret"
ARGS = ["--listen", "127.0.0.1:0", "--tls", "--contacts", str(CONTACTS)]


def _candidates():
    """The binary's subcommand first (it may not know it yet), then the crate's example."""
    binary = os.environ.get("CTIBRIDGE_BIN")
    if binary and Path(binary).exists():
        yield [binary, "emulate", "salesforce", *ARGS], 60
    yield ["cargo", "run", "-q", "-p", "ctibridge-emulator-salesforce", "--example", "serve", "--", *ARGS], 900


def _start(cmd, timeout):
    """Runs cmd; returns (process, url, ca_path) or None when it did not come up."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = queue.Queue()

    def read():
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    url = ca = None
    try:
        while url is None or ca is None:
            line = lines.get(timeout=timeout)
            if line is None:
                break
            if line.startswith(READY):
                url = line[len(READY):].strip()
            elif line.startswith(CA):
                ca = line[len(CA):].strip()
    except queue.Empty:
        pass
    if url is None or ca is None:
        proc.kill()
        proc.wait()
        return None
    return proc, url.rstrip("/"), ca


@pytest.fixture(scope="session")
def org():
    """(instance_url, ca_path) of a running emulated org with 2,500 contacts, over HTTPS."""
    tried = []
    started = None
    for cmd, timeout in _candidates():
        tried.append(" ".join(cmd))
        started = _start(cmd, timeout)
        if started:
            break
    if not started:
        pytest.fail("the Salesforce emulator did not start; tried: " + " | ".join(tried))
    proc, url, ca = started
    yield url, ca
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture()
def http(org):
    """A requests session that trusts only the emulator's CA and ignores proxy settings."""
    _, ca = org
    s = requests.Session()
    s.trust_env = False
    s.verify = ca
    return s


@pytest.fixture()
def token(org, http):
    """A client-credentials access token, fetched with plain requests."""
    url, _ = org
    res = http.post(
        url + "/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        timeout=30,
    )
    res.raise_for_status()
    body = res.json()
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == url
    return body["access_token"]


def contact_count(org, http, token) -> int:
    """Live contacts right now (other tests create some), by SOQL COUNT()."""
    url, _ = org
    res = http.get(
        url + "/services/data/v62.0/query/",
        params={"q": "SELECT COUNT() FROM Contact"},
        headers={"Authorization": "Bearer " + token},
        timeout=30,
    )
    res.raise_for_status()
    return res.json()["totalSize"]
