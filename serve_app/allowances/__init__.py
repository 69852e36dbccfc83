"""Allowances: free tiers and budgets (design §6), from the tenants config to the actor that owns
the counts."""
