"""The outside world of a test, faked or reached the way a client would.

- `openai`, `together`: the providers faked at the httpx transport layer, with payloads shaped by
  their specs (`httpx.Client(transport=fake.transport())`); `server` is what they share.
- `http_server`: such a fake served over loopback HTTP, for a Celery worker in another process.
- `local_api`: calling the real built-in local provider's API (never faked) as a key holder does.
"""
