"""Request bodies are size-limited: a ``Content-Length`` over the limit is refused before the app runs, and
a body sent without one (chunked) is counted as it streams in and refused once it passes the limit. Either
way: 413 in the error shape (``too-large``), and the app never sees the body.

A body already on its way is read and dropped first, up to twice the limit in all: a connection closed while a
body still arrives is reset, and the client may then never read its 413. A client that sends more than
twice the limit sees its connection closed; one that sent ``Expect: 100-continue`` is answered before it sends."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sslterm.api.errors import error_response

DEFAULT_MAX_BODY = 1_048_576  # 1 MiB: a certificate bundle with a long chain is a few kilobytes


def too_large(limit: int) -> HTTPException:
    return HTTPException(413, detail=f"the request body is larger than {limit} bytes")


class BodyLimit:
    """ASGI middleware: at most ``limit`` bytes of request body."""

    def __init__(self, app: ASGIApp, limit: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.limit:
            if b"expect" not in headers:  # with Expect: 100-continue the body is not on its way: nothing to drop
                await _drain(receive, {"more_body": True}, 2 * self.limit)
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    await _drain(receive, message, self.limit)
                    raise too_large(self.limit)  # the app's handlers answer 413 in the error shape
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except HTTPException as exc:  # raised where no handler of the app catches it (outside a route)
            if exc.status_code != 413 or started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = too_large(self.limit)
        response = error_response(413, "too-large", error.detail, "send a smaller body (a certificate bundle, "
                                  "its key and chain are a few kilobytes)", headers={"Connection": "close"})
        await response(scope, receive, send)


async def _drain(receive: Receive, message: Message, most: int) -> None:
    """Read and drop the rest of a body (``most`` bytes at most): a connection closed with a body still
    arriving is reset, and the client may then never read the 413 it was sent."""
    dropped = 0
    while message.get("more_body", False) and dropped <= most:
        message = await receive()
        dropped += len(message.get("body", b""))
