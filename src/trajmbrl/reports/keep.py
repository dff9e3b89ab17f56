"""Keep what a partial run cannot regenerate: the blocks of an earlier results page.

``make results`` rebuilds ``docs/results_tables.md`` from the tables under ``outputs/``. A
checkout that ran only some studies (say ``make control`` and ``make benchmark``) has no
outputs for the others; rebuilding from it alone would delete their tables from the page and
their figures from ``docs/figures``. Instead, every top-level block (``### <title>``) of the
earlier page that the new run does not write is kept verbatim, under a line naming the commit
of the page it comes from, so each block says which code produced it.
"""

from __future__ import annotations

import re

#: the line a kept block carries under its title (``{commit}``: the earlier page's commit)
KEPT_NOTE = (
    "_Kept from the previous `make results` (written at commit {commit}): this run has no "
    "outputs for this block._"
)
_KEPT = re.compile(r"^_Kept from the previous `make results` \(written at commit (\S+)\)")
_COMMIT = re.compile(r"Written by `make results` .*? at commit (\S+) ")


def blocks(lines: list[str]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Split a page into its head (before the first ``### ``) and its ``(title, lines)``
    blocks, each block's lines starting with its ``### title`` line."""
    head: list[str] = []
    out: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("### "):
            out.append((line[4:].strip(), [line]))
        elif out:
            out[-1][1].append(line)
        else:
            head.append(line)
    return head, out


def page_commit(lines: list[str]) -> str:
    """The commit a generated page names in its header (``unknown`` if none)."""
    for line in lines:
        match = _COMMIT.search(line)
        if match:
            return match.group(1)
    return "unknown"


def merge(old: list[str], new: list[str], *, skip: tuple[str, ...] = ("Figures",)) -> list[str]:
    """``new`` with every block of ``old`` it lacks kept in its old place (titles in ``skip``
    are never kept: the caller rebuilds them). A kept block keeps the commit it was first
    written at, however many partial runs it survives."""
    commit = page_commit(old)
    head, fresh = blocks(new)
    titles = {t for t, _ in fresh}
    _, earlier = blocks(old)
    kept: dict[str, list[str]] = {}
    for title, lines in earlier:
        if title in titles or title in skip:
            continue
        body = lines[1:]
        first = next((x for x in body if x.strip()), "")
        if not _KEPT.match(first):
            body = ["", KEPT_NOTE.format(commit=commit), *body]
        kept[title] = [lines[0], *body]
    order = [t for t, _ in earlier if t in titles or t in kept]
    order += [t for t, _ in fresh if t not in order]
    by_title = {**kept, **dict(fresh)}
    out = list(head)
    for title in order:
        out += by_title[title]
    return out
