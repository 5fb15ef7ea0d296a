"""The user documentation stays connected: every document with choices is indexed, links resolve."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
SECTION = re.compile(r"^## Choices where the standard is silent\s*$", re.M)


def test_choices_index_covers_every_document_with_choices() -> None:
    index = (DOCS / "choices.md").read_text()
    with_choices = sorted(
        p.name
        for p in DOCS.glob("*.md")
        if p.name != "choices.md" and SECTION.search(p.read_text())
    )
    assert "user-guide.md" in with_choices
    missing = [
        n for n in with_choices if f"({n}#choices-where-the-standard-is-silent)" not in index
    ]
    assert not missing, f"docs/choices.md does not index the choices of {missing}"


def test_relative_links_of_the_user_docs_resolve() -> None:
    for name in ("user-guide.md", "choices.md"):
        text = (DOCS / name).read_text()
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (DOCS / target).exists(), f"{name} links to {target}, which does not exist"


def index_body() -> str:
    """The per-document list of docs/choices.md (run this file to print it)."""
    lines: list[str] = []
    for f in sorted(DOCS.glob("*.md")):
        text = f.read_text()
        m = SECTION.search(text)
        if f.name == "choices.md" or not m:
            continue
        body = text[m.end() :]
        nxt = re.search(r"^## ", body, re.M)
        body = body[: nxt.start()] if nxt else body
        title = re.search(r"^# (.+)$", text, re.M)
        lines += ["", f"## [{title.group(1) if title else f.name}]({f.name}#{ANCHOR})", ""]
        for line in body.splitlines():
            item = re.match(r"^(?:[-*]|\d+\.)\s+(.*)$", line)
            row = re.match(r"^\|\s*\d+\s*\|\s*([^|]+)\|\s*([^|]+)\|", line)
            if item:
                t = item.group(1)
                b = re.match(r"\*\*(.+?)\*\*", t) or re.match(r"\*(.+?)\*", t)
                label = re.sub(r"^CHOICE:\s*", "", b.group(1) if b else t).rstrip(".:")
            elif row:
                label = f"{row.group(1).strip()}: {row.group(2).strip()}"
            else:
                continue
            label = label.replace("**", "")
            if len(label) > 110:
                label = label[:107].rsplit(" ", 1)[0] + " …"
            lines.append(f"- {label}")
    return "\n".join(lines) + "\n"


ANCHOR = "choices-where-the-standard-is-silent"

if __name__ == "__main__":
    print(index_body(), end="")
