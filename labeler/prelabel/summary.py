"""The summary table printed at the end of ``labeler prelabel`` and ``scripts/prelabel.py``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from labeler.matching import Proposal
from labeler.prelabel.execute import Result


@dataclass
class RunSummary:
    """Counts of one run, shown as a table at the end."""

    images: int = 0
    proposals: dict[str, int] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: int = 0
    seconds: float = 0.0
    worker_cpu: float = 0.0

    def add(self, result: Result, stored: Iterable[Proposal] | None = None) -> None:
        """Count ``result`` (``stored``: what was kept of its proposals, default all)."""
        self.worker_cpu += result.cpu
        if result.error is not None:
            self.failed.append((result.path, result.error))
            return
        self.images += 1
        for p in result.proposals if stored is None else stored:
            self.proposals[p.label] = self.proposals.get(p.label, 0) + 1

    def table(self) -> str:
        """A plain-text summary table."""
        rate = self.images / self.seconds if self.seconds > 0 else 0.0
        rows = [("images matched", str(self.images))]
        if self.skipped:
            rows.append(("images skipped", str(self.skipped)))
        if self.failed:
            rows.append(("images failed", str(len(self.failed))))
        for label, n in sorted(self.proposals.items()):
            rows.append((f"proposals {label}", str(n)))
        rows.append(("proposals total", str(sum(self.proposals.values()))))
        rows += [("time", f"{self.seconds:.1f} s"), ("images/s", f"{rate:.2f}")]
        width = max(len(k) for k, _ in rows)
        lines = [f"{k:<{width}}  {v:>8}" for k, v in rows]
        lines += [f"failed: {path}: {error}" for path, error in self.failed]
        return "\n".join(lines)
