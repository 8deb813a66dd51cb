"""The sandbox world: every item of every site, generated deterministically from a seed.

Pages, the JSON API and the ground truth are all read from the same ``World``, so the
truth can never disagree with what the server shows.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from typing import Any

from tiequan.sandbox.compose import (
    BENIGN,
    HARD,
    VIOLATION,
    Composed,
    compose_post,
    compose_product,
    pick_official,
)
from tiequan.sandbox.evasion import ALL_VARIANTS
from tiequan.sandbox.parties import Shop, make_developer, make_shop
from tiequan.sandbox.property_gen import compose_property
from tiequan.sandbox.textbase import Topic, all_topics, pick_fragments

# Path prefix -> site profile name.
SITES: dict[str, str] = {
    "mall": "sandbox_mall",
    "jsmall": "sandbox_jsmall",
    "social": "sandbox_social",
    "property": "sandbox_property",
}
BASE_COUNTS = {"mall": 600, "jsmall": 200, "social": 300, "property": 120}
SHARES = {VIOLATION: 0.24, HARD: 0.09}  # the rest is benign
MALL_PAGE_SIZE = 20
PROPERTY_PAGE_SIZE = 10
FEED_BATCH = 15
TRAP_REAL_PAGES = 3
# About a quarter of the mall's items use the template that prints the seller's licence on
# the item page (and has no licence link); drawn from a generator of its own.
LICENCE_ON_PAGE_TEMPLATE = 3
LICENCE_ON_PAGE_SHARE = 0.25


@dataclass
class Entry:
    """One generated item (listing, post or property ad) with its ground truth."""

    site: str
    prefix: str
    item_id: str
    path: str
    family: str
    title: str
    text: str
    categories: tuple[str, ...]
    variant: str
    hard_negative: bool
    claim: str
    shop_id: str
    images: tuple[str, ...] = ()
    price: float | None = None
    original_price: float | None = None
    sales: int | None = None
    template: int = 0
    extra: dict[str, str] = field(default_factory=dict)
    # Price-watch listings only (tiequan.sandbox.pricewatch): (price, original_price) per
    # night from night 0, and whether the crossed-out price was never charged.
    nightly_prices: tuple[tuple[float, float | None], ...] = ()
    price_fraud: bool = False


@dataclass
class World:
    seed: int
    scale: float
    entries: dict[str, list[Entry]] = field(default_factory=dict)
    shops: dict[str, dict[str, Shop]] = field(default_factory=dict)
    images: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    slow: dict[str, float] = field(default_factory=dict)
    trap_ids: list[str] = field(default_factory=list)
    price_watch: list[Entry] = field(default_factory=list)
    hostile: list[Entry] = field(default_factory=list)  # tiequan.sandbox.hostile
    index: dict[tuple[str, str], Entry] = field(default_factory=dict, repr=False, compare=False)

    def find(self, prefix: str, item_id: str) -> Entry | None:
        return self.index.get((prefix, item_id))

    def family_items(self, prefix: str, family: str) -> list[Entry]:
        return [e for e in self.entries[prefix] if e.family == family]


def _plan(rng: random.Random, topics: list[Topic], n: int) -> list[tuple[Topic, str]]:
    """(topic, kind) slots: one violation per category first, then weighted draws.

    At tiny scales there may be more slots than ``n`` (every category stays present).
    """
    weights = [t.weight for t in topics]
    slots: list[tuple[Topic, str]] = []
    seen: set[str] = set()
    for topic in topics:
        if topic.category not in seen:
            seen.add(topic.category)
            slots.append((topic, VIOLATION))
    n_viol = max(len(slots), round(n * SHARES[VIOLATION]))
    n_hard = round(n * SHARES[HARD])
    slots += [(t, VIOLATION) for t in rng.choices(topics, weights, k=n_viol - len(slots))]
    slots += [(t, HARD) for t in rng.choices(topics, weights, k=n_hard)]
    slots += [(t, BENIGN) for t in rng.choices(topics, weights, k=max(0, n - len(slots)))]
    rng.shuffle(slots)
    return slots


def _ids(rng: random.Random, n: int, fmt: str, lo: int, hi: int) -> list[str]:
    return [fmt.format(x) for x in rng.sample(range(lo, hi), n)]


def _prices(rng: random.Random, topic: Topic, kind: str) -> tuple[float, float | None]:
    low, high = topic.bad_price if kind == VIOLATION and topic.bad_price else topic.price
    price = round(rng.uniform(low, high), 1)
    if rng.random() < 0.35:
        return price, None
    factor = rng.uniform(6, 20) if kind == VIOLATION and topic.bad_price else rng.uniform(1.2, 3)
    return price, float(round(price * factor))


def _sales(rng: random.Random) -> int:
    return rng.choice((0, 3, 12, 45, 88, 120, 360, 800, 1200, 3000, 10000)) + rng.randint(0, 9)


def _shops(rng: random.Random, n: int) -> dict[str, Shop]:
    ids = _ids(rng, n, "s{:05d}", 10000, 99999)
    # About one shop in 25 does not display its licence (电子商务法 §15 gap).
    return {sid: make_shop(rng, sid, shown=rng.random() > 0.04) for sid in ids}


def _composed_fields(composed: Composed) -> dict[str, Any]:
    """The Entry fields every site takes from composed text."""
    return {
        "title": composed.title,
        "text": composed.text,
        "categories": composed.categories,
        "variant": composed.variant,
        "hard_negative": composed.hard_negative,
        "claim": composed.claim,
    }


def _add_images(world: World, entry: Entry, composed: Composed) -> None:
    names = []
    for k, lines in enumerate(composed.image_lines):
        name = f"{entry.item_id}-{k + 1}"
        world.images[(entry.prefix, name)] = lines
        names.append(name)
    entry.images = tuple(names)


def _products(world: World, rng: random.Random, prefix: str, n: int) -> None:
    topics = [t for t in all_topics() if prefix in t.sites]
    shops = _shops(rng, max(6, n // 4))
    shop_ids = list(shops)
    fmt, lo, hi = ("{:d}", 10**6, 10**7) if prefix == "mall" else ("JS{:06d}", 0, 10**6)
    slots = _plan(rng, topics, n)
    entries = []
    for item_id, (topic, kind) in zip(_ids(rng, len(slots), fmt, lo, hi), slots, strict=True):
        composed = compose_product(rng, topic, kind, ALL_VARIANTS)
        price, original = _prices(rng, topic, kind)
        entry = Entry(
            site=SITES[prefix],
            prefix=prefix,
            item_id=item_id,
            path=f"/{prefix}/item/{item_id}",
            family=topic.family,
            **_composed_fields(composed),
            shop_id=rng.choice(shop_ids),
            price=price,
            original_price=original,
            sales=_sales(rng),
            template=rng.randrange(3),
        )
        _add_images(world, entry, composed)
        entries.append(entry)
    world.entries[prefix] = entries
    world.shops[prefix] = shops


def _social(world: World, rng: random.Random, n: int) -> None:
    topics = [t for t in all_topics() if "social" in t.sites]
    authors = _shops(rng, max(6, n // 5))
    author_ids = list(authors)
    entries = []
    slots = _plan(rng, topics, n)
    for item_id, (topic, kind) in zip(
        _ids(rng, len(slots), "{:x}", 16**9, 16**10), slots, strict=True
    ):
        composed, official = compose_post(rng, topic, kind)
        author = pick_official(rng) if official else authors[rng.choice(author_ids)].name
        if not composed.image_lines and rng.random() < 0.3:
            point = pick_fragments(rng, topic.points, composed.product, 1)[0]
            composed.image_lines = [[composed.product, point]]
        entry = Entry(
            site=SITES["social"],
            prefix="social",
            item_id=item_id,
            path=f"/social/post/{item_id}",
            family=topic.family,
            **_composed_fields(composed),
            shop_id="",
            extra={"author": author, "likes": str(rng.randint(0, 5000))},
        )
        _add_images(world, entry, composed)
        entries.append(entry)
    world.entries["social"] = entries
    world.shops["social"] = authors


def _property(world: World, rng: random.Random, n: int) -> None:
    topic = next(t for t in all_topics() if t.category == "real_estate")
    developers = {
        d: make_developer(rng, d) for d in _ids(rng, max(4, n // 8), "d{:04d}", 1000, 9999)
    }
    dev_ids = list(developers)
    entries = []
    slots = _plan(rng, [topic], n)
    for item_id, (_t, kind) in zip(_ids(rng, len(slots), "FY{:06d}", 0, 10**6), slots, strict=True):
        composed, facts = compose_property(rng, topic, kind)
        dev = rng.choice(dev_ids)
        entries.append(
            Entry(
                site=SITES["property"],
                prefix="property",
                item_id=item_id,
                path=f"/property/listing/{item_id}",
                family="property",
                **_composed_fields(composed),
                shop_id=dev,
                price=facts.price_per_m2,
                template=rng.randrange(2),
                extra={
                    "project": facts.project,
                    "location": facts.location,
                    "layout": facts.layout,
                    "area": facts.area_text,
                    "permit": facts.permit,
                    "developer": developers[dev].name,
                },
            )
        )
    world.entries["property"] = entries
    world.shops["property"] = developers


def _licence_on_page(world: World, rng: random.Random) -> None:
    for entry in world.entries["mall"]:
        if rng.random() < LICENCE_ON_PAGE_SHARE:
            entry.template = LICENCE_ON_PAGE_TEMPLATE


def _faults(world: World, rng: random.Random) -> None:
    """Pick item paths that fail once (503/502/429) or answer slowly; at least one each."""
    paths = [e.path for e in world.entries["mall"] + world.entries["property"]]
    paths += [f"/jsmall/api/items/{e.item_id}" for e in world.entries["jsmall"]]
    rng.shuffle(paths)
    n = max(3, len(paths) // 30)
    for i, path in enumerate(paths[: 2 * n]):
        world.faults[path] = 429 if i % 2 else rng.choice((503, 503, 502))
    for path in paths[2 * n : 2 * n + max(1, n // 2)]:
        world.slow[path] = round(rng.uniform(0.3, 1.5), 2)


def _rng(seed: int, part: str) -> random.Random:
    return random.Random(f"{seed}:{part}")  # nosec B311 # seeded sandbox content, not security


def generate_world(seed: int, scale: float = 1.0) -> World:
    """Build the whole world from scratch (use ``get_world`` for the cached one)."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    world = World(seed=seed, scale=scale)
    counts = {p: max(12, round(c * scale)) for p, c in BASE_COUNTS.items()}
    # One generator per site, so adding content to one site leaves the others unchanged.
    _products(world, _rng(seed, "mall"), "mall", counts["mall"])
    _licence_on_page(world, _rng(seed, "mall_licence_template"))
    _products(world, _rng(seed, "jsmall"), "jsmall", counts["jsmall"])
    _social(world, _rng(seed, "social"), counts["social"])
    _property(world, _rng(seed, "property"), counts["property"])
    rng = _rng(seed, "extras")
    _faults(world, rng)
    mall = world.entries["mall"]
    world.trap_ids = [e.item_id for e in rng.sample(mall, min(len(mall), 12 * TRAP_REAL_PAGES))]
    from tiequan.sandbox.pricewatch import add_price_watch  # it builds Entry objects

    add_price_watch(world, _rng(seed, "price_watch"))
    from tiequan.sandbox.hostile import add_hostile

    add_hostile(world, _rng(seed, "hostile"))
    world.index = {(p, e.item_id): e for p, items in world.entries.items() for e in items}
    world.index.update({("mall", e.item_id): e for e in world.price_watch + world.hostile})
    return world


@functools.lru_cache(maxsize=8)
def get_world(seed: int, scale: float = 1.0) -> World:
    return generate_world(seed, scale)
