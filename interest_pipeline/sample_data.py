"""Deterministic generator of realistic sample inputs, with the planted truth kept apart.

The sample imitates a shop's behaviour logs and user comments: 6 topics with 3-5 subtopics
each (24 subtopics), an item catalogue whose titles and descriptions read like product text,
users with core, peripheral and (for drifters) emerging interests, and daily event files in
three formats with a few planted defects and duplicates.

Layout written under ``out_dir``::

    items.csv                      item_id, title, description, category, brand, price
    events/events_YYYY-MM-DD.csv   one file per UTC day of the period (.csv, .jsonl or .parquet)
    truth/items.csv                item_id, subtopic_id, subtopic_name, topic_id, topic_name
    truth/users.csv                user_id, subtopic_id, topic_id, role (core|peripheral|emerging)
    truth/texts.csv                event_id, subtopic_id, topic_id  (review and search texts)
    truth/defects.csv              event_id, defect  (planted problems, one row per planted row)

Event columns: event_id, user_id, item_id, event_type, timestamp, device, location, rating,
text.  The file of a day holds the events whose UTC timestamp falls on that day; the
timestamp itself is written in the user's local offset (``+02:00``, ``-05:00``, ``Z``, ...).

Format per day: with ``n`` the 1-based day number within the period (the start date is day 1),
a day is Parquet when ``n % 7 == 0``, JSONL when ``n % 5 == 0``, and CSV otherwise; when both
rules hit (day 35, 70, ...) the day is CSV.  JSONL and Parquet hold every column as a string
(JSON ``null`` / Parquet null for missing values), like the CSV files read without inference.

Planted defects (one per affected row, ``bad_row_share`` of the events): empty user_id,
unparseable timestamp, unknown event_type, non-numeric rating.  Planted duplicates
(``duplicate_share`` of the events, never a defective row) are exact copies of a row written
to the same file a little later in the day.

Review comments in Chinese (``chinese_comment_share`` of the reviews) are only written by
users located in ``CN``; when the share asks for more, the share of ``CN`` users grows.

Same spec (seed included) gives byte-identical files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

__all__ = ["SampleSpec", "generate_sample", "main", "EVENT_TYPES", "TOPICS", "SUBTOPICS", "GENERIC"]


@dataclass(frozen=True)
class SampleSpec:
    n_users: int = 2000
    n_items: int = 600
    n_days: int = 30
    start_date: dt.date = dt.date(2026, 10, 1)
    mean_events_per_user: float = 30.0
    seed: int = 7
    bad_row_share: float = 0.003  # rows planted with validation problems
    duplicate_share: float = 0.005  # exact duplicate rows planted
    chinese_comment_share: float = 0.01


# --------------------------------------------------------------------------------------
# Vocabulary.  Lists are "|"-separated to keep the tables compact.  Slot kinds:
#   product  things that are sold          adj     adjectives
#   feature  phrases that follow "with"    use     what it is used for ("for ...")
#   aspect   parts reviewers comment on    zh      Chinese nouns for the same things
# --------------------------------------------------------------------------------------

_KINDS = ("product", "adj", "feature", "use", "aspect")

TOPICS: dict[str, dict[str, str]] = {
    "sports": dict(
        name="Sports",
        product="sports gear|training kit|equipment|workout gear",
        adj="sporty|durable|high-performance|sweat-resistant",
        feature="a moisture-wicking fabric|a secure fit|a sweat-resistant finish",
        use="training|workouts|competition|staying fit|the gym",
        aspect="performance|fit|comfort",
        zh="运动装备|健身器材", zh_use="跑步|健身|训练|运动",
    ),
    "technology": dict(
        name="Technology",
        product="device|gadget|tech accessory|electronics",
        adj="smart|wireless|fast|high-tech|bluetooth",
        feature="bluetooth connectivity|a USB-C port|regular software updates|a sleek aluminium body",
        use="work and play|everyday tech|the home office|streaming",
        aspect="performance|software|connectivity|setup",
        zh="数码产品|电子产品", zh_use="工作|打游戏|上班",
    ),
    "cooking": dict(
        name="Cooking",
        product="kitchen tool|cookware|recipe book|kitchen gadget",
        adj="tasty|easy-to-clean|dishwasher-safe|homemade|fresh",
        feature="dishwasher-safe parts|a heat-resistant handle|a clear recipe guide",
        use="family dinners|home cooking|entertaining guests|the kitchen",
        aspect="taste|cleaning|heat|recipe",
        zh="厨具|厨房用品", zh_use="做饭|烘焙|聚餐",
    ),
    "travel": dict(
        name="Travel",
        product="travel gear|luggage|travel essentials|holiday kit",
        adj="travel-friendly|packable|compact|durable",
        feature="a packable design|a luggage strap|a travel pouch",
        use="holidays|travelling|trips abroad|flights",
        aspect="size|weight|comfort|storage",
        zh="旅行用品|旅行箱包", zh_use="旅行|出差|度假",
    ),
    "home_garden": dict(
        name="Home & Garden",
        product="home essentials|home decor|household item|garden equipment",
        adj="sturdy|stylish|weatherproof|space-saving|easy-to-assemble",
        feature="clear assembly instructions|a weatherproof finish|a space-saving design",
        use="the home|the garden|the living room|small flats|the patio",
        aspect="assembly|finish|design|materials",
        zh="家居用品|园艺工具", zh_use="装修|在家|打理花园",
    ),
    "fashion_beauty": dict(
        name="Fashion & Beauty",
        product="outfit|fashion accessory|wardrobe staple|gift set",
        adj="stylish|trendy|elegant|classic|chic",
        feature="a timeless design|a flattering cut|premium materials",
        use="everyday style|special occasions|going out|any outfit",
        aspect="style|look|material|colour",
        zh="配饰|时尚单品", zh_use="上班|约会|出门",
    ),
}

SUBTOPICS: dict[str, dict[str, str | float]] = {
    "sports/running": dict(
        name="Running", price=80,
        product="running shoes|trail running shoes|running jacket|GPS running watch|compression socks|running shorts|hydration vest",
        adj="lightweight|cushioned|breathable|responsive|reflective|grippy",
        feature="a cushioned midsole|great grip on wet paths|a breathable mesh upper|reflective details for night runs|a snug heel cup|a heart rate sensor",
        use="long runs|marathon training|trail running|easy recovery jogs|a first 10k",
        aspect="sole|grip|cushioning|heel cup|pace tracking",
        zh="跑步鞋|跑鞋|运动手表",
    ),
    "sports/football": dict(
        name="Football", price=45,
        product="football boots|match ball|goalkeeper gloves|shin guards|training bib set|football shirt",
        adj="firm-ground|stitched|padded|replica|hard-wearing|grippy",
        feature="a textured touch zone|moulded studs|padded fingers|a thermally bonded panel|a breathable kit fabric",
        use="five-a-side games|Sunday league matches|goalkeeper training|the new season|artificial grass pitches",
        aspect="studs|touch|padding|stitching|fit",
        zh="足球|足球鞋|球衣",
    ),
    "sports/cycling": dict(
        name="Cycling", price=120,
        product="road bike|cycling helmet|bike lights|padded bib shorts|clipless pedals|bike computer|saddle bag",
        adj="aerodynamic|carbon|aero|ventilated|rechargeable|stiff",
        feature="a carbon fork|hydraulic disc brakes|a MIPS liner|USB rechargeable lights|a chamois pad|smooth gear shifting",
        use="the daily commute|long rides|climbing hills|gravel rides|group rides",
        aspect="brakes|gears|saddle|frame|battery",
        zh="自行车|头盔|骑行服",
    ),
    "sports/swimming": dict(
        name="Swimming", price=25,
        product="swim goggles|swimsuit|swim cap|pull buoy|kickboard|swim fins",
        adj="anti-fog|chlorine-resistant|streamlined|hydrodynamic|leak-proof|quick-dry",
        feature="anti-fog lenses|a chlorine-resistant fabric|an adjustable nose bridge|a low-drag cut|soft silicone seals",
        use="lane swimming|open water swims|swim training|pool sessions|triathlon practice",
        aspect="lenses|seal|fit|strap|fabric",
        zh="泳镜|泳衣|泳帽",
    ),
    "sports/tennis": dict(
        name="Tennis", price=60,
        product="tennis racket|tennis balls|racket strings|tennis shoes|overgrip|racket bag",
        adj="head-light|pressurised|spin-friendly|oversized|balanced|clay-court",
        feature="a large sweet spot|a head-light balance|polyester strings|a cushioned grip|extra durable felt",
        use="baseline rallies|club matches|doubles|practising serves|weekend tennis",
        aspect="sweet spot|strings|grip|balance|felt",
        zh="网球拍|网球|球拍",
    ),
    "technology/smartphones": dict(
        name="Smartphones", price=350,
        product="smartphone|phone case|screen protector|wireless charger|5G phone|USB-C cable",
        adj="unlocked|dual-SIM|waterproof|flagship|fast-charging|slim",
        feature="a 6.5-inch OLED display|a triple camera|all-day battery life|fast wireless charging|a tempered glass screen",
        use="everyday calls|mobile photos|streaming on the go|social media|navigation",
        aspect="battery life|screen|camera|charging speed|signal",
        zh="手机|手机壳|充电器",
    ),
    "technology/laptops": dict(
        name="Laptops", price=700,
        product="laptop|ultrabook|laptop stand|laptop sleeve|docking station|mechanical keyboard",
        adj="thin|portable|backlit|quiet|high-resolution|powerful",
        feature="a backlit keyboard|16GB of RAM|a fast SSD|a bright matte screen|a long-lasting battery|plenty of ports",
        use="working from home|programming|university work|video calls|office work",
        aspect="keyboard|trackpad|fan noise|screen|ports",
        zh="笔记本电脑|键盘|电脑包",
    ),
    "technology/photography": dict(
        name="Photography", price=400,
        product="mirrorless camera|prime lens|camera tripod|camera bag|memory card|zoom lens|ring light",
        adj="full-frame|weather-sealed|sharp|compact|fast|stabilised",
        feature="in-body image stabilisation|a fast f/1.8 aperture|sharp autofocus|a tilting screen|raw shooting|a sturdy ball head",
        use="portrait photography|landscape shots|low-light photos|travel photography|vlogging",
        aspect="autofocus|image quality|lens|sensor|bokeh",
        zh="相机|镜头|三脚架",
    ),
    "technology/gaming": dict(
        name="Gaming", price=90,
        product="gaming console|wireless controller|gaming headset|gaming mouse|gaming chair|graphics card",
        adj="low-latency|RGB|ergonomic|responsive|immersive|wireless",
        feature="RGB lighting|low input lag|a 144Hz refresh rate|surround sound|programmable buttons|haptic feedback",
        use="online multiplayer|long gaming sessions|competitive shooters|couch co-op|streaming games",
        aspect="latency|controller|headset mic|frame rate|buttons",
        zh="游戏机|手柄|耳机",
    ),
    "cooking/baking": dict(
        name="Baking", price=35,
        product="stand mixer|baking tray|cake tin|sourdough starter kit|silicone baking mat|rolling pin|bread flour",
        adj="non-stick|fluffy|golden|crusty|springform|buttery",
        feature="a non-stick coating|a removable base|even heat distribution|a powerful dough hook|a silicone spatula set",
        use="sourdough bread|birthday cakes|cookies|pastry|weekend baking",
        aspect="crust|dough hook|non-stick coating|rise|texture",
        zh="烤箱|面包机|蛋糕模具",
    ),
    "cooking/vegetarian": dict(
        name="Vegetarian cooking", price=20,
        product="vegetarian cookbook|tofu press|spiralizer|lentil pasta|plant-based protein|spice set",
        adj="plant-based|vegan|meat-free|wholesome|protein-rich|seasonal",
        feature="over 100 meat-free recipes|a sturdy tofu press|blades for courgette noodles|seasonal vegetable recipes",
        use="meatless Mondays|quick weeknight dinners|meal prep|vegan curries|healthy lunches",
        aspect="recipes|flavour|texture|portion sizes",
        zh="素食食谱|蔬菜|豆腐",
    ),
    "cooking/grilling": dict(
        name="Grilling & barbecue", price=150,
        product="charcoal grill|gas barbecue|meat thermometer|grill tongs|smoker box|grill brush",
        adj="smoky|charcoal|cast-iron|heavy-duty|stainless|portable",
        feature="cast-iron grates|a built-in thermometer|an adjustable air vent|a side burner|a grease tray",
        use="summer barbecues|slow smoking brisket|grilling steaks|garden parties|camping cookouts",
        aspect="grates|temperature control|lid|thermometer|smoke",
        zh="烤架|烧烤炉|木炭",
    ),
    "cooking/coffee": dict(
        name="Coffee", price=60,
        product="espresso machine|coffee grinder|coffee beans|milk frother|pour-over kettle|French press",
        adj="freshly roasted|single-origin|burr|barista-style|creamy|aromatic",
        feature="a 15-bar pump|a conical burr grinder|a steam wand|a gooseneck spout|a built-in timer",
        use="morning espresso|flat whites|cold brew|latte art|filter coffee",
        aspect="crema|grind|aroma|steam wand|taste",
        zh="咖啡机|咖啡豆|咖啡",
    ),
    "travel/beach_holidays": dict(
        name="Beach holidays", price=30,
        product="beach towel|sun lounger|snorkel set|beach umbrella|sunscreen|beach bag|flip-flops",
        adj="sandy|sunny|all-inclusive|sun-protective|waterproof|tropical",
        feature="UV protection|a quick-dry microfibre|a sand-proof design|SPF 50 protection",
        use="beach holidays|island hopping|a week by the sea|snorkelling trips|summer getaways",
        aspect="UV protection|sand resistance|drying time|towel size",
        zh="沙滩巾|防晒霜|浮潜面罩",
    ),
    "travel/mountain_hiking": dict(
        name="Mountain hiking", price=110,
        product="hiking boots|trekking poles|hiking backpack|waterproof jacket|trail map|tent",
        adj="waterproof|rugged|alpine|breathable|insulated|lightweight",
        feature="a Gore-Tex membrane|a Vibram sole|an adjustable hip belt|ankle support|a rain cover",
        use="multi-day treks|alpine routes|summit hikes|rainy weather|hut-to-hut trips",
        aspect="ankle support|waterproofing|straps|sole|weight",
        zh="登山鞋|背包|帐篷",
    ),
    "travel/city_breaks": dict(
        name="City breaks", price=70,
        product="cabin suitcase|city guidebook|travel adapter|packing cubes|weekend bag|travel pillow",
        adj="compact|cabin-size|hard-shell|foldable|lightweight|carry-on",
        feature="four spinner wheels|a TSA lock|an expandable zip|a built-in USB port|walking tour tips",
        use="weekend city breaks|museum trips|business trips|short flights|exploring old towns",
        aspect="wheels|zip|handle|compartments",
        zh="行李箱|旅行包|收纳袋",
    ),
    "home_garden/gardening": dict(
        name="Gardening", price=25,
        product="raised garden bed|pruning shears|garden hose|seed starter kit|compost bin|plant pots|watering can",
        adj="organic|frost-resistant|galvanised|self-watering|perennial|drought-tolerant",
        feature="sharp bypass blades|a kink-free hose|self-watering reservoirs|UV-stable plastic|a drainage layer",
        use="vegetable patches|growing tomatoes|balcony gardens|pruning roses|spring planting",
        aspect="blades|soil|drainage|seeds",
        zh="花盆|种子|园艺剪",
    ),
    "home_garden/furniture": dict(
        name="Furniture", price=250,
        product="sofa|dining table|office chair|bookshelf|bed frame|coffee table|wardrobe",
        adj="solid oak|upholstered|ergonomic|mid-century|extendable|modular",
        feature="solid wood legs|a padded headboard|soft-close drawers|adjustable lumbar support|a scratch-resistant top",
        use="small living rooms|home offices|family dining|open-plan flats|guest rooms",
        aspect="cushions|assembly|wood|upholstery|legs",
        zh="沙发|椅子|桌子",
    ),
    "home_garden/diy_tools": dict(
        name="DIY tools", price=70,
        product="cordless drill|tool kit|screwdriver set|spirit level|jigsaw|workbench|stud finder",
        adj="cordless|brushless|heavy-duty|magnetic|precise|18V",
        feature="a brushless motor|two lithium-ion batteries|a magnetic bit holder|a keyless chuck|variable speed control",
        use="putting up shelves|home repairs|flat-pack assembly|woodworking projects|weekend DIY",
        aspect="battery|torque|chuck|case|bits",
        zh="电钻|工具箱|螺丝刀",
    ),
    "home_garden/lighting": dict(
        name="Lighting", price=35,
        product="LED bulbs|desk lamp|pendant light|floor lamp|smart light strip|solar garden lights",
        adj="dimmable|warm white|energy-saving|smart|adjustable|ambient",
        feature="dimmable warm white light|app-controlled colours|an adjustable arm|a motion sensor|an E27 fitting",
        use="reading at night|cosy evenings|kitchen worktops|garden paths|home offices",
        aspect="brightness|colour temperature|dimmer|fitting|app",
        zh="台灯|灯泡|吊灯",
    ),
    "fashion_beauty/sneakers": dict(
        name="Sneakers", price=90,
        product="sneakers|trainers|canvas shoes|high-tops|limited edition sneakers|shoe cleaning kit",
        adj="retro|chunky|suede|limited-edition|white leather|low-top",
        feature="a suede upper|a chunky rubber sole|a padded collar|retro colourways|contrast stitching",
        use="streetwear outfits|everyday wear|casual Fridays|collecting|city walks",
        aspect="sole|laces|upper|sizing|colourway",
        zh="运动鞋|板鞋|球鞋",
    ),
    "fashion_beauty/skincare": dict(
        name="Skincare", price=30,
        product="face moisturiser|vitamin C serum|SPF 50 sunscreen|cleansing balm|eye cream|retinol serum|face mask",
        adj="hydrating|fragrance-free|non-greasy|gentle|dermatologist-tested|brightening",
        feature="hyaluronic acid|a lightweight gel texture|niacinamide|no added fragrance|a pump dispenser",
        use="sensitive skin|dry skin|a morning routine|night-time routines|oily skin",
        aspect="texture|scent|absorption|packaging|results",
        zh="面霜|护肤品|精华液",
    ),
    "fashion_beauty/watches": dict(
        name="Watches", price=180,
        product="automatic watch|chronograph|smartwatch|leather watch strap|dive watch|watch box",
        adj="automatic|sapphire|stainless steel|water-resistant|minimalist|vintage",
        feature="a sapphire crystal|a Swiss movement|100m water resistance|a luminous dial|a quick-release strap",
        use="everyday wear|formal occasions|diving|gifts|office wear",
        aspect="dial|strap|movement|clasp|crystal",
        zh="手表|表带|机械表",
    ),
    "fashion_beauty/handbags": dict(
        name="Handbags", price=75,
        product="leather handbag|tote bag|crossbody bag|clutch|backpack purse|wallet",
        adj="leather|vegan leather|structured|roomy|quilted|designer-inspired",
        feature="an adjustable shoulder strap|a zip inner pocket|gold-tone hardware|a magnetic clasp|a detachable strap",
        use="work days|evenings out|weekend errands|everyday carry|weddings",
        aspect="strap|stitching|hardware|lining|zip",
        zh="包包|手提包|钱包",
    ),
}

GENERIC: dict[str, str] = dict(
    product="item|product",
    adj="great|cheap|good|solid|decent|affordable|well made|nice",
    feature="a great price|fast delivery|a two-year warranty|a sturdy build|a nice design",
    use="everyday use|the price|gifting|beginners|everyone",
    aspect="quality|price|delivery|packaging|size|colour|customer service|value",
    pos="great|excellent|fantastic|brilliant|perfect|really good|superb|lovely",
    neu="okay|fine|decent|average|alright|acceptable",
    neg="poor|disappointing|terrible|flimsy|awful|bad|useless",
    adv="perfectly|really well|brilliantly|exactly as described|like a charm",
    model="Pro|Lite|Max|Air 2|X200|Plus|2026 Edition|Classic|Sport|Mini",
)

_STOCK = {
    "desc": [
        "Good value for the price.", "Free delivery and easy returns.", "Available in several sizes and colours.",
        "Comes with a two-year warranty.", "A great gift idea.", "Cheap to run and easy to look after.",
    ],
    "pos": [
        "Fast delivery and well packaged.", "Good value for the price.", "Would recommend.", "Highly recommend!",
        "Great quality for the price.", "Five stars from me.", "Arrived a day early.", "Will buy again.",
    ],
    "neu": [
        "Delivery was on time.", "Does what it says.", "Average quality for the price.", "Not bad, not great.",
        "Size runs a little small.", "The colour is slightly different from the photos.",
    ],
    "neg": [
        "Would not recommend.", "Waste of money.", "Arrived damaged and the packaging was torn.",
        "Poor quality for the price.", "Returned it for a refund.", "Customer service never replied.",
    ],
}

# Sentence templates.  Slots: {P} product, {A} adjective, {F} feature, {U} use, {S} aspect,
# {thisP} "this/these <product>", {Pis} "<product> is/are", {Sis} "<aspect> is/are",
# {X} a product of another subtopic, {B} brand, {pos}/{neu}/{neg} sentiment adjectives,
# {adv} adverb, {n} small number, {model} model suffix, {G} stock sentence of the section.
_TITLE_TEMPLATES = [
    "{B} {A} {P}", "{A} {A} {P}", "{B} {P} {model}", "{A} {P} for {U}", "{B} {A} {P} {model}", "{P} with {F}",
]
_DESC_FIRST = [
    "{A} {P} with {F}, ideal for {U}.", "{B} {P} with {F} and {F}.", "{A} and {A} {P} made for {U}.",
    "The {A} {P} for {U}, now with {F}.", "Built for {U}, with {F} as standard.",
]
_DESC_MORE = [
    "Features {F} and {F}.", "Ideal for {U} and {U}.", "Comes with {F}.", "{Pis} {A} and {A}.",
    "A {A} choice for {U}.", "Pairs well with our {X} range.", "{G}", "{G}",
]
_REVIEW = {
    "pos": [
        "{pos} {P}.", "Really happy with {thisP}.", "{Sis} {pos} and it has {F}.", "I use it for {U} and it works {adv}.",
        "Bought it for {U} and it did not disappoint.", "{A} and {A}, exactly what I needed.",
        "Second one I have bought from {B}, {pos} {S} as always.", "Pairs really well with my {X}.",
        "Perfect for {U}.", "Much better than my old {P}.", "Worth every penny for {U}.", "{G}",
    ],
    "neu": [
        "{Pis} {neu}, nothing special.", "Does the job for {U}, but the {S} could be better.", "{Sis} {neu} for the price.",
        "It has {F}, but I expected more.", "Delivery took {n} days.", "Fine for {U}, though the {S} feels a bit {neg}.",
        "Overall a {neu} purchase for {U}.", "I also looked at a {X} but went with this.", "{G}",
    ],
    "neg": [
        "Really {neg} {P}.", "Disappointed with {thisP}.", "The {S} broke after {n} weeks.",
        'The "{A}" claim is a joke, {Sis} {neg}.', "Would not recommend for {U}.", "Returned it, {Sis} {neg}.",
        "Way too expensive for what you get.", "Stopped working after {n} days of {U}.", "Expected much more from {B}.",
        "{G}",
    ],
}
_QUERY_TEMPLATES = ["{P}", "{A} {P}", "best {P}", "cheap {P}", "{P} for {U}", "{P} {S}", "{B} {P}", "{A} {P} sale"]

_ZH_GENERIC = dict(
    pos="很舒服|很好用|非常好|质量不错|很满意|性价比高",
    neu="一般|还行|还可以|普普通通",
    neg="不好用|很差|有问题|太失望了",
    gpos="物流很快|包装很好|价格便宜|值得购买|推荐购买",
    gneu="价格一般|物流有点慢|和图片差不多",
    gneg="物流太慢|客服不回复|不值这个价格|已经退货了",
)
_ZH_TEMPLATES = {
    "pos": ["{zn}{zpos}，{zg}。", "这个{zn}{zpos}，{zt}的时候用很方便。", "买了{zn}，{zpos}，推荐！", "{zg}，{zn}{zpos}，{zt}必备。"],
    "neu": ["{zn}{zneu}，{zg}。", "{zn}{zneu}，{zt}用还可以。", "{zg}，{zn}没有想象的好。"],
    "neg": ["{zn}{zneg}，{zg}。", "不推荐，{zn}用了{n}天就坏了。", "{zn}质量太差，{zg}。"],
}

# Region code, IANA zone, standard UTC offset in hours (for the daily rhythm) and user share.
_LOCATIONS = [
    ("DE", "Europe/Berlin", 1.0, 0.14), ("GB", "Europe/London", 0.0, 0.12), ("FR", "Europe/Paris", 1.0, 0.07),
    ("ES", "Europe/Madrid", 1.0, 0.05), ("PT", "Europe/Lisbon", 0.0, 0.02), ("US-CA", "America/Los_Angeles", -8.0, 0.10),
    ("US-NY", "America/New_York", -5.0, 0.11), ("US-TX", "America/Chicago", -6.0, 0.07), ("BR", "America/Sao_Paulo", -3.0, 0.07),
    ("IN", "Asia/Kolkata", 5.5, 0.09), ("CN", "Asia/Shanghai", 8.0, 0.07), ("JP", "Asia/Tokyo", 9.0, 0.05),
    ("AU-NSW", "Australia/Sydney", 10.0, 0.04),
]
_CN = 10  # index of CN in _LOCATIONS
_UTC_CLIENT_SHARE = 0.08  # clients that log in UTC ("Z") whatever their location
_HOUR_WEIGHTS = np.array(
    [1, .6, .4, .3, .3, .5, 1.2, 2, 2.5, 2.6, 2.7, 3, 3.4, 3.2, 2.8, 2.7, 2.8, 3.2, 3.8, 4.5, 5, 4.6, 3.5, 2], dtype=float
)

EVENT_TYPES = ("view", "click", "favorite", "add_to_cart", "purchase", "rate", "review", "search")
_EVENT_TYPE_P = np.array([48, 20, 5, 5, 4, 5, 5, 8], dtype=float) / 100
_RATE, _REVIEW_T, _SEARCH = 5, 6, 7
_DEVICES = ("mobile", "desktop", "tablet")
_DEVICE_P = np.array([0.6, 0.3, 0.1])
_SENTIMENTS = ("pos", "neu", "neg")

_CORE_SHARE, _PERIPHERAL_SHARE = 0.70, 0.22  # the rest (~8%) goes to any subtopic
_DRIFTER_SHARE, _EMERGING_SHARE = 0.15, 0.60
_SUBTOPIC_ZIPF = 0.45  # most / least popular subtopic ~ 24**0.45 ~ 4x

_DEFECTS = ("empty_user_id", "bad_timestamp", "unknown_event_type", "bad_rating")
_BAD_TIMESTAMPS = ("not-a-date", "2026-13-45T99:00", "2026-10-32T10:00:00Z", "yesterday 14:00")
_BAD_EVENT_TYPES = ("teleport", "scroll_up", "unknown_event")
_BAD_RATINGS = ("five", "n/a", "4 stars", "good")

_SLOT_RE = re.compile(r"\{(\w+)\}")
_ARTICLE_RE = re.compile(r"\b([Aa]) (?=[aeioAEIO]|u[^s])")
_SMALL_WORDS = {"with", "for", "and", "by", "of", "the", "a", "an", "on", "to", "in"}

_SUB_IDS = list(SUBTOPICS)
_TOPIC_IDS = list(TOPICS)


def _split(value) -> list[str]:
    return str(value).split("|")


def _is_plural(phrase: str) -> bool:
    last = phrase.split()[-1]
    return last.endswith("s") and not last.endswith(("ss", "us", "lens")) and last[0].islower()


def _parse(template: str) -> list[tuple[bool, str]]:
    """Pre-split a template into (is_slot, text) parts so filling is a cheap loop."""
    parts, pos = [], 0
    for m in _SLOT_RE.finditer(template):
        if m.start() > pos:
            parts.append((False, template[pos:m.start()]))
        parts.append((True, m.group(1)))
        pos = m.end()
    if pos < len(template):
        parts.append((False, template[pos:]))
    return parts


def _capitalise(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:] if sentence else sentence


class _Writer:
    """Fills sentence templates from a subtopic's, its topic's and the generic vocabulary.

    A slot's weights ``w`` are cumulative: it draws from the subtopic below ``w[0]``, the
    topic below ``w[1]``, the generic pool below ``w[2]`` and another subtopic (a sibling half
    of the time) otherwise, so texts overlap across topics the way real product text does.
    """

    BODY_WEIGHTS = (0.5, 0.72, 0.9)
    TITLE_WEIGHTS = (0.75, 0.9, 0.97)
    QUERY_WEIGHTS = (0.75, 1.0, 1.0)
    # The thing a text is about is nearly always the subtopic's own product; titles never
    # name a generic "item".  Other subtopics come in through the {X} slot and other words.
    PRODUCT_WEIGHTS = (0.8, 0.93, 0.97)
    TITLE_PRODUCT_WEIGHTS = (0.85, 1.0, 1.0)

    def __init__(self, brands: list[list[str]]):
        self.sub = [{k: _split(SUBTOPICS[s][k]) for k in (*_KINDS, "zh")} for s in _SUB_IDS]
        self.topic_of = [_TOPIC_IDS.index(s.split("/")[0]) for s in _SUB_IDS]
        self.topic = [{k: _split(TOPICS[t][k]) for k in (*_KINDS, "zh", "zh_use")} for t in _TOPIC_IDS]
        self.generic = {k: _split(v) for k, v in GENERIC.items()}
        self.siblings = [[o for o in range(len(_SUB_IDS)) if o != s and self.topic_of[o] == self.topic_of[s]] for s in range(len(_SUB_IDS))]
        self.brands = brands
        self.item_brand: str | None = None
        self.zh_generic = {k: _split(v) for k, v in _ZH_GENERIC.items()}
        parse = lambda ts: [_parse(t) for t in ts]  # noqa: E731
        self.t_title, self.t_first, self.t_more = parse(_TITLE_TEMPLATES), parse(_DESC_FIRST), parse(_DESC_MORE)
        self.t_review = {k: parse(v) for k, v in _REVIEW.items()}
        self.t_query = parse(_QUERY_TEMPLATES)
        self.t_zh = {k: parse(v) for k, v in _ZH_TEMPLATES.items()}

    def _other(self, s: int, rnd: random.Random) -> int:
        if self.siblings[s] and rnd.random() < 0.5:
            return rnd.choice(self.siblings[s])
        o = rnd.randrange(len(_SUB_IDS) - 1)
        return o + 1 if o >= s else o

    def _word(self, kind: str, s: int, rnd: random.Random, w: tuple[float, float, float]) -> str:
        r = rnd.random()
        if r < w[0]:
            pool = self.sub[s][kind]
        elif r < w[1]:
            pool = self.topic[self.topic_of[s]][kind]
        elif r < w[2]:
            pool = self.generic[kind]
        else:
            pool = self.sub[self._other(s, rnd)][kind]
        return rnd.choice(pool)

    def _product(self, s: int, rnd: random.Random, w) -> str:
        if w is self.QUERY_WEIGHTS:
            return self._word("product", s, rnd, w)
        return self._word("product", s, rnd, self.TITLE_PRODUCT_WEIGHTS if w is self.TITLE_WEIGHTS else self.PRODUCT_WEIGHTS)

    def _slot(self, name: str, s: int, rnd: random.Random, w, section: str) -> str:
        if name == "P":
            return self._product(s, rnd, w)
        if name == "A":
            return self._word("adj", s, rnd, w)
        if name == "F":
            return self._word("feature", s, rnd, w)
        if name == "U":
            return self._word("use", s, rnd, w)
        if name == "S":
            return self._word("aspect", s, rnd, w)
        if name == "thisP":
            p = self._product(s, rnd, w)
            return ("these " if _is_plural(p) else "this ") + p
        if name in ("Pis", "Sis"):
            p = self._product(s, rnd, w) if name == "Pis" else self._word("aspect", s, rnd, w)
            return p + (" are" if _is_plural(p) else " is")
        if name == "X":
            return rnd.choice(self.sub[self._other(s, rnd)]["product"])
        if name == "B":
            return self.item_brand or rnd.choice(self.brands[self.topic_of[s]])
        if name == "n":
            return str(rnd.randint(2, 12))
        if name == "G":
            return rnd.choice(_STOCK[section])
        return rnd.choice(self.generic[name])  # pos, neu, neg, adv, model

    def _fill(self, parts, s: int, rnd: random.Random, w, section: str = "desc") -> str:
        out = [self._slot(text, s, rnd, w, section) if is_slot else text for is_slot, text in parts]
        return _capitalise(_ARTICLE_RE.sub(r"\1n ", "".join(out)))

    def title(self, s: int, rnd: random.Random, brand: str) -> str:
        self.item_brand = brand  # titles name the item's own brand
        for _ in range(20):
            text = self._fill(rnd.choice(self.t_title), s, rnd, self.TITLE_WEIGHTS)
            words = text.split()
            if 3 <= len(words) <= 8 and len({w.lower() for w in words}) == len(words):
                break
        self.item_brand = None
        return " ".join(w if i and w in _SMALL_WORDS else _capitalise(w) for i, w in enumerate(words))

    def description(self, s: int, rnd: random.Random) -> str:
        sentences = [self._fill(rnd.choice(self.t_first), s, rnd, self.BODY_WEIGHTS)]
        for _ in range(rnd.choice((0, 1, 1, 2, 2))):
            sentences.append(self._fill(rnd.choice(self.t_more), s, rnd, self.BODY_WEIGHTS))
        return " ".join(sentences)

    def review(self, s: int, sentiment: str, rnd: random.Random, brand: str | None = None) -> str:
        self.item_brand = brand  # a review names the reviewed item's brand
        n = rnd.choices((1, 2, 3, 4, 5, 6, 8), weights=(20, 28, 22, 13, 8, 6, 3))[0]
        sentences, used = [], set()
        for i in range(n):
            # Real reviews mix in a remark of another tone now and then.
            tone = sentiment if i == 0 or rnd.random() < 0.85 else "neu"
            k = rnd.randrange(len(self.t_review[tone]))
            if (tone, k) in used:
                continue
            used.add((tone, k))
            sentence = self._fill(self.t_review[tone][k], s, rnd, self.BODY_WEIGHTS, tone)
            if sentence not in sentences:
                sentences.append(sentence)
        while sum(len(x.split()) for x in sentences) < 4:
            sentences.append(rnd.choice(_STOCK[sentiment]))
        words = " ".join(sentences).split(" ")
        if len(words) > 60:
            sentences = [" ".join(words[:60]).rstrip(",") + "."]
        self.item_brand = None
        sep = "\n" if rnd.random() < 0.05 else " "
        return sep.join(sentences)

    def review_zh(self, s: int, sentiment: str, rnd: random.Random) -> str:
        n = rnd.choices((1, 2, 3), weights=(50, 35, 15))[0]
        sentences = []
        for _ in range(n):
            parts = rnd.choice(self.t_zh[sentiment])
            out = []
            for is_slot, text in parts:
                if not is_slot:
                    out.append(text)
                elif text == "zn":
                    r = rnd.random()
                    pool = self.sub[s]["zh"] if r < 0.7 else self.topic[self.topic_of[s]]["zh"] if r < 0.88 else self.sub[self._other(s, rnd)]["zh"]
                    out.append(rnd.choice(pool))
                elif text == "zt":
                    out.append(rnd.choice(self.topic[self.topic_of[s]]["zh_use"]))
                elif text == "zg":
                    out.append(rnd.choice(self.zh_generic["g" + sentiment]))
                elif text == "n":
                    out.append(str(rnd.randint(2, 12)))
                else:  # zpos, zneu, zneg
                    out.append(rnd.choice(self.zh_generic[text[1:]]))
            sentences.append("".join(out))
        return "".join(sentences)

    def query(self, s: int, rnd: random.Random) -> str:
        for _ in range(5):
            words = self._fill(rnd.choice(self.t_query), s, rnd, self.QUERY_WEIGHTS).lower().split()
            if len(words) <= 4:
                break
        words = words[:4]
        while len(words) > 1 and words[-1] in _SMALL_WORDS:  # a cut "... for" reads wrong
            words.pop()
        return " ".join(words)


def _make_brands(rng: np.random.Generator, n_topics: int, per_topic: int = 8) -> list[list[str]]:
    heads = ["Vel", "Nor", "Tre", "Kal", "Zen", "Ori", "Lum", "Bri", "Ast", "Mar", "Fen", "Quo", "Sol", "Dra", "Ivo", "Tal", "Brook", "Pax"]
    tails = ["ora", "vik", "kko", "ix", "ano", "eto", "lux", "wyn", "dal", "ter", "ena", "forge", "ly", "mont"]
    names = [h + t for h in heads for t in tails]
    picked = rng.choice(len(names), size=n_topics * per_topic, replace=False)
    return [[names[i] for i in picked[t * per_topic:(t + 1) * per_topic]] for t in range(n_topics)]


def _id_series(prefix: str, values: np.ndarray, width: int) -> pl.Series:
    return pl.select((pl.lit(prefix) + pl.Series("v", values, dtype=pl.Int64).cast(pl.String).str.zfill(width)).alias("v")).to_series()


def _format_timestamps(epoch: np.ndarray, zone_of_row: np.ndarray, zones: list[str]) -> pl.Series:
    """ISO 8601 with the local offset of each row's zone; UTC is written as ``Z``."""
    row = np.arange(len(epoch))
    parts = []
    for k, zone in enumerate(zones):
        sel = zone_of_row == k
        if not sel.any():
            continue
        ts = pl.Series("ts", epoch[sel] * 1000, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC"))
        text = ts.dt.convert_time_zone(zone).dt.strftime("%Y-%m-%dT%H:%M:%S%:z").str.replace(r"\+00:00$", "Z")
        parts.append(pl.DataFrame({"row": row[sel], "ts": text}))
    if not parts:
        return pl.Series("timestamp", [], dtype=pl.String)
    return pl.concat(parts).sort("row")["ts"].alias("timestamp")


def _day_format(day_number: int) -> str:
    """Parquet every 7th day, JSONL every 5th, CSV otherwise and when both hit."""
    if day_number % 7 == 0 and day_number % 5 != 0:
        return "parquet"
    if day_number % 5 == 0 and day_number % 7 != 0:
        return "jsonl"
    return "csv"


def _check(spec: SampleSpec) -> None:
    if spec.n_users < 1 or spec.n_days < 1 or spec.mean_events_per_user <= 0:
        raise ValueError("n_users, n_days and mean_events_per_user must be positive")
    if spec.n_items < len(SUBTOPICS):
        raise ValueError(f"n_items must be at least {len(SUBTOPICS)} (one item per subtopic)")
    for name in ("bad_row_share", "duplicate_share", "chinese_comment_share"):
        if not 0.0 <= getattr(spec, name) <= 1.0:
            raise ValueError(f"{name} must be within 0..1")


def generate_sample(out_dir: Path, spec: SampleSpec = SampleSpec()) -> dict:
    """Write a sample under ``out_dir`` (see the module docstring) and return summary counts."""
    _check(spec)
    out_dir = Path(out_dir)
    n_sub, n_topics = len(_SUB_IDS), len(_TOPIC_IDS)
    streams = np.random.SeedSequence(spec.seed).spawn(6)
    rng_cat, rng_user, rng_event, rng_bad = (np.random.default_rng(s) for s in streams[:4])
    item_rnd = random.Random(int(streams[4].generate_state(1)[0]))
    text_rnd = random.Random(int(streams[5].generate_state(1)[0]))
    topic_of_sub = np.array([_TOPIC_IDS.index(s.split("/")[0]) for s in _SUB_IDS])

    # ---- catalogue: Zipf-like subtopic popularity drives both item counts and interest ----
    popularity = np.empty(n_sub)
    popularity[rng_cat.permutation(n_sub)] = 1.0 / np.arange(1, n_sub + 1) ** _SUBTOPIC_ZIPF
    popularity /= popularity.sum()
    counts = 1 + rng_cat.multinomial(spec.n_items - n_sub, popularity)
    item_sub = rng_cat.permutation(np.repeat(np.arange(n_sub), counts))
    brands = _make_brands(rng_cat, n_topics)
    base_price = np.array([float(SUBTOPICS[s]["price"]) for s in _SUB_IDS])
    price = base_price[item_sub] * rng_cat.lognormal(0.0, 0.45, spec.n_items)
    price = np.where(price > 10, np.round(price) - 0.01, np.round(price, 2)).clip(1.99)

    # Popularity of items inside their subtopic (Zipf on a random rank, with noise).
    by_sub = np.argsort(item_sub, kind="stable")
    sorted_sub = item_sub[by_sub]
    starts = np.searchsorted(sorted_sub, np.arange(n_sub))
    rank = np.arange(spec.n_items) - starts[sorted_sub]
    weight = rng_cat.lognormal(0.0, 0.3, spec.n_items) / (rank + 1.0) ** 0.9
    group_total = np.bincount(sorted_sub, weights=weight, minlength=n_sub)
    cum = np.cumsum(weight) - np.concatenate([[0.0], np.cumsum(group_total)])[sorted_sub]
    item_key = sorted_sub + cum / group_total[sorted_sub]
    item_key[np.append(starts[1:], spec.n_items) - 1] = np.arange(n_sub) + 1.0  # exact group ends

    writer = _Writer(brands)
    item_brand = [item_rnd.choice(brands[topic_of_sub[s]]) for s in item_sub.tolist()]
    titles, descriptions = [], []
    for s, brand in zip(item_sub.tolist(), item_brand):
        titles.append(writer.title(s, item_rnd, brand))
        descriptions.append(writer.description(s, item_rnd))
    item_width = max(4, len(str(spec.n_items - 1)))
    item_ids = _id_series("i", np.arange(spec.n_items), item_width)

    # ---- users ----
    n_users = spec.n_users
    user_width = max(5, len(str(n_users - 1)))
    user_ids = _id_series("u", np.arange(n_users), user_width)
    loc_p = np.array([l[3] for l in _LOCATIONS])
    cn_share = min(0.95, max(loc_p[_CN], 1.5 * spec.chinese_comment_share))
    loc_p = np.delete(loc_p, _CN)
    loc_p = np.insert(loc_p / loc_p.sum() * (1 - cn_share), _CN, cn_share)
    user_loc = rng_user.choice(len(_LOCATIONS), size=n_users, p=loc_p)
    user_utc = rng_user.random(n_users) < _UTC_CLIENT_SHARE
    user_device = rng_user.choice(3, size=n_users, p=_DEVICE_P)
    sigma = 1.0
    activity = rng_user.lognormal(np.log(spec.mean_events_per_user) - sigma**2 / 2, sigma, n_users)
    n_events = np.clip(np.rint(activity), 1, max(1, int(40 * spec.mean_events_per_user))).astype(np.int64)
    k_core = rng_user.integers(1, 4, n_users)
    k_per = rng_user.integers(2, 5, n_users)
    # Popularity-weighted order of subtopics per user, without replacement (Gumbel top-k):
    # the first k_core are core, the next k_per peripheral, the next one emerging.
    gumbel = np.log(popularity)[None, :] - np.log(-np.log(rng_user.random((n_users, n_sub))))
    interest = np.argsort(-gumbel, axis=1, kind="stable").astype(np.int16)

    # ---- events: when ----
    n_total = int(n_events.sum())
    ev_user = np.repeat(np.arange(n_users), n_events)
    weekday = np.array([(spec.start_date + dt.timedelta(days=d)).weekday() for d in range(spec.n_days)])
    day_p = np.where(weekday >= 5, 1.15, 1.0)
    day = rng_event.choice(spec.n_days, size=n_total, p=day_p / day_p.sum())
    local_sec = rng_event.choice(24, size=n_total, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()) * 3600 + rng_event.integers(0, 3600, n_total)
    std_offset = np.array([int(l[2] * 3600) for l in _LOCATIONS])
    utc_sec = (local_sec - std_offset[user_loc[ev_user]]) % 86400
    start_epoch = int(dt.datetime.combine(spec.start_date, dt.time(), dt.timezone.utc).timestamp())
    epoch = start_epoch + day.astype(np.int64) * 86400 + utc_sec

    # ---- drifters: users with some activity in the last third get an emerging subtopic ----
    drift_start = (2 * spec.n_days) // 3
    late = day >= drift_start
    late_count = np.bincount(ev_user[late], minlength=n_users)
    eligible = np.flatnonzero(late_count >= 3)
    n_drift = min(len(eligible), int(round(_DRIFTER_SHARE * n_users)))
    drifters = np.sort(rng_user.choice(eligible, size=n_drift, replace=False)) if n_drift else np.array([], dtype=np.int64)
    is_drifter = np.zeros(n_users, dtype=bool)
    is_drifter[drifters] = True

    # ---- events: which subtopic, which item, what kind ----
    mode = rng_event.random(n_total)
    ev_core, ev_per = k_core[ev_user], k_per[ev_user]
    # Columns of the user's interest order; the first core subtopic is favoured a little.
    core_col = np.minimum((ev_core * rng_event.random(n_total) ** 1.3).astype(np.int64), ev_core - 1)
    per_col = ev_core + (ev_per * rng_event.random(n_total)).astype(np.int64)
    col = np.where(mode < _CORE_SHARE, core_col, per_col)
    emerging_col = k_core + k_per
    drifting = is_drifter[ev_user] & late & (rng_event.random(n_total) < _EMERGING_SHARE)
    # Every drifter shows its new interest at least once.
    late_drift_rows = np.flatnonzero(is_drifter[ev_user] & late)
    if len(late_drift_rows):
        _, first = np.unique(ev_user[late_drift_rows], return_index=True)
        drifting[late_drift_rows[first]] = True
    col = np.where(drifting, emerging_col[ev_user], col)
    ev_sub = interest[ev_user, col].astype(np.int64)
    anywhere = (mode >= _CORE_SHARE + _PERIPHERAL_SHARE) & ~drifting
    ev_sub[anywhere] = rng_event.integers(0, n_sub, int(anywhere.sum()))

    ev_type = rng_event.choice(len(EVENT_TYPES), size=n_total, p=_EVENT_TYPE_P)
    pick = np.searchsorted(item_key, ev_sub + rng_event.random(n_total), side="right").clip(0, spec.n_items - 1)
    ev_item = np.where(ev_type == _SEARCH, -1, by_sub[pick])
    sentiment = rng_event.choice(3, size=n_total, p=[0.6, 0.2, 0.2])
    review_rating = np.select(
        [sentiment == 0, sentiment == 1],
        [4 + (rng_event.random(n_total) < 0.6), rng_event.choice([2, 3, 3, 3, 4], n_total)],
        1 + (rng_event.random(n_total) < 0.35),
    )
    rate_rating = rng_event.choice([1, 2, 3, 4, 5], size=n_total, p=[0.05, 0.07, 0.15, 0.33, 0.40])
    rating = np.where(ev_type == _REVIEW_T, review_rating, np.where(ev_type == _RATE, rate_rating, 0))
    ev_device = np.where(rng_event.random(n_total) < 0.85, user_device[ev_user], rng_event.choice(3, size=n_total, p=_DEVICE_P))

    # Time order; event ids follow it.
    order = np.lexsort((ev_user, epoch))
    ev_user, epoch, day, ev_sub, ev_type, ev_item = ev_user[order], epoch[order], day[order], ev_sub[order], ev_type[order], ev_item[order]
    sentiment, rating, ev_device = sentiment[order], rating[order], ev_device[order]
    event_width = max(7, len(str(n_total)))
    event_ids = _id_series("e", np.arange(1, n_total + 1), event_width)

    # ---- texts: reviews (some Chinese for CN users) and search queries ----
    ev_loc = user_loc[ev_user]
    text_rows = np.flatnonzero((ev_type == _REVIEW_T) | (ev_type == _SEARCH))
    review_rows = np.flatnonzero(ev_type == _REVIEW_T)
    cn_reviews = review_rows[ev_loc[review_rows] == _CN]
    n_zh = min(len(cn_reviews), int(round(spec.chinese_comment_share * len(review_rows))))
    is_zh = np.zeros(n_total, dtype=bool)
    if n_zh:
        is_zh[rng_event.choice(cn_reviews, size=n_zh, replace=False)] = True
    texts = []
    text_fields = (ev_type[text_rows], ev_sub[text_rows], sentiment[text_rows], is_zh[text_rows], ev_item[text_rows])
    for t, s, sent, zh, item in zip(*(a.tolist() for a in text_fields)):
        if t == _SEARCH:
            texts.append(writer.query(s, text_rnd))
        elif zh:
            texts.append(writer.review_zh(s, _SENTIMENTS[sent], text_rnd))
        else:
            texts.append(writer.review(s, _SENTIMENTS[sent], text_rnd, item_brand[item]))

    zone_names = [l[1] for l in _LOCATIONS] + ["UTC"]
    zone = np.where(user_utc[ev_user], len(_LOCATIONS), ev_loc)
    columns = {
        "event_id": event_ids,
        "user_id": user_ids.gather(ev_user),
        "item_id": pl.select(pl.when(pl.Series(ev_item >= 0)).then(item_ids.gather(np.maximum(ev_item, 0)))).to_series(),
        "event_type": pl.Series(EVENT_TYPES).gather(ev_type),
        "timestamp": _format_timestamps(epoch, zone, zone_names),
        "device": pl.Series(_DEVICES).gather(ev_device),
        "location": pl.Series([l[0] for l in _LOCATIONS]).gather(ev_loc),
        "rating": pl.select(pl.when(pl.Series(rating > 0)).then(pl.Series(rating).cast(pl.String))).to_series(),
        "text": pl.Series("text", [None] * n_total, dtype=pl.String).scatter(text_rows, pl.Series(texts, dtype=pl.String)),
    }

    # ---- planted defects and duplicates ----
    n_bad = int(round(spec.bad_row_share * n_total))
    bad_rows = np.sort(rng_bad.choice(n_total, size=n_bad, replace=False))
    bad_kind = rng_bad.integers(0, len(_DEFECTS), n_bad)
    for k, (column, values) in enumerate(
        [("user_id", ("",)), ("timestamp", _BAD_TIMESTAMPS), ("event_type", _BAD_EVENT_TYPES), ("rating", _BAD_RATINGS)]
    ):
        rows = bad_rows[bad_kind == k]
        if len(rows):
            chosen = rng_bad.integers(0, len(values), len(rows))
            columns[column] = columns[column].scatter(rows, pl.Series([values[i] for i in chosen.tolist()], dtype=pl.String))
    events = pl.DataFrame({name: s.alias(name) for name, s in columns.items()})

    is_bad = np.zeros(n_total, dtype=bool)
    is_bad[bad_rows] = True
    clean = np.flatnonzero(~is_bad)
    n_dup = min(len(clean), int(round(spec.duplicate_share * n_total)))
    dup_rows = np.sort(rng_bad.choice(clean, size=n_dup, replace=False))
    # A re-sent row lands a little later, but in the same day's file.
    day_end = start_epoch + (day[dup_rows].astype(np.int64) + 1) * 86400 - 1
    dup_key = np.minimum(epoch[dup_rows] + rng_bad.integers(1, 900, n_dup), day_end)
    all_rows = np.concatenate([np.arange(n_total), dup_rows])
    all_key = np.concatenate([epoch, dup_key])
    final = np.lexsort((np.concatenate([np.zeros(n_total), np.ones(n_dup)]), all_rows, all_key))
    final_rows = all_rows[final]
    final_day = day[final_rows]
    events = events[final_rows]

    # ---- write ----
    events_dir, truth_dir = out_dir / "events", out_dir / "truth"
    for d in (events_dir, truth_dir):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    bounds = np.searchsorted(final_day, np.arange(spec.n_days + 1))
    formats = {"csv": 0, "jsonl": 0, "parquet": 0}
    for d in range(spec.n_days):
        part = events.slice(int(bounds[d]), int(bounds[d + 1] - bounds[d]))
        fmt = _day_format(d + 1)
        path = events_dir / f"events_{(spec.start_date + dt.timedelta(days=d)).isoformat()}.{fmt}"
        if fmt == "csv":
            part.write_csv(path)
        elif fmt == "jsonl":
            part.write_ndjson(path)
        else:
            part.write_parquet(path)
        formats[fmt] += 1

    sub_names = pl.Series([str(SUBTOPICS[s]["name"]) for s in _SUB_IDS])
    topic_names = pl.Series([TOPICS[t]["name"] for t in _TOPIC_IDS])
    sub_ids, topic_ids = pl.Series(_SUB_IDS), pl.Series(_TOPIC_IDS)
    pl.DataFrame({
        "item_id": item_ids, "title": titles, "description": descriptions,
        "category": topic_names.gather(topic_of_sub[item_sub]), "brand": item_brand, "price": price,
    }).write_csv(out_dir / "items.csv")
    pl.DataFrame({
        "item_id": item_ids, "subtopic_id": sub_ids.gather(item_sub), "subtopic_name": sub_names.gather(item_sub),
        "topic_id": topic_ids.gather(topic_of_sub[item_sub]), "topic_name": topic_names.gather(topic_of_sub[item_sub]),
    }).write_csv(truth_dir / "items.csv")

    # Users in long format: core, then peripheral, then (drifters only) emerging.
    n_roles = k_core + k_per + is_drifter
    role_user = np.repeat(np.arange(n_users), n_roles)
    role_col = np.arange(len(role_user)) - np.repeat(np.cumsum(n_roles) - n_roles, n_roles)
    role = np.where(role_col < k_core[role_user], 0, np.where(role_col < (k_core + k_per)[role_user], 1, 2))
    role_sub = interest[role_user, role_col].astype(np.int64)
    pl.DataFrame({
        "user_id": user_ids.gather(role_user), "subtopic_id": sub_ids.gather(role_sub),
        "topic_id": topic_ids.gather(topic_of_sub[role_sub]), "role": pl.Series(["core", "peripheral", "emerging"]).gather(role),
    }).write_csv(truth_dir / "users.csv")
    pl.DataFrame({
        "event_id": event_ids.gather(text_rows), "subtopic_id": sub_ids.gather(ev_sub[text_rows]),
        "topic_id": topic_ids.gather(topic_of_sub[ev_sub[text_rows]]),
    }).write_csv(truth_dir / "texts.csv")
    defect_rows = np.concatenate([bad_rows, dup_rows])
    defect_kind = np.concatenate([bad_kind, np.full(n_dup, len(_DEFECTS))])
    defect_order = np.lexsort((defect_kind, defect_rows))
    pl.DataFrame({
        "event_id": event_ids.gather(defect_rows[defect_order]),
        "defect": pl.Series([*_DEFECTS, "duplicate"]).gather(defect_kind[defect_order]),
    }).write_csv(truth_dir / "defects.csv")

    return {
        "users": n_users,
        "items": spec.n_items,
        "topics": n_topics,
        "subtopics": n_sub,
        "events": n_total,
        "rows": n_total + n_dup,
        "comments": len(review_rows),
        "chinese_comments": n_zh,
        "searches": len(text_rows) - len(review_rows),
        "files": spec.n_days,
        "csv_files": formats["csv"],
        "jsonl_files": formats["jsonl"],
        "parquet_files": formats["parquet"],
        "bad_rows": n_bad,
        "duplicates": n_dup,
        "drifters": n_drift,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Write a deterministic sample of behaviour logs, comments and planted truth.")
    parser.add_argument("--out", type=Path, default=Path("data/sample"), help="output folder (default: data/sample)")
    defaults = SampleSpec()
    parser.add_argument("--users", type=int, default=defaults.n_users)
    parser.add_argument("--items", type=int, default=defaults.n_items)
    parser.add_argument("--days", type=int, default=defaults.n_days)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--events-per-user", type=float, default=defaults.mean_events_per_user)
    parser.add_argument("--start-date", type=dt.date.fromisoformat, default=defaults.start_date)
    args = parser.parse_args(argv)
    spec = SampleSpec(
        n_users=args.users, n_items=args.items, n_days=args.days, seed=args.seed,
        mean_events_per_user=args.events_per_user, start_date=args.start_date,
    )
    try:
        summary = generate_sample(args.out, spec)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    spec_json = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(spec).items()}
    print(json.dumps({"out": str(args.out), "spec": spec_json, **summary}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
