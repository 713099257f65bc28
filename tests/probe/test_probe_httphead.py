"""The standalone server's request parser, strict, checked against h11 as the oracle.

Same bytes in: both accept with the same method, target, version, headers and
body, or both refuse (or both wait for more). Where the probe is stricter than
h11 on purpose (``memdash/probe/httphead.py`` lists each), the probe's refusal
must name that reason and the bytes must really hold that feature. The probe is
never the more lenient one.
"""

from __future__ import annotations

import re
import socket

import h11
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import memdash.probe as probe
from memdash.probe.httphead import HeadError, head_end, parse_head

# -- the two parsers, as outcomes ---------------------------------------------------------------


def ours(data: bytes) -> tuple:
    end = head_end(data)
    if end < 0:
        return ("incomplete",)
    try:
        head = parse_head(data, end)
    except HeadError as exc:
        return ("reject", exc.reason)
    if len(data) < end + head.length:
        return ("incomplete-body",)
    return ("accept", head.method, head.target, head.version, head.headers, data[end:end + head.length])


def oracle(data: bytes) -> tuple:
    conn = h11.Connection(h11.SERVER)
    if data:
        conn.receive_data(data)  # (b"" would mean the peer closed)
    request = None
    body = b""
    try:
        for _ in range(len(data) + 3):
            event = conn.next_event()
            if event is h11.NEED_DATA or not data:
                return ("incomplete",) if request is None else ("incomplete-body",)
            if event is h11.PAUSED:  # CONNECT or Upgrade: h11 stops after the head
                return ("paused", request)
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        else:
            raise AssertionError(f"h11 never finished {data!r}")
    except h11.RemoteProtocolError as exc:
        return ("reject", str(exc))
    headers: dict[str, str] = {}
    for name, value in request.headers:
        key, text = name.decode("latin-1"), value.decode("latin-1")
        headers[key] = headers[key] + ", " + text if key in headers else text
    return ("accept", request.method.decode("latin-1"), request.target.decode("latin-1"),
            "HTTP/" + request.http_version.decode(), headers, body)


def _head(data: bytes) -> bytes:
    end = head_end(data)
    return data[:end] if end >= 0 else data


#: The probe's deliberate refusals where h11 accepts, and how to see each in the bytes.
STRICTER = {
    "obs-fold": lambda h: re.search(rb"\n[ \t]", h.split(b"\n", 1)[-1] if b"\n" in h else b"") is not None
    or re.search(rb"\n[ \t]", h) is not None,
    "duplicate-length": lambda h: len(re.findall(rb"(?im)^content-length[ \t]*:", h)) >= 2
    or re.search(rb"(?im)^content-length:[^\n]*,", h) is not None,
    "control-char": lambda h: re.search(rb"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]|\r(?!\n)", h) is not None,
    "version": lambda h: re.match(rb"[^\n]* HTTP/1\.[01]\r?\n", h) is None,
    "transfer-encoding": lambda h: re.search(rb"(?im)^transfer-encoding:", h) is not None,
    "line-too-long": lambda h: True,
    "too-many-headers": lambda h: True,
}


def agree(data: bytes) -> None:
    mine, theirs = ours(data), oracle(data)
    if mine == theirs or mine[0] == theirs[0] == "reject":
        return
    if mine[0] == "incomplete":
        # No blank line yet: we wait (the server's caps and deadlines bound it); h11 may refuse early.
        assert theirs[0] == "reject", (data, mine, theirs)
        return
    if mine[0] == "reject":
        reason = mine[1]
        assert reason in STRICTER, (data, mine, theirs)
        assert STRICTER[reason](_head(data)), (data, mine, theirs)
        return
    raise AssertionError(f"probe {mine!r} but h11 {theirs!r} for {data!r}")


# -- generated requests: mostly well-formed, with the tricks parsers disagree on ---------------

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Valid choices are listed several times: most generated requests differ from a
# valid one in one or two places, where parsers disagree, rather than everywhere.
METHODS = st.one_of(st.sampled_from([b"GET"] * 4 + [b"POST"] * 3 + [b"HEAD", b"get", b"G ET", b"GE\tT", b"",
                                     b"G\x00T", b"G\xe9T"]),
                    st.text(TOKEN_CHARS, min_size=1, max_size=8).map(str.encode))
TARGETS = st.one_of(
    st.sampled_from([b"/"] * 4 + [b"/metrics", b"/cleanup/gc?generation=0", b"*", b"http://localhost/x", b"/a\tb",
                     b"/\x00", b"/\xc3\xa9", b"/a b", b"", b"/\r", b"/\x7f"]),
    st.binary(min_size=1, max_size=12))
VERSIONS = st.sampled_from([b"HTTP/1.1"] * 8 + [b"HTTP/1.0"] * 2 + [ b"HTTP/2.0", b"HTTP/0.9", b"http/1.1",
                            b"HTTP/1.1 ", b"HTTP/1", b"HTTP/1.10", b"HTTP/1.1\r"])
SPACES = st.sampled_from([b" "] * 12 + [b"\t", b"  ", b" \r"])
NAMES = st.one_of(
    st.sampled_from([b"Host", b"Host", b"Content-Length", b"content-length", b"Transfer-Encoding", b"Connection",
                     b"Expect", b"X-A", b"Content-Length ", b" Host", b"\tX-B", b"X\x00", b"Ho st", b"", b"X\xe9",
                     b"Content-Length\t"]),
    st.text(TOKEN_CHARS, min_size=1, max_size=10).map(str.encode))
VALUES = st.one_of(
    st.sampled_from([b"localhost", b"127.0.0.1:8080", b"0", b"4", b"04", b"4, 4", b"4,5", b"+4", b"-1", b" 4 ",
                     b"\t4", b"", b"chunked", b"identity", b"close", b"keep-alive", b"100-continue", b"a\x00b",
                     b"a\rb", b"a\x1bb", b"a\x7fb", b"a\tb", b"\xff\xfe", b"99999999999999999999999",
                     b"a\x0bb"]),
    st.binary(max_size=10))
EOLS = st.sampled_from([b"\r\n"] * 12 + [b"\n", b"\n", b"\r\r\n"])
SEPS = st.sampled_from([b": "] * 6 + [b":", b" :", b":\t", b"::"])
PLAIN = st.tuples(st.text(TOKEN_CHARS, min_size=1, max_size=10).map(str.encode),
                  st.text("abcxyz019 -,;=/.", max_size=10).map(str.encode)).map(lambda nv: nv[0] + b": " + nv[1])


@st.composite
def requests(draw) -> bytes:
    eol = draw(EOLS)
    target = draw(TARGETS) if draw(st.integers(0, 3)) == 0 else draw(st.sampled_from([b"/", b"/metrics", b"/x?y=1"]))
    line = draw(METHODS) + draw(SPACES) + target + draw(SPACES) + draw(VERSIONS)
    parts = [line + eol]
    if draw(st.integers(0, 4)):  # most requests name their Host first
        parts.append(b"Host: localhost" + draw(EOLS))
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            parts.append(draw(st.sampled_from([b" folded", b"\tfolded"])) + draw(EOLS))  # obs-fold
        elif kind < 5:
            parts.append(draw(PLAIN) + b"\r\n")
        else:
            parts.append(draw(NAMES) + draw(SEPS) + draw(VALUES) + draw(EOLS))
    parts.append(draw(st.sampled_from([b"\r\n", b"\n", b"\r\n"])))
    body = draw(st.binary(max_size=8))
    return b"".join(parts) + body


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
@example(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 4\r\n\r\nabcd")
@example(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd")
@example(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\nabcd")
@example(b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n")
@example(b"GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n")
@example(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n")
@example(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
@example(b"GET / HTTP/1.1\nHost: a\n\n")
@example(b"GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n")
def test_same_answer_as_h11_for_generated_requests(data: bytes) -> None:
    agree(data)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=80))
def test_same_answer_as_h11_for_any_bytes(data: bytes) -> None:
    agree(data)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=40), st.binary(max_size=40))
def test_same_answer_as_h11_for_bytes_around_a_valid_head(before: bytes, after: bytes) -> None:
    agree(b"GET /x HTTP/1.1\r\nHost: " + before + b"\r\nX-Y: " + after + b"\r\n\r\n")


# -- the cases against the real server: refused, and the connection closed -------------

CASES = [
    (b"POST /cleanup/gc HTTP/1.1\r\nHost: localhost\r\nContent-Length : 4\r\n\r\nabcd", 400, "malformed header"),
    (b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\n folded\r\n\r\n", 400, "obs-fold"),
    (b"POST /cleanup/gc HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcd", 400,
     "more than one Content-Length"),
    (b"POST /cleanup/gc HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd", 400,
     "more than one Content-Length"),
    (b"POST /cleanup/gc HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2, 2\r\n\r\nab", 400,
     "more than one Content-Length"),
    (b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\x00b\r\n\r\n", 400, "control character"),
    (b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\rb\r\n\r\n", 400, "control character"),
    (b"GET /\r HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, "malformed request line"),
    (b"GET\t/ HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, "malformed request line"),
    (b"GET /\tx HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, "malformed request line"),
    (b"GET / HTTP/1.1\r\n\r\n", 400, "without Host"),
    (b"GET / HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n", 400, "more than one Host"),
    (b"GET / HTTP/2.0\r\nHost: localhost\r\n\r\n", 505, "HTTP/1.0 and HTTP/1.1"),
    (b"GET / http/1.1\r\nHost: localhost\r\n\r\n", 400, "malformed request line"),
    (b"POST /cleanup/gc HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411,
     "Content-Length"),
    (b"POST /cleanup/gc HTTP/1.1\r\nHost: localhost\r\nContent-Length: +4\r\n\r\nabcd", 400, "bad Content-Length"),
]


@pytest.mark.parametrize(("request_bytes", "status", "words"), CASES)
def test_the_server_refuses_and_closes(request_bytes: bytes, status: int, words: str) -> None:
    import json

    with probe.serve() as handle:
        with socket.create_connection((handle.host, handle.port), timeout=5) as sock:
            sock.sendall(request_bytes + b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")  # smuggled?
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), data[:200]
    assert b"Connection: close" in head
    assert words in json.loads(body)["error"]
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    assert len(body) == length  # nothing after it: the request behind it was never answered


def test_the_server_still_takes_what_h11_takes() -> None:
    ok = [b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
          b"GET / HTTP/1.1\nHost: localhost\nConnection: close\n\n",  # bare LF line ends, as h11 and RFC 9112 2.2
          b"GET / HTTP/1.0\r\n\r\n",
          b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: a\r\nAccept: b\r\nX-E: \xe9\r\n"
          b"Connection: close\r\n\r\n",
          b"\r\nGET / HTTP/1.1\r\nHost:   localhost\t\r\nConnection: close\r\n\r\n"]  # a blank line first: ours only
    with probe.serve() as handle:
        for request in ok:
            with socket.create_connection((handle.host, handle.port), timeout=5) as sock:
                sock.sendall(request)
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
            assert data.startswith(b"HTTP/1.1 200 "), (request, data[:200])
