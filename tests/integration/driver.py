"""A separate Ray job: attaches to the running cluster and calls Switchyard through handles.

Run by tests/integration/test_entry_points.py as a subprocess with RAY_ADDRESS set; prints one
JSON object with what each entry point returned.
"""

import asyncio
import json
import os

import ray

import serve_app

MESSAGES = [{"role": "user", "content": "hello from another Ray job"}]


async def async_calls() -> dict[str, list[str | None]]:
    whole = await serve_app.acomplete("fast", MESSAGES, tenant="driver-job")
    chunks = serve_app.stream("fast", MESSAGES, tenant="driver-job")
    text = "".join([chunk.text async for chunk in chunks])
    assert chunks.route is not None
    return {
        "acomplete": [whole.text, whole.route.model],
        "stream": [text, chunks.route.model],
    }


def main() -> None:
    ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
    blocking = serve_app.complete("fast", MESSAGES, tenant="driver-job")
    results = {"complete": [blocking.text, blocking.route.model], **asyncio.run(async_calls())}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
