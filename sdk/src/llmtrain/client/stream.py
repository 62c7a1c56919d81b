"""Lines of a streaming HTTP answer (a watch or a followed log) as they arrive."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

from urllib3 import HTTPResponse

READ_SIZE = 64 * 1024


def raw(response: object) -> HTTPResponse:
    """The urllib3 answer a Kubernetes client call made with _preload_content=False returns."""
    return cast(HTTPResponse, response)


def lines(response: HTTPResponse) -> Iterator[str]:
    """Each line of `response` without its newline, the last one even when it has none."""
    if response.chunked and response.supports_chunked_reads():
        chunks: Iterator[bytes] = response.read_chunked(decode_content=True)
    else:
        # read(n) would wait for n bytes; a followed log may pause for minutes mid-buffer.
        chunks = iter(lambda: response.read1(READ_SIZE), b"")
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", errors="replace")
    if pending:
        yield pending.decode("utf-8", errors="replace")
