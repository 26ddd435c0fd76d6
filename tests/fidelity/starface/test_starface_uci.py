"""Python's own xmlrpc client and server against the emulated PBX's UCI, as a CRM would use it."""

import urllib.parse
import xmlrpc.client

import pytest
import requests

from .conftest import control, uci_auth, uci_proxy

STRING_FIELDS = {"id", "state", "timestamp", "callerNumber", "callerName", "calledNumber", "calledName", "groupID"}


def login_and_subscribe(pbx_url, callback_server, login, password, path):
    proxy = uci_proxy(pbx_url, login, password, callback_server.port, path=path)
    assert proxy.ucp.v22.requests.connection.login() is True
    assert proxy.ucp.v22.requests.service.subscribeEvents("ucp.v22.events.call") is True
    return proxy


def test_inbound_call_events_reach_our_callback_with_string_fields(pbx_url, callback_server):
    proxy = login_and_subscribe(pbx_url, callback_server, "1001", "ben-pass", "/uci/callback/s3cret")
    assert "ucp.v22.events.call" in proxy.ucp.v22.requests.service.getProvidedEvents()

    call_id = control(pbx_url, "POST", "calls", {
        "kind": "inbound", "target": "1001", "e164": "+4930123456", "format": "national",
        "name": "Jürgen Müller", "nameLate": True, "emptyFirstState": True, "stepDelayMs": 10,
    })["callId"]
    events = callback_server.events_of_call(call_id)

    states = [e["state"]["state"] for e in events]
    assert states == ["", "INCOMING", "RINGING", "CONNECTED", "HANGUP"]
    for e in events:
        assert e["method"] == "ucp.v22.events.call.receiveCallState"
        assert set(e["state"]) == STRING_FIELDS
        assert all(isinstance(v, str) for v in e["state"].values())
        assert e["state"]["callerNumber"] == "030123456"
        assert e["state"]["calledNumber"] == "201"
    assert events[0]["state"]["callerName"] == ""
    assert events[-1]["state"]["callerName"] == "Jürgen Müller"

    # Our path is kept and the PBX appends the user and the session's auth value.
    path, _, query = events[0]["path"].partition("?")
    assert path == "/uci/callback/s3cret"
    params = urllib.parse.parse_qs(query)
    assert params["de.vertico.starface.user"] == ["1001"]
    assert params["de.vertico.starface.auth"] == [uci_auth("1001", "ben-pass")]


@pytest.mark.parametrize("fmt,expected", [
    ("e164", "+4930123456"), ("international00", "004930123456"), ("national", "030123456"),
    ("outsideLine", "0030123456"), ("suppressed", ""),
])
def test_missed_call_shows_the_number_in_the_chosen_format(pbx_url, callback_server, fmt, expected):
    login_and_subscribe(pbx_url, callback_server, "1003", "david-pass", "/cb")
    call_id = control(pbx_url, "POST", "calls", {
        "kind": "missed", "target": "1003", "e164": "+4930123456", "format": fmt, "stepDelayMs": 5,
    })["callId"]
    events = callback_server.events_of_call(call_id)
    assert [e["state"]["state"] for e in events] == ["INCOMING", "RINGING", "HANGUP"]
    assert {e["state"]["callerNumber"] for e in events} == {expected}


def test_place_call_with_phone_returns_the_call_id_of_the_events(pbx_url, callback_server):
    proxy = login_and_subscribe(pbx_url, callback_server, "1002", "clara-pass", "/cb")
    phones = proxy.ucp.v22.requests.phone.getPhoneIds()
    assert phones == ["SIP/202"]
    assert proxy.ucp.v22.requests.phone.getPrimaryPhoneId() == "SIP/202"
    numbers = proxy.ucp.v22.requests.phone.getAvailableDisplayNumbers()
    assert all("number" in n for n in numbers)

    call_id = proxy.ucp.v22.requests.call.placeCallWithPhone("004930123456", "SIP/202", "")
    assert isinstance(call_id, str) and call_id
    events = callback_server.events_of_call(call_id)
    assert [e["state"]["state"] for e in events] == ["PROCEEDING", "RINGBACK", "CONNECTED", "HANGUP"]
    assert events[0]["state"]["callerNumber"] == "202"
    assert events[0]["state"]["calledNumber"] == "004930123456"


def test_hangup_call_ends_a_running_call(pbx_url, callback_server):
    proxy = login_and_subscribe(pbx_url, callback_server, "1004", "eva-pass", "/cb")
    call_id = control(pbx_url, "POST", "calls", {
        "kind": "inbound", "target": "1004", "number": "201", "talkSteps": 0, "stepDelayMs": 5,
    })["callId"]
    events = []
    while not events or events[-1]["state"]["state"] != "CONNECTED":
        event = callback_server.events.get(timeout=10)
        if event["state"]["id"] == call_id:
            events.append(event)
    assert call_id in proxy.ucp.v22.requests.call.getCallIds()
    assert proxy.ucp.v22.requests.call.getCallState(call_id)["state"] == "CONNECTED"
    assert proxy.ucp.v22.requests.call.hangupCall(call_id) is True
    assert callback_server.events_of_call(call_id)[-1]["state"]["state"] == "HANGUP"
    assert call_id not in proxy.ucp.v22.requests.call.getCallIds()


def test_group_call_rings_every_member_and_only_the_answerer_connects(pbx_url, callback_server):
    for login, password in [("1001", "ben-pass"), ("1002", "clara-pass"), ("1004", "eva-pass")]:
        login_and_subscribe(pbx_url, callback_server, login, password, f"/cb/{login}")
    call_id = control(pbx_url, "POST", "calls", {
        "kind": "group", "target": "Sales", "e164": "+4989123456", "format": "e164",
        "answeredBy": "1002", "stepDelayMs": 5,
    })["callId"]
    events = callback_server.events_of_call(call_id, hangups=3)
    by_user = {}
    for e in events:
        by_user.setdefault(e["path"].split("?")[0], []).append(e["state"])
    assert [s["state"] for s in by_user["/cb/1002"]] == ["INCOMING", "RINGING", "CONNECTED", "HANGUP"]
    for other in ("/cb/1001", "/cb/1004"):
        assert [s["state"] for s in by_user[other]] == ["INCOMING", "RINGING", "HANGUP"]
    group_ids = {s["groupID"] for states in by_user.values() for s in states}
    assert len(group_ids) == 1 and group_ids != {""}


def test_keep_alive_turns_false_after_a_pbx_restart_and_login_recovers(pbx_url):
    proxy = uci_proxy(pbx_url, "1005", "frank-pass", 9, path="/unused")
    assert proxy.ucp.v22.requests.connection.login() is True
    assert proxy.ucp.v22.requests.connection.keepAlive() is True
    control(pbx_url, "POST", "restart")
    assert proxy.ucp.v22.requests.connection.keepAlive() is False
    assert proxy.ucp.v22.requests.connection.login() is True
    assert proxy.ucp.v22.requests.connection.keepAlive() is True
    assert proxy.ucp.v22.requests.connection.logout() is True
    assert proxy.ucp.v22.requests.connection.keepAlive() is False


def test_v30_names_answer_and_events_use_the_v30_method(pbx_url, callback_server):
    proxy = uci_proxy(pbx_url, "1003", "david-pass", callback_server.port, path="/v30")
    assert proxy.ucp.v30.requests.connection.login() is True
    assert proxy.ucp.v30.requests.service.subscribeEvents("ucp.v30.events.call") is True
    call_id = control(pbx_url, "POST", "calls", {"kind": "outbound", "target": "1003",
                                                  "number": "0030123456", "stepDelayMs": 5})["callId"]
    events = callback_server.events_of_call(call_id)
    assert {e["method"] for e in events} == {"ucp.v30.events.call.receiveCallState"}


def test_wrong_password_is_a_fault(pbx_url):
    proxy = uci_proxy(pbx_url, "1001", "not-the-password")
    with pytest.raises(xmlrpc.client.Fault) as err:
        proxy.ucp.v22.requests.connection.login()
    assert "Not authorized" in err.value.faultString


def test_unknown_method_is_a_fault(pbx_url):
    proxy = uci_proxy(pbx_url, "1001", "ben-pass")
    with pytest.raises(xmlrpc.client.Fault) as err:
        proxy.ucp.v22.requests.call.teleport("x")
    assert err.value.faultCode == -32601


def test_requests_before_login_are_faults(pbx_url):
    proxy = uci_proxy(pbx_url, "1005", "frank-pass", 9, path="/never-logged-in")
    with pytest.raises(xmlrpc.client.Fault):
        proxy.ucp.v22.requests.call.getCallIds()


def test_malformed_and_empty_bodies_get_clear_answers(pbx_url):
    url = pbx_url + "xml-rpc?de.vertico.starface.auth=" + uci_auth("1001", "ben-pass")
    empty = requests.post(url, data=b"", timeout=10)
    assert empty.status_code == 400
    broken = requests.post(url, data=b"<methodCall><methodName>x</methodCall>", timeout=10)
    assert broken.status_code == 200
    with pytest.raises(xmlrpc.client.Fault) as err:
        xmlrpc.client.loads(broken.content)
    assert err.value.faultCode == -32700
    assert "malformed XML" in err.value.faultString
    doctype = requests.post(
        url, data=b'<!DOCTYPE x [<!ENTITY a "b">]><methodCall><methodName>&a;</methodName></methodCall>', timeout=10)
    with pytest.raises(xmlrpc.client.Fault) as err:
        xmlrpc.client.loads(doctype.content)
    assert "DOCTYPE" in err.value.faultString
