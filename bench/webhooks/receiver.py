"""The replay benchmark's receiver: a tiny ASGI app (served by uvicorn) counting webhook-ids.

POST anything → 200 and the request's ``webhook-id`` is counted.
GET /stats → ``{"requests", "unique", "duplicates", "first_at", "last_at", "max_per_second"}`` (epoch
seconds; ``max_per_second``: the most requests in any sliding one-second window).
GET /ids → every id received (a JSON list), to find lost ones.
POST /reset → forget everything.
"""

from __future__ import annotations

import json
import time

_counts: dict[str, int] = {}
_arrivals: list[float] = []
_state = {"requests": 0, "first_at": None, "last_at": None}


def _reset() -> None:
    _counts.clear()
    _arrivals.clear()
    _state.update(requests=0, first_at=None, last_at=None)


async def _read_body(receive) -> None:
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)


async def _send(send, status: int, payload: bytes, content_type: bytes = b"application/json") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


def _max_per_second() -> int:
    times, best, start = sorted(_arrivals), 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await _read_body(receive)
    method, path = scope["method"], scope["path"]
    if method == "GET" and path == "/stats":
        dups = {k: v for k, v in _counts.items() if v > 1}
        body = {**_state, "unique": len(_counts), "duplicate_ids": sorted(dups)[:20],
                "duplicates": sum(v - 1 for v in dups.values()), "max_per_second": _max_per_second()}
        await _send(send, 200, json.dumps(body).encode())
        return
    if method == "GET" and path == "/ids":
        await _send(send, 200, json.dumps(sorted(_counts)).encode())
        return
    if method == "POST" and path == "/reset":
        _reset()
        await _send(send, 200, b"{}")
        return
    webhook_id = ""
    for name, value in scope["headers"]:
        if name == b"webhook-id":
            webhook_id = value.decode("latin-1")
            break
    now = time.time()
    _arrivals.append(now)
    _counts[webhook_id] = _counts.get(webhook_id, 0) + 1
    _state["requests"] += 1
    if _state["first_at"] is None:
        _state["first_at"] = now
    _state["last_at"] = now
    await _send(send, 200, b"ok", b"text/plain")
