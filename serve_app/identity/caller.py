"""What a call carries about the key that made it, once the Ingress has checked that key.

The Ingress sets it from the authenticated key, never from what the caller writes; a call made
through a Ray handle (inside the cluster, so trusted) may carry none. The rate limits travel with
the call so that admission can take them from the same lease mechanism as budgets without asking
anyone who the key is.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class KeyLimits(BaseModel):
    """A key's id (its stored id, never the key itself) and its per-minute limits, if any."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: str
    rpm: int | None = Field(default=None, ge=1)  # requests per minute
    tpm: int | None = Field(default=None, ge=1)  # tokens (prompt + output) per minute
