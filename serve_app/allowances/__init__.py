"""Allowances: free tiers and budgets (design §4 step 2, §6), from the config to the actor.

One vocabulary, used everywhere in this package and by its callers:

- **allowance**: a limited amount per window. A model's free tier allows requests and tokens per
  day (`free_requests`, `free_tokens`); a tenant's or agent's **budget** allows USD per day or
  month (`budget`). Each is described by an `AllowanceSpec` and counted per `Window`.
- **lease**: an Ingress replica's share of an allowance, granted by the `Allowances` actor, so
  that a call spends locally and never waits on the actor.
- **reservation**: what one call sets aside from a lease until it **settles** (spent: the real
  amount is consumed) or **releases** it (unused: it goes back to the lease).

The modules, from the request path to the store:

    calls.py     ReplicaAllowances (a replica's, per app) → CallAllowances (one call's reservations)
    replica.py   LeaseClient: the replica's leases, synced with the actor in the background
    messages.py  what replicas and the actor send each other (LeaseReport, LeaseGrant, ...)
    actor.py     Allowances: the named actor; book.py AllowanceBook: what it grants
    store.py     SQLiteAllowanceStore: the book's state, beside the ledger's usage records
    tenants.py   the tenants config (budgets) and `allowance_specs`: every allowance configured
    windows.py   the periods allowances are counted in
"""
