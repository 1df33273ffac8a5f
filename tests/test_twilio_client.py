"""The one Twilio REST client: made once per process and settings, and only ever aimed at TWILIO_API_BASE."""
from __future__ import annotations

from dataclasses import replace

import pytest

from ivr.twilio.client import NotTwilioApi, twilio_client

from .conftest import ACCOUNT_SID, AUTH_TOKEN, make_test_app
from .fake_twilio_api import FakeServer, twilio_account


def test_one_client_per_settings_sending_twilios_urls_to_the_api_base_and_no_other_host(settings_overrides):
    import json

    with FakeServer(auth=(ACCOUNT_SID, AUTH_TOKEN)) as api, FakeServer() as elsewhere:
        settings = make_test_app({**settings_overrides, "twilio_api_base": api.url}).config["IVR_SETTINGS"]
        client = twilio_client(settings)
        assert twilio_client(replace(settings)) is client  # equal settings: the same client
        assert twilio_client(replace(settings, twilio_api_base=elsewhere.url)) is not client
        path = f"/2010-04-01/Accounts/{ACCOUNT_SID}.json"
        api.routes[path] = lambda n: (200, json.dumps(twilio_account(ACCOUNT_SID, "Northwind")).encode())
        assert client.api.v2010.accounts(ACCOUNT_SID).fetch().friendly_name == "Northwind"
        assert client.request("GET", "https://api.twilio.com" + path).status_code == 200
        assert api.hits[path] == 2
        for url in (elsewhere.url + path, "https://evil.example" + path, "https://api.twilio.com.evil.example/"):
            with pytest.raises(NotTwilioApi):
                client.request("GET", url)
        assert elsewhere.hits == {}
