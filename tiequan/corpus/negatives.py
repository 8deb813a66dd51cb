"""Hand-written frames for hard negatives and benign listings, and listing furniture.

Hard negatives use the same words as violations without breaking a rule: consumer
warnings and enforcement news that quote a claim, paraphrases of the rules themselves and
lawful ads of the same products. ``{claim}``, ``{product}``, ``{place}`` and ``{n}`` are
filled in by the generator.
"""

from __future__ import annotations

WARNINGS: tuple[str, ...] = (
    "消费提示：有网店宣称“{claim}”，这类说法没有科学依据，请勿轻信。",
    "提醒广大消费者，看到“{claim}”这样的宣传要提高警惕，以免上当受骗。",
    "辟谣：网传{product}“{claim}”，经核实系虚假宣传。",
    "市场监管部门提示：凡是宣称“{claim}”的广告，基本都是违法广告。",
    "别被“{claim}”这种话术骗了，购买前请查验资质。",
    "家里老人常被“{claim}”之类的宣传忽悠，子女要多提醒。",
    "风险提示：{product}商家所谓“{claim}”的承诺不可信，发现请拨打12315投诉。",
    "科普｜为什么说“{claim}”是骗局？专家给出了三点理由。",
)

NEWS: tuple[str, ...] = (
    "{place}市场监管局近日查处一起虚假广告案，当事人在网店销售{product}时宣称“{claim}”，被罚款{n}万元。",
    "典型案例通报：某公司在直播间推销{product}，称“{claim}”，执法人员已依法立案调查。",
    "记者调查发现，部分商家仍在用“{claim}”推销{product}，{place}市场监管部门已介入。",
    "{place}铁拳行动执法动态：下架宣称“{claim}”的{product}链接{n}条。",
    "法院审结一起消费纠纷，商家宣称“{claim}”被认定为欺诈，判决退一赔三。",
    "{place}通报{n}起违法广告案件，其中一家店铺宣传{product}“{claim}”。",
)

REGULATIONS: dict[str, tuple[str, ...]] = {
    "slimming_aphrodisiac": (
        "依照食品安全法，普通食品不得声称具有减肥、壮阳或者降血糖等保健功能，禁止在食品中添加药品。",
        "保健食品标签应当标注本品不能代替药物，广告不得含有保证功效的断言。",
    ),
    "miracle_drug": (
        "广告法第十七条规定，除医疗、药品、医疗器械广告外，任何广告不得涉及疾病治疗功能。",
        "医疗广告不得含有表示功效的断言或者保证，不得说明治愈率或者有效率。",
    ),
    "medical_beauty": (
        "医疗美容广告执法指南明确，制造容貌焦虑、宣传术前术后对比的广告属于重点查处对象。",
        "医疗美容机构使用未经批准的药品和医疗器械的，依法予以查处。",
    ),
    "counterfeit_apparel": (
        "按照纤维含量标签标准，标注羊绒百分之百的产品，检测结果必须与标注一致。",
        "销售假冒注册商标的服装鞋帽，属于侵犯商标专用权的行为。",
    ),
    "real_estate": (
        "房地产广告不得承诺升值或者投资回报，不得以项目到达某一具体参照物的所需时间表示项目位置。",
        "房地产广告中涉及面积的，应当表明为建筑面积或者套内建筑面积，未取得预售许可证的不得发布预售广告。",
    ),
}

COMPLIANT_FRAMES: tuple[str, ...] = (
    "{product}，{good1}，{good2}。",
    "【{product}】{good1}；{good2}。欢迎咨询。",
    "本店{product}上新：{good1}，{good2}，支持七天无理由退货。",
    "{product}常见问题：{good1}。另外，{good2}。",
)

NEGATION_FRAMES: tuple[str, ...] = (
    "本店{product}不含任何违禁成分，也不做“{claim}”这样的虚假承诺。",
    "我们不会像有些商家那样说“{claim}”，{product}就是普通商品，{good1}。",
)

PLACES: tuple[str, ...] = (
    "某旗",
    "某县",
    "某区",
    "某市",
    "某盟",
    "城关",
    "开发区",
)

BENIGN_PRODUCTS: tuple[str, ...] = (
    "不锈钢保温杯",
    "东北长粒香大米",
    "儿童绘本套装",
    "无线蓝牙耳机",
    "实木书桌",
    "纯棉四件套",
    "手机钢化膜",
    "LED护眼台灯",
    "户外折叠椅",
    "铸铁炒锅",
    "双肩电脑包",
    "加厚羽绒服",
    "手工红糖",
    "宠物猫粮",
    "中性笔十支装",
    "电动牙刷",
    "瑜伽垫",
    "收纳箱",
    "羊毛地毯",
    "一居室出租，押一付三",
)

BENIGN_POINTS: tuple[str, ...] = (
    "下单后四十八小时内发货",
    "包装结实，快递包邮",
    "颜色以实物为准",
    "尺寸请参考详情页表格",
    "支持七天无理由退货",
    "有问题请联系在线客服",
    "满两件打九折",
    "今年新款，库存充足",
    "材质安全，无异味",
    "适合送礼，自带礼盒",
    "售后有保障，一年质保",
    "偏远地区需补运费",
    "厂家直发，正规发票",
)

OPENERS: tuple[str, ...] = (
    "",
    "",
    "【店铺热卖】",
    "新品上市｜",
    "家人们，",
    "老顾客回购！",
    "限时特价：",
    "直播间同款 ",
)

CLOSERS: tuple[str, ...] = (
    "",
    "拍下即发货。",
    "库存不多，先到先得。",
    "详情咨询客服。",
    "加微信领优惠券。",
    "全国包邮。",
)

SOCIAL_FRAMES: tuple[str, ...] = (
    "姐妹们真的要冲！{product}，{claim}，{closer}",
    "分享一下我的亲身经历：用了{product}以后，{claim}。",
    "朋友圈都在问的{product}来了，{claim}，需要的私信我。",
    "直播口播：这款{product}，{claim}，今天下单再送一盒！",
)

LISTING_FRAMES: tuple[str, ...] = (
    "{opener}{product}，{claim}。{closer}",
    "{opener}{product}｜{claim}，{good}。{closer}",
    "{product}\n卖点：{claim}\n{good}。{closer}",
    "{opener}{product}，{good}。{claim}！{closer}",
)
