"""Images sent inside the page's own message (a ``data:`` URL) instead of as media files.

``st.image(png_bytes)`` stores the bytes in the server's media file manager and sends the
browser a ``/media/<hash>.png`` address to fetch. The file is dropped at the end of the
session's next script run once no element uses it, so a browser that fetches late (30
students opening pages at once on 2 cores) gets a 404 and a broken image; behind a load
balancer the fetch must also reach the replica that holds the file. An image inside the
message needs no second request: nothing to miss, nothing to route. GenLab's pictures are
small (digit grids of a few kB to ~60 kB), so the ~33% base64 overhead is cheap.
"""

from __future__ import annotations

import base64

import streamlit as st

__all__ = ["data_url", "image"]

_KINDS = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
          (b"GIF8", "image/gif"))


def data_url(encoded: bytes) -> str:
    """``data:image/...;base64,...`` for PNG, JPEG or GIF bytes; ValueError for anything else."""
    head = bytes(encoded[:8])
    mime = next((m for magic, m in _KINDS if head.startswith(magic)), None)
    if mime is None:
        raise ValueError("not a PNG, JPEG or GIF image (unrecognised first bytes "
                         f"{head[:4]!r})")
    return f"data:{mime};base64,{base64.b64encode(encoded).decode('ascii')}"


def image(encoded: bytes, *, where=None, **kwargs) -> None:
    """``st.image`` (or ``where.image``, e.g. a column) of encoded bytes, sent inline."""
    (where or st).image(data_url(encoded), **kwargs)
