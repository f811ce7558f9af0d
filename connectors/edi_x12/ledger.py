"""The interchange ledger: which interchanges (sender + ISA13) were already published.

A local JSON file in the state directory, rewritten atomically (temp file + rename) after
every file. Chosen over a compacted topic because the ingest loop is one process per inbox
and must answer "seen before?" before publishing anything, even with the broker down; the
cost is that two ingest processes must not share an inbox (documented in the CLI help).
It also keeps the counter for the control numbers of our outbound 997/999s.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def interchange_key(sender_qualifier: str, sender_id: str, control_number: str) -> str:
    """Sender + ISA13; leading zeros of a numeric ISA13 do not make a new interchange."""
    number = control_number.strip()
    if number.isascii() and number.isdigit():  # not '³', which int() refuses
        number = number.lstrip("0") or "0"
    return f"{sender_qualifier.strip()}/{sender_id.strip()}:{number}"


@dataclass
class InterchangeLedger:
    path: Path
    published: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_control_number: int = 0

    @classmethod
    def open(cls, path: Path) -> InterchangeLedger:
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as broken:
            raise ValueError(
                f"{path}: the EDI interchange ledger cannot be read ({broken}); restore it "
                "from backup or move it away (interchanges would then be published again)"
            ) from None
        return cls(path, dict(data.get("published", {})), int(data.get("last_control_number", 0)))

    def seen(self, key: str) -> bool:
        return key in self.published

    def record(self, key: str, file: str, events: int) -> None:
        self.published[key] = {"file": file, "events": events,
                               "at": datetime.now(UTC).isoformat(timespec="seconds")}

    def next_control_number(self) -> int:
        # ISA13 is nine digits; wrap rather than overflow.
        self.last_control_number = self.last_control_number % 999_999_999 + 1
        return self.last_control_number

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(
            json.dumps({"published": self.published,
                        "last_control_number": self.last_control_number}, indent=1),
            encoding="utf-8",
        )
        os.replace(temporary, self.path)
