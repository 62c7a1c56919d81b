"""The builder examples of docs/sdk.md run and print what the page says they print."""

from __future__ import annotations

from support.doc_snippets import DOCS, run, snippets

PAGE = DOCS / "sdk.md"
CLIENT_SECTION = "\n## The client\n"


def test_the_builder_examples_print_what_the_page_shows() -> None:
    offline = PAGE.read_text().split(CLIENT_SECTION)[0]
    checked = [snippet for snippet in snippets(offline) if snippet.output is not None]
    assert len(checked) == 4
    namespace = run("docs/sdk.md", offline)
    assert namespace["job"].spec.nodes == 4
