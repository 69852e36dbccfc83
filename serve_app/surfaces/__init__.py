"""The API surfaces: each parses one wire format into the canonical call and renders answers,
chunks and errors back in that format. The Ingress (`ingress.py`) hosts them."""
