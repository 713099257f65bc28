"""The standalone server's HTTP/1.1 request-head parser: strict, standard library only.

Strict where lenient parsing lets two parsers disagree about where a request
ends or what it says (request smuggling, header confusion), measured against
h11 as the oracle (``tests/probe/test_probe_httphead.py``): a head is refused
(``HeadError``, answered 400 unless said otherwise, and the connection closed)
for a request line that is not exactly ``METHOD SP TARGET SP HTTP/x.y``
(one space each, a token method, a target of visible ASCII: no tab, no NUL, no
bare CR), a header name that is not a token (so ``Content-Length : 4``, a space
before the colon, is refused), a header value holding NUL, CR, LF or any other
control character but tab, a second ``Host``, an HTTP/1.1 request without
``Host``, and a ``Content-Length`` that is not plain digits.

Where this parser is stricter than h11 on purpose (each refusal carries its
``reason`` so the differential test can tell):

- ``obs-fold``: a header line starting with space or tab (obsolete line
  folding, RFC 9112 5.2) is refused; h11 joins it to the previous line.
- ``duplicate-length``: two ``Content-Length`` headers, or a list
  (``4, 4``), are refused even when equal; h11 accepts equal ones.
- ``control-char``: control characters other than tab in a header value are
  refused; h11 refuses only NUL and whitespace controls.
- ``version``: only HTTP/1.0 and HTTP/1.1 (505); h11 accepts any ``x.y``.
- ``transfer-encoding``: any ``Transfer-Encoding`` is answered 411 (send a
  ``Content-Length``): the probe takes small JSON bodies and never needs
  chunked ones; h11 accepts ``chunked``.
- ``line-too-long``/``too-many-headers``: the caps below (400/431).

The server itself (not this parser) also skips empty lines before a request
line (RFC 9112 2.2), which h11 refuses.

No ``re``: a host process that has not loaded it would pay its RSS (and that
of ``enum``) for the probe; byte tests with ``bytes.translate`` are as cheap.
"""

from __future__ import annotations

#: Longest request line or header line, and most header lines, accepted.
MAX_LINE_BYTES = 8192
MAX_HEADERS = 100
#: Longest Content-Length accepted, in digits (h11's figure).
MAX_LENGTH_DIGITS = 20

_TOKEN = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_VCHAR = bytes(range(0x21, 0x7F))
#: Bytes a header value may not hold: every control character but tab, and DEL.
_VALUE_BAD = bytes(range(0x00, 0x09)) + bytes(range(0x0A, 0x20)) + b"\x7f"
_DIGITS = b"0123456789"
#: Bytes a whole head may hold without a closer look: tab, CR, LF, and everything from space up but DEL.
_HEAD_OK = b"\t\r\n" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
_VERSIONS = {b"HTTP/1.1": "HTTP/1.1", b"HTTP/1.0": "HTTP/1.0"}


class HeadError(Exception):
    """A head the server refuses: ``status`` to answer, ``message`` to say,
    ``reason`` a short code (see the module's docstring)."""

    def __init__(self, status: int, message: str, reason: str = "malformed") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


class Head:
    """A parsed request head. ``method`` and ``target`` as sent, ``version``
    ``"HTTP/1.0"`` or ``"HTTP/1.1"``, ``headers`` lower-case names to values
    (latin-1 text; repeated names joined with ``", "``, RFC 9110 5.3),
    ``length`` the body's byte count, ``end`` where the body starts."""

    __slots__ = ("method", "target", "version", "headers", "length", "end")

    def __init__(self, method: str, target: str, version: str, headers: dict[str, str], length: int,
                 end: int) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.length = length
        self.end = end

    @property
    def keep_alive(self) -> bool:
        """Whether the client wants the connection kept after the answer."""
        tokens = [t.strip() for t in self.headers.get("connection", "").lower().split(",")]
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens

    @property
    def expects_continue(self) -> bool:
        return self.version == "HTTP/1.1" and self.headers.get("expect", "").lower() == "100-continue"


def head_end(buf: bytes | bytearray) -> int:
    """Where the head at the start of ``buf`` ends (just past its blank line), or -1."""
    a, b = buf.find(b"\n\r\n"), buf.find(b"\n\n")
    if a < 0 and b < 0:
        return -1
    return a + 3 if b < 0 or 0 <= a < b else b + 2


def _line_error(line: bytes, first: bool) -> HeadError | None:
    if len(line) >= MAX_LINE_BYTES:
        if first or b":" not in line:
            return HeadError(400, "malformed request line" if first else "malformed or oversized header",
                             "line-too-long")
        return HeadError(431, "malformed or oversized header", "line-too-long")
    return None


def incomplete_head_error(buf: bytes | bytearray) -> HeadError | None:
    """For a head still missing its end: the error if it is already past a cap."""
    if len(buf) < MAX_LINE_BYTES:
        return None  # too short to break a line cap; the count is checked when it ends
    lines = bytes(buf).split(b"\n")
    for i, line in enumerate(lines):
        if i > MAX_HEADERS and line not in (b"", b"\r"):
            return HeadError(431, f"more than {MAX_HEADERS} headers", "too-many-headers")
        err = _line_error(line, i == 0)
        if err is not None:
            return err
    return None


def _request_line(line: bytes) -> tuple[str, str, str]:
    parts = line.split(b" ")
    if len(parts) != 3:
        raise HeadError(400, "malformed request line")
    method, target, version = parts
    if not method or method.translate(None, _TOKEN) or not target or target.translate(None, _VCHAR):
        raise HeadError(400, "malformed request line")
    known = _VERSIONS.get(version)
    if known is None:
        if (len(version) == 8 and version.startswith(b"HTTP/") and version[6:7] == b"."
                and version[5:6].isdigit() and version[7:8].isdigit()):
            raise HeadError(505, "only HTTP/1.0 and HTTP/1.1 are spoken here", "version")
        raise HeadError(400, "malformed request line")
    return method.decode("ascii"), target.decode("ascii"), known


def parse_head(buf: bytes | bytearray, end: int | None = None) -> Head:
    """Parse the head that starts ``buf`` and ends at ``end`` (from
    :func:`head_end`); raises :class:`HeadError`."""
    if end is None:
        end = head_end(buf)
        if end < 0:
            raise HeadError(400, "incomplete request head")
    data = bytes(buf[:end])
    crlf = data.count(b"\r\n")
    if len(data) < MAX_LINE_BYTES and not data.translate(None, _HEAD_OK) and crlf == data.count(b"\n") \
            and crlf == data.count(b"\r"):
        headers = _common_head(data)
    else:
        headers = None
    if headers is None:
        return _any_head(data, end)
    method, target, version = _request_line(data[:data.index(b"\r\n")])
    return _finish(method, target, version, headers, end)


def _common_head(data: bytes) -> dict[str, str] | None:
    """The headers of the common head (short, CRLF line ends only, no control
    byte but tab, CR and LF), checked in a few passes over the whole head
    rather than line by line; None to have :func:`_any_head` look closer."""
    lines = data.decode("latin-1").split("\r\n")[1:-2]
    if len(lines) > MAX_HEADERS:
        return None
    headers: dict[str, str] = {}
    names = []
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name:
            return None
        names.append(name)
        name = name.lower()
        value = value.strip(" \t")
        if name in headers:
            if name in ("content-length", "host"):
                return None
            headers[name] = headers[name] + ", " + value
        else:
            headers[name] = value
    if "".join(names).encode("latin-1").translate(None, _TOKEN):
        return None  # a name that is not a token: a space before the colon, a folded line...
    return headers


def _any_head(data: bytes, end: int) -> Head:
    """Any head, line by line, with the reason for a refusal."""
    lines = [line[:-1] if line.endswith(b"\r") else line for line in data.split(b"\n")[:-2]]
    if len(lines) - 1 > MAX_HEADERS:
        raise HeadError(431, f"more than {MAX_HEADERS} headers", "too-many-headers")
    err = _line_error(lines[0], True)
    if err is not None:
        raise err
    method, target, version = _request_line(lines[0])
    headers: dict[str, str] = {}
    for raw in lines[1:]:
        err = _line_error(raw, False)
        if err is not None:
            raise err
        if raw[:1] in (b" ", b"\t"):
            raise HeadError(400, "folded header line (obs-fold) not accepted", "obs-fold")
        name_b, sep, value_b = raw.partition(b":")
        if not sep or not name_b or name_b.translate(None, _TOKEN):
            raise HeadError(400, "malformed header line")
        value_b = value_b.strip(b" \t")
        if len(value_b.translate(None, _VALUE_BAD)) != len(value_b):
            raise HeadError(400, "control character in a header value", "control-char")
        name = name_b.decode("ascii").lower()
        value = value_b.decode("latin-1")
        if name in headers:
            if name == "content-length":
                raise HeadError(400, "more than one Content-Length", "duplicate-length")
            if name == "host":
                raise HeadError(400, "more than one Host header")
            headers[name] = headers[name] + ", " + value
        else:
            headers[name] = value
    return _finish(method, target, version, headers, end)


def _finish(method: str, target: str, version: str, headers: dict[str, str], end: int) -> Head:
    if version == "HTTP/1.1" and "host" not in headers:
        raise HeadError(400, "HTTP/1.1 request without Host")
    if "transfer-encoding" in headers:
        raise HeadError(411, "send a Content-Length (chunked bodies are not accepted)", "transfer-encoding")
    raw_length = headers.get("content-length")
    length = 0
    if raw_length is not None:
        if "," in raw_length:
            raise HeadError(400, "more than one Content-Length", "duplicate-length")
        if not raw_length or raw_length.encode("latin-1").translate(None, _DIGITS) \
                or len(raw_length) > MAX_LENGTH_DIGITS:
            raise HeadError(400, "bad Content-Length")
        length = int(raw_length)
    return Head(method, target, version, headers, length, end)
