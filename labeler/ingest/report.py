"""What one ``labeler ingest`` run did, as the CLI prints it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class IngestReport:
    """What one ingest run did. ``rejected``, ``duplicate_of`` and ``notes`` (accepted with a
    remark: only the first frame of an animation kept) list ``(path, why)``."""

    dataset: str
    ingested: int = 0
    duplicates: int = 0
    skipped_existing: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    duplicate_of: list[tuple[str, str]] = field(default_factory=list)
    ignored: int = 0
    notes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the dataset now holds every image the source had to offer."""
        return self.ingested + self.skipped_existing + self.duplicates > 0

    def summary(self) -> str:
        return (
            f"dataset {self.dataset!r}: ingested {self.ingested}, "
            f"already in {self.skipped_existing}, duplicates {self.duplicates}, "
            f"rejected {len(self.rejected)}"
            + (f", ignored {self.ignored} hidden" if self.ignored else "")
        )
