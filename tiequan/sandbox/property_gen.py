"""Property-portal listings: new-build projects with honest and violating ad copy."""

from __future__ import annotations

import random
from dataclasses import dataclass

from tiequan.sandbox import evasion
from tiequan.sandbox.compose import BENIGN, HARD, Composed, pick_claim, pick_variant, render_claim
from tiequan.sandbox.parties import COUNTIES
from tiequan.sandbox.textbase import Topic, pick_fragments

_PLACES = ("塔拉", "锡勒", "诺尔", "乌兰", "敦达", "巴音", "哈达", "苏木", "白音", "宝力")
_SUFFIXES = ("华府", "名苑", "雅居", "花园", "壹号院", "观澜府", "学府里", "悦湾", "公园里", "湖畔")
_STREETS = ("团结大街", "新华路", "锡林大街", "草原路", "振兴东路", "胜利西街", "民族路")
_LAYOUTS = ("两室一厅一卫", "三室两厅一卫", "三室两厅两卫", "一室一厅", "四室两厅两卫")
# Ad copy that mentions sensitive subjects lawfully (hard negatives).
_HARD_COPY = (
    "项目距高铁站直线距离约3.2公里，实际通行时间受路况影响",
    "本项目不承诺升值或投资回报，购房请理性决策",
    "学校信息以教育部门每年公布的划片为准，本广告不作承诺",
    "所标面积均为建筑面积，套内面积以测绘报告为准",
    "轨道交通线路尚在规划，最终以政府批复为准，本广告不作承诺",
)
PROPERTY_VARIANTS = ("plain", "traditional", "symbols", "pinyin", "numeric", "homophone", "split")


@dataclass
class PropertyFacts:
    project: str
    location: str
    county: str
    layout: str
    area_text: str
    area: float
    price_per_m2: float
    permit: str


def _project_name(rng: random.Random) -> str:
    return rng.choice(_PLACES) + rng.choice(_SUFFIXES)


def _facts(rng: random.Random, topic: Topic) -> PropertyFacts:
    _code, county, _short = rng.choice(COUNTIES)
    street_a, street_b = rng.sample(_STREETS, 2)
    area = round(rng.uniform(58, 168), 1)
    label = rng.choice(("建筑面积", "套内面积"))
    return PropertyFacts(
        project=_project_name(rng),
        location=f"{county}{street_a}与{street_b}交汇处",
        county=county,
        layout=rng.choice(_LAYOUTS),
        area_text=f"{label}{area}㎡",
        area=area,
        price_per_m2=float(round(rng.uniform(*topic.price), -1)),
        permit=f"塔房预售证第{rng.randint(2019, 2022)}{rng.randint(1, 99):03d}号",
    )


def compose_property(rng: random.Random, topic: Topic, kind: str) -> tuple[Composed, PropertyFacts]:
    facts = _facts(rng, topic)
    points = pick_fragments(rng, topic.points, facts.project, 3)
    title = f"{facts.project} {facts.layout} {facts.area_text}"
    if kind == BENIGN:
        text = "\n".join([*points, rng.choice(topic.compliant)])
        return Composed(title, text, product=facts.project), facts
    if kind == HARD:
        text = "\n".join([rng.choice(_HARD_COPY), *points, rng.choice(topic.compliant)])
        return Composed(title, text, hard_negative=True, product=facts.project), facts
    roll = rng.random()
    if roll < 0.12:
        # A pre-sale ad without a permit: the copy sells off-plan, the permit is missing.
        facts.permit = ""
        text = "\n".join(["认筹火热进行中，交1万抵3万", *points])
        return Composed(
            title,
            text,
            categories=(topic.category,),
            variant="no_permit",
            claim="无预售许可证发布预售广告",
            product=facts.project,
        ), facts
    if roll < 0.22:
        # Area given without saying whether it is 建筑面积 or 套内面积.
        facts.area_text = f"约{round(facts.area)}平（实得面积大）"
        text = "\n".join(points)
        return Composed(
            f"{facts.project} {facts.layout} {facts.area_text}",
            text,
            categories=(topic.category,),
            variant="misleading_area",
            claim="面积未标明建筑面积或套内面积",
            product=facts.project,
        ), facts
    claim, cats = pick_claim(rng, topic)
    variant = pick_variant(rng, PROPERTY_VARIANTS)
    composed = Composed(
        title, "", categories=cats, claim=evasion.plain(claim.text), product=facts.project
    )
    if variant == "split":
        head, tail = evasion.split_claim(claim.text)
        composed.title = f"{title} {head}"
        composed.text = "\n".join([tail, *points])
        composed.variant = "split"
    else:
        shown, composed.variant = render_claim(rng, claim, variant)
        composed.text = "\n".join([shown, *points])
    return composed, facts
