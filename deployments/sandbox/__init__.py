"""Sandbox providers: loopback HTTP servers that speak the OpenAI, Anthropic and Gemini wire
protocols, answer deterministically, and can be scripted with latency and faults. They speak HTTP
only (no provider SDK is imported here), so the official SDKs parse them with their own types.

Running them (`server.py`)::

    with start_sandboxes() as sandboxes:          # 127.0.0.1, free ports, background threads
        sandboxes.openai_url                      # http://127.0.0.1:PORT/v1  (+ mistral, groq, …)
        sandboxes.anthropic_url                   # http://127.0.0.1:PORT
        sandboxes.google_url                      # http://127.0.0.1:PORT  (HttpOptions(base_url=…))

or `switchyard sandbox` / `python -m deployments.sandbox` (`main_sandbox`) in the foreground.

What they answer (`answer.py`): the same request always gets the same answer. Text is words drawn
by a hash of the model and the message text, 12 words unless scripted, cut at max_tokens. With
tools offered, a call to the first tool with arguments from its schema's required properties; after
a tool result, "Tool result: <its content>"; with a JSON schema asked for, an object that fits it.

Token rule, the same in all three: a token is a whitespace-separated word. Input tokens = words of
every message's text, system prompt and tool results included; output tokens = words of the answer
(of the arguments JSON, for a tool call). Cached and cache-write tokens come from the script, and
are reported in each provider's own convention (see each app's docstring).

Scripting (`script.py`), per model name, on every sandbox: `POST {root}/_sandbox/script` with e.g.
`{"model": "gpt-5", "fault": "http_429", "times": 3, "retry_after_s": 2}` or
`{"model": "gpt-5", "latency_ms": 50, "ttft_ms": 200, "tokens_per_s": 100, "output_tokens": 20,
"cached_input_tokens": 10, "cache_write_tokens": 5, "embedding_dimensions": 384}`; fields merge into
the model's script, `"model": "*"` scripts every model without one. Faults (`Fault`): http_500,
http_503, overloaded, http_429, quota_exhausted, http_401, http_400, context_length, hang,
malformed_json, cut_stream_after_n_chunks (`n`), slow_first_token (`ttft_ms`); each for the first
`times` requests (null: until reset). `GET {root}/_sandbox/stats` → `{"requests": {model: n},
"total": n}`, every request counted, faulted or not; `POST {root}/_sandbox/reset` clears scripts
and counts; `GET {root}/_sandbox/scripts` shows the scripts in force.
"""

from deployments.sandbox.script import Fault, Script, Scriptbook
from deployments.sandbox.server import (
    SandboxPorts,
    SandboxSet,
    main_sandbox,
    run_forever,
    start_sandboxes,
)

__all__ = [
    "Fault",
    "SandboxPorts",
    "SandboxSet",
    "Script",
    "Scriptbook",
    "main_sandbox",
    "run_forever",
    "start_sandboxes",
]
