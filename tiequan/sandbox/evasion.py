"""How sellers disguise claims: the text-level evasion variants.

Claims mark sensitive terms with braces (``{减肥}``). ``disguise`` returns the claim
rewritten for one variant, or None when that variant cannot change this claim (no
digits to rewrite, no term with a known pinyin…) so the caller can pick another.
``image_only`` and ``split`` are about placement and are handled by the composer.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

TEXT_VARIANTS = ("traditional", "symbols", "pinyin", "numeric", "homophone")
PLACEMENT_VARIANTS = ("image_only", "split")
ALL_VARIANTS = ("plain", *TEXT_VARIANTS, *PLACEMENT_VARIANTS)

_TERM = re.compile(r"\{([^{}]+)\}")
_SEPARATORS = ("*", " ", "·", "/", "_", "~", "❤", "-")

# Simplified -> traditional for the characters that occur in claims.
_TRAD_PAIRS = (
    "减減 壮壯 阳陽 药藥 疗療 医醫 颜顏 绒絨 楼樓 涨漲 学學 区區 压壓 验驗 证證 龄齡 陈陳 酿釀 "
    "纯純 粮糧 发發 现現 无無 体體 轻輕 专專 柜櫃 货貨 单單 费費 报報 价價 传傳 让讓 连連 气氣 "
    "电電 动動 车車 烟煙 儿兒 肤膚 术術 后後 对對 图圖 见見 针針 脸臉 满滿 级級 复復 风風 剂劑 "
    "胶膠 岁歲 长長 险險 销銷 调調 质質 热熱 标標 为為 过過 劲勁 卖賣 买買 时時 间間 实實 这這 "
    "灵靈 护護 贴貼 亲親 双雙 总總 乐樂 经經 挂掛 号號 购購 仪儀 强強 达達 称稱 秘祕 验驗 "
    "脱脫 糖糖 压壓 肾腎 効效 痛痛 罚罰 码碼 刷刷 装裝 码碼 机機 盒盒 仿仿 渠渠 尾尾 龙龍 "
    "选選 养養 场場 头頭 点點 级級 临臨 开開 铁鐵 递遞 扩擴 续續 倍倍 杂雜 几幾 样樣 皱皺"
)
_TRAD = {pair[0]: pair[1] for pair in _TRAD_PAIRS.split()}

# Pinyin (full and initials) for the terms sellers most often romanise.
PINYIN: dict[str, tuple[str, ...]] = {
    "减肥": ("jianfei", "jf"),
    "瘦身": ("shoushen", "ss"),
    "燃脂": ("ranzhi",),
    "刮油": ("guayou",),
    "排油": ("paiyou",),
    "掉秤": ("diaocheng",),
    "躺瘦": ("tangshou",),
    "壮阳": ("zhuangyang", "zy"),
    "补肾": ("bushen", "bs"),
    "延时": ("yanshi", "ys"),
    "持久": ("chijiu", "cj"),
    "降血糖": ("jiangxuetang",),
    "降糖": ("jiangtang", "jt"),
    "降血压": ("jiangxueya",),
    "降血脂": ("jiangxuezhi",),
    "根治": ("genzhi", "gz"),
    "祖传秘方": ("zuchuanmifang", "zcmf"),
    "祖传": ("zuchuan",),
    "神药": ("shenyao", "sy"),
    "神医": ("shenyi",),
    "包治": ("baozhi",),
    "治愈率": ("zhiyulv",),
    "抗癌": ("kangai",),
    "治好": ("zhihao",),
    "有效率": ("youxiaolv",),
    "水光针": ("shuiguangzhen", "sgz"),
    "溶脂针": ("rongzhizhen", "rzz"),
    "肉毒": ("roudu", "rd"),
    "玻尿酸": ("boniaosuan", "bns"),
    "双眼皮": ("shuangyanpi",),
    "三天美白": ("3tian meibai",),
    "医美级": ("yimeiji",),
    "零风险": ("lingfengxian",),
    "无痛": ("wutong",),
    "去皱": ("quzhou",),
    "纯羊绒": ("chunyangrong", "cyr"),
    "100%羊绒": ("100% yangrong",),
    "100%纯山羊绒": ("100% chun shanyangrong",),
    "高仿": ("gaofang", "gf"),
    "原单": ("yuandan", "yd"),
    "尾货": ("weihuo",),
    "尾单": ("weidan",),
    "渠道货": ("qudaohuo",),
    "复刻": ("fuke", "fk"),
    "莆田": ("putian", "PT"),
    "纯原": ("chunyuan",),
    "专柜同款": ("zhuangui tongkuan",),
    "升值": ("shengzhi", "sz"),
    "翻一番": ("fanyifan",),
    "包租": ("baozu",),
    "开发商包租": ("kaifashang baozu",),
    "回报率": ("huibaolv",),
    "返租": ("fanzu",),
    "稳赚": ("wenzhuan",),
    "保证升值": ("baozheng shengzhi",),
    "学区": ("xuequ",),
    "名校": ("mingxiao",),
    "解除限速": ("jiechu xiansu",),
    "解码": ("jiema", "jm"),
    "刷机": ("shuaji",),
    "改装": ("gaizhuang", "gz"),
    "电子烟": ("dianziyan", "dzy"),
    "香烟糖": ("xiangyantang",),
    "盲盒": ("manghe",),
    "窖藏": ("jiaocang",),
    "原浆": ("yuanjiang",),
    "陈酿": ("chenniang",),
    "纯粮": ("chunliang",),
    "翻新": ("fanxin",),
    "作弊": ("zuobi", "zb"),
    "遥控": ("yaokong",),
    "择校费": ("zexiaofei",),
    "赞助费": ("zanzhufei",),
    "铜包铝": ("tongbaolv",),
    "高硫": ("gaoliu",),
    "冰乙酸": ("bingyisuan",),
}

# Homophones and look-alike characters used to slip past keyword lists.
_HOMOPHONES: dict[str, str] = {
    "减肥": "减月巴",
    "瘦身": "受身",
    "壮阳": "状杨",
    "延时": "延峕",
    "降糖": "将糖",
    "根治": "跟治",
    "神药": "神葯",
    "高仿": "高纺",
    "复刻": "复k",
    "原单": "原丹",
    "包治": "保治",
    "升值": "昇值",
    "溶脂针": "容脂针",
    "电子烟": "电子yan",
    "解码": "解玛",
    "燃脂": "然脂",
    "补肾": "补昚",
    "玻尿酸": "波尿酸",
    "纯羊绒": "纯羊戎",
}

_CN_DIGITS = "零一二三四五六七八九"


def plain(text: str) -> str:
    """The claim as plain text (markers removed)."""
    return _TERM.sub(r"\1", text)


def terms(text: str) -> list[str]:
    return _TERM.findall(text)


def to_chinese_number(n: int) -> str:
    """0 <= n < 10000 in Chinese numerals, as written in ads (十五, not 一十五)."""
    if n < 10:
        return _CN_DIGITS[n]
    parts: list[str] = []
    zero = False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // value % 10
        if digit == 0:
            zero = bool(parts)
            continue
        if zero:
            parts.append("零")
            zero = False
        parts.append(_CN_DIGITS[digit] + unit)
    out = "".join(parts)
    if out.startswith("一十"):
        return out[1:]
    return "两" + out[1:] if out[:2] in ("二千", "二百") else out


def _numbers_to_chinese(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        before = text[m.start() - 1] if m.start() else ""
        after = text[m.end()] if m.end() < len(text) else ""
        if before in ":.：" or after in ":.：" or (after.isascii() and after.isalpha()):
            return m.group(0)
        if after == "%":
            return (
                "百分之百" if m.group(0) == "100" else "百分之" + to_chinese_number(int(m.group(0)))
            )
        return to_chinese_number(int(m.group(0)))

    return re.sub(r"\d{1,4}", repl, text)


def _fix_percent(text: str) -> str:
    return re.sub(r"(百分之[零一二三四五六七八九十百]+)%", r"\1", text)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if ch.isdigit() else ch for ch in text)


def _each_term(text: str, fn: Callable[[str], str]) -> str:
    return _TERM.sub(lambda m: fn(m.group(1)), text)


def disguise(text: str, variant: str, rng: random.Random) -> str | None:
    """``text`` (with markers) rewritten for a text variant; None if not applicable."""
    base = plain(text)
    if variant == "traditional":
        out = "".join(_TRAD.get(ch, ch) for ch in base)
    elif variant == "symbols":
        sep = rng.choice(_SEPARATORS)
        out = _each_term(text, lambda t: sep.join(t) if len(t) > 1 else t)
    elif variant == "pinyin":
        if not any(t in PINYIN for t in terms(text)):
            return None
        out = _each_term(text, lambda t: rng.choice(PINYIN[t]) if t in PINYIN else t)
    elif variant == "homophone":
        if not any(t in _HOMOPHONES for t in terms(text)):
            return None
        out = _each_term(text, lambda t: _HOMOPHONES.get(t, t))
    elif variant == "numeric":
        if not re.search(r"\d", base):
            return None
        out = _fix_percent(_numbers_to_chinese(base)) if rng.random() < 0.7 else _fullwidth(base)
    else:
        raise ValueError(f"not a text variant: {variant!r}")
    return out if out != base else None


def split_claim(text: str) -> tuple[str, str]:
    """Cut a claim inside its first term, so neither half holds the whole term."""
    found = _TERM.search(text)
    base = plain(text)
    if found is None or len(found.group(1)) < 2:
        mid = len(base) // 2
    else:
        # Offset of the term in the plain text: markers before it are 2 chars each.
        start = found.start() - 2 * text[: found.start()].count("{")
        mid = start + len(found.group(1)) // 2
    return base[:mid], base[mid:]
