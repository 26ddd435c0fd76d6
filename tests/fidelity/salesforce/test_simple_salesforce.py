"""simple-salesforce, unchanged, against the emulated org over HTTPS.

simple-salesforce builds https:// URLs from the instance it is given, so the emulator runs
with --tls and the session trusts its CA (trust_env off: REQUESTS_CA_BUNDLE must not win).
"""

from datetime import datetime, timedelta, timezone

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceMalformedRequest

from .conftest import CONTACTS, contact_count


@pytest.fixture()
def sf(org, http, token):
    url, _ = org
    return Salesforce(instance_url=url, session_id=token, session=http, version="62.0")


def test_query_all_pages_through_more_than_2000_records(sf, org, http, token):
    live = contact_count(org, http, token)
    assert live >= CONTACTS
    before = sf.limits()["DailyApiRequests"]["Remaining"]
    result = sf.query_all("SELECT Id, Name, Phone, Account.Name FROM Contact")
    assert result["totalSize"] == live
    ids = {r["Id"] for r in result["records"]}
    assert len(ids) == live
    assert all(r["attributes"]["type"] == "Contact" for r in result["records"])
    with_account = [r for r in result["records"] if r["Account"] is not None]
    assert with_account and with_account[0]["Account"]["attributes"]["type"] == "Account"
    # One query and one queryMore for 2,500 records at 2,000 a batch, plus this limits call.
    after = sf.limits()["DailyApiRequests"]["Remaining"]
    assert before - after == 3
    assert sf.api_usage["api-usage"].total == 100000


def test_query_all_iter_yields_every_record_lazily(sf, org, http, token):
    live = contact_count(org, http, token)
    seen = 0
    for record in sf.query_all_iter("SELECT Id FROM Contact WHERE IsDeleted = false"):
        assert record["Id"].startswith("003")
        seen += 1
    assert seen == live


def test_create_get_update_delete(sf):
    created = sf.Contact.create({"FirstName": "Fidel", "LastName": "Test", "Phone": "+49 30 5550100"})
    assert created["success"] is True
    assert created["errors"] == []
    record = sf.Contact.get(created["id"])
    assert record["Name"] == "Fidel Test"
    assert record["Phone"] == "+49 30 5550100"
    assert sf.Contact.update(created["id"], {"Title": "Tester"}) == 204
    assert sf.Contact.get(created["id"])["Title"] == "Tester"
    assert sf.Contact.delete(created["id"]) == 204


def test_sosl_phone_search_finds_a_new_contact(sf):
    created = sf.Contact.create({"LastName": "Suchbar", "MobilePhone": "0171 / 555 01 99"})
    result = sf.search(
        "FIND {4917155501\\99} IN PHONE FIELDS RETURNING Contact(Id, Name, MobilePhone), Lead(Id, Name)"
    )
    ids = [r["Id"] for r in result["searchRecords"]]
    assert created["id"] in ids


def test_composite_sobjects_creates_call_logs_in_one_call(sf):
    records = [
        {
            "attributes": {"type": "Task"},
            "Subject": f"Anruf {i}",
            "Status": "Completed",
            "TaskSubtype": "Call",
            "CallType": "Inbound",
            "CallDurationInSeconds": 30 + i,
            "CallObject": f"fidelity-{i}",
        }
        for i in range(3)
    ]
    before = sf.limits()["DailyApiRequests"]["Remaining"]
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    after = sf.limits()["DailyApiRequests"]["Remaining"]
    assert [r["success"] for r in results] == [True, True, True]
    assert all(r["id"].startswith("00T") for r in results)
    assert before - after == 2  # the composite call and the second limits call


def test_describe_lists_phone_fields_including_custom_ones(sf):
    describe = sf.Contact.describe()
    phone_fields = [f["name"] for f in describe["fields"] if f["type"] == "phone"]
    assert "Phone" in phone_fields
    assert "Assistant_Direct__c" in phone_fields
    call_type = next(f for f in sf.Task.describe()["fields"] if f["name"] == "CallType")
    assert [v["value"] for v in call_type["picklistValues"]] == ["Inbound", "Outbound", "Internal"]


def test_updated_and_deleted_accept_simple_salesforce_dates(sf):
    end = datetime.now(timezone.utc) + timedelta(minutes=1)
    start = end - timedelta(minutes=30)
    updated = sf.Contact.updated(start, end)
    assert "ids" in updated and updated["latestDateCovered"].endswith("+0000")
    deleted = sf.Contact.deleted(start, end)
    assert "deletedRecords" in deleted and "earliestDateAvailable" in deleted


def test_invalid_field_maps_to_malformed_request(sf):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id, Foo FROM Contact")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Foo' on entity 'Contact'" in err.value.content[0]["message"]


def test_bad_session_maps_to_expired_session(org, http):
    url, _ = org
    sf = Salesforce(instance_url=url, session_id="00D000000000000!nope", session=http, version="62.0")
    with pytest.raises(SalesforceExpiredSession) as err:
        sf.query("SELECT Id FROM Contact LIMIT 1")
    assert err.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
