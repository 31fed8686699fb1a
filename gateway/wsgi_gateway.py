"""cheroot's WSGI gateway with a response write path that copies nothing.

cheroot passes every block of a response body through its buffered writer, which
copies the block into a bytearray and then into a new bytes object for each send
attempt. For 1 MiB blocks, with ``gateway.allocator``'s glibc tuning, every copy
lands in freshly mapped pages: the copies cost several times what sending does.
``DirectWriteGateway`` hands each block of a response with a Content-Length straight
to ``socket.sendall`` instead.

Blocks may be any contiguous byte buffer (bytes, bytearray, a memoryview of bytes),
not only bytes. Each block has been sent completely before the application is asked
for the next one, so an application MAY release or reuse a block's buffer as soon as
it is resumed (the read path's pooled buffers rely on that).
"""

from __future__ import annotations

from collections.abc import Iterable

from cheroot.wsgi import Gateway_10

Block = bytes | bytearray | memoryview


class DirectWriteGateway(Gateway_10):
    """WSGI 1.0 for cheroot, writing response bodies with one ``sendall`` per block."""

    def respond(self) -> None:
        """Run the application and send each block of its body as it comes."""
        response: Iterable[Block] = self.req.server.wsgi_app(self.env, self.start_response)
        try:
            for block in response:
                if block:
                    self.write(block)
        finally:
            # Headers still go out for an empty body (cheroot's own rule).
            self.req.ensure_headers_sent()
            close = getattr(response, "close", None)
            if close is not None:
                close()

    def write(self, block: Block) -> None:
        """Send ``block`` before returning; ValueError when it overruns Content-Length."""
        if self.req.chunked_write or self.remaining_bytes_out is None:
            super().write(bytes(block))
            return
        size = len(block)
        if size > self.remaining_bytes_out:
            raise ValueError("Response body exceeds the declared Content-Length.")
        self.remaining_bytes_out -= size
        self.req.ensure_headers_sent()
        self.req.conn.socket.sendall(block)
        self.req.conn.wfile.bytes_written += size
