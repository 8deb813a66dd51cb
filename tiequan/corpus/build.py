"""Compose the corpus from hand-written fragments with a seeded generator and split it.

Run ``python -m tiequan.corpus.build`` to rewrite ``config/corpus/{train,valid,test}.jsonl``
and the count tables in ``config/corpus/DATASHEET.md``. The output is deterministic.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tiequan.corpus import negatives as neg
from tiequan.corpus import negatives_more as more
from tiequan.corpus.datasheet import write_counts
from tiequan.corpus.evasion import EVASIONS, split_claim
from tiequan.corpus.fragments_core import CORE_POOLS, Pool
from tiequan.corpus.fragments_more import MORE_POOLS
from tiequan.settings import REPO_CONFIG_DIR

log = logging.getLogger(__name__)

SEED = 20220315
SPLITS = ("train", "valid", "test")
SHARES = (0.6, 0.2, 0.2)
CORPUS_DIR = REPO_CONFIG_DIR / "corpus"
VARIANTS = ("plain", *EVASIONS, "split")

# Everyday texts that contain a flagged word in a harmless sense (lexicon exceptions).
LOOKALIKES: tuple[str, ...] = (
    "一周减脂餐食谱分享，鸡胸肉和西兰花的做法",
    "延时摄影教程：如何拍出城市车流的光轨",
    "包租婆表情包合集，斗图必备",
    "治愈系绘本推荐，陪孩子读睡前故事",
    "仿羊绒围巾，成分腈纶，羊绒手感但价格亲民",
    "无痛分娩在我们医院已经普及，产妇可以咨询麻醉科",
    "视频解码器芯片批发，支持多种格式",
    "人民币升值对进出口企业的影响分析",
    "医院开展无痛胃镜检查，需要提前预约",
    "这部电影太治愈了，看完心情变好",
    "复刻经典款式的帆布鞋，本品牌官方出品",
    "延时开关安装说明，楼道灯三十秒自动熄灭",
    "降压模块适用于十二伏转五伏电路",
    "硝酸铵钙是一种常用的水溶性肥料",
    "散煤治理工作取得阶段性成效，居民改用清洁能源",
)


def _records(pool: Pool, n_violation: int, n_hard: int, rng: random.Random) -> list[dict[str, Any]]:
    out = [_violation(pool, rng) for _ in range(n_violation)]
    out += [_hard_negative(pool, rng) for _ in range(n_hard)]
    return out


def _violation(pool: Pool, rng: random.Random) -> dict[str, Any]:
    labels = [pool.category]
    if pool.combos and rng.random() < 0.12:
        claim, extra = rng.choice(pool.combos)
        labels.append(extra)
    else:
        claim = rng.choice(pool.claims)
    product = rng.choice(pool.products)
    variant = "plain" if rng.random() < 0.5 else rng.choice(VARIANTS[1:])
    if variant == "split":
        text = split_claim(product, claim)
    else:
        if variant != "plain":
            disguised = EVASIONS[variant](claim, rng)
            if disguised is None:
                variant = "plain"
            else:
                claim = disguised
        others = [c for c in pool.claims if c != claim]
        if rng.random() < 0.3 and others:
            claim = f"{claim}，{rng.choice(others)}"
        text = _frame(product, claim, pool, rng)
    source = "generated:listing" if variant != "split" else "generated:split"
    return _record(text, sorted(labels), "violation", variant, source)


def _frame(product: str, claim: str, pool: Pool, rng: random.Random) -> str:
    # "I used this flat" reads wrong: property ads are listings, not testimonials.
    social = pool.category != "real_estate" and rng.random() < 0.35
    frames = neg.SOCIAL_FRAMES if social else neg.LISTING_FRAMES
    return rng.choice(frames).format(
        opener=rng.choice(neg.OPENERS),
        closer=rng.choice(neg.CLOSERS),
        product=product,
        claim=claim,
        good=rng.choice(pool.compliant),
    )


def _hard_negative(pool: Pool, rng: random.Random) -> dict[str, Any]:
    kind = rng.choices(
        ("warning", "news", "regulation", "compliant", "negation"), (30, 25, 10, 30, 5)
    )[0]
    regs = neg.REGULATIONS.get(pool.category)
    if kind == "regulation" and not regs:
        kind = "warning"
    fill = {
        "claim": rng.choice(pool.claims),
        "product": rng.choice(pool.products),
        "place": rng.choice(neg.PLACES),
        "n": rng.randint(1, 30),
        "good1": rng.choice(pool.compliant),
        "good2": rng.choice(pool.compliant),
    }
    if kind == "regulation" and regs:
        prefix = rng.choice(("", "法规摘录：", "普法小课堂：", "条文解读｜"))
        text = prefix + rng.choice(regs)
    else:
        frames = {
            "warning": neg.WARNINGS,
            "news": neg.NEWS,
            "compliant": neg.COMPLIANT_FRAMES,
            "negation": neg.NEGATION_FRAMES,
        }[kind]
        text = rng.choice(frames).format(**fill)
    return _record(text, [], "hard_negative", "plain", f"generated:{kind}:{pool.category}")


def _benign(rng: random.Random) -> dict[str, Any]:
    points = rng.sample(neg.BENIGN_POINTS, k=rng.randint(2, 3))
    text = f"{rng.choice(neg.OPENERS)}{rng.choice(neg.BENIGN_PRODUCTS)}，{'，'.join(points)}。"
    return _record(text + rng.choice(neg.CLOSERS), [], "benign", "plain", "generated:benign")


def _record(text: str, labels: list[str], group: str, variant: str, source: str) -> dict[str, Any]:
    return {"text": text, "labels": labels, "group": group, "variant": variant, "source": source}


def generate(seed: int = SEED) -> dict[str, list[dict[str, Any]]]:
    """All records, deduplicated by text, split 60/20/20 within each stratum."""
    rng = random.Random(seed)  # nosec B311 # seeded corpus composition, not security
    records: list[dict[str, Any]] = []
    for pool in CORE_POOLS:
        records += _records(pool, 260, 120, rng)
    for pool in MORE_POOLS:
        records += _records(pool, 75, 30, rng)
    records += [_benign(rng) for _ in range(450)]
    records += [_record(t, [], "hard_negative", "plain", "written:lookalike") for t in LOOKALIKES]
    unique = list({r["text"]: r for r in records}.values())
    splits = _split(unique, rng)
    # The later hard negatives (negatives_more.py) draw from their own generator and are
    # appended, so adding them left every earlier example in its split, with its id.
    more_rng = random.Random(seed + 1)  # nosec B311 # seeded corpus composition
    seen = {r["text"] for r in unique}
    extra = [r for r in _more_hard_negatives(more_rng) if r["text"] not in seen]
    extra = list({r["text"]: r for r in extra}.values())
    for split, part in _split(extra, more_rng).items():
        splits[split].extend(part)
    for split in SPLITS:
        for i, record in enumerate(splits[split]):
            record["id"] = f"{split}-{i:05d}"
    return splits


def _split(records: list[dict[str, Any]], rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """Stratified (group × label set, or group × source) 60/20/20 split, each part shuffled."""
    strata: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        key = f"{record['group']}|{','.join(record['labels']) or record['source']}"
        strata.setdefault(key, []).append(record)
    splits: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for key in sorted(strata):
        members = strata[key]
        rng.shuffle(members)
        cut1 = round(len(members) * SHARES[0])
        cut2 = cut1 + round(len(members) * SHARES[1])
        for split, part in zip(
            SPLITS, (members[:cut1], members[cut1:cut2], members[cut2:]), strict=True
        ):
            splits[split].extend(part)
    for split in SPLITS:
        rng.shuffle(splits[split])
    return splits


def _more_hard_negatives(rng: random.Random) -> list[dict[str, Any]]:
    """Lawful, educational, paraphrasing and disclaiming texts per category."""
    pools = {p.category: p for p in (*CORE_POOLS, *MORE_POOLS)}
    core = {p.category for p in CORE_POOLS}
    out: list[dict[str, Any]] = []
    for kinds in more.KINDS:
        pool = pools[kinds.category]
        for _ in range(45 if kinds.category in core else 15):
            kind = rng.choices(
                ("lawful", "education", "paraphrase", "disclaimer"), (40, 20, 30, 10)
            )[0]
            fill = {
                "product": rng.choice(pool.products),
                "topic": rng.choice(kinds.topics),
                "place": rng.choice(neg.PLACES),
                "n": rng.randint(2, 60),
                "good": rng.choice(pool.compliant),
            }
            if kind == "lawful":
                body = rng.choice(kinds.lawful).format(**fill)
                text = f"{rng.choice(neg.OPENERS)}{body}{rng.choice(neg.CLOSERS)}"
            elif kind == "education":
                text = rng.choice(("", "科普｜", "小知识：", "问答：")) + rng.choice(
                    kinds.education
                )
            else:
                frames = more.PARAPHRASE_FRAMES if kind == "paraphrase" else more.DISCLAIMER_FRAMES
                text = rng.choice(frames).format(**fill)
            out.append(
                _record(text, [], "hard_negative", "plain", f"generated:{kind}:{pool.category}")
            )
    return out


def read_split(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def counts_markdown(splits: Mapping[str, Sequence[dict[str, Any]]]) -> str:
    """The datasheet's count tables, recomputed from the split records."""

    def table(title: str, keyed: Mapping[str, Iterable[str]]) -> list[str]:
        counters = {s: Counter(keyed[s]) for s in SPLITS}
        keys = sorted(set().union(*counters.values()))
        lines = [f"| {title} | train | valid | test | total |", "|---|---:|---:|---:|---:|"]
        for key in keys:
            row = [counters[s][key] for s in SPLITS]
            lines.append(f"| {key} | {' | '.join(map(str, row))} | {sum(row)} |")
        return [*lines, ""]

    out = table("split", {s: ["examples"] * len(splits[s]) for s in SPLITS})
    out += table("category (examples labelled)", {s: _labels(splits[s]) for s in SPLITS})
    out += table("group", {s: [r["group"] for r in splits[s]] for s in SPLITS})
    violations = {s: [r["variant"] for r in splits[s] if r["group"] == "violation"] for s in SPLITS}
    out += table("variant (violations)", violations)
    kinds = {
        s: [r["source"].split(":")[1] for r in splits[s] if r["group"] == "hard_negative"]
        for s in SPLITS
    }
    out += table("kind (hard negatives)", kinds)
    return "\n".join(out).rstrip() + "\n"


def _labels(records: Iterable[dict[str, Any]]) -> list[str]:
    return [label for r in records for label in r["labels"]]


def write(corpus_dir: Path = CORPUS_DIR, seed: int = SEED) -> dict[str, list[dict[str, Any]]]:
    splits = generate(seed)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    keys = ("id", "text", "labels", "group", "variant", "source")
    for split, records in splits.items():
        lines = [json.dumps({k: r[k] for k in keys}, ensure_ascii=False) for r in records]
        (corpus_dir / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_counts(corpus_dir / "DATASHEET.md", counts_markdown(splits))
    return splits


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=CORPUS_DIR)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    splits = write(args.out, args.seed)
    print(" ".join(f"{s}={len(r)}" for s, r in splits.items()))  # CLI output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
