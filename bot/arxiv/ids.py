"""arXiv identifiers: the id pattern (new- and old-style, with an optional version) and
`parse_arxiv_id`, which reads an id in any usual form (bare, arXiv:…, an abs or pdf link)."""

from __future__ import annotations

import re

# New-style ids (2508.13167, four digits after the dot before 2015) and old-style ones
# (hep-th/0505137, math.AP/0601001); an optional "vN" suffix carries the version.
ID_PATTERN = (
    r"(?P<id>\d{4}\.\d{4,5}|[a-z]+(?:-[a-z]+)*(?:\.[A-Za-z]{2})?/\d{7})(?:v(?P<version>\d+))?"
)
# An id bare or as arXiv:/abs/pdf.
_ID_RE = re.compile(
    rf"^\s*(?:arxiv:|https?://(?:[\w-]+\.)*arxiv\.org/(?:abs|pdf)/)?{ID_PATTERN}(?:\.pdf)?/?\s*$",
    re.IGNORECASE,
)


def parse_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """(id without version, version or None) for an arXiv id in any usual form, else None.

    Accepts 2508.13167, 2508.13167v2, arXiv:2508.13167, hep-th/0505137v1, math.AP/0601001
    and https://arxiv.org/abs/… or /pdf/… links.
    """
    match = _ID_RE.match(text)
    if match is None:
        return None
    version = match["version"]
    return match["id"], int(version) if version else None
