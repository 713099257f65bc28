"""One target's requests, and the policy around them: redirects and where the token goes.

- The token is read from the target's config at each request (tokens rotate)
  and sent as ``Authorization: Bearer`` only to the target's own origin
  (scheme, host and port): a redirect elsewhere drops it.
- Redirects are followed by hand, at most :data:`MAX_REDIRECTS`; 303, and 301/302
  after a POST, turn the request into a GET, as browsers do.
- Over a Unix socket only same-origin redirects are followed: any host would
  reach the same socket.
- The plain transport is made for ``http://`` and ``unix:``, the TLS one for
  ``https://``, each when first needed (a redirect may cross from one to the other).
"""

from __future__ import annotations

from typing import Mapping

from memdash.config import ConfigError, TargetConfig
from memdash.sources.errors import TargetError
from memdash.sources.transport import (
    REDIRECTS,
    PlainTransport,
    Response,
    SslContexts,
    TlsTransport,
    Transport,
    Url,
    split_url,
)

#: Redirects followed per request.
MAX_REDIRECTS = 5

# No OpenMetrics here: prometheus_client would answer with a body the 0.0.4
# parser misreads (tech notes section 6). "identity": no gzip bomb behind the cap.
REQUEST_HEADERS = {
    "Accept": "application/json, text/plain;q=0.9, */*;q=0.5",
    "Accept-Encoding": "identity",
    "User-Agent": "memdash",
}


class Endpoint:
    """A target's connections and its request policy.

    ``url`` is where the target answers (for ``unix:`` targets an
    ``http://localhost/...`` URL sent down the socket); ``token`` is the one the
    last request carried (``None`` before any), so callers can scrub it without
    reading the token file again.
    """

    def __init__(self, target: TargetConfig, ssl_contexts: SslContexts) -> None:
        self.target = target
        uds, base = split_url(target.url)
        self.uds = uds
        self.url = Url.parse(base)
        self.token: str | None = None
        self._ssl = ssl_contexts
        self._plain: Transport | None = None
        self._tls: Transport | None = None

    def _transport(self, url: Url) -> Transport:
        if self.uds is not None or url.scheme == "http":
            if self._plain is None:
                self._plain = PlainTransport(self.target, self.uds)
            return self._plain
        if url.scheme == "https":
            if self._tls is None:
                self._tls = TlsTransport(self.target, self._ssl)
            return self._tls
        raise TargetError("invalid URL")

    async def request(
        self,
        method: str,
        url: Url | None = None,
        *,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
        hop_deadline: bool = True,
    ) -> Response:
        """Send one request, following redirects by hand; read at most
        :data:`~memdash.sources.transport.MAX_BODY_BYTES`.

        ``timeout`` (default: the target's) is each hop's deadline; callers
        bound the whole call too. ``hop_deadline=False``: no per-hop deadline,
        for a caller whose own deadline (of ``timeout`` or less) bounds the call.

        Raises:
            TargetError: too many redirects, a redirect off a Unix socket, an
                unreadable token file.
            http11.HTTPError, httpx.HTTPError, TimeoutError: the transport failed
                (described by :func:`~memdash.sources.errors.describe_error`).
        """
        try:
            token = self.target.token()
        except ConfigError as exc:
            raise TargetError(exc.message) from None
        self.token = token
        url = self.url if url is None else url
        if params:
            url = url.with_params(params)
        timeout = self.target.timeout if timeout is None else timeout
        # A poll's deadline (the target's timeout) is put around the whole call by
        # the poller; a per-hop one of the same length, started later, never fires
        # first, and costs a timer per request.
        hop_timeout = timeout if hop_deadline else None
        home = self.url.origin
        for _ in range(MAX_REDIRECTS + 1):
            headers = dict(REQUEST_HEADERS)
            if token and url.origin == home:
                headers["Authorization"] = f"Bearer {token}"
            response = await self._transport(url).send(method, url, headers, hop_timeout)
            location = response.headers.get("location")
            if response.status in REDIRECTS and location:
                url = url.join(location)  # the Location carries its own query
                if self.uds and url.origin != home:
                    raise TargetError(f"redirected to another host ({url.host}); not followed over a Unix socket")
                if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                    method = "GET"
                continue
            return response
        raise TargetError(f"too many redirects (more than {MAX_REDIRECTS})")

    async def aclose(self) -> None:
        for transport in (self._plain, self._tls):
            if transport is not None:
                await transport.aclose()
        self._plain = self._tls = None
