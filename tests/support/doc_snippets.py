"""The Python blocks of a Markdown page, run in order, each checked against the `yaml`
block that follows it (when one does) as its exact output."""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from typing import Any

from testenv.paths import REPO_ROOT

DOCS = REPO_ROOT / "docs"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Snippet:
    """A Python block, the line it starts on, and the output it must print (if given)."""

    code: str
    line: int
    output: str | None


def snippets(text: str) -> list[Snippet]:
    """The Python blocks of `text` in order."""
    blocks = list(FENCE.finditer(text))
    found = []
    for index, block in enumerate(blocks):
        if block.group(1) != "python":
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        expected = None
        if following and following.group(1) == "yaml" and not text[block.end() : following.start()].strip():
            expected = following.group(2)
        found.append(Snippet(block.group(2), text.count("\n", 0, block.start()) + 2, expected))
    return found


def run(page: str, text: str) -> dict[str, Any]:
    """Run every snippet of `text` in one namespace; returns that namespace."""
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    for snippet in snippets(text):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(snippet.code, f"{page}:{snippet.line}", "exec"), namespace)
        if snippet.output is not None:
            assert printed.getvalue() == snippet.output, f"{page}:{snippet.line} printed:\n{printed.getvalue()}"
    return namespace
