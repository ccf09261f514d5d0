"""HTTPS POST with the standard library (``urllib.request`` in a worker thread), verified
against the system CAs plus the context's CA file."""

from __future__ import annotations

import asyncio
import ssl
import urllib.error
import urllib.request

__all__ = ["post"]


def _context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _post(
    url: str, body: bytes, headers: dict[str, str], context: ssl.SSLContext, timeout: float
) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, context=context, timeout=timeout) as response:
        response.read()
        return int(response.status)


async def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    ca_file: str | None,
    verify: bool = True,
    timeout: float = 15.0,
) -> int:
    """POST ``body``; the status of a 2xx answer. Raises OSError (urllib.error.URLError,
    HTTPError for a non-2xx answer, ssl.SSLError) otherwise."""
    if not url.lower().startswith("https://"):
        raise ValueError("only https:// endpoints")
    context = _context(ca_file, verify)
    return await asyncio.to_thread(_post, url, body, headers, context, timeout)
