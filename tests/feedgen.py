"""Build feeds in exactly the shape rss.arxiv.org serves, for tests and benchmarks, and the
hostile variants a broken or malicious server could send instead (an entity bomb in a DOCTYPE,
a bad character or byte in one entry)."""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Iterable
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

from bot.models import ABS_URL, Paper

EASTERN = ZoneInfo("America/New_York")
RIGHTS = "http://creativecommons.org/licenses/by/4.0/"
_NAMESPACES = (
    'xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"'
)


def atom_feed(papers: Iterable[Paper], *, categories: str = "cs.AI", updated: dt.datetime) -> bytes:
    """An Atom feed like https://rss.arxiv.org/atom/<categories>."""
    stamp = _utc(updated).isoformat()
    self_url = f"http://rss.arxiv.org/atom/{categories}"
    lines = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        f'<feed {_NAMESPACES} xmlns="http://www.w3.org/2005/Atom" xml:lang="en-us">',
        f"  <id>{escape(self_url)}</id>",
        f"  <title>{escape(_label(categories))} updates on arXiv.org</title>",
        f"  <updated>{stamp}</updated>",
        f'  <link href={quoteattr(self_url)} rel="self" type="application/atom+xml"/>',
        f"  <subtitle>{escape(_label(categories))} updates on the arXiv.org e-print archive."
        "</subtitle>",
    ]
    for paper in papers:
        lines += [
            "  <entry>",
            f"    <id>{escape(_oai_id(paper))}</id>",
            f"    <title>{escape(paper.title)}</title>",
            f"    <updated>{stamp}</updated>",
            f'    <link href={quoteattr(ABS_URL + paper.arxiv_id)} rel="alternate"'
            ' type="text/html"/>',
            f"    <summary>{escape(_description(paper))}</summary>",
            *(f"    <category term={quoteattr(cat)}/>" for cat in paper.categories),
            f"    <published>{_midnight(paper, updated).isoformat()}</published>",
            *_arxiv_elements(paper),
            "  </entry>",
        ]
    lines.append("</feed>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def rss_feed(papers: Iterable[Paper], *, categories: str = "cs.AI", updated: dt.datetime) -> bytes:
    """An RSS 2.0 feed like https://rss.arxiv.org/rss/<categories>."""
    self_url = f"http://rss.arxiv.org/rss/{categories}"
    lines = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        f'<rss {_NAMESPACES} xmlns:atom="http://www.w3.org/2005/Atom"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/" version="2.0">',
        "  <channel>",
        f"    <title>{escape(_label(categories))} updates on arXiv.org</title>",
        f"    <link>{escape(self_url)}</link>",
        f"    <description>{escape(_label(categories))} updates on the arXiv.org e-print"
        " archive.</description>",
        f'    <atom:link href={quoteattr(self_url)} rel="self" type="application/rss+xml"/>',
        "    <docs>http://www.rssboard.org/rss-specification</docs>",
        "    <language>en-us</language>",
        f"    <lastBuildDate>{email.utils.format_datetime(_utc(updated))}</lastBuildDate>",
        "    <managingEditor>rss-help@arxiv.org</managingEditor>",
        f"    <pubDate>{email.utils.format_datetime(_eastern_midnight(updated))}</pubDate>",
        "    <skipDays>",
        "      <day>Saturday</day>",
        "      <day>Sunday</day>",
        "    </skipDays>",
    ]
    for paper in papers:
        lines += [
            "    <item>",
            f"      <title>{escape(paper.title)}</title>",
            f"      <link>{escape(ABS_URL + paper.arxiv_id)}</link>",
            f"      <description>{escape(_description(paper))}</description>",
            f'      <guid isPermaLink="false">{escape(_oai_id(paper))}</guid>',
            *(f"      <category>{escape(cat)}</category>" for cat in paper.categories),
            f"      <pubDate>{email.utils.format_datetime(_midnight(paper, updated))}</pubDate>",
            *(f"  {line}" for line in _arxiv_elements(paper)),
            "    </item>",
        ]
    lines += ["  </channel>", "</rss>"]
    return ("\n".join(lines) + "\n").encode("utf-8")


def sample_papers(count: int, *, first: int = 1) -> list[Paper]:
    """`count` plausible new papers (ids 2508.0xxxx from `first`), with non-ASCII text in their
    titles and author names, announced on Wednesday 2025-08-20."""
    return [
        Paper(
            arxiv_id=f"2508.{n:05d}",
            title=f"Schrödinger bridges for problem {n}",
            authors=("Jörg Müller", f"Zoë Ångström {n}"),
            abstract=f"We solve problem {n} with a Schrödinger bridge (Müller\u2013Ångström).",
            categories=("cs.AI", "cs.LG"),
            announce_type="new",
            announced=dt.date(2025, 8, 20),
        )
        for n in range(first, first + count)
    ]


def in_title(feed: bytes, arxiv_id: str, payload: bytes) -> bytes:
    """`feed` (Atom or RSS) with raw `payload` bytes (a character reference, an invalid byte,
    an entity reference...) put at the start of the title of the entry of `arxiv_id`."""
    at = feed.index(f"oai:arXiv.org:{arxiv_id}v".encode())
    entry = max(feed.rfind(b"<entry>", 0, at), feed.rfind(b"<item>", 0, at))
    title = feed.index(b"<title>", entry) + len(b"<title>")
    return feed[:title] + payload + feed[title:]


def with_entity_bomb(
    feed: bytes, arxiv_id: str, *, levels: int = 4, fanout: int = 10, seed: str = "lol" * 33
) -> bytes:
    """`feed` with a DOCTYPE that declares nested entities ("billion laughs") right after its
    XML declaration, and a reference to the top one in the title of the entry of `arxiv_id`:
    expanded, that title holds len(seed) * fanout**levels characters more.

    The DOCTYPE sits between two comments, so a prolog check that lets comments through (a
    regular expression that skips "<!--.*?-->") reads it as one comment; the first comment
    holds "<x", so a parser that strips entity declarations only before the first "<tag"
    leaves them all in place.
    """
    declarations = [f'<!ENTITY e0 "{seed}">']
    for level in range(1, levels + 1):
        declarations.append(f'<!ENTITY e{level} "{f"&e{level - 1};" * fanout}">')
    doctype = (
        "<!-- a <x comment -->\n<!DOCTYPE feed [\n"
        + "\n".join(declarations)
        + "\n]>\n<!-- another comment -->\n"
    ).encode()
    declaration_end = feed.index(b"?>") + len(b"?>\n")
    bombed = feed[:declaration_end] + doctype + feed[declaration_end:]
    return in_title(bombed, arxiv_id, f"&e{levels};".encode())


def well_formed_prefix(truncated: bytes) -> bytes:
    """Cut a truncated Atom feed after its last complete entry and close the document."""
    end = truncated.rindex(b"</entry>") + len(b"</entry>")
    return truncated[:end] + b"\n</feed>\n"


def _arxiv_elements(paper: Paper) -> list[str]:
    return [
        f"    <arxiv:announce_type>{escape(paper.announce_type)}</arxiv:announce_type>",
        f"    <dc:rights>{RIGHTS}</dc:rights>",
        f"    <dc:creator>{escape(', '.join(paper.authors))}</dc:creator>",
    ]


def _oai_id(paper: Paper) -> str:
    return f"oai:arXiv.org:{paper.arxiv_id}v{paper.version}"


def _description(paper: Paper) -> str:
    # The trailing space before the newline is in arXiv's own output.
    return (
        f"arXiv:{paper.arxiv_id}v{paper.version} Announce Type: {paper.announce_type} \n"
        f"Abstract: {paper.abstract}"
    )


def _label(categories: str) -> str:
    """arXiv titles a combined feed "cs.AI, cs.LG" while its URL says "cs.AI+cs.LG"."""
    return ", ".join(categories.split("+"))


def _midnight(paper: Paper, updated: dt.datetime) -> dt.datetime:
    """Midnight US/Eastern of the announcement day; the feed's own day when unknown."""
    if paper.announced is None:
        return _eastern_midnight(updated)
    return dt.datetime.combine(paper.announced, dt.time(), tzinfo=EASTERN)


def _eastern_midnight(moment: dt.datetime) -> dt.datetime:
    day = _utc(moment).astimezone(EASTERN).date()
    return dt.datetime.combine(day, dt.time(), tzinfo=EASTERN)


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("updated must be timezone-aware")
    return moment.astimezone(dt.UTC)
