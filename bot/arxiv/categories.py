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
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from bot.models import Paper

# Archives that are a set of categories (a feed of the archive carries all of them).
ARCHIVES: dict[str, str] = {
    "astro-ph": "Astrophysics",
    "cond-mat": "Condensed Matter",
    "cs": "Computer Science",
    "econ": "Economics",
    "eess": "Electrical Engineering and Systems Science",
    "math": "Mathematics",
    "nlin": "Nonlinear Sciences",
    "physics": "Physics",
    "q-bio": "Quantitative Biology",
    "q-fin": "Quantitative Finance",
    "stat": "Statistics",
}

_BY_ARCHIVE: dict[str, dict[str, str]] = {
    "astro-ph": {
        "CO": "Cosmology and Nongalactic Astrophysics",
        "EP": "Earth and Planetary Astrophysics",
        "GA": "Astrophysics of Galaxies",
        "HE": "High Energy Astrophysical Phenomena",
        "IM": "Instrumentation and Methods for Astrophysics",
        "SR": "Solar and Stellar Astrophysics",
    },
    "cond-mat": {
        "dis-nn": "Disordered Systems and Neural Networks",
        "mes-hall": "Mesoscale and Nanoscale Physics",
        "mtrl-sci": "Materials Science",
        "other": "Other Condensed Matter",
        "quant-gas": "Quantum Gases",
        "soft": "Soft Condensed Matter",
        "stat-mech": "Statistical Mechanics",
        "str-el": "Strongly Correlated Electrons",
        "supr-con": "Superconductivity",
    },
    "cs": {
        "AI": "Artificial Intelligence",
        "AR": "Hardware Architecture",
        "CC": "Computational Complexity",
        "CE": "Computational Engineering, Finance, and Science",
        "CG": "Computational Geometry",
        "CL": "Computation and Language",
        "CR": "Cryptography and Security",
        "CV": "Computer Vision and Pattern Recognition",
        "CY": "Computers and Society",
        "DB": "Databases",
        "DC": "Distributed, Parallel, and Cluster Computing",
        "DL": "Digital Libraries",
        "DM": "Discrete Mathematics",
        "DS": "Data Structures and Algorithms",
        "ET": "Emerging Technologies",
        "FL": "Formal Languages and Automata Theory",
        "GL": "General Literature",
        "GR": "Graphics",
        "GT": "Computer Science and Game Theory",
        "HC": "Human-Computer Interaction",
        "IR": "Information Retrieval",
        "IT": "Information Theory",
        "LG": "Machine Learning",
        "LO": "Logic in Computer Science",
        "MA": "Multiagent Systems",
        "MM": "Multimedia",
        "MS": "Mathematical Software",
        "NA": "Numerical Analysis",
        "NE": "Neural and Evolutionary Computing",
        "NI": "Networking and Internet Architecture",
        "OH": "Other Computer Science",
        "OS": "Operating Systems",
        "PF": "Performance",
        "PL": "Programming Languages",
        "RO": "Robotics",
        "SC": "Symbolic Computation",
        "SD": "Sound",
        "SE": "Software Engineering",
        "SI": "Social and Information Networks",
        "SY": "Systems and Control",
    },
    "econ": {
        "EM": "Econometrics",
        "GN": "General Economics",
        "TH": "Theoretical Economics",
    },
    "eess": {
        "AS": "Audio and Speech Processing",
        "IV": "Image and Video Processing",
        "SP": "Signal Processing",
        "SY": "Systems and Control",
    },
    "math": {
        "AC": "Commutative Algebra",
        "AG": "Algebraic Geometry",
        "AP": "Analysis of PDEs",
        "AT": "Algebraic Topology",
        "CA": "Classical Analysis and ODEs",
        "CO": "Combinatorics",
        "CT": "Category Theory",
        "CV": "Complex Variables",
        "DG": "Differential Geometry",
        "DS": "Dynamical Systems",
        "FA": "Functional Analysis",
        "GM": "General Mathematics",
        "GN": "General Topology",
        "GR": "Group Theory",
        "GT": "Geometric Topology",
        "HO": "History and Overview",
        "IT": "Information Theory",
        "KT": "K-Theory and Homology",
        "LO": "Logic",
        "MG": "Metric Geometry",
        "MP": "Mathematical Physics",
        "NA": "Numerical Analysis",
        "NT": "Number Theory",
        "OA": "Operator Algebras",
        "OC": "Optimization and Control",
        "PR": "Probability",
        "QA": "Quantum Algebra",
        "RA": "Rings and Algebras",
        "RT": "Representation Theory",
        "SG": "Symplectic Geometry",
        "SP": "Spectral Theory",
        "ST": "Statistics Theory",
    },
    "nlin": {
        "AO": "Adaptation and Self-Organizing Systems",
        "CD": "Chaotic Dynamics",
        "CG": "Cellular Automata and Lattice Gases",
        "PS": "Pattern Formation and Solitons",
        "SI": "Exactly Solvable and Integrable Systems",
    },
    "physics": {
        "acc-ph": "Accelerator Physics",
        "ao-ph": "Atmospheric and Oceanic Physics",
        "app-ph": "Applied Physics",
        "atm-clus": "Atomic and Molecular Clusters",
        "atom-ph": "Atomic Physics",
        "bio-ph": "Biological Physics",
        "chem-ph": "Chemical Physics",
        "class-ph": "Classical Physics",
        "comp-ph": "Computational Physics",
        "data-an": "Data Analysis, Statistics and Probability",
        "ed-ph": "Physics Education",
        "flu-dyn": "Fluid Dynamics",
        "gen-ph": "General Physics",
        "geo-ph": "Geophysics",
        "hist-ph": "History and Philosophy of Physics",
        "ins-det": "Instrumentation and Detectors",
        "med-ph": "Medical Physics",
        "optics": "Optics",
        "plasm-ph": "Plasma Physics",
        "pop-ph": "Popular Physics",
        "soc-ph": "Physics and Society",
        "space-ph": "Space Physics",
    },
    "q-bio": {
        "BM": "Biomolecules",
        "CB": "Cell Behavior",
        "GN": "Genomics",
        "MN": "Molecular Networks",
        "NC": "Neurons and Cognition",
        "OT": "Other Quantitative Biology",
        "PE": "Populations and Evolution",
        "QM": "Quantitative Methods",
        "SC": "Subcellular Processes",
        "TO": "Tissues and Organs",
    },
    "q-fin": {
        "CP": "Computational Finance",
        "EC": "Economics",
        "GN": "General Finance",
        "MF": "Mathematical Finance",
        "PM": "Portfolio Management",
        "PR": "Pricing of Securities",
        "RM": "Risk Management",
        "ST": "Statistical Finance",
        "TR": "Trading and Market Microstructure",
    },
    "stat": {
        "AP": "Applications",
        "CO": "Computation",
        "ME": "Methodology",
        "ML": "Machine Learning",
        "OT": "Other Statistics",
        "TH": "Statistics Theory",
    },
}

# Archives that are one category each.
_SINGLE: dict[str, str] = {
    "gr-qc": "General Relativity and Quantum Cosmology",
    "hep-ex": "High Energy Physics - Experiment",
    "hep-lat": "High Energy Physics - Lattice",
    "hep-ph": "High Energy Physics - Phenomenology",
    "hep-th": "High Energy Physics - Theory",
    "math-ph": "Mathematical Physics",
    "nucl-ex": "Nuclear Experiment",
    "nucl-th": "Nuclear Theory",
    "quant-ph": "Quantum Physics",
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


def name_of(category: str) -> str:
    """arXiv's name for a category or archive ("Machine Learning"), "" if unknown."""
    return CATEGORIES.get(category) or ARCHIVES.get(category, "")


def describe(category: str) -> str:
    """ "cs.LG (Machine Learning)", "math (Mathematics: all its categories)"."""
    if category in ARCHIVES:
        return f"{category} ({ARCHIVES[category]}: all its categories)"
    name = name_of(category)
    return f"{category} ({name})" if name else category


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
