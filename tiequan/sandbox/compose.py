"""Compose one product or post from a topic: honest, hard negative or violating."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from tiequan.sandbox import evasion
from tiequan.sandbox.textbase import (
    BRANDS,
    FILLER,
    OFFICIAL_AUTHORS,
    SOCIAL_CHATTER,
    SOCIAL_CTAS,
    SOCIAL_OPENERS,
    Claim,
    Topic,
    pick_fragments,
)

BENIGN, HARD, VIOLATION = "benign", "hard", "violation"
_NO_CATS: tuple[str, ...] = ()

# Share of each evasion variant among violating items (plain is the rest).
VARIANT_WEIGHTS: dict[str, float] = {
    "plain": 0.38,
    "traditional": 0.10,
    "symbols": 0.12,
    "pinyin": 0.09,
    "numeric": 0.07,
    "homophone": 0.05,
    "image_only": 0.10,
    "split": 0.09,
}


@dataclass
class Composed:
    """Text and labels of one generated item, before it gets an id and a page."""

    title: str
    text: str
    categories: tuple[str, ...] = ()
    variant: str = "none"
    hard_negative: bool = False
    claim: str = ""
    product: str = ""
    image_lines: list[list[str]] = field(default_factory=list)


def pick_claim(rng: random.Random, topic: Topic) -> tuple[Claim, tuple[str, ...]]:
    claim = rng.choice(topic.claims)
    cats = (topic.category, *(x for x in claim.extra if x != topic.category))
    return claim, cats


def pick_product(rng: random.Random, topic: Topic, claim: Claim | None) -> str:
    """A product noun; a claim's own product list keeps claim and product plausible."""
    return rng.choice(claim.products if claim is not None and claim.products else topic.products)


def pick_variant(rng: random.Random, allow: tuple[str, ...] = evasion.ALL_VARIANTS) -> str:
    names = [n for n in VARIANT_WEIGHTS if n in allow]
    return rng.choices(names, weights=[VARIANT_WEIGHTS[n] for n in names])[0]


def render_claim(rng: random.Random, claim: Claim, variant: str) -> tuple[str, str]:
    """(text as shown, effective variant) for the text variants and plain.

    Falls back to symbols, then plain, when the variant cannot change this claim.
    """
    if variant in evasion.TEXT_VARIANTS:
        for name in (variant, "symbols"):
            shown = evasion.disguise(claim.text, name, rng)
            if shown is not None:
                return shown, name
    return evasion.plain(claim.text), "plain"


def _points(rng: random.Random, topic: Topic, product: str, k: int) -> list[str]:
    return pick_fragments(rng, topic.points, product, k)


def _filler(rng: random.Random, k: int) -> list[str]:
    return rng.sample(FILLER, k)


def compose_product(
    rng: random.Random, topic: Topic, kind: str, allow: tuple[str, ...]
) -> Composed:
    """A shop listing (mall / JS mall). ``allow`` limits the evasion variants."""
    claim, cats = pick_claim(rng, topic) if kind == VIOLATION else (None, _NO_CATS)
    brand = rng.choice(BRANDS)
    product = pick_product(rng, topic, claim)
    spec = pick_fragments(rng, topic.specs, product, 1)[0]
    title = f"{brand}{product} {spec}"
    hook = rng.choice(("", " 新品", " 热卖", " 家庭装", " 店长推荐", " 现货速发"))
    paragraphs = _points(rng, topic, product, rng.randint(2, 3))
    images = [[product, p] for p in paragraphs[:1]] + [[brand, spec, rng.choice(FILLER)]]
    if kind == BENIGN:
        return Composed(
            title + hook,
            "\n".join(paragraphs + _filler(rng, 2)),
            product=product,
            image_lines=images,
        )
    if kind == HARD:
        if rng.random() < 0.7:
            statement = rng.choice(topic.compliant)
        else:
            statement = "【店铺公告】" + rng.choice(topic.warnings)
        paragraphs.insert(rng.randint(0, len(paragraphs)), statement)
        return Composed(
            title + hook,
            "\n".join(paragraphs + _filler(rng, 2)),
            hard_negative=True,
            product=product,
            image_lines=images,
        )
    assert claim is not None
    variant = pick_variant(rng, allow)
    plain = evasion.plain(claim.text)
    base = Composed(title, "", categories=cats, claim=plain, product=product, image_lines=images)
    if variant == "image_only":
        base.variant = "image_only"
        base.title = title + hook
        base.text = "\n".join(["详情见图", *paragraphs, *_filler(rng, 1)])
        base.image_lines = [[product, plain], *images]
        return base
    if variant == "split":
        head, tail = evasion.split_claim(claim.text)
        base.variant = "split"
        base.title = f"{title} {head}"
        base.text = "\n".join([tail, *paragraphs, *_filler(rng, 1)])
        return base
    shown, base.variant = render_claim(rng, claim, variant)
    if rng.random() < 0.5:
        base.title = f"{title} {shown}"
        base.text = "\n".join(paragraphs + _filler(rng, 2))
    else:
        base.title = title + hook
        paragraphs.insert(rng.randint(0, len(paragraphs)), shown)
        base.text = "\n".join(paragraphs + _filler(rng, 1))
    return base


def compose_post(rng: random.Random, topic: Topic, kind: str) -> tuple[Composed, bool]:
    """A social post; the flag says whether the author is an official account."""
    claim, cats = pick_claim(rng, topic) if kind == VIOLATION else (None, _NO_CATS)
    product = pick_product(rng, topic, claim)
    opener = rng.choice(SOCIAL_OPENERS)
    if kind == BENIGN:
        title = f"{product}{rng.choice(('分享', '测评', '开箱', '日常', '记录'))}"
        point = _points(rng, topic, product, 1)[0]
        body = f"{opener}{rng.choice(SOCIAL_CHATTER)}。{product}：{point}。"
        return Composed(title, body, product=product), False
    if kind == HARD:
        official = rng.random() < 0.6
        label = rng.choice(("【消费提示】", "【执法动态】", "【以案说法】", ""))
        if official:
            body = rng.choice(topic.warnings)
        else:
            body = f"{opener}{product}，{rng.choice(topic.compliant)}。{rng.choice(SOCIAL_CHATTER)}"
        title = f"{label}{body[:14]}…" if official else f"{product}小贴士"
        return Composed(title, body, hard_negative=True, product=product), official
    assert claim is not None
    variant = pick_variant(rng)
    plain = evasion.plain(claim.text)
    cta = rng.choice(SOCIAL_CTAS)
    post = Composed("", "", categories=cats, claim=plain, product=product)
    if variant == "image_only":
        post.variant = "image_only"
        post.title = f"{product}真实反馈"
        post.text = f"{opener}{product}效果直接看图，{cta}"
        post.image_lines = [[product, plain]]
    elif variant == "split":
        head, tail = evasion.split_claim(claim.text)
        post.variant = "split"
        post.title = f"{product}｜{head}"
        post.text = f"{tail}。{opener}{cta}"
    else:
        shown, post.variant = render_claim(rng, claim, variant)
        post.title = f"{product}{rng.choice(('分享', '好物', '安利', '回购'))}"
        post.text = f"{opener}{product}{shown}！{cta}"
    return post, False


def pick_official(rng: random.Random) -> str:
    return rng.choice(OFFICIAL_AUTHORS)
