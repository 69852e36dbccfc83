"""Cloud proxies: one adapter module per provider SDK, and the deployment class in front of them.

The SDKs are imported only by the `*_adapter.py` modules here (a ruff rule enforces it).
"""

from deployments.cloud.base import ChatAdapter, Timeouts
from deployments.cloud.proxy import CloudProxy
from deployments.cloud.registry import ADAPTERS, build_adapter

__all__ = ["ADAPTERS", "ChatAdapter", "CloudProxy", "Timeouts", "build_adapter"]
