"""Starts the STARFACE emulator for the fidelity tests and gives them small helpers.

The emulator comes from $CTIBRIDGE_BIN (`ctibridge emulate starface`) when set, else from
`cargo run --example serve` of the emulator crate. Everything talks to 127.0.0.1 only.
"""

import hashlib
import json
import os
import queue
import subprocess
import threading
import urllib.parse
import urllib.request
import xmlrpc.client
import xmlrpc.server
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
READY = "starface emulator listening on "


def sha512_hex(text: str) -> str:
    """Lower-case hex SHA-512 of the UTF-8 bytes, computed here, independently of the Rust code."""
    return hashlib.sha512(text.encode("utf-8")).hexdigest()


def uci_auth(login: str, password: str) -> str:
    """The documented UCI auth value: loginId:SHA512(loginId*SHA512(password))."""
    return f"{login}:{sha512_hex(login + '*' + sha512_hex(password))}"


def _command():
    binary = os.environ.get("CTIBRIDGE_BIN")
    if binary:
        return [binary, "emulate", "starface", "--listen", "127.0.0.1:0"], 60
    return [
        "cargo", "run", "-q", "-p", "ctibridge-emulator-starface", "--example", "serve",
        "--", "--listen", "127.0.0.1:0",
    ], 900


@pytest.fixture(scope="session")
def pbx_url():
    """Base URL of a running emulator, e.g. http://127.0.0.1:41234/."""
    cmd, timeout = _command()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    found = queue.Queue()

    def read():
        for line in proc.stdout:
            if line.startswith(READY):
                found.put(line[len(READY):].strip())
        found.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        url = found.get(timeout=timeout)
    except queue.Empty:
        url = None
    if url is None:
        proc.kill()
        pytest.fail(f"the STARFACE emulator did not start: {' '.join(cmd)}")
    if not url.endswith("/"):
        url += "/"
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def control(pbx_url: str, method: str, path: str, body=None):
    """Calls the emulator's control API (/__emulator/...) and returns the decoded JSON or None."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        pbx_url + "__emulator/" + path, data=data, method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


class CallbackServer:
    """A plain xmlrpc.server that records every receiveCallState it gets, with the request path."""

    def __init__(self):
        outer = self

        class Handler(xmlrpc.server.SimpleXMLRPCRequestHandler):
            # The PBX appends its own query to our path, so accept any path and remember it
            # (the server handles one request at a time, so "current" is well defined).
            rpc_paths = ()

            def is_rpc_path_valid(self):
                outer.current_path = self.path
                return True

        self.current_path = None
        self.events = queue.Queue()
        self.server = xmlrpc.server.SimpleXMLRPCServer(
            ("127.0.0.1", 0), requestHandler=Handler, logRequests=False, allow_none=True,
        )
        for name in ("ucp.v22.events.call.receiveCallState", "ucp.v30.events.call.receiveCallState"):
            self.server.register_function(self._receiver(name), name)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _receiver(self, method):
        def receive(state):
            self.events.put({"method": method, "path": self.current_path, "state": state})
            return True
        return receive

    def events_of_call(self, call_id, hangups=1, timeout=15):
        """Events of one call, in arrival order, until `hangups` HANGUP events have arrived."""
        got = []
        seen_hangups = 0
        while seen_hangups < hangups:
            event = self.events.get(timeout=timeout)
            if event["state"].get("id") != call_id:
                continue
            got.append(event)
            if event["state"].get("state") == "HANGUP":
                seen_hangups += 1
        return got

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def callback_server():
    server = CallbackServer()
    yield server
    server.close()


def uci_proxy(pbx_url, login, password, callback_port=None, path="/cb", api="v22"):
    """An xmlrpc.client.ServerProxy on the UCI URL with the auth and callback parameters."""
    params = {"de.vertico.starface.auth": uci_auth(login, password)}
    if callback_port is not None:
        params.update({
            "de.vertico.starface.callback.host": "127.0.0.1",
            "de.vertico.starface.callback.port": str(callback_port),
            "de.vertico.starface.callback.path": path,
            "de.vertico.starface.callback.type": "http",
        })
    url = pbx_url + "xml-rpc?" + urllib.parse.urlencode(params)
    return xmlrpc.client.ServerProxy(url, allow_none=True)
