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
    """Logs in as CONTRACT_EMAIL / CONTRACT_PASSWORD at CONTRACT_BASE.

    The fuzzer learns that email from the API's answers and sends it with
    wrong passwords, which after five failures locks the account (429, as
    the API promises). Then no token can be had for 15 minutes, so a locked
    account is replaced by a newly registered one, and the run goes on.
    """

    def __init__(self):
        self.email = os.environ["CONTRACT_EMAIL"]
        self.spares = 0

    def get(self, case, context):
        response = self.login()
        if response.status_code == 429:
            self.spares += 1
            local, domain = os.environ["CONTRACT_EMAIL"].split("@")
            self.email = f"{local}-{self.spares}@{domain}"
            registered = requests.post(
                os.environ["CONTRACT_BASE"] + "/api/auth/register",
                json={
                    "email": self.email,
                    "name": "Contract",
                    "password": os.environ["CONTRACT_PASSWORD"],
                },
                timeout=10,
            )
            registered.raise_for_status()
            response = self.login()
        response.raise_for_status()
        return response.json()["data"]["token"]

    def login(self):
        return requests.post(
            os.environ["CONTRACT_BASE"] + "/api/auth/login",
            json={
                "email": self.email,
                "password": os.environ["CONTRACT_PASSWORD"],
            },
            timeout=10,
        )

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
