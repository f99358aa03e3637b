"""What a notification carries: a subject with the verdict and key numbers, the report's
text, optionally its HTML page, and where the report was saved."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Report:
    """One report to send; ``text`` is what the command printed or wrote as Markdown."""

    subject: str
    text: str
    html: str | None = None
    saved: tuple[str, ...] = ()

    def titled(self, prefix: str) -> Report:
        """The same report with ``[prefix]`` in front of its subject (none if empty)."""
        if not prefix:
            return self
        return Report(f"[{prefix}] {self.subject}", self.text, self.html, self.saved)
