"""Switchyard's application: the Ingress, the routing core, the app builder, the entry points.

The three entry points take the same inputs — a shortcut or model id, OpenAI-style messages, and
options — and reach the gateway through a Ray handle inside the cluster or over HTTP elsewhere.
Either way a failed call raises the same Switchyard error (`deployments.errors`), and
`route_of(error)` says how the call had been served until it failed.
"""

from serve_app.client import ChatStream, Completion, GatewayError, acomplete, complete, stream
from serve_app.routing.call import route_of

__all__ = [
    "ChatStream",
    "Completion",
    "GatewayError",
    "acomplete",
    "complete",
    "route_of",
    "stream",
]
