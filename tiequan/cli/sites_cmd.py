"""`tiequan sites`: try a site profile on pages (check) and write a first one (draft)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from crawlers.crawl_settings import SettingsConflict
from crawlers.profiles import ProfileError, SiteProfile, default_sites_dir, load_profile
from tiequan.cli.exit_codes import EXIT_REJECTED, EXIT_USAGE
from tiequan.cli.sweep_cmd import base_url
from tiequan.text import clean, display_width, pad, truncate

COLUMNS = (("field", 24), ("value", 44), ("source", 56), ("check", 0))
MARKS = {"ok": "ok", "warn": "WARN", "error": "ERROR"}
KINDS = {
    "listing": "列表页 listing",
    "item": "商品页 item",
    "licence": "执照页 licence",
    "api list": "接口列表 api list",
    "api item": "接口条目 api item",
    "api licence": "接口执照 api licence",
    "unknown": "无法识别 unknown",
}


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("sites", help="站点配置：试用检查、起草")
    cmds = p.add_subparsers(dest="sites_command", required=True)

    check = cmds.add_parser(
        "check",
        help="try a profile on pages: per page, each field's value and its source",
        description="Without --url or --html: the first start path, a few of its items and "
        "one licence page. Exit 0: no errors (warnings allowed); 1: errors; 2: the profile "
        "does not load.",
    )
    check.add_argument("profile", metavar="PROFILE", help="profile name or YAML file")
    check.add_argument(
        "--url", action="append", default=[], metavar="URL", help="page to fetch (repeatable)"
    )
    check.add_argument(
        "--html",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="saved page to read (repeatable; JSON for api profiles)",
    )
    check.add_argument("--base-url", type=base_url, help="aim the profile at another host")
    check.add_argument("--items", type=int, default=2, help="item pages to follow (default 2)")
    check.add_argument("--sites-dir", type=Path, help="directory of site profiles")
    check.set_defaults(func=run_check)

    draft = cmds.add_parser(
        "draft",
        help="write a first profile for a new site from a listing page and an item page",
    )
    draft.add_argument("url", metavar="URL", help="a listing (search or category) page")
    draft.add_argument("--name", required=True, help="profile name: lower case, digits, _")
    draft.add_argument(
        "--item",
        action="append",
        default=[],
        metavar="URL",
        help="an item page (repeatable, one per page template; default: the first item link)",
    )
    draft.add_argument("--platform", help="display name shown to officers (default: the name)")
    draft.add_argument(
        "--render",
        choices=("auto", "static", "browser"),
        default="auto",
        help="auto: Chromium when the listing's HTML holds no item links",
    )
    draft.add_argument(
        "--out",
        type=Path,
        help="where to write (default ./NAME.yaml: not the sites directory, which sweeps read)",
    )
    draft.add_argument("--force", action="store_true", help="overwrite an existing file")
    draft.set_defaults(func=run_draft)


def fail(message: str, code: int = EXIT_USAGE) -> int:
    print(message, file=sys.stderr)
    return code


def find_profile(name: str, sites_dir: Path | None) -> SiteProfile:
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_profile(path)
    candidate = (sites_dir or default_sites_dir()) / f"{name}.yaml"
    if not candidate.exists():
        raise ProfileError(candidate, "", "(missing)", f"no profile named {name!r}")
    return load_profile(candidate)


def render_page(page: Any) -> str:
    status = f"  [{page.status}]" if page.status is not None else ""
    lines = [f"== {KINDS.get(page.kind, page.kind)}  {clean(page.url)}{status}"]
    rows = [
        [clean(r.field), clean(r.value), clean(r.source), _check_cell(r.level, r.note)]
        for r in page.rows
    ]
    headers = [name for name, _ in COLUMNS]
    limits = [limit for _, limit in COLUMNS]
    rows = [[truncate(c, w) if w else c for c, w in zip(row, limits, strict=True)] for row in rows]
    widths = [max(display_width(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, ["-" * w for w in widths], *rows]:
        lines.append("  " + "  ".join(pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _check_cell(level: str, note: str) -> str:
    mark = MARKS.get(level, level)
    return f"{mark}: {clean(note)}" if note else mark


def run_check(args: argparse.Namespace) -> int:
    from tiequan.sites.check import check_profile

    if args.items < 0:
        return fail(f"tiequan sites check: --items {args.items}: must be 0 or more")
    try:
        profile = find_profile(args.profile, args.sites_dir)
        if args.base_url:
            profile = profile.with_base_url(args.base_url)
        missing = [str(p) for p in args.html if not p.is_file()]
        if missing:
            return fail(f"tiequan sites check: no such file: {', '.join(missing)}")
        report = check_profile(profile, urls=args.url, files=args.html, items=args.items)
    except (ProfileError, SettingsConflict) as exc:
        return fail(f"tiequan sites check: {exc}")
    for page in report.pages:
        print(render_page(page))
        print()
    verdict = "FAILED" if report.errors else "passed"
    fetched = f", {report.requests} requests" if report.requests else ""
    print(
        f"{profile.name}: {verdict}: {len(report.pages)} pages, {report.errors} errors, "
        f"{report.warnings} warnings{fetched}"
    )
    return EXIT_REJECTED if report.errors or not report.pages else 0


def run_draft(args: argparse.Namespace) -> int:
    from tiequan.sites.draft import NAME_RE, DraftError, draft_profile

    if not NAME_RE.match(args.name):
        return fail(
            f"tiequan sites draft: --name {args.name!r}: use a-z, 0-9 and _, a letter first"
        )
    out = args.out or Path(f"{args.name}.yaml")
    if out.exists() and not args.force:
        return fail(f"tiequan sites draft: {out} exists; use --force to overwrite it")
    try:
        draft = draft_profile(
            args.url, args.name, items=args.item, platform=args.platform, render=args.render
        )
    except (DraftError, SettingsConflict) as exc:
        return fail(f"tiequan sites draft: {exc}", EXIT_REJECTED)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(draft.yaml, encoding="utf-8")
    for note in draft.notes:
        print(f"- {note}")
    print(f"wrote {out}; next: tiequan sites check {out}")
    return 0
