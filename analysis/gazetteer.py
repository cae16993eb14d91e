"""Places and departments of the monitored city, from one data file (yuqing/config/data/gazetteer.yaml,
read by `yuqing.config.datafiles.load_gazetteer_file`).

Another city is a different file, not different code. Names become single jieba tokens, so
finding them in a post is a set look-up per word: no scan of the text per name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import compress

from analysis.segment import Segmenter
from yuqing.config.datafiles import GazetteerFile, PlaceEntry


@dataclass(frozen=True)
class Place:
    key: str  # unique name: the place's name, or parent + name when two places share it
    name: str
    level: str
    parent: str | None


class Gazetteer:
    """Resolves place mentions to the most specific places, and department mentions to short names.
    Its names become single tokens of `segmenter`, which must be the one that segments the posts. Without a
    segmenter it knows the places and their lineage only (all the burst tracker asks: it never reads words, and
    a segmenter's dictionary is ~70 MB of the alert worker's memory)."""

    def __init__(self, data: GazetteerFile, segmenter: Segmenter | None) -> None:
        self.segmenter = segmenter
        self.places: dict[str, Place] = {}
        self._by_name: dict[str, list[str]] = {}
        entries: list[tuple[PlaceEntry, str | None]] = [(data.city, None)]
        name_counts: dict[str, int] = {}
        self._walk(data.city, lambda entry: name_counts.__setitem__(entry.name, name_counts.get(entry.name, 0) + 1))
        while entries:
            entry, parent = entries.pop()
            ambiguous = name_counts[entry.name] > 1 and parent is not None
            key = f"{self.places[parent].name}{entry.name}" if ambiguous and parent else entry.name
            self.places[key] = Place(key=key, name=entry.name, level=entry.level, parent=parent)
            for name in {entry.name, key, *entry.aliases}:
                self._by_name.setdefault(name, []).append(key)
            entries.extend((child, key) for child in entry.places)
        self.city = data.city.name
        # Each place and its ancestors, the city last (`lineage`): read for every place a post names.
        self._lineages = {key: tuple(self._walk_up(key)) for key in self.places}

        self._departments: dict[str, str] = {}
        self._topics: dict[str, list[str]] = {}
        for dept in data.departments:
            for name in {dept.name, *(dept.aliases), *([dept.full_name] if dept.full_name else [])}:
                self._departments[name] = dept.name
            for topic in dept.topics:
                self._topics.setdefault(topic, []).append(dept.name)
        # The words `department_of` knows: each name as written, and after the city's (菏泽市 + 住建局).
        self._department_words = frozenset({*self._departments, *(self.city + name for name in self._departments)})
        names = [*self._by_name, *self._departments, *self._topics]
        # Every word `resolve` and `departments` look up: a post's other words can be left out before either reads it.
        self.words = frozenset(names)
        if segmenter is not None:
            segmenter.add_terms(names)

    @staticmethod
    def _walk(entry: PlaceEntry, visit: Callable[[PlaceEntry], object]) -> None:
        visit(entry)
        for child in entry.places:
            Gazetteer._walk(child, visit)

    def _walk_up(self, key: str) -> Iterator[str]:
        current: str | None = key
        while current is not None:
            yield current
            current = self.places[current].parent

    def lineage(self, key: str) -> list[str]:
        """The place and its ancestors, the city last: 青菏街道 → [青菏街道, 曹县, 菏泽市]."""
        return list(self._lineages[key])

    def area_of(self, key: str) -> str:
        """The district, county or zone a place lies in (the city itself for the city)."""
        lineage = self._lineages[key]
        return lineage[-2] if len(lineage) >= 2 else lineage[-1]

    def _common_ancestor(self, keys: Sequence[str]) -> str:
        shared = set(self._lineages[keys[0]])
        for key in keys[1:]:
            shared.intersection_update(self._lineages[key])
        return next(k for k in self._lineages[keys[0]] if k in shared)

    def resolve(self, post_words: Iterable[str], hints: Iterable[str] = ()) -> list[str]:
        """The most specific places a post is about, in order of first mention.

        `hints` are metadata strings (a board's 地点, the issuing office, the author); they are
        segmented here and count like mentions. A name shared by two places is settled by another
        mention of one of their districts, otherwise by the district or city they share.
        """
        segmenter = self.segmenter
        if segmenter is None:
            raise ValueError("a gazetteer built without a segmenter knows the places' lineage only")
        hint_words = [w for hint in hints if hint for w in segmenter.fast_words(hint)]
        words = (*post_words, *hint_words)
        # The few names among the words (one pass over them, in C: a set of them costs more than it saves), in order
        # of first mention (index, in C).
        names = sorted(self._by_name.keys() & words, key=words.index)
        mentioned = [self._by_name[name] for name in names]
        chosen: list[str] = [keys[0] for keys in mentioned if len(keys) == 1]
        context = set(chosen)
        for keys in mentioned:
            if len(keys) > 1:
                fitting = [k for k in keys if not context.isdisjoint(self._lineages[k][1:])]
                chosen.append(fitting[0] if len(fitting) == 1 else self._common_ancestor(keys))
        ancestors = {a for key in chosen for a in self._lineages[key][1:]}
        result: list[str] = []
        for key in chosen:
            if key not in ancestors and key not in result:
                result.append(key)
        return result

    def department_of(self, name: str | None) -> str | None:
        """The short name of a department written any known way (菏泽市住房和城乡建设局 → 市住建局)."""
        if not name:
            return None
        return self._departments.get(name.strip()) or self._departments.get(name.strip().removeprefix(self.city))

    def department_words(self, words: Sequence[str]) -> list[str]:
        """The words that name a department (those `department_of` knows), in order, picked out in one C-level pass.
        For a segmenter's words, which hold no whitespace for `department_of` to strip."""
        return list(compress(words, map(self._department_words.__contains__, words)))

    def departments(self, post_words: Iterable[str]) -> list[str]:
        """Departments a post names; if it names none, those whose topics it mentions."""
        named: list[str] = []
        topical: list[str] = []
        post_words = post_words if isinstance(post_words, (list, tuple)) else list(post_words)
        # The few words that name a department or a topic (passes over the words, in C), in order of first mention.
        found = sorted(self._departments.keys() & post_words | self._topics.keys() & post_words, key=post_words.index)
        for word in found:
            dept = self._departments.get(word)
            if dept and dept not in named:
                named.append(dept)
            for owner in self._topics.get(word, ()):
                if owner not in topical:
                    topical.append(owner)
        return named or topical
