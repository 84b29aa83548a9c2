"""The index of word patterns (words, prefixes, phrases) that finds terms in a paper's words.

A `WordIndex` holds the patterns of the terms of one kind of field (text or authors) and, for
each, the terms that occur where it occurs. `find` looks a field's words up once and returns
those terms; the words that complete a prefix are learned as they are first seen.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import TypeAlias, TypeVar

from bot.matching.normalize import singular

_MAX_LEARNED = 500_000  # words whose prefix matches are remembered


def _same(word: str) -> str:
    return word


_Payload: TypeAlias = tuple[int, ...]
_K = TypeVar("_K", str, tuple[str, str])


class WordIndex:
    """Word patterns (words, prefixes, phrases) of one kind of field, found in one pass.

    Each pattern carries, for each channel (title and abstract share the patterns of text
    fields), the terms that occur where it occurs; `find` returns those terms.
    """

    def __init__(self, plurals: bool, channels: int) -> None:
        self._stem = singular if plurals else _same
        self._channels = range(channels)
        self._patterns: dict[tuple[tuple[str, ...], bool], int] = {}
        self._payloads: list[list[list[int]]] = [[] for _ in self._channels]  # [channel][pattern]
        self._exact: dict[str, list[int]] = {}  # single words, and what prefixes spell
        self._prefixes: dict[str, list[int]] = {}
        self._shortest_prefix = 0
        # Phrases by their first two words, or first word when the second is a prefix, with
        # the substrings that confirm the rest (none for a two-word phrase).
        self._pairs: dict[tuple[str, str], list[tuple[int, tuple[str, ...]]]] = {}
        self._firsts: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        # After freeze(), by channel: terms by word, by word pair, by first word.
        self._words: list[dict[str, _Payload]] = []
        self._pair_terms: list[dict[tuple[str, str], list[tuple[_Payload, tuple[str, ...]]]]] = []
        self._pair_keys: list[frozenset[tuple[str, str]]] = []
        self._first_terms: list[dict[str, list[tuple[_Payload, tuple[str, ...]]]]] = []
        self._seen: set[str] = set()  # words whose prefix patterns are in _words

    def __len__(self) -> int:
        return len(self._patterns)

    def add(self, words: tuple[str, ...], prefix: bool, channel: int, term: int) -> None:
        """Index a term: it occurs in ``channel`` wherever the pattern (words, prefix) does."""
        key = (words, prefix)
        pattern = self._patterns.get(key)
        if pattern is None:
            pattern = self._patterns[key] = len(self._patterns)
            for payloads in self._payloads:
                payloads.append([])
            self._register(pattern, words, prefix)
        self._payloads[channel][pattern].append(term)

    def _register(self, pattern: int, words: tuple[str, ...], prefix: bool) -> None:
        last = words[-1]
        if len(words) == 1:
            self._exact.setdefault(self._stem(last) if prefix else last, []).append(pattern)
            if prefix:
                self._prefixes.setdefault(last, []).append(pattern)
            return
        head = " " + " ".join(words[:-1]) + " "
        if prefix:
            spelled = head + self._stem(last) + " "  # what models* also matches: model
            confirm: tuple[str, ...] = tuple(dict.fromkeys((head + last, spelled)))
        else:
            confirm = (head + last + " ",) if len(words) > 2 else ()
        if len(words) == 2 and prefix:
            self._firsts.setdefault(words[0], []).append((pattern, confirm))
        else:
            self._pairs.setdefault((words[0], words[1]), []).append((pattern, confirm))

    def _terms(self, channel: int, patterns: Iterable[int]) -> _Payload:
        payloads = self._payloads[channel]
        return tuple(term for pattern in patterns for term in payloads[pattern])

    def _by_channel(
        self, source: dict[_K, list[tuple[int, tuple[str, ...]]]], channel: int
    ) -> dict[_K, list[tuple[_Payload, tuple[str, ...]]]]:
        """Phrase entries with the channel's terms instead of patterns (none: left out)."""
        found: dict[_K, list[tuple[_Payload, tuple[str, ...]]]] = {}
        for key, entries in source.items():
            with_terms = [(self._terms(channel, (p,)), confirm) for p, confirm in entries]
            if any(terms for terms, _ in with_terms):
                found[key] = [(terms, confirm) for terms, confirm in with_terms if terms]
        return found

    def freeze(self) -> None:
        """Prepare the lookups once all patterns are added (again: forget learned words)."""
        self._words, self._pair_terms, self._first_terms = [], [], []
        for channel in self._channels:
            self._words.append(
                {w: self._terms(channel, patterns) for w, patterns in self._exact.items()}
            )
            self._pair_terms.append(self._by_channel(self._pairs, channel))
            self._first_terms.append(self._by_channel(self._firsts, channel))
        self._pair_keys = [frozenset(pairs) for pairs in self._pair_terms]
        self._shortest_prefix = min(map(len, self._prefixes), default=0)
        self._seen = set()

    def _learn(self, words: set[str]) -> None:
        """Remember which prefix patterns each new word completes."""
        prefixes, shortest = self._prefixes, self._shortest_prefix
        for word in words:
            found = [
                pattern
                for end in range(shortest, len(word) + 1)
                for pattern in prefixes.get(word[:end], ())
            ]
            if found:
                for channel, known in zip(self._channels, self._words, strict=True):
                    known[word] = known.get(word, ()) + self._terms(channel, found)
        self._seen |= words

    def find(self, tokens: Sequence[str], channel: int) -> list[int]:
        """The terms of the channel that occur in the words (some possibly twice)."""
        present = set(tokens)
        if self._prefixes:
            if len(self._seen) > _MAX_LEARNED:
                self.freeze()  # a long-running engine must not grow without bound
            unseen = present - self._seen
            if unseen:
                self._learn(unseen)
        words = self._words[channel]
        found = list(itertools.chain.from_iterable(map(words.__getitem__, words.keys() & present)))
        padded = ""
        pairs = self._pair_terms[channel]
        if pairs and len(tokens) > 1:
            for pair in self._pair_keys[channel].intersection(itertools.pairwise(tokens)):
                for terms, confirm in pairs[pair]:
                    if confirm:
                        padded = padded or " " + " ".join(tokens) + " "
                        if not _contains(padded, confirm):
                            continue
                    found += terms
        firsts = self._first_terms[channel]
        for word in firsts.keys() & present if firsts else ():
            padded = padded or " " + " ".join(tokens) + " "
            for terms, confirm in firsts[word]:
                if _contains(padded, confirm):
                    found += terms
        return found


def _contains(text: str, needles: tuple[str, ...]) -> bool:
    return any(needle in text for needle in needles)
