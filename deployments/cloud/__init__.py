"""Cloud proxies: one adapter module per provider SDK, and the deployment class in front of them.

The SDKs are imported only by the `*_adapter.py` modules here (a ruff rule enforces it), and an
adapter module only when an adapter of its kind is built (`registry.py`).
"""

from deployments.cloud.base import ChatAdapter, Timeouts
from deployments.cloud.proxy import CloudProxy
from deployments.cloud.registry import ADAPTERS, adapter_class, build_adapter

__all__ = ["ADAPTERS", "ChatAdapter", "CloudProxy", "Timeouts", "adapter_class", "build_adapter"]
