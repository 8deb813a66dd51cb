"""The revisit list: which listings of handed-over leads a sweep re-checks (takedown follow-up).

Written before a sweep by the runner (tiequan.sweep) from what
``tiequan.leads.followup.build_plan`` lists. The spider reads it once, requests those pages
again and marks each item of the list (``Listing.revisit``); the pipelines read the mark,
never the file. Its shape lives here, on the crawling side: the crawlers need no lead-queue
code to read it, and the leads no crawler code to plan it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    """One listing to re-check, with the leads (and their categories) that want to know."""

    platform: str
    item_id: str
    url: str
    title: str
    lead_ids: tuple[str, ...]
    categories: tuple[str, ...]
    # ISO 8601: since when the site's pages no longer list it (an earlier recrawl's mark).
    missing_since: str | None = None


def write(path: Path, targets: list[Target]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [asdict(t) for t in targets]
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")


def load(path: Path | str, platform: str | None = None) -> dict[str, Target]:
    """The file's targets (of one platform), by item id; errors name the file."""
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
        targets = [
            Target(
                platform=str(r["platform"]),
                item_id=str(r["item_id"]),
                url=str(r["url"]),
                title=str(r.get("title") or ""),
                lead_ids=tuple(r["lead_ids"]),
                categories=tuple(r["categories"]),
                missing_since=str(r["missing_since"]) if r.get("missing_since") else None,
            )
            for r in rows
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: unreadable revisit list: {exc}") from exc
    return {t.item_id: t for t in targets if platform is None or t.platform == platform}
