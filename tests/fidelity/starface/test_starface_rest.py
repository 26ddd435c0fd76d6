"""The emulated PBX's REST API driven the way the official examples do it (requests + hashlib)."""

import uuid

import pytest
import requests

from .conftest import sha512_hex

HEADERS = {"X-Version": "2", "Content-Type": "application/json"}


def rest_login(pbx_url, login, password):
    """GET a nonce, compute login:SHA512(login + nonce + SHA512(password)) here, POST it."""
    template = requests.get(pbx_url + "rest/login", headers=HEADERS, timeout=10)
    assert template.status_code == 200
    body = template.json()
    assert body["loginType"] == "Internal" and body["nonce"] and body["secret"] is None
    body["secret"] = login + ":" + sha512_hex(login + body["nonce"] + sha512_hex(password))
    answer = requests.post(pbx_url + "rest/login", json=body, headers=HEADERS, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def session(pbx_url, login, password):
    s = requests.Session()
    s.headers.update(HEADERS)
    s.headers["authToken"] = rest_login(pbx_url, login, password)
    return s


@pytest.fixture
def admin(pbx_url):
    return session(pbx_url, "0001", "admin-pass")


def test_login_token_opens_the_api_and_logout_closes_it(pbx_url):
    s = session(pbx_url, "1001", "ben-pass")
    me = s.get(pbx_url + "rest/users/me", timeout=10)
    assert me.status_code == 200
    assert me.json()["login"] == "1001"
    assert s.delete(pbx_url + "rest/login", timeout=10).status_code == 204
    after = s.get(pbx_url + "rest/users/me", timeout=10)
    assert after.status_code == 401
    assert {"code", "message"} <= set(after.json())


def test_a_nonce_works_once_and_a_wrong_password_is_refused(pbx_url):
    body = requests.get(pbx_url + "rest/login", headers=HEADERS, timeout=10).json()
    body["secret"] = "1001:" + sha512_hex("1001" + body["nonce"] + sha512_hex("wrong"))
    wrong = requests.post(pbx_url + "rest/login", json=body, headers=HEADERS, timeout=10)
    assert wrong.status_code == 400
    assert "invalid login" in wrong.json()["message"]
    body["secret"] = "1001:" + sha512_hex("1001" + body["nonce"] + sha512_hex("ben-pass"))
    reused = requests.post(pbx_url + "rest/login", json=body, headers=HEADERS, timeout=10)
    assert reused.status_code == 400


def test_requests_without_token_are_unauthorized(pbx_url):
    r = requests.get(pbx_url + "rest/users", headers=HEADERS, timeout=10)
    assert r.status_code == 401


def test_users_and_groups_have_the_swagger_fields(pbx_url, admin):
    users = admin.get(pbx_url + "rest/users", timeout=10).json()
    assert {u["login"] for u in users} == {"0001", "1001", "1002", "1003", "1004", "1005"}
    for u in users:
        assert {"id", "login", "firstName", "familyName", "email", "language"} <= set(u)
    assert "Eva.Engel@Example.com" in {u["email"] for u in users}
    ben = next(u for u in users if u["login"] == "1001")
    assert admin.get(pbx_url + f"rest/users/{ben['id']}", timeout=10).json()["email"] == "ben.utzer@example.com"

    groups = admin.get(pbx_url + "rest/groups", timeout=10).json()
    sales = next(g for g in groups if g["groupname"] == "Sales")
    assert sales["groupinternalnumber"] == "600"
    detail = admin.get(pbx_url + f"rest/groups/{sales['id']}", timeout=10).json()
    assert {"id", "groupId", "name", "chatGroup", "voicemail", "assignableUsers", "assignableNumbers"} <= set(detail)
    assigned = {(u["firstname"], u["lastname"]) for u in detail["assignableUsers"] if u["assigned"]}
    assert assigned == {("Ben", "Utzer"), ("Clara", "Klein"), ("Eva", "Engel")}


def attribute_names_by_key(pbx_url, s):
    scheme = s.get(pbx_url + "rest/contacts/scheme", params={"lang": "en"}, timeout=10).json()
    names = {}
    for block in scheme["detailBlocks"]:
        for a in block["attributes"]:
            names[a["displayKey"]] = (block["name"], a["name"])
    return names


def contact_body(names, tag, i):
    values = {"NAME": f"Test{i}", "SURNAME": "Salesforce", "PHONE_NUMBER": f"+49 30 5550{i:03d}"}
    blocks = {}
    for key, value in values.items():
        block, attr = names[key]
        blocks.setdefault(block, []).append({"name": attr, "value": value, "displayKey": key})
    return {
        "blocks": [{"name": b, "attributes": attrs} for b, attrs in blocks.items()],
        "editable": True,
        "tags": [tag],
    }


def test_tagged_contacts_can_be_created_paged_and_deleted(pbx_url, admin):
    tag_name = "Salesforce-" + uuid.uuid4().hex[:8]
    created_tag = admin.post(pbx_url + "rest/contacts/tags", json={"name": tag_name}, timeout=10)
    assert created_tag.status_code == 201
    tag = created_tag.json()
    assert tag["name"] == tag_name and tag["id"]

    names = attribute_names_by_key(pbx_url, admin)
    ids = []
    for i in range(25):
        r = admin.post(pbx_url + "rest/contacts", json=contact_body(names, tag, i), timeout=10)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])

    listed = []
    first = admin.get(pbx_url + "rest/contacts", params={"tags": tag["id"], "pagesize": 10}, timeout=10).json()
    assert first["metadata"]["totalPages"] == 3
    assert [a["name"] for a in first["summaryBlockSchema"]["attributes"]]
    for page in range(first["metadata"]["totalPages"]):
        body = admin.get(pbx_url + "rest/contacts",
                         params={"tags": tag["id"], "pagesize": 10, "page": page}, timeout=10).json()
        assert body["metadata"]["page"] == page
        listed += [c["id"] for c in body["contacts"]]
    assert sorted(listed) == sorted(ids)

    one = admin.get(pbx_url + f"rest/contacts/{ids[0]}", timeout=10).json()
    assert [t["name"] for t in one["tags"]] == [tag_name]
    values = {a["displayKey"]: a["value"] for b in one["blocks"] for a in b["attributes"]}
    assert values["SURNAME"] == "Salesforce"

    for cid in ids:
        assert admin.delete(pbx_url + f"rest/contacts/{cid}", timeout=10).status_code == 204
    empty = admin.get(pbx_url + "rest/contacts", params={"tags": tag["id"]}, timeout=10).json()
    assert empty["contacts"] == [] and empty["metadata"]["totalPages"] == 0
    assert admin.delete(pbx_url + f"rest/contacts/tags/{tag['id']}", timeout=10).status_code == 204


def test_the_address_book_already_holds_entries_of_others(pbx_url, admin):
    body = admin.get(pbx_url + "rest/contacts", params={"pagesize": 100}, timeout=10).json()
    assert body["contacts"], "foreign entries are seeded so that a sync must leave them alone"


def test_only_admins_act_for_other_users(pbx_url, admin):
    ben = session(pbx_url, "1001", "ben-pass")
    users = ben.get(pbx_url + "rest/users", timeout=10).json()
    ada = next(u for u in users if u["login"] == "0001")
    r = ben.get(pbx_url + "rest/contacts", params={"userId": ada["id"]}, timeout=10)
    assert r.status_code == 403
    ben_id = next(u for u in users if u["login"] == "1001")["id"]
    assert admin.get(pbx_url + "rest/contacts", params={"userId": ben_id}, timeout=10).status_code == 200


def test_invalid_contacts_are_refused_with_a_message(pbx_url, admin):
    bad = {"blocks": [{"name": "contact", "attributes": [{"name": "shoeSize", "value": "44"}]}],
           "editable": True, "tags": []}
    r = admin.post(pbx_url + "rest/contacts", json=bad, timeout=10)
    assert r.status_code == 400
    assert "shoeSize" in r.json()["message"]
    r = admin.post(pbx_url + "rest/contacts", data="{not json", timeout=10)
    assert r.status_code == 400
    r = admin.get(pbx_url + "rest/contacts", params={"pagesize": 0}, timeout=10)
    assert r.status_code == 400
