"""Secrets out of everything shown: a target's token and the password in its URL.

A service may echo a request back (its headers in an error page, the token in
a JSON key), and exceptions quote what they choke on. So every string that came
from a target, or from a failure talking to one, goes through here before a
person, a log or a JSON document sees it: the target's secrets are replaced
by ``***``, as are any ``Bearer``/``Basic`` credential and any URL userinfo.
Errors are cut to :data:`MAX_ERROR_CHARS` only *after* that, so a cut can
never leave part of a secret.

Standard library only; nothing here does I/O but :func:`target_secrets`, which
reads the token (as every request does).
"""

from __future__ import annotations

import base64
import dataclasses
import re
from typing import Any, Iterable, Mapping
from urllib.parse import unquote

from memdash.config import ConfigError, TargetConfig, redact_url
from memdash.model import TargetSample

#: Longest error shown, in characters; cut only after secrets are scrubbed.
MAX_ERROR_CHARS = 200

_CREDENTIAL = re.compile(r"(?i)((?:bearer|basic)\s+)\S+")


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every secret, any ``Bearer``/``Basic`` value and URL userinfo replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _CREDENTIAL.sub(r"\1***", text)
    return redact_url(text)


def words(text: str, secrets: Iterable[str | None] = (), limit: int = MAX_ERROR_CHARS) -> str:
    """An error for people: scrubbed of ``secrets`` first, then cut to ``limit`` characters.

    In that order: cut first, a secret straddling the cut would survive in part.
    """
    text = scrub(text, secrets)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def scrub_doc(doc: Any, secrets: Iterable[str | None] = ()) -> Any:
    """A copy of a JSON document with :func:`scrub` applied to every string in it, keys included."""
    secrets = tuple(secrets)
    if isinstance(doc, str):
        return scrub(doc, secrets)
    if isinstance(doc, Mapping):
        return {scrub(str(k), secrets): scrub_doc(v, secrets) for k, v in doc.items()}
    if isinstance(doc, list):
        return [scrub_doc(v, secrets) for v in doc]
    return doc


def scrub_bytes(body: bytes, secrets: Iterable[str]) -> bytes:
    """``body`` with each secret's UTF-8 bytes replaced by ``***``, before any reader parses it."""
    for secret in secrets:
        raw = secret.encode("utf-8", "replace")
        if raw in body:
            body = body.replace(raw, b"***")
    return body


def scrub_sample(sample: TargetSample, secrets: tuple[str, ...]) -> TargetSample:
    """``sample`` with ``secrets`` replaced by ``***`` in every string a service chose:
    cache and device names, metric names, the error. Covers what a byte-level
    scrub misses (a token written with JSON escapes)."""
    if not secrets:
        return sample

    def clean(text: str) -> str:
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def dirty(text: str | None) -> bool:
        return text is not None and any(secret in text for secret in secrets)

    changes: dict[str, Any] = {}
    if sample.error is not None and dirty(sample.error):
        changes["error"] = clean(sample.error)
    if any(dirty(c.name) for c in sample.caches):
        changes["caches"] = tuple(dataclasses.replace(c, name=clean(c.name)) for c in sample.caches)
    if sample.gpu and any(dirty(d.name) for d in sample.gpu):
        changes["gpu"] = tuple(dataclasses.replace(d, name=clean(d.name)) if d.name else d for d in sample.gpu)
    if any(dirty(k) for k in sample.metrics):
        changes["metrics"] = {clean(k): v for k, v in sample.metrics.items()}
    return dataclasses.replace(sample, **changes) if changes else sample


def url_password(url: str) -> str | None:
    """The password in ``url``'s userinfo (``http://me:pw@host/``), if any: a secret like the token.
    Userinfo without a colon is taken whole (``https://TOKEN@host/``)."""
    head = url.split("//", 1)[-1].split("/", 1)[0]
    if "@" not in head:
        return None
    userinfo = head.rsplit("@", 1)[0]
    _, colon, password = userinfo.partition(":")
    return (password if colon else userinfo) or None


def read_token(target: TargetConfig) -> str | None:
    """The target's token, or ``None`` where it cannot be read (the request then fails in words)."""
    try:
        return target.token()
    except ConfigError:
        return None


def target_secrets(target: TargetConfig, token: str | None = None) -> tuple[str, ...]:
    """What must never be shown for ``target``: its token (``token`` if the caller
    has just read it, else read now), the password in its URL as written and
    decoded, and the userinfo as it travels (Basic auth's base64)."""
    if token is None:
        token = read_token(target)
    password = url_password(target.url)
    found = [token]
    if password:
        head = target.url.split("//", 1)[-1].split("/", 1)[0]
        found += [password, unquote(password),
                  base64.b64encode(unquote(head.rsplit("@", 1)[0]).encode()).decode("ascii")]
    return tuple(s for s in found if s)
