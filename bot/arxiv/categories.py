"""arXiv's category taxonomy as data, and checking what a user or a config file names.

The ids and names are arXiv's own: the active categories (``is_active``), the archives and the
category aliases (``CATEGORY_ALIASES``) of ``arxiv/taxonomy/definitions.py`` in the
arXiv/arxiv-base repository (commit 0c701c0304f72a31a02fe7b269c73ea1782c4896), the taxonomy
arXiv's own site, feeds and API are built from (https://arxiv.org/category_taxonomy shows the
same list). Retired archives (``chao-dyn``, ``alg-geom``…) and the test categories are left
out: no feed carries them any more.

A feed or a chat can name a category (``cs.AI``) or a whole archive that has categories
(``cs``, ``math``, ``physics``): ``rss.arxiv.org/rss/math`` carries every ``math.*`` paper.
Some archives are a single category (``hep-th``, ``quant-ph``); they are in `CATEGORIES`.

Six categories are aliases that arXiv merged: a paper filed under one is listed under both
(math.MP = math-ph, stat.TH = math.ST, math.IT = cs.IT, q-fin.EC = econ.GN,
cs.SY = eess.SY, cs.NA = math.NA). A user may type either; `canonical` gives the name arXiv
keeps (the right-hand one), and `equivalents` both, for matching papers that list only one.

The names are arXiv's English ones, marked `N_` for the catalogs: `name_of` and `describe`
say them in a chat's language when given its translator (the codes stay as arXiv spells them).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from bot.messages import N_, Translate, english
from bot.models import Paper

# A category or an archive named beside its code, as /categories shows them.
NAMED_CATEGORY = N_("{category} ({name})")
NAMED_ARCHIVE = N_("{archive} ({name}: all its categories)")

# Archives that are a set of categories (a feed of the archive carries all of them).
ARCHIVES: dict[str, str] = {
    "astro-ph": N_("Astrophysics"),
    "cond-mat": N_("Condensed Matter"),
    "cs": N_("Computer Science"),
    "econ": N_("Economics"),
    "eess": N_("Electrical Engineering and Systems Science"),
    "math": N_("Mathematics"),
    "nlin": N_("Nonlinear Sciences"),
    "physics": N_("Physics"),
    "q-bio": N_("Quantitative Biology"),
    "q-fin": N_("Quantitative Finance"),
    "stat": N_("Statistics"),
}

_BY_ARCHIVE: dict[str, dict[str, str]] = {
    "astro-ph": {
        "CO": N_("Cosmology and Nongalactic Astrophysics"),
        "EP": N_("Earth and Planetary Astrophysics"),
        "GA": N_("Astrophysics of Galaxies"),
        "HE": N_("High Energy Astrophysical Phenomena"),
        "IM": N_("Instrumentation and Methods for Astrophysics"),
        "SR": N_("Solar and Stellar Astrophysics"),
    },
    "cond-mat": {
        "dis-nn": N_("Disordered Systems and Neural Networks"),
        "mes-hall": N_("Mesoscale and Nanoscale Physics"),
        "mtrl-sci": N_("Materials Science"),
        "other": N_("Other Condensed Matter"),
        "quant-gas": N_("Quantum Gases"),
        "soft": N_("Soft Condensed Matter"),
        "stat-mech": N_("Statistical Mechanics"),
        "str-el": N_("Strongly Correlated Electrons"),
        "supr-con": N_("Superconductivity"),
    },
    "cs": {
        "AI": N_("Artificial Intelligence"),
        "AR": N_("Hardware Architecture"),
        "CC": N_("Computational Complexity"),
        "CE": N_("Computational Engineering, Finance, and Science"),
        "CG": N_("Computational Geometry"),
        "CL": N_("Computation and Language"),
        "CR": N_("Cryptography and Security"),
        "CV": N_("Computer Vision and Pattern Recognition"),
        "CY": N_("Computers and Society"),
        "DB": N_("Databases"),
        "DC": N_("Distributed, Parallel, and Cluster Computing"),
        "DL": N_("Digital Libraries"),
        "DM": N_("Discrete Mathematics"),
        "DS": N_("Data Structures and Algorithms"),
        "ET": N_("Emerging Technologies"),
        "FL": N_("Formal Languages and Automata Theory"),
        "GL": N_("General Literature"),
        "GR": N_("Graphics"),
        "GT": N_("Computer Science and Game Theory"),
        "HC": N_("Human-Computer Interaction"),
        "IR": N_("Information Retrieval"),
        "IT": N_("Information Theory"),
        "LG": N_("Machine Learning"),
        "LO": N_("Logic in Computer Science"),
        "MA": N_("Multiagent Systems"),
        "MM": N_("Multimedia"),
        "MS": N_("Mathematical Software"),
        "NA": N_("Numerical Analysis"),
        "NE": N_("Neural and Evolutionary Computing"),
        "NI": N_("Networking and Internet Architecture"),
        "OH": N_("Other Computer Science"),
        "OS": N_("Operating Systems"),
        "PF": N_("Performance"),
        "PL": N_("Programming Languages"),
        "RO": N_("Robotics"),
        "SC": N_("Symbolic Computation"),
        "SD": N_("Sound"),
        "SE": N_("Software Engineering"),
        "SI": N_("Social and Information Networks"),
        "SY": N_("Systems and Control"),
    },
    "econ": {
        "EM": N_("Econometrics"),
        "GN": N_("General Economics"),
        "TH": N_("Theoretical Economics"),
    },
    "eess": {
        "AS": N_("Audio and Speech Processing"),
        "IV": N_("Image and Video Processing"),
        "SP": N_("Signal Processing"),
        "SY": N_("Systems and Control"),
    },
    "math": {
        "AC": N_("Commutative Algebra"),
        "AG": N_("Algebraic Geometry"),
        "AP": N_("Analysis of PDEs"),
        "AT": N_("Algebraic Topology"),
        "CA": N_("Classical Analysis and ODEs"),
        "CO": N_("Combinatorics"),
        "CT": N_("Category Theory"),
        "CV": N_("Complex Variables"),
        "DG": N_("Differential Geometry"),
        "DS": N_("Dynamical Systems"),
        "FA": N_("Functional Analysis"),
        "GM": N_("General Mathematics"),
        "GN": N_("General Topology"),
        "GR": N_("Group Theory"),
        "GT": N_("Geometric Topology"),
        "HO": N_("History and Overview"),
        "IT": N_("Information Theory"),
        "KT": N_("K-Theory and Homology"),
        "LO": N_("Logic"),
        "MG": N_("Metric Geometry"),
        "MP": N_("Mathematical Physics"),
        "NA": N_("Numerical Analysis"),
        "NT": N_("Number Theory"),
        "OA": N_("Operator Algebras"),
        "OC": N_("Optimization and Control"),
        "PR": N_("Probability"),
        "QA": N_("Quantum Algebra"),
        "RA": N_("Rings and Algebras"),
        "RT": N_("Representation Theory"),
        "SG": N_("Symplectic Geometry"),
        "SP": N_("Spectral Theory"),
        "ST": N_("Statistics Theory"),
    },
    "nlin": {
        "AO": N_("Adaptation and Self-Organizing Systems"),
        "CD": N_("Chaotic Dynamics"),
        "CG": N_("Cellular Automata and Lattice Gases"),
        "PS": N_("Pattern Formation and Solitons"),
        "SI": N_("Exactly Solvable and Integrable Systems"),
    },
    "physics": {
        "acc-ph": N_("Accelerator Physics"),
        "ao-ph": N_("Atmospheric and Oceanic Physics"),
        "app-ph": N_("Applied Physics"),
        "atm-clus": N_("Atomic and Molecular Clusters"),
        "atom-ph": N_("Atomic Physics"),
        "bio-ph": N_("Biological Physics"),
        "chem-ph": N_("Chemical Physics"),
        "class-ph": N_("Classical Physics"),
        "comp-ph": N_("Computational Physics"),
        "data-an": N_("Data Analysis, Statistics and Probability"),
        "ed-ph": N_("Physics Education"),
        "flu-dyn": N_("Fluid Dynamics"),
        "gen-ph": N_("General Physics"),
        "geo-ph": N_("Geophysics"),
        "hist-ph": N_("History and Philosophy of Physics"),
        "ins-det": N_("Instrumentation and Detectors"),
        "med-ph": N_("Medical Physics"),
        "optics": N_("Optics"),
        "plasm-ph": N_("Plasma Physics"),
        "pop-ph": N_("Popular Physics"),
        "soc-ph": N_("Physics and Society"),
        "space-ph": N_("Space Physics"),
    },
    "q-bio": {
        "BM": N_("Biomolecules"),
        "CB": N_("Cell Behavior"),
        "GN": N_("Genomics"),
        "MN": N_("Molecular Networks"),
        "NC": N_("Neurons and Cognition"),
        "OT": N_("Other Quantitative Biology"),
        "PE": N_("Populations and Evolution"),
        "QM": N_("Quantitative Methods"),
        "SC": N_("Subcellular Processes"),
        "TO": N_("Tissues and Organs"),
    },
    "q-fin": {
        "CP": N_("Computational Finance"),
        "EC": N_("Economics"),
        "GN": N_("General Finance"),
        "MF": N_("Mathematical Finance"),
        "PM": N_("Portfolio Management"),
        "PR": N_("Pricing of Securities"),
        "RM": N_("Risk Management"),
        "ST": N_("Statistical Finance"),
        "TR": N_("Trading and Market Microstructure"),
    },
    "stat": {
        "AP": N_("Applications"),
        "CO": N_("Computation"),
        "ME": N_("Methodology"),
        "ML": N_("Machine Learning"),
        "OT": N_("Other Statistics"),
        "TH": N_("Statistics Theory"),
    },
}

# Archives that are one category each.
_SINGLE: dict[str, str] = {
    "gr-qc": N_("General Relativity and Quantum Cosmology"),
    "hep-ex": N_("High Energy Physics - Experiment"),
    "hep-lat": N_("High Energy Physics - Lattice"),
    "hep-ph": N_("High Energy Physics - Phenomenology"),
    "hep-th": N_("High Energy Physics - Theory"),
    "math-ph": N_("Mathematical Physics"),
    "nucl-ex": N_("Nuclear Experiment"),
    "nucl-th": N_("Nuclear Theory"),
    "quant-ph": N_("Quantum Physics"),
}

# Every category id with its name, in arXiv's order (archive, then category).
CATEGORIES: dict[str, str] = dict(
    sorted(
        {
            **{
                f"{archive}.{short}": name
                for archive, members in _BY_ARCHIVE.items()
                for short, name in members.items()
            },
            **_SINGLE,
        }.items(),
        key=lambda item: item[0].casefold(),
    )
)

# alias → the category arXiv keeps; a paper in one is listed in both.
ALIASES: dict[str, str] = {
    "math.MP": "math-ph",
    "stat.TH": "math.ST",
    "math.IT": "cs.IT",
    "q-fin.EC": "econ.GN",
    "cs.SY": "eess.SY",
    "cs.NA": "math.NA",
}
_ALIAS_OF = {canonical: alias for alias, canonical in ALIASES.items()}

# Everything a feed or a chat may name, keyed by its case-folded spelling.
_BY_FOLDED: dict[str, str] = {name.casefold(): name for name in (*CATEGORIES, *ARCHIVES)}

MAX_SUGGESTIONS = 5
_CUTOFF = 0.75  # difflib ratio below which a name is not offered as a correction


class UnknownCategory(ValueError):
    """A name that is not an arXiv category or archive; str() says so, with suggestions."""

    def __init__(self, given: str, suggestions: Iterable[str]) -> None:
        self.given = given
        self.suggestions = tuple(suggestions)
        hint = f" (did you mean {', '.join(self.suggestions)}?)" if self.suggestions else ""
        super().__init__(f"{given!r} is not an arXiv category{hint}")


def lookup(text: str) -> str | None:
    """The category or archive as arXiv spells it ("CS.ai" → "cs.AI"), or None if unknown."""
    return _BY_FOLDED.get(text.strip().casefold())


def canonical(category: str) -> str:
    """The name arXiv keeps for a category: an alias becomes its merged category."""
    return ALIASES.get(category, category)


def equivalents(category: str) -> tuple[str, ...]:
    """The category and its alias partner, if it has one ("cs.SY" → ("cs.SY", "eess.SY"))."""
    partner = ALIASES.get(category) or _ALIAS_OF.get(category)
    return (category, partner) if partner else (category,)


def archive_of(category: str) -> str:
    """The archive a category belongs to: "cs" for "cs.AI", "hep-th" for "hep-th"."""
    return category.split(".", 1)[0]


def is_archive(name: str) -> bool:
    """Whether the name is an archive made of categories (cs, math, physics…)."""
    return name in ARCHIVES


def name_of(category: str, tr: Translate = english) -> str:
    """arXiv's name for a category or archive ("Machine Learning"), in the language of `tr`
    (English by default); "" if unknown."""
    name = CATEGORIES.get(category) or ARCHIVES.get(category, "")
    return tr(name) if name else ""  # never tr(""): gettext's "" is the catalog's header


def describe(category: str, tr: Translate = english) -> str:
    """ "cs.LG (Machine Learning)", "math (Mathematics: all its categories)", in the language
    of `tr` ("cs.LG（机器学习）"); an unknown code alone."""
    name = name_of(category, tr)
    if category in ARCHIVES:
        return tr(NAMED_ARCHIVE, archive=category, name=name)
    return tr(NAMED_CATEGORY, category=category, name=name) if name else category


def members(archive: str) -> list[str]:
    """The categories of an archive ("cs" → cs.AI, cs.AR, …), [] for anything else."""
    return [f"{archive}.{short}" for short in _BY_ARCHIVE.get(archive, {})]


def guess_archive(text: str) -> str | None:
    """The archive an unknown name seems to be in: "cs" for "cs.XX" or "CS-AI"."""
    head = text.strip().casefold().split(".", 1)[0]
    for candidate in (head, head.split("-", 1)[0]):
        found = lookup(candidate)
        if found in ARCHIVES:
            return found
    return None


def close_matches(text: str, limit: int = MAX_SUGGESTIONS) -> list[str]:
    """Known names spelled like an unknown one, likeliest first ("hep-tj" → hep-th; "cs.ML"
    → stat.ML, the same code in another archive)."""
    typed = text.strip().replace("_", ".")
    folded = typed.casefold()

    def similarity(name: str) -> tuple[float, int, float]:
        # Case-blind first; among ties the longer common start, then agreeing capitals
        # ("cs.Al" → cs.AI before cs.NA).
        lower = name.casefold()
        return (
            difflib.SequenceMatcher(None, folded, lower).ratio(),
            _common_start(folded, lower),
            difflib.SequenceMatcher(None, typed, name).ratio(),
        )

    _, dot, code = folded.partition(".")
    found = [name for name in CATEGORIES if dot and name.casefold().endswith("." + code)]
    scored = sorted(((similarity(name), name) for name in _BY_FOLDED.values()), reverse=True)
    found += [name for (ratio, *_), name in scored[:limit] if ratio >= _CUTOFF]
    return list(dict.fromkeys(found))[:limit]


def suggestions(text: str, limit: int = MAX_SUGGESTIONS) -> list[str]:
    """What to offer for an unknown name: close spellings, then its archive and the archive's
    first categories ("math.XX" → math, math.AC, …)."""
    found = close_matches(text, limit)
    archive = guess_archive(text)
    if archive is not None:
        found += [archive, *members(archive)]
    return list(dict.fromkeys(found))[:limit]


def _common_start(one: str, other: str) -> int:
    """How many characters the two strings share at their start."""
    count = 0
    for a, b in zip(one, other, strict=False):
        if a != b:
            break
        count += 1
    return count


def validate(text: str) -> str:
    """The known category or archive a user typed, spelled as arXiv does, aliases resolved
    to the category arXiv keeps; UnknownCategory (with suggestions) otherwise."""
    found = lookup(text)
    if found is None:
        raise UnknownCategory(text.strip(), suggestions(text))
    return canonical(found)


def validate_all(texts: Iterable[str]) -> tuple[str, ...]:
    """`validate` for each, duplicates (and aliases of one another) removed, order kept.

    The first unknown one raises UnknownCategory; use `split_known` to report them all.
    """
    return tuple(dict.fromkeys(validate(text) for text in texts))


def split_known(texts: Iterable[str]) -> tuple[tuple[str, ...], list[UnknownCategory]]:
    """(the known ones, validated, without duplicates; an UnknownCategory per unknown one)."""
    known: list[str] = []
    unknown: list[UnknownCategory] = []
    for text in texts:
        try:
            known.append(validate(text))
        except UnknownCategory as exc:
            unknown.append(exc)
    return tuple(dict.fromkeys(known)), unknown


def covers(chosen: Iterable[str], paper_categories: Iterable[str]) -> bool:
    """Whether a paper listed in `paper_categories` (primary and cross-lists) is in any of
    the `chosen` categories: the same category, its alias, or the whole archive it is in."""
    wanted = set(chosen)
    for listed in paper_categories:
        for category in equivalents(listed):
            if category in wanted or archive_of(category) in wanted:
                return True
    return False


def in_categories(papers: Iterable[Paper], chosen: Sequence[str]) -> list[Paper]:
    """The papers filed in one of the chosen categories or archives: primary or cross-listed,
    under the category itself, its merged alias, or any category of a chosen archive."""
    return [paper for paper in papers if covers(chosen, paper.categories)]
