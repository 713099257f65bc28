"""What a person calls a process: ``python3 app.py``, not the interpreter's path.

The process table's PROGRAM column shows :func:`program_name`; the full
command line stays in the detail view, the filter and ``snapshot --json``.
The result is raw text (a process's own words): escape it before it is shown.
"""

from __future__ import annotations

import re

#: Interpreters whose first non-option argument is the program that runs.
_INTERPRETER = re.compile(
    r"^(python[0-9.]*|pypy[0-9.]*|node|nodejs|deno|bun|ruby[0-9.]*|perl[0-9.]*|php[0-9.]*|"
    r"bash|sh|dash|zsh|lua[0-9.]*|Rscript|java|uv|uvx)$"
)
#: Interpreter options that take the next word as their value.
_OPTION_WITH_VALUE = frozenset({"-X", "-W", "-Q", "-cp", "-classpath", "--class-path", "-r", "--require"})


def _base(word: str) -> str:
    return word.rsplit("/", 1)[-1] if "/" in word and not word.endswith("/") else word


def program_name(cmdline: str) -> str:
    """``cmdline`` with paths dropped where they say nothing.

    - ``/home/app/.pyenv/versions/3.11.7/bin/python3 /srv/app.py --port 80``
      gives ``python3 app.py --port 80``;
    - ``python3 -m celery -A tasks worker`` gives ``python3 -m celery -A tasks worker``
      (interpreter options before the program are dropped, ``-m``/``-c`` kept);
    - ``/usr/sbin/nginx -g daemon off;`` gives ``nginx -g daemon off;``;
    - a title a process set itself (``gunicorn: worker [api]``) and a kernel
      thread (``[kworker/0:1]``) are kept as they are.
    """
    text = cmdline.strip()
    if not text or text.startswith("["):
        return text
    words = text.split(" ")
    first = words[0]
    if first.endswith(":"):  # a process title ("gunicorn: worker [api]", "postgres: writer")
        return text
    head = _base(first)
    if not _INTERPRETER.match(head):
        return " ".join([head, *words[1:]])
    out = [head]
    i = 1
    while i < len(words):
        w = words[i]
        if w in ("-m", "-c", "-e", "-jar", "run", "exec"):  # the program follows: keep both
            out.append(w)
            if i + 1 < len(words):
                out.append(_base(words[i + 1]) if w in ("-jar", "run") else words[i + 1])
            return " ".join(out + words[i + 2 :])
        if w.startswith("-") and w != "-":
            i += 2 if w in _OPTION_WITH_VALUE else 1
            continue
        return " ".join([*out, _base(w), *words[i + 1 :]])
    return " ".join(out)
