"""Who a request comes from, and what that allows: the caller a key makes.

Three kinds of caller:
- a **tenant key**'s: the call's tenant is the key's, whatever the caller writes (another tenant
  is a 403); its agent is the key's when the key binds one, else the caller's; a key that lists
  models reaches only those names; its rate limits travel with the call (`CallOptions.key`).
- the **admin key**'s (`SWITCHYARD_ADMIN_KEY`, of which the app holds only the SHA-256): it
  manages keys, sees every tenant's spend, and may call as any tenant it names (`default` when it
  names none). It could create a key for any tenant anyway, so refusing it calls would protect
  nothing; operators and tests use it to act for a tenant. Its calls carry no rate limits.
- with auth off (`--no-auth`, a laptop): everyone, as the admin, except that keys are neither
  checked nor managed.
Tenant and agent names are checked for every caller (charset, length): a 400 otherwise.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serve_app.identity.cache import KeyCache
from serve_app.identity.caller import KeyLimits
from serve_app.identity.keys import ApiKey, key_hash
from serve_app.identity.names import check_name
from serve_app.routing.call import CallOptions

DEFAULT = "default"  # CallOptions' tenant and agent when the caller names none


class Refused(Exception):
    """The request may not do this: `status` 401 (who are you?), 403 (not you) or 400."""

    def __init__(self, message: str, status: int, *, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param


class AuthConfig(BaseModel):
    """Whether keys are checked, and the admin key's SHA-256: the builder's argument to the
    Ingress (`AppArgs.auth`, `admin_key_sha256`), never the key itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    admin_key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _admin_key_when_on(self) -> AuthConfig:
        if self.enabled and self.admin_key_sha256 is None:
            raise ValueError("auth is on but no admin key hash was given")
        return self


@dataclass(frozen=True)
class Caller:
    admin: bool = False  # may manage keys and see every tenant's spend
    key: ApiKey | None = None  # a tenant key's record; None for the admin and with auth off
    auth: bool = True  # False: --no-auth, nobody was checked

    @property
    def tenant(self) -> str | None:
        """The one tenant this caller may act for; None: any it names."""
        return self.key.tenant if self.key is not None else None

    def bind(self, options: CallOptions, name: str) -> CallOptions:
        """`options` as this caller may send them: its tenant, agent and key's limits filled in.

        Refused(403) for another tenant, another agent than the key's, or a model the key does
        not list; Refused(400) for a malformed tenant or agent name."""
        tenant, agent = options.tenant, options.agent
        for field, value in (("tenant", tenant), ("agent", agent)):
            try:
                check_name(field, value)
            except ValueError as error:
                raise Refused(str(error), 400, param=field) from None
        key = self.key
        if key is None:
            return options
        if tenant not in (DEFAULT, key.tenant):
            raise Refused(f"this API key is for tenant {key.tenant!r}, not {tenant!r}", 403)
        if key.agent is not None and agent not in (DEFAULT, key.agent):
            raise Refused(f"this API key is for agent {key.agent!r}, not {agent!r}", 403)
        if key.models is not None and name not in key.models:
            raise Refused(f"this API key may not call {name!r}", 403)
        return options.model_copy(
            update={
                "tenant": key.tenant,
                "agent": key.agent or agent,
                "key": KeyLimits(key_id=key.id, rpm=key.rpm, tpm=key.tpm),
            }
        )


NO_AUTH = Caller(admin=True, auth=False)
ADMIN = Caller(admin=True)


class Authenticator:
    """A presented key in, its `Caller` out; `config` is replaced on a hot reload."""

    def __init__(self, config: AuthConfig, keys: KeyCache | None) -> None:
        self.config = config
        self.keys = keys

    async def caller(self, presented: str | None) -> Caller:
        """Refused(401) for no key, an unknown, revoked or expired one."""
        config = self.config
        if not config.enabled:
            return NO_AUTH
        if not presented:
            raise Refused(
                "missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
                401,
            )
        hashed = key_hash(presented)
        admin = config.admin_key_sha256
        if admin is not None and hmac.compare_digest(hashed, admin):
            return ADMIN
        key = await self.keys.find(hashed) if self.keys is not None else None
        if key is None:
            known = self.keys.known(hashed) if self.keys is not None else None
            expired = known is not None and known.revoked_at is None
            raise Refused("this API key has expired" if expired else "invalid API key", 401)
        return Caller(key=key)
