"""Switchyard's application: the Ingress, the routing core, the app builder, the entry points.

The three entry points take the same inputs — a shortcut or model id, OpenAI-style messages, and
options — and reach the gateway through a Ray handle inside the cluster or over HTTP elsewhere.
"""

from serve_app.client import ChatStream, Completion, GatewayError, acomplete, complete, stream

__all__ = ["ChatStream", "Completion", "GatewayError", "acomplete", "complete", "stream"]
