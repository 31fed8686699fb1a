"""Reading a Prometheus exposition in tests, with ``prometheus_client``'s own parser."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Exposition:
    """Every sample of one scrape, and the type of every family."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]
    types: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Exposition:
        """Parse the text format (0.0.4); raises ValueError when it is malformed."""
        samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        types: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            types[family.name] = family.type
            for sample in family.samples:
                key = (sample.name, frozenset(sample.labels.items()))
                assert key not in samples, f"duplicate sample {key}"
                samples[key] = sample.value
        return cls(samples, types)

    def value(self, name: str, **labels: str) -> float:
        """The sample ``name`` with exactly ``labels``; 0 when it is absent."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """The sum of the samples ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(
            value
            for (sample, sample_labels), value in self.samples.items()
            if sample == name and wanted <= sample_labels
        )

    def has(self, name: str) -> bool:
        """Whether any sample is called ``name``."""
        return any(sample == name for sample, _ in self.samples)


def delta(before: Exposition, after: Exposition, name: str, **labels: str) -> float:
    """How much the samples ``name`` matching ``labels`` grew between two scrapes."""
    return after.total(name, **labels) - before.total(name, **labels)
