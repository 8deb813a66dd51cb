"""More hard negatives, of the kinds real pages contain besides quoted warnings and news.

Per category: ``lawful`` texts of legitimate products and notices that use the category's
words (保健食品 stating its approved function, a licensed clinic's notice, a declared
cashmere blend, a liquor label in compliant form, a GB 17761 e-bike, food sold on taste),
``education`` texts (科普, comparisons, how to tell), and ``topics``: how a warning or a
news item paraphrases the category's claims without quoting them. ``{product}`` is filled
with one of the category's products. Every sentence was written for this corpus; none is
taken from the sandbox marketplace.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HardKinds:
    category: str
    lawful: tuple[str, ...]
    education: tuple[str, ...]
    topics: tuple[str, ...]


# Warnings and news that paraphrase a claim: {topic}, {product}, {place}, {n}.
PARAPHRASE_FRAMES: tuple[str, ...] = (
    "{place}市场监管局发布网购消费建议：遇到号称{topic}的{product}先别下单，保存好聊天记录和付款凭证。",
    "今年以来，{place}共受理涉及{topic}的投诉举报{n}件，目前已全部办结。",
    "社区网格员在居民群里提醒，最近有人推销{product}，张口就是{topic}，大家不要急着掏钱。",
    "读者来信：直播间主播把{product}说得天花乱坠，又是{topic}又是限时秒杀，收到货才知道上当。",
    "{place}执法人员检查时发现，个别门店拿{topic}当噱头招揽顾客，已当场责令整改。",
    "律师说法：商家以{topic}为卖点误导消费者的，消费者可以依法要求赔偿。",
    "调查｜{topic}的{product}为何屡禁不止？记者走访了{n}家店铺。",
)

# A seller's own disclaimer, without quoting anyone: {product}, {topic}, {good}.
DISCLAIMER_FRAMES: tuple[str, ...] = (
    "温馨提示：{product}是普通商品，不具备{topic}等功效，{good}。",
    "{product}如实描述，绝不打{topic}的旗号，{good}。",
    "{product}并非{topic}一类的产品，{good}。",
)

SLIMMING = HardKinds(
    category="slimming_aphrodisiac",
    lawful=(
        "{product}，蓝帽子标志清楚，经批准的保健功能为有助于控制体内脂肪，本品不能代替药物。",
        "保健食品注册证书编号印在盒侧，批准的保健功能是辅助降血糖，适宜人群为血糖偏高者，不适宜人群为少年儿童。",
        "国产保健食品，保健功能：辅助降血脂；每日两次，每次两粒；本品不能代替药物。",
        "{product}属于普通食品，主打口感，酸甜开胃，配料只有水果和膳食纤维。",
        "手撕牛肉干，香辣和五香两种口味，嚼劲十足，追剧零食首选。",
        "零糖气泡水，桃子味清爽解腻，每罐热量不到五千卡。",
        "全麦吐司，配料表第一位是全麦粉，早餐夹鸡蛋生菜很好吃。",
        "男士综合营养片，含锌、硒和B族维生素，用于日常营养补充，非药品。",
    ),
    education=(
        "营养科医生科普：体重管理靠的是长期的热量缺口，任何单一食品都替代不了。",
        "保健食品和药品的区别：保健食品只能声称经批准的保健功能，药品才能用于治疗疾病。",
        "怎么看蓝帽子？包装上的批准文号可以在市场监管总局网站查到对应的保健功能。",
        "血糖偏高的人应当在医生指导下用药和控制饮食，零食只是零食。",
        "健身教练讲解：减脂期间先保证蛋白质摄入，再慢慢减少精制碳水。",
    ),
    topics=("减肥瘦身", "壮阳补肾", "降糖降压", "吃了就瘦", "替代降糖药"),
)

MIRACLE = HardKinds(
    category="miracle_drug",
    lawful=(
        "本院为二级综合医院，持医疗机构执业许可证，骨科门诊周一至周五全天接诊，节假日值班医生在岗。",
        "{product}，国药准字号非处方药，请按说明书使用或在药师指导下购买和使用。",
        "社区卫生服务中心通知：本周四上午为辖区老人免费测血压、血糖，请带医保卡。",
        "中医馆坐诊时间表：李医师周二、周四上午，挂号请通过公众号预约。",
        "{product}为一类医疗器械，备案凭证可查，仅用于局部热敷，不能替代诊疗。",
        "药店公告：处方药凭医生处方销售，执业药师在岗时间为上午九点至晚上八点。",
    ),
    education=(
        "疾病需要到正规医院明确诊断，网上流传的偏方不能代替规范治疗。",
        "医学常识：慢性病强调长期管理，世界上并不存在一次就能根除的灵丹妙药。",
        "药品广告应当显著标明忌禁、不良反应，购买前可以先查批准文号。",
        "理疗贴属于医疗器械还是普通商品？看备案凭证就能分清楚。",
        "老年人遇到所谓免费讲座、专家义诊，最好先和子女商量。",
    ),
    topics=("包治百病", "根治顽疾", "祖传秘方", "神医坐诊", "药到病除"),
)

BEAUTY = HardKinds(
    category="medical_beauty",
    lawful=(
        "本诊所持有医疗机构执业许可证，美容外科诊疗科目已登记，主诊医师执业证号在前台公示。",
        "{product}使用的透明质酸钠凝胶为三类医疗器械，注册证号可在药监局网站查询。",
        "术后注意事项：一周内避免沾水，按时复诊，如有不适请及时联系主诊医生。",
        "{product}价格公示：按部位收费，具体方案须面诊后由医生制定，恢复时间因人而异。",
        "面部护理门店只做生活美容项目，不开展任何注射和手术类医疗美容。",
        "医美咨询须知：任何手术都有风险，请您如实告知病史和过敏史。",
    ),
    education=(
        "选择医美机构前，先在卫生健康部门网站核对执业许可和医生资质。",
        "正规医美项目都会签署知情同意书，写明可能的并发症。",
        "光电类项目需要多次治疗，效果受肤质、作息影响，并非一次定型。",
        "注射用肉毒毒素属于严格管理的药品，来源不明的针剂不要打。",
    ),
    topics=("零风险整形", "一次见效永久保持", "无痛无恢复期", "不满意免费重做", "变美才能成功"),
)

APPAREL = HardKinds(
    category="counterfeit_apparel",
    lawful=(
        "{product}，吊牌成分：羊绒30%、羊毛70%，与检测报告一致，介意混纺请慎拍。",
        "羊绒混纺围巾，成分如实标注为山羊绒40%、粘纤60%，手感柔软，价格实惠。",
        "{product}，羊毛含量85%，其余为锦纶，不是纯羊绒，按羊毛衫定价。",
        "品牌授权专卖店，每件商品附授权书编号，可到品牌官网查验真伪。",
        "本店自己的牌子，设计稿出自店里的设计师，按亚洲人身材打版，不模仿任何大牌。",
        "纯山羊绒开衫，含量100%，附第三方检测报告，售价一千六百八十元。",
    ),
    education=(
        "羊绒和羊毛怎么区分？羊绒纤维更细，鳞片更薄，靠检测才能准确判断含量。",
        "纤维含量标签要写明每种纤维的百分比，混纺产品如实标注是合规的。",
        "买大牌鞋服尽量选官方渠道，价格低得离谱的要多想一想。",
        "羊绒衫起球是正常现象，和含量高低没有必然关系。",
    ),
    topics=("百分百纯羊绒", "高仿大牌", "原单尾货", "专柜同款一比一", "大牌平替同厂"),
)

PROPERTY = HardKinds(
    category="real_estate",
    lawful=(
        "{product}已取得商品房预售许可证，证号在售楼处公示，在售户型建筑面积88至126平方米。",
        "{product}二手房出售，套内建筑面积72平方米，满五年，产权清晰，看房请提前预约。",
        "项目周边公共交通、学校等配套信息来源于政府公开规划，以实际建成为准。",
        "{product}现房销售，交付标准写入购房合同，样板间仅供参考。",
        "本楼盘距最近的公交站约三百米，步行可达，具体路线请以地图为准。",
    ),
    education=(
        "购房小知识：建筑面积包含公摊，套内面积才是自家实际使用的部分。",
        "学区划分每年由教育部门公布，买房前应当去教育局核实，不要只听销售口头介绍。",
        "房价有涨有跌，买房自住和投资的风险要分开考虑。",
        "签约前记得查验五证，预售许可证上的楼栋号要和所购房屋对应。",
    ),
    topics=("稳赚不赔的投资回报", "包租返租", "名校学位承诺", "几分钟到市中心", "买到就是赚到"),
)

OIL = HardKinds(
    category="edible_oil",
    lawful=(
        "{product}属于调和油，各油种比例按标签顺序注明，生产许可证可查。",
        "小磨工艺芝麻油，配料仅芝麻一种，执行国家标准，开盖香味浓。",
        "压榨一级花生油，非转基因原料，生产日期和保质期印在瓶肩。",
    ),
    education=(
        "调和油合法合规，关键是标签要写清楚各种油的比例。",
        "食用油怎么储存？避光、密封、远离灶台，开封后尽快用完。",
    ),
    topics=("纯芝麻油", "纯花生油", "百分百山茶油"),
)

FUEL = HardKinds(
    category="fuel_cheating",
    lawful=(
        "加油机配件，出厂附计量器具型式批准证书，安装后须由计量部门检定。",
        "{product}符合国六标准，每批次附质量检验报告，加油站专用。",
        "油站设备维保服务，持证上岗，维修后及时报请计量检定。",
    ),
    education=(
        "加油时看清加油机上的检定合格标志，有疑问可以要求用标准量器核对。",
        "国六汽油和国五汽油的区别主要在硫含量和烯烃含量。",
    ),
    topics=("加油机多出油", "遥控调量", "非标油当国标油"),
)

GAS = HardKinds(
    category="gas_cylinder",
    lawful=(
        "{product}，带熄火保护功能，3C认证编号见铭牌，安装请找有资质的师傅。",
        "液化石油气钢瓶由持证充装站充装，瓶身有检验日期和追溯码。",
        "强排式燃气热水器，需安装烟道，售后上门安装调试。",
    ),
    education=(
        "燃气钢瓶有使用年限，到期要送检或报废，不要自行处理。",
        "燃气灶买带熄火保护的，万一汤水溢出能自动关气。",
    ),
    topics=("翻新气瓶", "私自充装", "没有熄火保护的燃气灶"),
)

MINORS = HardKinds(
    category="minors_marketing",
    lawful=(
        "儿童绘本套装，适读年龄三至六岁，图文由出版社审定。",
        "{product}，适合八岁以上儿童，盒内为普通文具和贴纸，无随机抽取玩法。",
        "本店电子烟仅向年满十八周岁人士销售，下单需实名认证。",
    ),
    education=(
        "家长要留意孩子买的零食外形，像香烟的糖果对孩子有不良引导。",
        "学校周边两百米内不得销售烟草制品，发现可以举报。",
    ),
    topics=("香烟造型的糖", "专卖学生的电子烟", "儿童盲盒抽隐藏款"),
)

LIQUOR = HardKinds(
    category="liquor_label",
    lawful=(
        "{product}，工艺类型为固液法，配料依次为水、高粱、食用酒精，酒精度42%vol，标签如实标注。",
        "浓香型白酒，执行标准号印在背标，生产许可证编号可查，产地为本省某县。",
        "年份酒标注依据企业留存的基酒贮存记录，可按要求提供证明材料。",
        "纯粮固态发酵，配料为高粱、小麦和水，生产日期见瓶底。",
    ),
    education=(
        "白酒背标看什么？看执行标准、配料表和酒精度，年份说法要有依据。",
        "固态法、固液法和液态法白酒都是合法产品，区别在工艺。",
    ),
    topics=("三十年陈酿", "核心产区原浆", "国际金奖"),
)

AGRI = HardKinds(
    category="agri_inputs",
    lawful=(
        "{product}，肥料登记证号可查，总养分不低于45%，附出厂检验报告。",
        "聚乙烯地膜，厚度0.012毫米，符合国家标准，可机械回收。",
        "滴灌带由新料生产，提供质检报告，包装上有厂名厂址。",
    ),
    education=(
        "买化肥看包装上的登记证号和养分含量，价格太低的要警觉。",
        "地膜太薄难以回收，会留在土里影响下一季耕作。",
    ),
    topics=("亩产翻倍", "不增产包赔", "再生料滴灌带"),
)

COAL = HardKinds(
    category="household_coal",
    lawful=(
        "{product}，清洁型煤，硫分和灰分指标附检测报告，符合地方标准。",
        "洁净块煤，冬季取暖用，每批次抽检合格，送货上门。",
    ),
    education=(
        "烧煤取暖一定要装烟囱、开窗通风，预防一氧化碳中毒。",
        "民用散煤的质量标准对硫分、灰分都有上限。",
    ),
    topics=("掺土掺矸石的煤", "高硫煤冒充环保煤"),
)

HAZARD = HardKinds(
    category="hazardous_goods",
    lawful=(
        "{product}，国标纯铜导体，截面积4平方毫米，有3C认证和检测报告。",
        "危险化学品经营许可证公示于店内，购买须出示单位证明并实名登记。",
        "工业清洗剂，附化学品安全技术说明书，仅供有资质的企业采购。",
    ),
    education=(
        "铜包铝和纯铜线怎么分？刮开线芯看颜色，称重量，最好看检测报告。",
        "危险化学品不能随快递寄送，需要专门的运输资质。",
    ),
    topics=("铜包铝冒充纯铜", "个人随便买硫酸"),
)

VINEGAR = HardKinds(
    category="vinegar",
    lawful=(
        "{product}的标签上写明是配制食醋，冰乙酸和酿造醋都列在配料表里。",
        "固态发酵陈醋，酿造周期一年，总酸含量见标签，生产许可证可查。",
    ),
    education=(
        "酿造食醋和配制食醋的区别，看配料表里有没有冰乙酸或食用醋酸。",
        "配制食醋是合法产品，但不能标成酿造食醋出售。",
    ),
    topics=("冰醋酸兑成的酿造醋", "醋精当陈醋"),
)

EBIKE = HardKinds(
    category="ebike_modification",
    lawful=(
        "{product}符合GB 17761-2018，设计最高时速二十五公里，出厂即限速，已取得3C认证。",
        "新国标电动自行车，整车质量不超过55公斤，脚踏骑行功能正常，可正常上牌。",
        "原厂48V锂电池，与整车规格一致，本店不做扩容和改装。",
        "电动车维修店，只做补胎、换刹车片等常规保养，拒绝任何提速改装。",
    ),
    education=(
        "电动自行车私自解除限速，刹车距离会明显变长，出事故还要担责。",
        "买电动车认准3C标志和合格证，车速超过25公里每小时的不是电动自行车。",
    ),
    topics=("解除限速", "改装提速", "假检测报告"),
)

FEES = HardKinds(
    category="illegal_fees",
    lawful=(
        "{product}收费标准已在公示栏公示，按物价部门核定的标准收取，无其他费用。",
        "殡仪服务价目表：基本服务项目由政府定价，选择性项目由家属自愿选择。",
    ),
    education=(
        "公办学校招生期间，凡是和录取捆在一起的收费都不合规，遇到可以打12345反映。",
        "医院陪护服务应当由患者自愿选择，不能强制捆绑收费。",
    ),
    topics=("交赞助费进重点班", "强制购买指定用品"),
)

KINDS: tuple[HardKinds, ...] = (
    SLIMMING,
    MIRACLE,
    BEAUTY,
    APPAREL,
    PROPERTY,
    OIL,
    FUEL,
    GAS,
    MINORS,
    LIQUOR,
    AGRI,
    COAL,
    HAZARD,
    VINEGAR,
    EBIKE,
    FEES,
)
