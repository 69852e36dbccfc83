"""API keys: the record an admin creates for a tenant, and the secret handed out once.

A key is `sy-` and 32 random bytes (`secrets`, URL-safe base64). Only its SHA-256 is stored and
compared. A fast hash is the right one here: the key carries 256 bits of entropy, so there is
nothing to brute-force, and a slow password hash (argon2, bcrypt) would add milliseconds to every
request for no gain. argon2 is for passwords that people choose.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from pydantic import BaseModel, ConfigDict, Field, field_validator

from serve_app.identity.caller import KeyLimits
from serve_app.identity.names import check_name

KEY_PREFIX = "sy-"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """What the store keeps and what a presented key is looked up by."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key_id() -> str:
    return "key_" + secrets.token_hex(8)


class KeyRequest(BaseModel):
    """`POST /v1/admin/keys`: what the admin asks for (`switchyard keys create` sends the same)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str
    agent: str | None = None  # bind the key to one agent; None: the caller names its agents
    models: list[str] | None = Field(default=None, min_length=1)  # shortcuts or model ids
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    expires_at: float | None = None  # Unix time
    name: str | None = Field(default=None, max_length=200)  # a label for people

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, tenant: str) -> str:
        return check_name("tenant", tenant)

    @field_validator("agent")
    @classmethod
    def _agent(cls, agent: str | None) -> str | None:
        return None if agent is None else check_name("agent", agent)


class ApiKey(KeyRequest):
    """A stored key, as listed: never the key itself nor its hash."""

    id: str
    created_at: float
    revoked_at: float | None = None
    hint: str = ""  # the key's last four characters, so people can tell keys apart

    def usable(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def limits(self) -> KeyLimits:
        return KeyLimits(key_id=self.id, rpm=self.rpm, tpm=self.tpm)


def make_key(request: KeyRequest, now: float | None = None) -> tuple[str, ApiKey]:
    """A new key (the secret, shown once) and its record."""
    key = new_key()
    record = ApiKey(
        **request.model_dump(),
        id=new_key_id(),
        created_at=time.time() if now is None else now,
        hint=key[-4:],
    )
    return key, record
