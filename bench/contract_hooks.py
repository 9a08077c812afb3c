"""Schemathesis hooks for bench/contract.sh.

The bearer token of the contract user, got by logging in through the API
under test. Schemathesis fetches a new one after a 401 and replays the
request, so the fuzzer's own `POST /api/auth/logout` (which revokes the
token it sent) does not leave the rest of the run unauthenticated.
"""

import os

import requests
import schemathesis


@schemathesis.auth(refresh_interval=600)
class ContractUser:
    """Logs in as CONTRACT_EMAIL / CONTRACT_PASSWORD at CONTRACT_BASE."""

    def get(self, case, context):
        response = requests.post(
            os.environ["CONTRACT_BASE"] + "/api/auth/login",
            json={
                "email": os.environ["CONTRACT_EMAIL"],
                "password": os.environ["CONTRACT_PASSWORD"],
            },
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["data"]["token"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
