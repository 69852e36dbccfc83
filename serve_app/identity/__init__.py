"""Who is calling: API keys, the caller they make, and the checks on them (design §10)."""
