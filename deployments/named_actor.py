"""The Ray glue for Switchyard's named actors (ProviderHealth, CostLedger, Allowances): the only
Ray-aware code their clients use. Ray is imported inside the functions, so the plain classes and
their tests never load it.
"""

from __future__ import annotations

import asyncio
from typing import Any

# Every Ray cluster's head node has one unit of this resource; asking for a sliver of it places an
# actor on the head without taking anything another actor needs.
HEAD_NODE_RESOURCE = "node:__internal_head__"


class NamedActor:
    """Calls a named actor, looking it up again after any failure.

    An actor restarted by Ray keeps its handle, but one that died for good and was created anew
    under the same name has a new identity; a fresh lookup finds either. The lookup runs in a
    thread because `ray.get_actor` blocks, and the caller's event loop also serves requests.
    """

    def __init__(self, name: str, namespace: str | None = None) -> None:
        self.name = name
        self.namespace = namespace
        self._handle: Any = None

    async def call(self, method: str, *args: Any) -> Any:
        import ray

        try:
            if self._handle is None:
                self._handle = await asyncio.to_thread(
                    ray.get_actor, self.name, namespace=self.namespace
                )
            return await getattr(self._handle, method).remote(*args)
        except BaseException:
            # Dead, not found, or the caller gave up waiting (cancelled): look up afresh next time.
            self._handle = None
            raise


def create_named_actor(
    cls: type,
    *args: Any,
    name: str,
    namespace: str | None = None,
    num_cpus: float = 0,
    detached: bool = True,
) -> Any:
    """Create (or find) the named actor the way Switchyard runs its cluster-wide state.

    It restarts by itself forever and Ray retries calls across a restart (`max_restarts=-1`,
    `max_task_retries=-1`), so a killed actor comes back with its constructor arguments. Detached,
    because the Ingress replica that created it may stop (scaled down, restarted) while the
    others still use it. Pinned to the head node (Ray's `node:__internal_head__` resource, as Ray
    Train pins its state actor): the ledger's SQLite file is on the head's disk (a volume on
    Kubernetes), and an actor restarted on a GPU worker would open an empty file there.
    """
    import ray

    options: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "get_if_exists": True,
        "max_restarts": -1,
        "max_task_retries": -1,
        "num_cpus": num_cpus,
        "resources": {HEAD_NODE_RESOURCE: 0.001},
    }
    if detached:
        options["lifetime"] = "detached"
    return ray.remote(cls).options(**options).remote(*args)
