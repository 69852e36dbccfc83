"""The routing core: resolve a name, plan the candidate chain, execute it with one-hop failover.

Plain Python with injected collaborators (health, free tiers, budgets, the way to reach a model), so
every rule of design §4 is testable without Ray.
"""
