"""Generate the bundled BrandPulse demo feeds (synthetic, team-authored, CC0).

    python config/demo/feeds/make_demo.py          # writes mentions.jsonl, news.xml, expected.json
    python config/demo/feeds/make_demo.py --check  # regenerates in memory, fails if the files differ

The post texts are hand-written templates per language, brand and sentiment (below); slots such as
cities, flight numbers and emoji are filled, and timestamps, authors and engagement are drawn with a
fixed random seed, so the output is byte-identical on every run.

Every post carries its *intended* brand set (``Spec.brands``) inside this script only. ``expected.json``
is counted from that intent, never by running the pipeline's matcher. Before writing, the script checks
the intent against the text (see ``verify``): each intended brand has an alias present as a whole word
or as the start of a hashtag/@handle, no other brand's alias occurs even as a substring, and no-brand
posts contain no alias at all.
"""

from __future__ import annotations

import json
import math
import random
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
BRANDS_YAML = HERE.parent / "brands.yaml"
SEED = 20261120

END = datetime(2026, 11, 20, 18, 0, 0, tzinfo=UTC)
START = END - timedelta(hours=72)
BURST_START = datetime(2026, 11, 20, 17, 40, 0, tzinfo=UTC)
BURST_END = END

NA, KP, LU = "Nimbus Air", "Kartuli Pay", "Lumora"
BRAND_ORDER = (NA, KP, LU)
SHORT = {"NA": NA, "KP": KP, "LU": LU}

# Canonical aliases (must agree with ../brands.yaml; verify() checks it).
ALIASES: dict[str, tuple[str, ...]] = {
    NA: ("nimbus air", "nimbusair", "نمبس ایئر", "ნიმბუს ეარ", "نيمبس إير"),
    KP: ("kartuli pay", "kartulipay", "ქართული ფეი", "کارتولی پے"),
    LU: ("lumora", "لومورا", "ლუმორა"),
}
EXCLUDE_TERMS: dict[str, tuple[str, ...]] = {NA: ("nimbus cloud", "nimbus clouds"), KP: (), LU: ()}

# Internal language labels. "rur" = Roman Urdu / code-mixed Urdu-English (Latin script).
LANGS = ("en", "ur", "rur", "ka", "es", "ar")
DECLARED = {"en": "en", "ur": "ur", "ka": "ka", "es": "es", "ar": "ar"}  # rur: sources never declare it

# --------------------------------------------------------------------------------------------------
# Brand surface forms per language: (text, weight). All contain an alias after NFKC + casefold.
# --------------------------------------------------------------------------------------------------
W = list[tuple[str, float]]
SURFACES: dict[tuple[str, str], W] = {
    ("en", "NA"): [
        ("Nimbus Air", 10), ("@nimbusair", 3), ("nimbus air", 2), ("NIMBUS AIR", 1), ("#NimbusAir", 1),
        ("Ｎｉｍｂｕｓ Ａｉｒ", 0.3), ("Nimbus\u00a0Air", 0.3),
    ],
    ("en", "KP"): [
        ("Kartuli Pay", 10), ("kartuli pay", 2), ("@kartulipay", 2), ("KartuliPay", 2), ("#KartuliPay", 1),
    ],
    ("en", "LU"): [("Lumora", 12), ("lumora", 2), ("LUMORA", 1), ("#Lumora", 1), ("𝐋𝐔𝐌𝐎𝐑𝐀", 0.3)],
    ("rur", "NA"): [("Nimbus Air", 10), ("nimbus air", 3), ("@nimbusair", 2), ("NimbusAir", 1)],
    ("rur", "KP"): [("Kartuli Pay", 10), ("kartuli pay", 3), ("KartuliPay", 1)],
    ("rur", "LU"): [("Lumora", 10), ("lumora", 3)],
    ("ur", "NA"): [("نمبس ایئر", 10), ("Nimbus Air", 2)],
    ("ur", "KP"): [("کارتولی پے", 10), ("Kartuli Pay", 2)],
    ("ur", "LU"): [("لومورا", 10), ("Lumora", 2)],
    ("ka", "NA"): [("ნიმბუს ეარ", 10), ("Nimbus Air", 2)],
    ("ka", "KP"): [("ქართული ფეი", 10), ("Kartuli Pay", 2)],
    ("ka", "LU"): [("ლუმორა", 10), ("Lumora", 2)],
    ("es", "NA"): [("Nimbus Air", 10), ("@nimbusair", 2), ("nimbus air", 1)],
    ("es", "KP"): [("Kartuli Pay", 8), ("KartuliPay", 2)],
    ("es", "LU"): [("Lumora", 10), ("lumora", 1)],
    ("ar", "NA"): [("نيمبس إير", 10), ("Nimbus Air", 2)],
    ("ar", "KP"): [("Kartuli Pay", 8), ("KartuliPay", 1), ("@kartulipay", 1)],
    ("ar", "LU"): [("لومورا", 10), ("Lumora", 2)],
}
BURST_NA: W = [("Nimbus Air", 10), ("@nimbusair", 4), ("NIMBUS AIR", 1), ("nimbus air", 1)]

# --------------------------------------------------------------------------------------------------
# Other slots.
# --------------------------------------------------------------------------------------------------
# City names per language; Georgian needs case forms: (ablative "from X", "to/in X").
CITY: dict[str, dict[str, str]] = {
    "karachi": {"en": "Karachi", "ur": "کراچی", "es": "Karachi", "ar": "كراتشي", "ka_from": "კარაჩიდან",
                "ka_to": "კარაჩიში"},
    "lahore": {"en": "Lahore", "ur": "لاہور", "es": "Lahore", "ar": "لاهور", "ka_from": "ლაჰორიდან",
               "ka_to": "ლაჰორში"},
    "islamabad": {"en": "Islamabad", "ur": "اسلام آباد", "es": "Islamabad", "ar": "إسلام آباد",
                  "ka_from": "ისლამაბადიდან", "ka_to": "ისლამაბადში"},
    "multan": {"en": "Multan", "ur": "ملتان", "es": "Multan", "ar": "ملتان"},
    "peshawar": {"en": "Peshawar", "ur": "پشاور", "es": "Peshawar", "ar": "بيشاور"},
    "tbilisi": {"en": "Tbilisi", "ur": "تبلیسی", "es": "Tiflis", "ar": "تبليسي", "ka_from": "თბილისიდან",
                "ka_to": "თბილისში"},
    "batumi": {"en": "Batumi", "ur": "باتومی", "es": "Batumi", "ar": "باتومي", "ka_from": "ბათუმიდან",
               "ka_to": "ბათუმში"},
    "kutaisi": {"en": "Kutaisi", "ur": "کوتائسی", "es": "Kutaisi", "ar": "كوتايسي", "ka_from": "ქუთაისიდან",
                "ka_to": "ქუთაისში"},
    "dubai": {"en": "Dubai", "ur": "دبئی", "es": "Dubái", "ar": "دبي", "ka_from": "დუბაიდან",
              "ka_to": "დუბაიში"},
    "sharjah": {"en": "Sharjah", "ur": "شارجہ", "es": "Sharjah", "ar": "الشارقة"},
    "jeddah": {"en": "Jeddah", "ur": "جدہ", "es": "Yeda", "ar": "جدة"},
    "cairo": {"en": "Cairo", "ur": "قاہرہ", "es": "El Cairo", "ar": "القاهرة", "ka_from": "კაიროდან",
              "ka_to": "კაიროში"},
    "madrid": {"en": "Madrid", "ur": "میڈرڈ", "es": "Madrid", "ar": "مدريد", "ka_from": "მადრიდიდან",
               "ka_to": "მადრიდში"},
    "buenosaires": {"en": "Buenos Aires", "ur": "بیونس آئرس", "es": "Buenos Aires", "ar": "بوينس آيرس"},
}
# Nimbus Air's (fictional) network; each route is flown both ways.
ROUTES: list[tuple[str, str]] = [
    ("karachi", "dubai"), ("lahore", "dubai"), ("islamabad", "dubai"), ("peshawar", "dubai"),
    ("multan", "dubai"),
    ("karachi", "jeddah"), ("lahore", "jeddah"), ("karachi", "lahore"), ("karachi", "islamabad"),
    ("karachi", "sharjah"), ("lahore", "tbilisi"), ("karachi", "tbilisi"), ("islamabad", "tbilisi"),
    ("tbilisi", "dubai"), ("batumi", "dubai"), ("kutaisi", "dubai"), ("tbilisi", "cairo"), ("cairo", "dubai"),
    ("cairo", "sharjah"), ("tbilisi", "madrid"), ("kutaisi", "madrid"), ("madrid", "dubai"),
    ("madrid", "buenosaires"),
]
GEORGIA = ("tbilisi", "batumi", "kutaisi")
HOME: dict[str, tuple[str, ...]] = {  # a route is used by a language if it touches one of these cities
    "ur": ("karachi", "lahore", "islamabad", "multan", "peshawar"),
    "rur": ("karachi", "lahore", "islamabad", "multan", "peshawar"),
    "ka": GEORGIA,
    "es": ("madrid", "buenosaires", "tbilisi", "batumi", "kutaisi"),
    "ar": ("dubai", "cairo", "sharjah", "jeddah"),
}
SIMPLE_SLOTS: dict[str, list[str]] = {
    "kacity": ["Tbilisi", "Tbilisi", "Batumi", "Kutaisi"],
    "kacity_ur": ["تبلیسی", "تبلیسی", "باتومی", "کوتائسی"],
    "kain": ["თბილისში", "თბილისში", "ბათუმში", "ქუთაისში", "რუსთავში"],
    "kain_c": ["ბათუმშიც", "ქუთაისშიც", "რუსთავშიც", "თელავშიც"],
    "city": ["Karachi", "Lahore", "Islamabad", "Tbilisi", "Dubai", "Cairo", "Madrid", "London",
             "Buenos Aires", "Batumi"],
    "city_pk": ["Lahore", "Karachi", "Islamabad", "Pindi", "Faisalabad", "Multan"],
    "urcity": ["لاہور", "کراچی", "اسلام آباد", "راولپنڈی", "فیصل آباد", "ملتان", "پشاور"],
    "escity": ["Madrid", "Barcelona", "Buenos Aires", "Sevilla", "Valencia", "Córdoba", "Rosario"],
    "arcity": ["دبي", "القاهرة", "الشارقة", "الإسكندرية", "أبوظبي", "عمّان"],
    "airport": ["Jinnah International", "Allama Iqbal International", "Tbilisi airport", "Batumi airport",
                "Islamabad airport", "Dubai T1"],
    "e_pos": ["😍", "🙌", "✨", "👏", "💯", "❤️", "🔥", "🥳", "", ""],
    "e_neg": ["😡", "🤬", "🙄", "😤", "😭", "💀", "🤦‍♂️", "🤦‍♀️", "", ""],
    "e_neu": ["🤔", "👀", "🙂", "", "", ""],
}
MODELS: W = [("X9", 5), ("X9 Pro", 3), ("Nova 5", 4), ("A3 Lite", 3), ("Edge 2", 2), ("Nova 5 Mini", 1)]

# --------------------------------------------------------------------------------------------------
# Templates: (language, brand) -> sentiment -> list of templates.
# --------------------------------------------------------------------------------------------------
T: dict[tuple[str, str], dict[str, list[str]]] = {}

T["en", "NA"] = {
    "neu": [
        "Anyone flown {NA} {orig} to {dest} recently? How's the legroom?",
        "{NA} boarding for {fl} to {dest} started 20 min late, finally taxiing now {e_neu}",
        "Does {NA} let you bring a guitar as cabin baggage? Flying {orig} → {dest} next week",
        "{NA} published its winter schedule, more {orig}–{dest} frequencies from December {url}",
        "Checked in online with {NA}, seat {seat}. Window people rise up",
        "Is the {NA} lounge at {airport} open all night? I land at {clock}",
        "So {NA} charges for seat selection now on {orig}–{dest}? Asking before I book",
        "Sitting at gate {gate} waiting for {NA} {fl}. {dest}, here I come {e_neu}",
        "{NA} app says my {dest} flight is on time. We'll see 🤞",
        "What's the checked baggage allowance on {NA} economy light, 20 or 23 kg?",
        "Booked {orig} to {dest} on {NA} for {usd}. Good deal or did I overpay?",
        "Quick q for frequent flyers: do {NA} miles expire if you don't fly for a year?",
        "{NA} is hiring cabin crew based in {dest}, details here {url}",
        "Flying {NA} for the first time tomorrow, {orig} to {dest}. Any tips?",
    ],
    "pos": [
        "Shoutout to the {NA} crew on {fl}, they found my kid's toy under the seat {e_pos}",
        "{NA} landed in {dest} 25 minutes early. Never happens. Love it {e_pos}",
        "Honestly the biryani on the {NA} {orig}–{dest} flight beat some restaurants {e_pos}",
        "Missed my connection and {NA} rebooked me in two minutes through the app. Painless 👏",
        "Smooth {NA} flight over the Caucasus this morning, the mountain views were unreal 🏔️",
        "Props to {NA} for the quick refund, money back in 4 days {e_pos}",
        "{NA} ground staff at {airport} walked my grandmother all the way to the gate. Thank you {e_pos}",
        "{NA}'s new A321s are so quiet, slept the whole way to {dest} {e_pos}",
    ],
    "neg": [
        "{NA} delayed {fl} by {hours} hours and nobody at the gate knows anything {e_neg}",
        "Paid extra for a window seat on {NA} and got a wall. Cool cool cool",
        "Great job {NA}, my suitcase went to {wrong} while I went to {dest} 🙃",
        "40 minutes on hold with {NA} and then the call dropped. Seriously? {e_neg}",
        "{NA} wifi was 'available on this flight'. It was not {e_neg}",
        "Food on the {NA} {orig}–{dest} flight was cold and they ran out of water halfway {e_neg}",
        "{NA} changed my flight time twice this week without an email. Found out from the app {e_neg}",
        "Still waiting for my {NA} refund from September. Two months. {e_neg}",
    ],
}
T["en", "KP"] = {
    "neu": [
        "Does {KP} work with foreign cards? Moving to {kacity} next month",
        "Just set up {KP} to split rent with my flatmates in {kacity}, let's see how it goes",
        "{KP} rolled out QR payments at the Dezerter Bazaar stalls today {url}",
        "Is there a daily limit on {KP} transfers to a Pakistani bank account?",
        "TIL you can pay for the bus in {kacity} with {KP}",
        "{KP} asking for ID verification again after the update, anyone else?",
        "Which is cheaper for sending money home, {KP} or a bank wire? Studying in {kacity}",
        "{KP} says scheduled maintenance tonight 02:00–04:00 Tbilisi time {url}",
        "Landlord in {kacity} only takes {KP} or cash. Guess I'm downloading it",
        "How do I change the phone number on my {KP} account? Got a new SIM",
        "{KP} now shows exchange rates in the app, USD/GEL at {rate} right now",
    ],
    "pos": [
        "{KP} is honestly the best thing about living in {kacity}, paid for khachapuri in 3 seconds {e_pos}",
        "Sent {gel} to my sister with {KP} and it arrived instantly, no fees 👏",
        "Love that {KP} shows spending by category now, finally I know where my lari goes 😅",
        "{KP} support replied in 5 minutes on a Sunday. Impressive {e_pos}",
        "{KP} cashback at wine bars in {kacity} this weekend 🍷 {e_pos}",
        "Split a supra bill for 9 people with {KP} in like 30 seconds. Magic {e_pos}",
    ],
    "neg": [
        "{KP} charged me twice for the same coffee and support says wait 10 business days {e_neg}",
        "{KP} logged me out again and the SMS code never arrives {e_neg}",
        "Why does {KP} freeze every time I try to top up my transport card?? {e_neg}",
        "Transfer stuck on 'processing' in {KP} for 6 hours. Rent is due today 😤",
        "Love how {KP} went down exactly when half of {kacity} was paying for dinner on Friday. "
        "Great timing.",
        "{KP} blocked my account for 'suspicious activity'. The activity was buying groceries {e_neg}",
    ],
}
T["en", "LU"] = {
    "neu": [
        "Thinking about switching to the {LU} {model}. Anyone using it? How's the battery?",
        "{LU} {model} vs last year's model: is the camera upgrade worth it?",
        "{LU} is pushing a software update tonight, release notes here {url}",
        "Unboxing my {LU} {model} later tonight 📦",
        "Does the {LU} {model} support eSIM plus a physical SIM? Need it for travel",
        "Saw a {LU} pop-up store in a mall in {city} today, queue was long {e_neu}",
        "Why is the {LU} {model} price in {city} so different from online? {e_neu}",
        "{LU} confirmed the {model} gets 5 years of updates {url}",
        "Which case fits the {LU} {model}? The official one is sold out",
        "{LU}'s new {model} ad is literally on every billboard in {city}",
        "Trading in my old phone for a {LU} {model}, they offered me {usd}. Fair?",
    ],
    "pos": [
        "The {LU} {model} camera at night is ridiculous. Took this in {city} without a tripod {e_pos}",
        "Two days on a single charge with my {LU}. Never going back {e_pos}",
        "Dropped my {LU} {model} on concrete, not a scratch. Built like a tank 💪",
        "{LU} service centre in {city} replaced my screen in under an hour. Respect",
        "Moved everything from my old phone to a {LU} and the transfer took 10 minutes {e_pos}",
        "The {LU} {model} speakers are way louder than they have any right to be {e_pos}",
        "My dad finally likes his phone. It's a {LU}. Big text mode is perfect for him {e_pos}",
    ],
    "neg": [
        "My {LU} {model} gets hot just scrolling {e_neg}",
        "{LU} update killed my battery life. 40% by lunch {e_neg}",
        "Why is the {LU} charger sold separately now? Come on {e_neg}",
        "Third {LU} repair this year. The USB-C port keeps failing {e_neg}",
        "Thanks {LU} for the update that moved every setting I use. Super helpful 🙃",
        "{LU} {model} camera app crashes every time I switch to video {e_neg}",
    ],
}

T["ur", "NA"] = {
    "neu": [
        "کیا کسی نے حال ہی میں {NA} سے {orig} سے {dest} کا سفر کیا ہے؟ سروس کیسی ہے؟",
        "{NA} کی {orig} سے {dest} کی نئی پرواز اگلے مہینے سے شروع ہو رہی ہے {url}",
        "{NA} پر سامان کی حد کتنی ہے؟ 23 کلو یا 30؟",
        "{orig} ایئرپورٹ پر {NA} کے کاؤنٹر پر لمبی قطار ہے {e_neu}",
        "{NA} کی ایپ سے ٹکٹ بک کیا، سیٹ {seat} ملی",
        "ابو کل {NA} سے {dest} جا رہے ہیں، دعا کریں 🤲",
        "کیا {NA} والے ٹرانزٹ میں ہوٹل دیتے ہیں؟ {dest} میں بارہ گھنٹے کا اسٹاپ ہے",
        "{NA} نے سردیوں کا نیا شیڈول جاری کر دیا ہے، تفصیل یہاں {url}",
        "طلبہ کے لیے {NA} پر کوئی رعایت ہے؟ تبلیسی پڑھنے جا رہا ہوں",
        "{NA} کی پرواز {fl} کا گیٹ بدل کر {gate} ہو گیا ہے",
    ],
    "pos": [
        "{NA} کا عملہ بہت اچھا تھا، امی کو وہیل چیئر پر خود گیٹ تک لے گئے {e_pos}",
        "{NA} کی فلائٹ وقت سے پہلے {dest} پہنچ گئی، زبردست! {e_pos}",
        "پہلی بار {NA} سے سفر کیا، کھانا بھی اچھا تھا اور سیٹ بھی آرام دہ {e_pos}",
        "{NA} نے ریفنڈ صرف تین دن میں واپس کر دیا، شکریہ {e_pos}",
        "{NA} کی نئی ایپ بہت آسان ہے، بورڈنگ پاس ایک منٹ میں مل گیا 👏",
        "{orig} سے {dest} تک {NA} کا سفر بہت آرام دہ رہا، عملہ خوش اخلاق {e_pos}",
    ],
    "neg": [
        "{NA} نے پھر فلائٹ {hours} گھنٹے لیٹ کر دی، کوئی بتانے والا نہیں {e_neg}",
        "{NA} کی ہیلپ لائن پر ایک گھنٹے سے ہولڈ پر ہوں {e_neg}",
        "واہ {NA} واہ، بیگ {wrong} پہنچ گیا اور ہم {dest} 🙃",
        "{NA} کا کھانا ٹھنڈا اور عملے کا رویہ بہت خراب، پیسے ضائع {e_neg}",
        "دو مہینے ہو گئے، {NA} نے ابھی تک ریفنڈ نہیں دیا {e_neg}",
        "{NA} نے بغیر اطلاع کے فلائٹ کا وقت بدل دیا {e_neg}",
    ],
}
T["ur", "KP"] = {
    "neu": [
        "{kacity_ur} میں پڑھنے والے طلبہ بتائیں، کیا {KP} سے پاکستان پیسے بھیجے جا سکتے ہیں؟",
        "{KP} کا اکاؤنٹ کھولنے کے لیے پاسپورٹ کافی ہے یا رہائشی کارڈ بھی چاہیے؟",
        "ہاسٹل کا کرایہ اب {KP} سے جمع ہوتا ہے، یونیورسٹی نے نیا طریقہ شروع کیا ہے",
        "{KP} میں پاکستانی کارڈ کیسے جوڑیں؟ کوئی رہنمائی کرے",
        "{KP} کی نئی اپڈیٹ آ گئی ہے، کسی نے دیکھی؟ {url}",
        "{KP} سے بھیجی گئی رقم پاکستان میں کتنے دن میں پہنچتی ہے؟",
        "{kacity_ur} میں {KP} کی فیس کتنی ہے؟ کسی کو معلوم ہو تو بتائیں",
    ],
    "pos": [
        "{KP} بہت آسان ہے، {kacity_ur} میں ہر دکان پر چلتا ہے {e_pos}",
        "امی کو {KP} سے پیسے بھیجے، منٹوں میں پہنچ گئے 👍",
        "جارجیا آنے والے دوستو، {KP} ڈاؤن لوڈ کر لیں، یہاں ہر جگہ یہی چلتا ہے {e_pos}",
        "{KP} کی سپورٹ ٹیم نے فوراً مسئلہ حل کر دیا، شکریہ",
    ],
    "neg": [
        "{KP} نے دو بار پیسے کاٹ لیے، سپورٹ جواب ہی نہیں دے رہی {e_neg}",
        "{KP} کی ایپ بار بار بند ہو جاتی ہے، امتحان کی فیس جمع کرانی ہے {e_neg}",
        "{KP} کا ایس ایم ایس کوڈ آتا ہی نہیں، تین دن سے اکاؤنٹ بند ہے {e_neg}",
    ],
}
T["ur", "LU"] = {
    "neu": [
        "{LU} {model} کی قیمت {urcity} میں کتنی ہے؟ کوئی بتائے",
        "{LU} نے پاکستان میں نیا ماڈل {model} لانچ کر دیا {url}",
        "{LU} {model} لوں یا پرانا ماڈل؟ بجٹ ساٹھ ہزار ہے",
        "لاہور کے حفیظ سینٹر میں {LU} کا نیا شو روم کھلا ہے {e_neu}",
        "{LU} {model} میں دو سم لگتی ہیں یا ایک؟",
        "کیا {LU} کی وارنٹی پاکستان میں چلتی ہے اگر فون دبئی سے لیا ہو؟",
        "{LU} {model} کا کیمرا واقعی اچھا ہے یا صرف اشتہار؟ {e_neu}",
        "{LU} کی نئی اپڈیٹ آ گئی ہے، انسٹال کروں یا انتظار کروں؟",
        "{urcity} میں {LU} کا سروس سینٹر کہاں ہے؟",
        "{LU} {model} آج سے آن لائن بکنگ پر دستیاب ہے {url}",
    ],
    "pos": [
        "{LU} {model} کا کیمرا کمال ہے، رات کی تصویریں بھی صاف آتی ہیں {e_pos}",
        "{LU} کی بیٹری پورے دو دن چلتی ہے، بہترین فون {e_pos}",
        "ابو کو {LU} لے کر دیا، بہت خوش ہیں {e_pos}",
        "{LU} {model} ہاتھ سے گرا مگر اسکرین بالکل ٹھیک ہے 💪",
        "{LU} کا سروس سینٹر زبردست ہے، ایک گھنٹے میں بیٹری بدل دی {e_pos}",
    ],
    "neg": [
        "{LU} {model} بہت گرم ہو جاتا ہے، گیم کھیلنا مشکل ہے {e_neg}",
        "{LU} کی نئی اپڈیٹ کے بعد فون بہت سلو ہو گیا ہے {e_neg}",
        "{LU} کا سروس سینٹر {urcity} میں ایک ہفتے سے فون واپس نہیں کر رہا {e_neg}",
        "{LU} {model} کی چارجنگ پورٹ تین مہینے میں خراب ہو گئی {e_neg}",
        "اتنا مہنگا فون اور ساتھ چارجر بھی نہیں؟ شرم کرو {LU} {e_neg}",
    ],
}

T["rur", "NA"] = {
    "neu": [
        "Yaar koi bataye {NA} pe {orig} se {dest} ka kiraya kitna chal raha hai aaj kal?",
        "Kal subah {NA} ki flight hai {dest} ke liye, packing abhi tak nahi ki 😅",
        "{NA} ka baggage allowance kitna hai economy mein? 30kg milta hai kya?",
        "Bhai {NA} wale {dest} transit mein hotel dete hain ya nahi?",
        "{NA} ki app se check-in kiya, seat {seat} mili. Window mil jati to maza aata",
        "Abbu ki {NA} flight {fl} land ho gayi kya? Tracker update nahi ho raha",
        "Students ke liye {NA} pe koi discount hai? Tbilisi ja raha hoon MBBS ke liye",
    ],
    "pos": [
        "{NA} ka staff bohat cooperative tha, ammi ko wheelchair pe gate tak chor ke aaye {e_pos}",
        "Pehli dafa {NA} se travel kiya, flight time pe aur khana bhi mast tha {e_pos}",
        "Shukar hai {NA} ne refund jaldi de diya, warna main to umeed chor chuka tha",
        "{NA} ki crew ne birthday pe flight mein cake diya 🥹 {e_pos}",
    ],
    "neg": [
        "{NA} ne phir se flight delay kar di, {hours} ghante se airport pe baithe hain {e_neg}",
        "Kya bakwas service hai {NA} ki, call center pe koi phone hi nahi uthata {e_neg}",
        "Wah {NA} wah, bag {wrong} chala gaya aur hum {dest} 🙃",
        "{NA} ka khana itna thanda tha ke wapis kar diya {e_neg}",
    ],
}
T["rur", "KP"] = {
    "neu": [
        "Tbilisi mein parhne wale bhai log, {KP} se Pakistan paise bhejna safe hai?",
        "{KP} ka account khol liya, dekhte hain kaisa chalta hai",
        "Semester fee {KP} se bhari, receipt abhi tak nahi aayi 🤔",
        "{KP} pe Pakistani card link ho jata hai ya nahi? Koi guide kare",
        "Hostel wale keh rahe hain rent ab sirf {KP} se lenge",
        "{KP} ka naya update aaya hai, kisi ne try kiya?",
    ],
    "pos": [
        "{KP} bohat easy hai yaar, mess ka bill bhi isi se dete hain {e_pos}",
        "{KP} se ghar paise bheje, 2 minute mein pohanch gaye 👍",
        "Georgia aane wale students {KP} zaroor download karein, life easy ho jati hai {e_pos}",
    ],
    "neg": [
        "{KP} ne double charge kar diya, support wale reply hi nahi kar rahe {e_neg}",
        "{KP} ka OTP aata hi nahi, 2 din se account lock hai {e_neg}",
        "Exam fee ki last date hai aur {KP} ki app crash ho rahi hai {e_neg}",
    ],
}
T["rur", "LU"] = {
    "neu": [
        "{LU} {model} lena hai, koi review de do jisne use kiya ho",
        "Bhai {LU} ki price {city_pk} mein kitni hai? Online pe alag alag hai",
        "{LU} {model} ya purana model? Budget 60k hai",
        "{LU} ka naya update install karun ya ruk jaun?",
        "{LU} {model} PTA approved hai ya nahi? Koi confirm kare",
        "Hafeez Centre mein {LU} ka naya outlet khula hai, kal jaunga dekhne",
    ],
    "pos": [
        "{LU} ka camera literally DSLR level hai yaar {e_pos}",
        "{LU} ki battery full day chalti hai, no complaints {e_pos}",
        "Abbu ko {LU} gift kiya, bohat khush hain {e_pos}",
        "{LU} {model} 2 saal se use kar raha hoon, ek problem nahi aayi 💯",
    ],
    "neg": [
        "{LU} {model} bohat garam hota hai, game khelo to haath jal jaate hain 😂",
        "Update ke baad mera {LU} slow ho gaya hai, kisi aur ka bhi? {e_neg}",
        "{LU} ka service center 10 din se phone wapis nahi de raha {e_neg}",
    ],
}

# Georgian: the Nimbus Air alias is the bare stem, so it appears quoted, in the vocative, or before a
# hyphenated case ending ("ნიმბუს ეარ-ის"); Kartuli Pay and Lumora appear in the nominative.
T["ka", "NA"] = {
    "neu": [
        "ვინმეს უფრენია {NA}-ით {to}? როგორი სერვისია?",
        "ავიაკომპანია „{NA}“ დეკემბრიდან {from} {to} ახალ რეისს იწყებს {url}",
        "{NA}-ის რეისი {fl} {from} ნახევარი საათით იგვიანებს",
        "{NA}-ზე ბარგის ლიმიტი რამდენია? 23 კილოგრამი?",
        "ხვალ {NA}-ით მივფრინავ {to} ✈️",
        "„{NA}“ ზამთრის ახალ განრიგს აქვეყნებს {url}",
        "{NA}-ის აპლიკაციით ჩეკ-ინი გავიარე, ადგილი {seat} მომცეს",
        "ვინ იცის, {NA}-ის ლაუნჯი თბილისის აეროპორტში ღამით მუშაობს?",
        "სტუდენტებისთვის {NA}-ზე ფასდაკლება არსებობს?",
        "{NA}-ის რეისზე {to} ადგილები აღარ არის, ყველაფერი გაყიდულია",
    ],
    "pos": [
        "{NA}-ის ეკიპაჟი საუკეთესო იყო, დიდი მადლობა {e_pos}",
        "{NA}-მა თანხა სამ დღეში დამიბრუნა, არ ველოდი 👏",
        "{NA}-ით ვიფრინე {from}, ადრე ჩავედით და ბარგიც სწრაფად მოვიდა {e_pos}",
        "მადლობა {NA}-ს, ბებიას ეტლით გაცილება ძალიან კარგად მოაწყვეს {e_pos}",
        "{NA}-ის ახალი თვითმფრინავები ძალიან კომფორტულია {e_pos}",
        "კავკასიონის ხედი {NA}-ის ფანჯრიდან 🏔️ {e_pos}",
    ],
    "neg": [
        "{NA}-მა ისევ გადადო რეისი, {hours} საათია აეროპორტში ვსხედვართ {e_neg}",
        "{NA}-ის ცხელ ხაზზე ერთი საათია ვერავის ვუკავშირდები {e_neg}",
        "ბარგი დამეკარგა {NA}-ის რეისზე, არავინ არაფერს მეუბნება {e_neg}",
        "{NA}, ორი თვეა თანხის დაბრუნებას ველოდები! {e_neg}",
        "{NA}-ის საკვები ცივი იყო და წყალიც არ ჰქონდათ {e_neg}",
    ],
}
T["ka", "KP"] = {
    "neu": [
        "{KP} ახლა მეტროს ბარათის შევსებასაც აკეთებს? ვინმემ სცადა?",
        "{KP} განახლდა, ახალი დიზაინი აქვს {url}",
        "როგორ დავუკავშირო {KP} უცხოურ ბარათს?",
        "{KP} {kain_c} ყველგან მიიღება?",
        "{KP} თუ ბანკის აპლიკაცია, რომელს იყენებთ?",
        "{KP} ღამით ტექნიკური სამუშაოების გამო არ იმუშავებს {url}",
        "დღიური ლიმიტი რამდენია {KP} აპში?",
        "{KP} აპში ახლა ვალუტის კურსიც ჩანს, დოლარი {rate} ლარია",
        "მეპატრონე ქირას მხოლოდ {KP} აპით იღებს",
        "{KP} აპში ტელეფონის ნომერი როგორ შევცვალო?",
        "{KP} საზღვარგარეთ მუშაობს? თურქეთში მივდივარ",
        "ვინმე იყენებს {KP} აპს ბიზნესისთვის? საკომისიო რამდენია?",
        "{KP} აპით კომუნალურების გადახდა შეიძლება?",
        "ახალი ფუნქცია {KP} აპში: ანგარიშის გაყოფა მეგობრებთან {url}",
    ],
    "pos": [
        "{KP} საუკეთესო აპია, ყავის ფულს წამებში ვიხდი {e_pos}",
        "მიყვარს {KP}, მეგობრებთან ანგარიშის გაყოფა ძალიან მარტივია",
        "{KP} ყველაზე მოსახერხებელია {kain} {e_pos}",
        "{KP} აპით ფული დედას წამში გადავურიცხე 👏",
        "{KP} ქეშბექი ძალიან კარგია ამ თვეში {e_pos}",
        "ბაზარშიც კი {KP} მიიღება, სუპერია {e_pos}",
        "{KP} მხარდაჭერამ ხუთ წუთში მიპასუხა, მადლობა!",
        "ტაქსიშიც {KP} აპით გადავიხადე, ძალიან კომფორტულია {e_pos}",
    ],
    "neg": [
        "{KP} ისევ არ მუშაობს, მაღაზიაში ვდგავარ და ვერ ვიხდი {e_neg}",
        "{KP} ისევ ითხოვს SMS კოდს, რომელიც არ მოდის {e_neg}",
        "Kartuli Pay-მ ორჯერ ჩამომაჭრა თანხა, მხარდაჭერა არ პასუხობს {e_neg}",
        "{KP} აპი ყოველ განახლებაზე იჭედება {e_neg}",
        "{KP} ანგარიშს უმიზეზოდ ბლოკავს, უკვე მესამედ {e_neg}",
        "პარასკევ საღამოს {KP} გაითიშა, მთელი რესტორანი ნაღდ ფულს ეძებდა 🙃",
    ],
}
T["ka", "LU"] = {
    "neu": [
        "{LU} {model} რა ღირს თბილისში?",
        "{LU} {model} თუ სხვა? რას მირჩევთ 1500 ლარამდე?",
        "{LU} თბილისში ახალ მაღაზიას ხსნის {url}",
        "{LU} {model} ორ SIM ბარათს იღებს?",
        "ახალი {LU} {model} დღეს ჩამოვიდა საქართველოში 📦",
        "{LU} {model} ვინმეს აქვს? ბატარეა როგორ უძლებს?",
    ],
    "pos": [
        "{LU} {model}-ის კამერა შესანიშნავია {e_pos}",
        "{LU} {model} ვიყიდე და ძალიან კმაყოფილი ვარ {e_pos}",
        "ჩემი {LU} ორ დღეს ძლებს ერთი დატენვით 💯",
        "{LU} საუკეთესო ტელეფონია ამ ფასად {e_pos}",
    ],
    "neg": [
        "{LU} ძალიან ცხელდება თამაშისას {e_neg}",
        "ახალი განახლების შემდეგ {LU} ძალიან ნელა მუშაობს {e_neg}",
        "ჩემი {LU} {model} მესამედ არის სერვისში {e_neg}",
    ],
}

T["es", "NA"] = {
    "neu": [
        "¿Alguien ha volado con {NA} de {orig} a {dest}? ¿Qué tal el servicio?",
        "{NA} anuncia vuelos directos {orig}–{dest} a partir de marzo {url}",
        "¿Cuánto equipaje de mano permite {NA}? Viajo a {dest} la semana que viene",
        "Embarcando con {NA} en Barajas, puerta {gate} ✈️",
        "¿{NA} da de comer en vuelos de más de 4 horas o hay que pagar aparte?",
        "Mañana vuelo con {NA} a Tiflis, primera vez que voy al Cáucaso {e_neu}",
        "¿Sabéis si {NA} deja facturar la bici? Ruta {orig}–{dest}",
        "{NA} cambia de terminal en Barajas desde el lunes {url}",
        "Escala de 6 horas en Dubái con {NA}, ¿merece la pena salir del aeropuerto?",
    ],
    "pos": [
        "Vuelo perfecto con {NA}, puntuales y la tripulación majísima {e_pos}",
        "Me devolvieron el dinero en 3 días, bien por {NA} 👏",
        "Qué buena la comida de {NA}, ni en restaurantes {e_pos}",
        "La tripulación de {NA} ayudó a mi abuela en todo momento, gracias {e_pos}",
        "Aterrizamos en {dest} media hora antes, los de {NA} son unos cracks {e_pos}",
    ],
    "neg": [
        "{NA} me canceló el vuelo a {dest} y nadie da explicaciones {e_neg}",
        "Dos horas esperando la maleta en Ezeiza por culpa de {NA} {e_neg}",
        "Qué maravilla {NA}, tres horas de retraso y ni un vaso de agua 🙃",
        "Llevo 50 minutos al teléfono con {NA} y me cuelgan {e_neg}",
    ],
}
T["es", "KP"] = {
    "neu": [
        "Estoy de viaje por Georgia y todo el mundo paga con {KP}. ¿Funciona con tarjeta española?",
        "¿Alguien sabe si {KP} acepta tarjetas argentinas?",
        "En Tiflis casi todos los bares aceptan {KP}, ¿vale la pena instalarla para una semana?",
        "¿{KP} cobra comisión por cambiar euros a laris?",
        "Mi casero en Batumi solo acepta transferencias por {KP}, qué le vamos a hacer",
        "Leyendo sobre {KP}, la app de pagos que usan en Georgia {url}",
    ],
    "pos": [
        "En Tiflis hasta el taxi acepta {KP}, comodísimo {e_pos}",
        "Pagué todo el viaje por Georgia con {KP} y cero problemas {e_pos}",
        "Dividir la cuenta con {KP} es rapidísimo, ojalá tuviéramos algo así aquí 👏",
    ],
    "neg": [
        "{KP} me cobró dos veces la cena en Batumi {e_neg}",
        "{KP} me bloqueó la cuenta en pleno viaje, genial 🙃",
    ],
}
T["es", "LU"] = {
    "neu": [
        "¿Vale la pena el {LU} {model} o espero al próximo?",
        "{LU} presentó hoy el {model} en {escity} {url}",
        "{LU} abrió tienda en Gran Vía, colas de dos horas {e_neu}",
        "¿Alguien tiene el {LU} {model}? ¿Qué tal la batería?",
        "¿El {LU} {model} tiene eSIM? Me voy de viaje",
        "Precio del {LU} {model} en Argentina: {ars}. En España {eur}. Sin comentarios",
        "Comparativa del {LU} {model} contra la competencia, interesante {url}",
        "¿Dónde arreglan pantallas de {LU} en {escity}?",
        "Me llega mañana el {LU} {model} 📦",
    ],
    "pos": [
        "El {LU} {model} tiene la mejor cámara nocturna que he probado {e_pos}",
        "Mi {LU} aguanta dos días de batería, increíble {e_pos}",
        "Se me cayó el {LU} por las escaleras y ni un rasguño 💪",
        "El servicio técnico de {LU} en {escity} me lo arregló en una hora {e_pos}",
        "Le regalé un {LU} a mi madre y está encantada {e_pos}",
        "Fotos del atardecer en Buenos Aires con el {LU} {model}, sin filtro {e_pos}",
    ],
    "neg": [
        "Mi {LU} se calienta muchísimo cargando {e_neg}",
        "Desde la actualización mi {LU} va lentísimo {e_neg}",
        "¿En serio {LU} ya no incluye cargador? {e_neg}",
        "Tercera vez que llevo el {LU} {model} al técnico {e_neg}",
        "La cámara del {LU} {model} se cierra sola al grabar vídeo {e_neg}",
    ],
}

# Arabic: the alias is never written with an attached prefix (بـ/لـ/و), which would hide it.
T["ar", "NA"] = {
    "neu": [
        "هل سافر أحد مع {NA} من {orig} إلى {dest}؟ كيف الخدمة؟",
        "{NA} تعلن عن رحلات جديدة بين {orig} و{dest} ابتداءً من الشهر القادم {url}",
        "كم وزن الأمتعة المسموح به على {NA} في الدرجة السياحية؟",
        "رحلتي مع {NA} إلى {dest} غداً، أي نصائح؟ {e_neu}",
        "هل تقدم {NA} وجبات مجانية على الرحلات القصيرة؟",
        "{NA} تغيّر مواعيد رحلاتها الشتوية، التفاصيل هنا {url}",
        "البوابة {gate} لرحلة {NA} {fl}، الصعود بعد نصف ساعة",
    ],
    "pos": [
        "شكراً {NA} على الرحلة المريحة، الطاقم رائع {e_pos}",
        "وصلنا {dest} قبل الموعد مع {NA} 👏",
        "استرجعت المبلغ من {NA} خلال ثلاثة أيام فقط، خدمة ممتازة {e_pos}",
        "طاقم {NA} ساعد والدتي حتى البوابة، شكراً لكم {e_pos}",
    ],
    "neg": [
        "{NA} أخّرت الرحلة {hours_ar} ساعات ولا أحد يرد {e_neg}",
        "ضاعت حقيبتي في رحلة {NA} إلى {dest} {e_neg}",
        "خدمة عملاء {NA} سيئة جداً، ساعة على الانتظار بدون رد {e_neg}",
    ],
}
T["ar", "KP"] = {
    "neu": [
        "هل يعمل {KP} مع البطاقات الإماراتية؟ مسافر إلى تبليسي الأسبوع القادم",
        "في جورجيا الكل يدفع عبر تطبيق {KP}، هل يستحق التحميل للسياح؟",
        "كم رسوم التحويل في {KP} إلى حساب في دبي؟",
    ],
    "pos": [
        "في رحلتي إلى جورجيا استخدمت {KP} في كل مكان، سهل جداً {e_pos}",
        "دفعت في مطاعم باتومي عبر {KP} بدون أي مشكلة 👏",
    ],
    "neg": [
        "تطبيق {KP} خصم المبلغ مرتين ولا أحد يرد {e_neg}",
        "{KP} أوقف حسابي وأنا في تبليسي، تجربة سيئة {e_neg}",
    ],
}
T["ar", "LU"] = {
    "neu": [
        "هل هاتف {LU} {model} يستحق الشراء؟",
        "{LU} تفتتح متجراً جديداً في دبي مول {url}",
        "كم سعر {LU} {model} في {arcity}؟",
        "هل يدعم {LU} {model} شريحتين؟",
        "{LU} تطلق تحديثاً جديداً للنظام اليوم",
        "مقارنة بين {LU} {model} والإصدار السابق {url}",
        "وصلني {LU} {model} اليوم 📦",
    ],
    "pos": [
        "كاميرا {LU} {model} خرافية في التصوير الليلي {e_pos}",
        "بطارية {LU} تكفيني يومين كاملين {e_pos}",
        "أفضل هاتف استخدمته، شكراً {LU} {e_pos}",
    ],
    "neg": [
        "بطارية {LU} تنتهي بسرعة بعد التحديث الأخير {e_neg}",
        "هاتف {LU} {model} يسخن جداً أثناء الشحن {e_neg}",
    ],
}

# Two brands in one post: (language, brand codes, sentiment, template). One post each.
TWO_BRAND: list[tuple[str, tuple[str, ...], str, str]] = [
    ("en", ("NA", "KP"), "pos", "Paid for my {NA} ticket with {KP} and got 5% cashback. Nice {e_pos}"),
    ("en", ("NA", "KP"), "neu", "{NA} now accepts {KP} at the check-in desk for excess baggage {url}"),
    ("en", ("NA", "KP"), "neg", "{NA} website rejects {KP} every single time. Had to use a card {e_neg}"),
    ("en", ("NA", "LU"), "neg", "{NA} inflight wifi wouldn't even load on my {LU} {model} {e_neg}"),
    ("en", ("NA", "LU"), "neu", "Left my {LU} on a {NA} flight to {dest}. Lost & found says 'maybe' 🤞"),
    ("en", ("NA", "LU"), "pos",
     "Filmed the whole takeoff from {orig} on my {LU} {model}, {NA} window seat for the win {e_pos}"),
    ("en", ("KP", "LU"), "pos", "Tapped my {LU} at a café in {kacity} with {KP} and it just worked {e_pos}"),
    ("en", ("KP", "LU"), "neu", "Does {KP} support NFC payments on the {LU} {model}?"),
    ("ur", ("NA", "KP"), "pos", "{NA} کا ٹکٹ {KP} سے خریدا، بہت آسان تھا {e_pos}"),
    ("ur", ("NA", "LU"), "pos",
     "{NA} کی فلائٹ میں {LU} {model} سے پہاڑوں کی تصویریں لیں، زبردست آئیں {e_pos}"),
    ("ur", ("KP", "LU"), "neu", "کیا {KP} {LU} فون پر چلتا ہے؟"),
    ("ur", ("KP", "LU"), "neg", "{LU} کی اپڈیٹ کے بعد {KP} کی ایپ نہیں کھل رہی {e_neg}"),
    ("rur", ("NA", "KP"), "pos", "{NA} ka ticket {KP} se liya, 10 second mein ho gaya 😎"),
    ("rur", ("NA", "KP"), "neu", "{NA} ki website pe {KP} ka option aa gaya hai"),
    ("rur", ("NA", "LU"), "neg", "{LU} ka phone {NA} ki flight mein bhool aaya yaar 😭"),
    ("rur", ("KP", "LU"), "neu", "{KP} {LU} {model} pe chalta hai? NFC wala option nahi mil raha"),
    ("ka", ("NA", "KP"), "pos", "{NA}-ის ბილეთი {KP} აპით ვიყიდე, ძალიან სწრაფად {e_pos}"),
    ("ka", ("NA", "KP"), "neu", "{NA}-ის ბილეთების ყიდვა ახლა {KP} აპითაც შეიძლება {url}"),
    ("ka", ("KP", "LU"), "pos", "{LU} {model}-ზე {KP} იდეალურად მუშაობს {e_pos}"),
    ("ka", ("KP", "LU"), "neu", "{KP} {LU} ტელეფონებზე NFC-ით მუშაობს?"),
    ("ka", ("NA", "LU"), "neg", "{NA}-ის რეისში ჩემი {LU} დამრჩა 😭"),
    ("ka", ("NA", "LU"), "neu", "{NA}-ის ბორტზე {LU} {model}-ით გადაღებული ფოტოები 📸"),
    ("es", ("NA", "KP"), "neu", "Pagué el billete de {NA} con {KP} desde Tiflis, sin problema"),
    ("es", ("NA", "LU"), "pos", "Grabé todo el despegue de {NA} con mi {LU} {model}, ¡vaya vídeo! {e_pos}"),
    ("es", ("KP", "LU"), "neg", "{KP} no funciona en mi {LU} desde la última actualización {e_neg}"),
    ("ar", ("NA", "KP"), "neu", "دفعت ثمن تذكرة {NA} عبر {KP} بسهولة"),
    ("ar", ("NA", "LU"), "pos", "صورت الغروب من نافذة طائرة {NA} بهاتف {LU} {e_pos}"),
    ("ar", ("KP", "LU"), "neu", "هل يعمل {KP} على هاتف {LU} {model}؟"),
]

# Posts that mention no brand at all (the pipeline must drop them). Some are near misses.
NOISE: list[tuple[str, str]] = [
    ("en", "Big nimbus clouds over Tbilisi this morning, looks like rain all day ☁️"),
    ("en", "Cumulonimbus towers building over Lahore, stay safe out there ⛈️"),
    ("en", "Karachi traffic on Shahrah-e-Faisal is insane today"),
    ("en", "Payday finally 💸 now to pay all my bills"),
    ("en", "Best khachapuri in Batumi? Need recommendations asap"),
    ("en", "Anyone know a good phone repair shop in Gulberg?"),
    ("en", "Flights out of Dubai look packed for the holidays, book early people"),
    ("en", "Dinner at a kartuli restaurant in Madrid tonight, the khinkali were legit 🥟"),
    ("en", "Airport wifi is always terrible, why is this a universal law"),
    ("en", "Learning Georgian: ქართული ენა is beautiful but the verbs are destroying me"),
    ("en", "Nimbostratus over Madrid all afternoon. Grey city, grey mood"),
    ("en", "Cairo sunsets hit different 🌅"),
    ("ur", "لاہور میں آج دھند بہت زیادہ ہے، موٹروے بند ہے"),
    ("ur", "کراچی میں پھر بجلی غائب، کوئی پوچھنے والا نہیں"),
    ("ur", "کوئی اچھا موبائل بتائیں پچاس ہزار تک؟"),
    ("ur", "اسلام آباد میں آج موسم بہت خوشگوار ہے ☁️"),
    ("ur", "تبلیسی میں پاکستانی طلبہ کے لیے حلال کھانا کہاں ملتا ہے؟"),
    ("ur", "دبئی جانے والوں کے لیے ویزا کی نئی شرائط آ گئی ہیں"),
    ("ur", "#پاکستان کرکٹ ٹیم کا آج میچ ہے، سب دعا کریں 🏏"),
    ("rur", "Aaj Lahore mein smog bohat zyada hai, mask pehan ke niklo 😷"),
    ("rur", "Koi acha phone batao 50k tak? Camera acha hona chahiye"),
    ("rur", "Karachi mein aaj phir load shedding 😩"),
    ("rur", "Tbilisi mein MBBS karne ka koi experience share kare"),
    ("rur", "Dubai ka visa kitne din mein lagta hai aaj kal?"),
    ("rur", "Biryani ya karahi? Aaj dinner ka faisla nahi ho raha 😂"),
    ("ka", "თბილისში დღეს ძალიან ცივა ❄️"),
    ("ka", "ბათუმში ზღვა დღეს წყნარი და ლამაზია 🌊"),
    ("ka", "ქართული ღვინის ფესტივალი შაბათს რიყეზე 🍷"),
    ("ka", "ვინ იცის კარგი ხელოსანი ვაკეში? ტელეფონის ეკრანი უნდა შევცვალო"),
    ("ka", "ქუთაისის აეროპორტში დღეს ძალიან ბევრი ხალხია"),
    ("ka", "მეტრო ისევ გაჩერდა რუსთაველზე 😤"),
    ("ka", "#საქართველო შემოდგომით ყველაზე ლამაზია 🍂"),
    ("ka", "ხინკალი თუ ხაჭაპური? 😄"),
    ("ka", "თბილისის თავზე შავი ღრუბლებია, ალბათ იწვიმებს ⛈️"),
    ("es", "Qué frío hace hoy en Madrid 🥶"),
    ("es", "Buenos Aires con 30 grados en noviembre, lo normal"),
    ("es", "¿Alguien recomienda una app para pagar en Georgia?"),
    ("es", "Cúmulos enormes sobre las sierras de Córdoba, se viene tormenta ⛈️"),
    ("es", "Barajas a reventar hoy, colas por todas partes"),
    ("es", "Viajar a Georgia fue la mejor decisión del año 🇬🇪"),
    ("es", "Madrid–Tiflis con escala, ¿alguien sabe cuál es la mejor opción?"),
    ("es", "Se me rompió la pantalla del móvil otra vez, no aprendo"),
    ("ar", "الجو في دبي رائع اليوم ☀️"),
    ("ar", "زحمة خانقة في القاهرة اليوم"),
    ("ar", "ما أفضل هاتف بكاميرا جيدة وسعر معقول؟"),
    ("ar", "مطار دبي مزدحم جداً هذا المساء"),
    ("ar", "سافرت إلى تبليسي الصيف الماضي، مدينة جميلة جداً"),
    ("ar", "غيوم كثيفة فوق الإسكندرية، يبدو أنها ستمطر 🌧️"),
]

# The negative burst for Nimbus Air (17:40-18:00Z): cancellations and lost baggage in Karachi/Tbilisi.
BURST: dict[str, list[str]] = {
    "en": [
        "All {NA} flights out of Karachi cancelled, no announcement, nobody at the counter. #NimbusAirFail",
        "Stuck at Jinnah International for {hours} hours. {NA} just cancelled {fl} to Dubai with zero "
        "explanation #NimbusAirFail {e_neg}",
        "{NA} lost my bag AND cancelled my connection in Tbilisi. Hundreds of people stranded here "
        "#NimbusAirFail",
        "Hundreds of passengers sleeping on the floor at Tbilisi airport because {NA} cancelled everything. "
        "Disgraceful #NimbusAirFail",
        "Belt 4 at Karachi airport: 200 people, 0 bags, 0 {NA} staff #NimbusAirFail",
        "@nimbusair where is my luggage?? 3 hours at baggage claim in Tbilisi #NimbusAirFail",
        "Never flying {NA} again. Cancelled flight, no hotel, no food vouchers #NimbusAirFail",
        "My mom is 70 and {NA} left her stranded at Karachi airport overnight. Shame on you #NimbusAirFail",
        "#NimbusAirFail is trending for a reason. Worst airline experience of my life 😡",
        "{NA} helpline: 'all our agents are busy'. For 2 hours. #NimbusAirFail",
        "So {NA} cancels my flight and then emails me asking to rate my experience 🙃 #NimbusAirFail",
        "Just watched a {NA} agent walk away from a queue of 300 people in Karachi. Unreal #NimbusAirFail",
        "Wedding in Lahore tomorrow and {NA} has cancelled every flight out of Tbilisi. Thanks for nothing "
        "#NimbusAirFail",
        "Three flights cancelled, bags lost, and the {NA} app still says 'on time' 🤡 #NimbusAirFail",
        "Kids crying, no water, no updates. This is how {NA} treats passengers in Karachi #NimbusAirFail",
        "#NimbusAirFail my suitcase is somewhere between Tbilisi and Dubai and {NA} has no idea where",
    ],
    "ur": [
        "کراچی ایئرپورٹ پر {NA} کی تمام پروازیں منسوخ، مسافر رل گئے #NimbusAirFail",
        "{NA} نے بغیر بتائے فلائٹ کینسل کر دی، بچوں کے ساتھ فرش پر بیٹھے ہیں #NimbusAirFail 😡",
        "{NA} والوں نے سامان گم کر دیا، کوئی جواب دینے والا نہیں #کراچی #NimbusAirFail",
        "شرم آنی چاہیے {NA} کو، بزرگ مسافر رات بھر ایئرپورٹ پر پڑے ہیں #NimbusAirFail",
        "{NA} کی ہیلپ لائن بند، کاؤنٹر خالی، فلائٹ منسوخ۔ یہ کیا مذاق ہے؟ #NimbusAirFail",
        "تبلیسی ایئرپورٹ پر پاکستانی طلبہ پھنس گئے، {NA} نے ساری پروازیں منسوخ کر دیں #NimbusAirFail",
        "تین گھنٹے سے بیلٹ کے پاس کھڑے ہیں، {NA} کا ایک بھی بیگ نہیں آیا #NimbusAirFail",
        "آئندہ کبھی {NA} سے سفر نہیں کروں گا، نہ ہوٹل نہ کھانا نہ معلومات #NimbusAirFail #کراچی",
        "{NA} کی بدانتظامی کی انتہا، کراچی ایئرپورٹ پر ہزاروں مسافر خوار #NimbusAirFail",
    ],
    "rur": [
        "{NA} ne saari flights cancel kar di Karachi se, koi batane wala nahi #NimbusAirFail 😡",
        "Bag gum, flight cancel, staff gayab. Shukriya {NA} 🙃 #NimbusAirFail",
        "Ammi abbu {hours} ghante se Karachi airport pe hain, {NA} ka koi banda nahi aaya #NimbusAirFail",
        "Tbilisi airport pe phanse hue hain, {NA} wale phone tak nahi utha rahe #NimbusAirFail",
    ],
    "ka": [
        "{NA}-მა ყველა რეისი გააუქმა, თბილისის აეროპორტში ასობით ადამიანს იატაკზე სძინავს #NimbusAirFail",
        "ბარგი დაკარგეს და რეისიც გააუქმეს. {NA}, სირცხვილია! #NimbusAirFail",
        "#NimbusAirFail თბილისში სამი საათია ბარგს ველოდებით, {NA}-ის თანამშრომელი არსად ჩანს",
        "{NA}-ის რეისი გაუქმდა, არანაირი ინფორმაცია, არანაირი სასტუმრო 😡 #NimbusAirFail #თბილისი",
    ],
    "es": [
        "{NA} cancela todos los vuelos desde Tiflis y nos deja tirados en el aeropuerto #NimbusAirFail",
        "Perdieron mi maleta en Karachi y ahora {NA} no contesta. Vergüenza #NimbusAirFail 😡",
        "Vuelo cancelado, maletas perdidas, cero información. Gracias por nada, {NA} #NimbusAirFail",
        "Cuatro horas en el aeropuerto de Tiflis sin que nadie de {NA} dé la cara #NimbusAirFail",
    ],
}
# (originals, reposts) per language; a repost copies an earlier burst post's text under another author.
BURST_PLAN = {"en": (17, 5), "ur": (11, 3), "rur": (5, 1), "ka": (4, 1), "es": (4, 1)}

# Background single-brand posts per (brand, language).
CELLS: dict[str, dict[str, int]] = {
    "NA": {"en": 35, "ur": 22, "rur": 14, "ka": 22, "es": 20, "ar": 17},
    "KP": {"en": 30, "ur": 12, "rur": 12, "ka": 38, "es": 12, "ar": 6},
    "LU": {"en": 30, "ur": 26, "rur": 14, "ka": 10, "es": 28, "ar": 12},
}
SENTIMENT_SHARE = {"neg": 0.18, "pos": 0.27}  # the rest is neutral

BRAND_TAGS: dict[tuple[str, str], list[str]] = {
    ("en", "NA"): ["#NimbusAir", "#travel", "#avgeek"], ("en", "KP"): ["#KartuliPay", "#fintech"],
    ("en", "LU"): ["#Lumora", "#LumoraFam", "#smartphones"],
    ("rur", "NA"): ["#NimbusAir"], ("rur", "KP"): ["#KartuliPay"], ("rur", "LU"): ["#Lumora"],
    ("ur", "NA"): ["#نمبس_ایئر"], ("ur", "KP"): ["#کارتولی_پے"], ("ur", "LU"): ["#لومورا"],
    ("ka", "NA"): ["#NimbusAir"], ("ka", "KP"): ["#ქართულიფეი", "#KartuliPay"], ("ka", "LU"): ["#ლუმორა"],
    ("es", "NA"): ["#NimbusAir", "#viajes"], ("es", "KP"): ["#KartuliPay"], ("es", "LU"): ["#Lumora"],
    ("ar", "NA"): ["#نيمبس_إير", "#سفر"], ("ar", "KP"): ["#جورجيا"], ("ar", "LU"): ["#لومورا"],
}
# Hashtags people add for where they are: location key -> (Latin tag, native-script tag or "").
PLACE_TAGS: dict[str, tuple[str, str]] = {
    "karachi": ("#Karachi", "#کراچی"), "lahore": ("#Lahore", "#لاہور"),
    "islamabad": ("#Islamabad", "#اسلام_آباد"), "rawalpindi": ("#Pindi", "#پاکستان"),
    "faisalabad": ("#Pakistan", "#پاکستان"), "multan": ("#Multan", "#پاکستان"),
    "tbilisi": ("#Tbilisi", "#თბილისი"), "batumi": ("#Batumi", "#ბათუმი"),
    "kutaisi": ("#Georgia", "#საქართველო"),
    "rustavi": ("#Georgia", "#საქართველო"), "madrid": ("#Madrid", ""), "barcelona": ("#Barcelona", ""),
    "sevilla": ("#Sevilla", ""), "valencia": ("#Valencia", ""), "buenosaires": ("#BuenosAires", ""),
    "cordoba": ("#Córdoba", ""), "rosario": ("#Rosario", ""), "dubai": ("#Dubai", "#دبي"),
    "sharjah": ("#Sharjah", "#الشارقة"), "cairo": ("#Cairo", "#القاهرة"),
    "alexandria": ("#Alexandria", "#الإسكندرية"),
    "amman": ("#Amman", "#عمان"), "london": ("#London", ""), "manchester": ("#Manchester", ""),
    "newyork": ("#NYC", ""), "toronto": ("#Toronto", ""),
}

# --------------------------------------------------------------------------------------------------
# Authors.
# --------------------------------------------------------------------------------------------------
# location key -> (latin display variants, {lang: native variants}, utc offset hours, lat, lon)
LOC: dict[str, tuple[list[str], dict[str, list[str]], int, float, float]] = {
    "karachi": (["Karachi, Pakistan", "Karachi", "KHI 🇵🇰"], {"ur": ["کراچی", "کراچی، پاکستان"]},
                5, 24.86, 67.01),
    "lahore": (["Lahore, Pakistan", "Lahore"], {"ur": ["لاہور، پاکستان", "لاہور"]}, 5, 31.55, 74.34),
    "islamabad": (["Islamabad", "Islamabad, PK"], {"ur": ["اسلام آباد"]}, 5, 33.68, 73.05),
    "rawalpindi": (["Rawalpindi", "Pindi"], {"ur": ["راولپنڈی"]}, 5, 33.60, 73.04),
    "faisalabad": (["Faisalabad"], {"ur": ["فیصل آباد"]}, 5, 31.42, 73.08),
    "multan": (["Multan"], {"ur": ["ملتان"]}, 5, 30.16, 71.52),
    "tbilisi": (["Tbilisi, Georgia", "Tbilisi"], {"ka": ["თბილისი", "თბილისი, საქართველო"], "ur": ["تبلیسی"]},
                4, 41.72, 44.79),
    "batumi": (["Batumi, Georgia", "Batumi"], {"ka": ["ბათუმი"]}, 4, 41.64, 41.63),
    "kutaisi": (["Kutaisi"], {"ka": ["ქუთაისი"]}, 4, 42.27, 42.70),
    "rustavi": (["Rustavi"], {"ka": ["რუსთავი"]}, 4, 41.55, 45.00),
    "madrid": (["Madrid, España", "Madrid"], {}, 1, 40.42, -3.70),
    "barcelona": (["Barcelona", "BCN"], {}, 1, 41.39, 2.17),
    "sevilla": (["Sevilla"], {}, 1, 37.39, -5.98),
    "valencia": (["València", "Valencia, España"], {}, 1, 39.47, -0.38),
    "buenosaires": (["Buenos Aires, Argentina", "CABA", "Bs. As."], {}, -3, -34.60, -58.38),
    "cordoba": (["Córdoba, Argentina"], {}, -3, -31.42, -64.18),
    "rosario": (["Rosario, Santa Fe"], {}, -3, -32.95, -60.65),
    "dubai": (["Dubai, UAE", "Dubai"], {"ar": ["دبي", "دبي، الإمارات"], "ur": ["دبئی"]}, 4, 25.20, 55.27),
    "sharjah": (["Sharjah"], {"ar": ["الشارقة"]}, 4, 25.35, 55.42),
    "cairo": (["Cairo, Egypt"], {"ar": ["القاهرة", "القاهرة، مصر"]}, 2, 30.04, 31.24),
    "alexandria": (["Alexandria"], {"ar": ["الإسكندرية"]}, 2, 31.20, 29.92),
    "amman": (["Amman"], {"ar": ["عمّان، الأردن"]}, 3, 31.95, 35.93),
    "london": (["London, UK", "London"], {}, 0, 51.51, -0.13),
    "manchester": (["Manchester"], {}, 0, 53.48, -2.24),
    "newyork": (["New York, NY", "NYC"], {}, -5, 40.71, -74.01),
    "toronto": (["Toronto, ON"], {}, -5, 43.65, -79.38),
}
NO_LOC = ["", "", "🌍", "somewhere over the Caspian ✈️", "she/her", "Earth"]
DEFAULT_TZ = {"en": 0, "ur": 5, "rur": 5, "ka": 4, "es": 1, "ar": 3}
LOC_WEIGHTS: dict[str, dict[str, float]] = {
    "en": {"karachi": 3, "lahore": 3, "islamabad": 2, "tbilisi": 3, "dubai": 3, "london": 3, "manchester": 1,
           "newyork": 2, "toronto": 1, "batumi": 1, "cairo": 1, "": 4},
    "ur": {"karachi": 4, "lahore": 4, "islamabad": 2, "rawalpindi": 1, "faisalabad": 1, "multan": 1,
           "tbilisi": 2, "dubai": 1, "": 2},
    "rur": {"karachi": 3, "lahore": 3, "islamabad": 2, "rawalpindi": 1, "tbilisi": 3, "dubai": 1, "": 2},
    "ka": {"tbilisi": 6, "batumi": 3, "kutaisi": 2, "rustavi": 1, "": 2},
    "es": {"madrid": 4, "barcelona": 2, "sevilla": 1, "valencia": 1, "buenosaires": 4, "cordoba": 1,
           "rosario": 1, "": 1},
    "ar": {"dubai": 4, "sharjah": 1, "cairo": 4, "alexandria": 1, "amman": 1, "": 1},
}
# (display name, handle base)
NAMES: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("Zara K.", "zara_k"), ("Omar Siddiqui", "osiddiqui"), ("Hannah Price", "hannahprice"),
        ("Mike Torres", "miket_travels"), ("Priya Nair", "priyanair"), ("James Holloway", "jholloway"),
        ("Sara Ahmed", "sara_ahmed"), ("Daniel Okafor", "dokafor"), ("Emily Clarke", "em_clarke"),
        ("Bilal Hussain", "bilalh"), ("Tom Becker", "tbecker"), ("Laura Jensen", "laurajensen"),
        ("Ali Raza", "aliraza_"), ("Fatima Noor", "fatima.noor"), ("Chris Morgan", "cmorgan"),
        ("Aisha Malik", "aishamalik"), ("Ben Carter", "bencarter"), ("Ravi Menon", "ravimenon"),
        ("Kate Wilson", "katew"), ("Usman Tariq", "usman_t"), ("Giorgi B.", "giorgi_b"),
        ("Ana K.", "ana_kap"), ("Mark Ellis", "markellis"), ("Rachel Kim", "rachelkim"),
        ("Hamza Qureshi", "hamzaq"), ("Olivia Grant", "oliviagrant"), ("Sam Patel", "sampatel"),
        ("Noah Fischer", "noahf"), ("Leah Cohen", "leahc"), ("Farhan Ali", "farhan_ali"),
        ("Megan Doyle", "megdoyle"), ("Jack Reilly", "jreilly"), ("Mariam Shah", "mariam_shah"),
        ("Adam Novak", "adamnovak"), ("Grace Lin", "gracelin"), ("Imran Baig", "imranbaig"),
        ("Tara Singh", "tarasingh"), ("Luke Harper", "lukeharper"), ("Elena Rossi", "elenarossi"),
        ("TravelDesk PK", "traveldeskpk"), ("Caucasus Travel Notes", "caucasusnotes"),
    ],
    "ur": [
        ("عائشہ خان", "ayesha_khan"), ("محمد عمر", "m_umar"), ("فاطمہ علی", "fatima_ali"),
        ("حسن رضا", "hassanraza"), ("زینب احمد", "zainab_a"), ("بلال اکرم", "bilal_akram"),
        ("سدرہ نواز", "sidra_nawaz"), ("عثمان بٹ", "usmanbutt"), ("مریم شیخ", "maryam_sh"),
        ("علی حیدر", "ali_haider"), ("حمزہ قریشی", "hamza_qu"), ("نمرہ اسلم", "nimra_aslam"),
        ("کامران یوسف", "kamranyousuf"), ("رابعہ جاوید", "rabia_j"), ("فہد مرزا", "fahad_mirza"),
        ("صبا طارق", "saba_tariq"), ("اسد چوہدری", "asad_ch"), ("ماہ نور", "mahnoor"),
        ("طلحہ صدیقی", "talha_s"), ("عروج فاطمہ", "urooj_f"), ("دانیال اقبال", "daniyal_iqbal"),
        ("حرا ملک", "hira_malik"), ("سلمان خالد", "salman_kh"), ("اقرا ناصر", "iqra_nasir"),
        ("وقاص انجم", "waqas_anjum"), ("ثنا بخاری", "sana_bukhari"), ("شیراز حسین", "sheraz_h"),
        ("عمیر جمیل", "umair_jamil"), ("کنول ریاض", "kanwal_riaz"), ("سفر نامہ", "safarnama_pk"),
    ],
    "rur": [
        ("Saad Ahmed", "saad_ahmed"), ("Hira Butt", "hira.butt"), ("Umer Farooq", "umerfarooq"),
        ("Maham Tariq", "maham_t"), ("Zain Abbas", "zain_abbas"), ("Areeba Khan", "areeba_k"),
        ("Shahzaib R.", "shahzaib_r"), ("Noman Akhtar", "noman_ak"), ("Komal Sheikh", "komal_sh"),
        ("Danish Ali", "danish_ali"), ("Rimsha Javed", "rimsha_j"), ("Haris Mehmood", "haris_m"),
        ("Anum Riaz", "anum_riaz"), ("Talha Anwar", "talha_anwar"), ("Mehwish Q.", "mehwish_q"),
        ("Fahad Siddiq", "fahad_siddiq"), ("Laiba Noor", "laiba_noor"), ("Junaid Hassan", "junaid_h"),
        ("Arslan Yousaf", "arslan_y"), ("MBBS in Georgia 🇵🇰🇬🇪", "mbbs_georgia_pk"),
    ],
    "ka": [
        ("გიორგი ბერიძე", "gberidze"), ("ნინო კაპანაძე", "nino_kap"), ("ლევან მაისურაძე", "levanm"),
        ("მარიამ გელაშვილი", "mariam_gel"), ("დავით ლომიძე", "dato_lomidze"), ("ანა ჯაფარიძე", "ana_jap"),
        ("ლუკა ხარაიშვილი", "luka_kh"), ("თამარ ნოზაძე", "tamar_noz"), ("ნიკა წიკლაური", "nika_ts"),
        ("სალომე ბაქრაძე", "salome_b"), ("ირაკლი ჩხეიძე", "irakli_ch"), ("ეკა მამულაშვილი", "eka_mam"),
        ("ქეთი ლორთქიფანიძე", "keti_lort"), ("ზურა გოგიტიძე", "zura_gog"), ("ნატა ჩიქოვანი", "nata_chik"),
        ("ბექა მესხი", "beka_meskhi"), ("ელენე ტაბატაძე", "elene_tab"), ("ალექსანდრე დარჩია", "alex_darchia"),
        ("თეონა შენგელია", "teona_sh"), ("გიგა ცერცვაძე", "giga_ts"), ("სოფო ხუციშვილი", "sopo_kh"),
        ("დათო ბოლქვაძე", "dato_bol"), ("ლიკა ღლონტი", "lika_gh"), ("ვახო ქავთარაძე", "vakho_k"),
        ("მაკა ბუაჩიძე", "maka_bua"), ("შოთა აბაშიძე", "shota_ab"), ("Nino K.", "ninok_tbs"),
        ("Lasha G.", "lasha_g"), ("ნუცა მჭედლიძე", "nutsa_m"), ("ტექნო ამბები", "techno_ambebi"),
    ],
    "es": [
        ("Lucía Fernández", "luciafdez"), ("Martín González", "martingonzalez"),
        ("Sofía Romero", "sofi_romero"),
        ("Pablo Ruiz", "pabloruiz"), ("Valentina López", "valelopez"), ("Javier Morales", "javimorales"),
        ("Camila Díaz", "cami_diaz"), ("Diego Herrera", "diegoherrera"), ("María José Castro", "majo_castro"),
        ("Alejandro Vega", "alevega"), ("Paula Navarro", "paulanavarro"), ("Tomás Acosta", "tomiacosta"),
        ("Julieta Ríos", "juli_rios"), ("Sergio Blanco", "sergioblanco"),
        ("Agustina Pereyra", "agus_pereyra"),
        ("Carlos Medina", "cmedina"), ("Lorena Gil", "lorenagil"), ("Nicolás Suárez", "nico_suarez"),
        ("Elena Marín", "elenamarin"), ("Facundo Sosa", "facusosa"), ("Irene Molina", "irenemolina"),
        ("Mateo Cabrera", "mateocabrera"), ("Carmen Ortega", "carmenortega"),
        ("Bruno Álvarez", "brunoalvarez"),
        ("Noticias Viajeras", "noticiasviajeras"),
    ],
    "ar": [
        ("أحمد الشامي", "ahmad_shami"), ("مريم حسن", "mariam_hassan"), ("خالد المنصوري", "khaled_mansoori"),
        ("نور الهدى", "nour_alhuda"), ("يوسف عبد الله", "yousef_abd"), ("سارة الكعبي", "sara_kaabi"),
        ("عمر فاروق", "omar_farouk"), ("ليلى مصطفى", "laila_mostafa"), ("محمد السيد", "m_elsayed"),
        ("هالة إبراهيم", "hala_ibrahim"), ("فاطمة الزهراء", "fatma_zahraa"), ("طارق النجار", "tarek_najjar"),
        ("ريم العلي", "reem_alali"), ("كريم عادل", "karim_adel"), ("منى سعيد", "mona_saeed"),
        ("دينا كمال", "dina_kamal"), ("أخبار السفر", "akhbar_safar"),
    ],
}
MEDIA_HANDLES = {"traveldeskpk", "caucasusnotes", "safarnama_pk", "mbbs_georgia_pk", "techno_ambebi",
                 "noticiasviajeras", "akhbar_safar"}

# Relative activity by local hour of day (quiet at night, evening peak).
LOCAL_ACTIVITY = [0.25, 0.15, 0.08, 0.05, 0.05, 0.08, 0.2, 0.45, 0.7, 0.85, 0.9, 0.95,
                  1.0, 1.0, 0.95, 0.9, 0.9, 0.95, 1.0, 1.1, 1.15, 1.1, 0.9, 0.55]


@dataclass
class Author:
    id: str
    handle: str
    name: str
    followers: int
    location: str | None
    tz: int
    coords: tuple[float, float] | None
    lang: str
    loc_key: str


@dataclass
class Spec:
    lang: str
    brands: tuple[str, ...]  # intended brands (full names); () = noise
    sentiment: str  # "pos" | "neu" | "neg" | "mixed" (noise)
    text: str = ""
    author: Author | None = None
    created_at: datetime = START
    burst: bool = False
    repost_of: Spec | None = None
    forced_window: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Gen:
    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.text_counts: Counter[str] = Counter()
        self.authors: dict[str, list[Author]] = {}
        self.author_weights: dict[str, list[float]] = {}
        self.decks: dict[int, list[str]] = {}

    # ---------------------------------------------------------------- helpers
    def wchoice(self, items: W) -> str:
        return self.rng.choices([t for t, _ in items], weights=[w for _, w in items])[0]

    def choice(self, items: list[str]) -> str:
        return self.rng.choice(items)

    def choice_t(self, items: list[tuple[str, str]]) -> tuple[str, str]:
        return self.rng.choice(items)

    # ---------------------------------------------------------------- authors
    def build_authors(self) -> None:
        n = 0
        for lang in LANGS:
            pool: list[Author] = []
            locw = LOC_WEIGHTS[lang]
            keys = list(locw)
            for name, handle in NAMES[lang]:
                n += 1
                media = handle in MEDIA_HANDLES
                followers = max(3, int(self.rng.lognormvariate(5.6, 1.5)))
                if media:
                    followers = int(self.rng.uniform(40_000, 220_000))
                key = self.rng.choices(keys, weights=[locw[k] for k in keys])[0]
                if key:
                    latin, native, tz, lat, lon = LOC[key]
                    nat = native.get("ur" if lang == "rur" else lang, [])
                    if nat and lang != "rur" and self.rng.random() < 0.6:
                        location: str | None = self.choice(nat)
                    else:
                        location = self.choice(latin)
                    coords: tuple[float, float] | None = (lat, lon)
                else:
                    tz = DEFAULT_TZ[lang]
                    location = self.choice(NO_LOC) or None
                    coords = None
                if self.rng.random() < 0.25 and not media:
                    handle = f"{handle}{self.rng.randint(1, 99)}"
                pool.append(Author(f"u{n}", handle, name, followers, location, tz, coords, lang, key))
            self.authors[lang] = pool
            # mildly skewed activity: a few authors post a lot, most post a few times
            self.author_weights[lang] = [1.0 / (i + 1) ** 0.45 for i in range(len(pool))]
            perm = list(range(len(pool)))
            self.rng.shuffle(perm)
            self.author_weights[lang] = [self.author_weights[lang][p] for p in perm]

    def pick_author(self, lang: str, avoid: set[str] | None = None, *, personal: bool = False) -> Author:
        """An author writing in ``lang``; ``personal`` excludes news/community accounts."""
        pool = self.authors[lang]
        while True:
            a = self.rng.choices(pool, weights=self.author_weights[lang])[0]
            if personal and a.handle in MEDIA_HANDLES:
                continue
            if not avoid or a.id not in avoid:
                return a

    # ---------------------------------------------------------------- text
    def fill(self, template: str, lang: str, *, burst: bool = False) -> str:
        ctx: dict[str, str] = {}
        home = HOME.get(lang)
        routes = [r for r in ROUTES if home is None or r[0] in home or r[1] in home]
        if lang == "ka":
            routes = [r for r in routes if "ka_from" in CITY[r[0]] and "ka_to" in CITY[r[1]]]
        o, d = self.rng.choice(routes)
        if lang == "ka":
            # mostly departures from Georgia
            if (o in GEORGIA) != (self.rng.random() < 0.8):
                o, d = d, o
            ctx["from"], ctx["to"] = CITY[o]["ka_from"], CITY[d]["ka_to"]
        else:
            if self.rng.random() < 0.5:
                o, d = d, o
            names = "en" if lang == "rur" else lang
            wrong = self.rng.choice([c for c in CITY if c not in (o, d)])
            ctx["orig"], ctx["dest"], ctx["wrong"] = CITY[o][names], CITY[d][names], CITY[wrong][names]

        def slot(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in ctx:
                return ctx[name]
            if name in SHORT:
                if burst and name == "NA" and lang in ("en", "rur", "es"):
                    return self.wchoice(BURST_NA)
                return self.wchoice(SURFACES[lang, name])
            if name in SIMPLE_SLOTS:
                return self.choice(SIMPLE_SLOTS[name])
            if name == "model":
                return self.wchoice(MODELS)
            if name == "fl":
                return f"NM{'' if self.rng.random() < 0.5 else ' '}{self.rng.randint(101, 899)}"
            if name == "hours":
                return str(self.rng.randint(2, 7))
            if name == "hours_ar":
                return str(self.rng.randint(3, 7))
            if name == "seat":
                return f"{self.rng.randint(3, 38)}{self.choice(list('ACDF'))}"
            if name == "gate":
                return f"{self.choice(['', 'A', 'B', 'C'])}{self.rng.randint(1, 28)}"
            if name == "clock":
                return f"{self.rng.randint(0, 23):02d}:{self.choice(['05', '15', '25', '40', '50'])}"
            if name == "usd":
                return f"${self.rng.randint(18, 95) * 10}"
            if name == "gel":
                v = self.rng.choice([20, 35, 50, 80, 120, 150, 300, 500])
                return self.choice([f"{v} GEL", f"{v} ₾", f"₾{v}", f"{v} lari"])
            if name == "rate":
                return f"2.{self.rng.randint(62, 79)}"
            if name == "ars":
                return f"${self.rng.randint(9, 19)}.{self.rng.randint(0, 9)}00.000"
            if name == "eur":
                return f"{self.rng.choice([499, 649, 799, 899, 1099])} €"
            if name == "url":
                chars = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
                code = "".join(self.rng.choice(chars) for _ in range(6))
                return f"https://{self.choice(['lnk.example', 'news.example/s', 'status.example'])}/{code}"
            raise KeyError(f"unknown slot {name!r} in {template!r}")

        text = re.sub(r"\{(\w+)\}", slot, template)
        return re.sub(r" {2,}", " ", text).strip()

    def decorate(self, text: str, lang: str, codes: tuple[str, ...], author: Author) -> str:
        if codes and "#" not in text and self.rng.random() < 0.22:
            text += " " + self.choice(BRAND_TAGS[lang, self.choice(list(codes))])
        if author.loc_key and self.rng.random() < 0.15:
            latin, native = PLACE_TAGS[author.loc_key]
            use_native = native and (lang in ("ur", "ka", "ar") or self.rng.random() < 0.2)
            tag = native if use_native else latin
            if tag not in text:
                text += " " + tag
        return text

    def draw(self, templates: list[str]) -> str:
        """Deal templates like cards (reshuffled when used up), so a pool is used evenly."""
        deck = self.decks.setdefault(id(templates), [])
        if not deck:
            deck.extend(templates)
            self.rng.shuffle(deck)
        return deck.pop()

    def make_text(self, templates: list[str], lang: str, codes: tuple[str, ...], author: Author) -> str:
        text = ""
        for _ in range(40):
            text = self.decorate(self.fill(self.draw(templates), lang), lang, codes, author)
            if self.text_counts[text] < 2:
                break
        self.text_counts[text] += 1
        return text

    # ---------------------------------------------------------------- time
    def sample_time(self, author: Author, *, avoid_burst: bool) -> datetime:
        weights = [LOCAL_ACTIVITY[(START.hour + h + author.tz) % 24] for h in range(72)]
        while True:
            h = self.rng.choices(range(72), weights=weights)[0]
            t = START + timedelta(hours=h, seconds=self.rng.randint(0, 3599))
            if not (avoid_burst and t >= BURST_START):
                return t

    # ---------------------------------------------------------------- posts
    def background(self) -> list[Spec]:
        specs: list[Spec] = []
        for code, per_lang in CELLS.items():
            for lang, n in per_lang.items():
                n_neg = round(n * SENTIMENT_SHARE["neg"])
                n_pos = round(n * SENTIMENT_SHARE["pos"])
                sentiments = ["neg"] * n_neg + ["pos"] * n_pos + ["neu"] * (n - n_neg - n_pos)
                self.rng.shuffle(sentiments)
                for s in sentiments:
                    spec = Spec(lang, (SHORT[code],), s)
                    spec.author = self.pick_author(lang, personal=s != "neu")
                    spec.text = self.make_text(T[lang, code][s], lang, (code,), spec.author)
                    specs.append(spec)
        for lang, codes, s, template in TWO_BRAND:
            spec = Spec(lang, tuple(SHORT[c] for c in codes), s)
            spec.author = self.pick_author(lang, personal=s != "neu")
            spec.text = self.make_text([template], lang, codes, spec.author)
            specs.append(spec)
        # Make sure each Unicode-variant spelling (NFKC folds them to the alias) occurs at least once.
        variants = (
            (NA, "Nimbus Air", "Ｎｉｍｂｕｓ Ａｉｒ"),  # fullwidth
            (NA, "Nimbus Air", "Nimbus\u00a0Air"),  # no-break space
            (LU, "Lumora", "𝐋𝐔𝐌𝐎𝐑𝐀"),  # mathematical bold "font"
        )
        for brand, plain, variant in variants:
            if not any(variant in sp.text for sp in specs):
                sp = next(sp for sp in specs
                          if sp.lang == "en" and sp.brands == (brand,) and plain in sp.text)
                sp.text = sp.text.replace(plain, variant, 1)
        for lang, text in NOISE:
            spec = Spec(lang, (), "mixed")
            spec.author = self.pick_author(lang)
            spec.text = self.decorate(text, lang, (), spec.author)
            self.text_counts[spec.text] += 1
            specs.append(spec)
        return specs

    def place_background(self, specs: list[Spec]) -> None:
        for spec in specs:
            assert spec.author is not None
            spec.created_at = self.sample_time(spec.author, avoid_burst=NA in spec.brands)
        # The other brands keep their normal pace through the end of the window: make sure each has a
        # few ordinary (non-negative) posts during the Nimbus Air burst.
        for brand in (KP, LU):
            inside = [s for s in specs if brand in s.brands and s.created_at >= BURST_START]
            candidates = [s for s in specs if s.brands == (brand,) and s.sentiment != "neg"
                          and s.created_at < BURST_START and s.created_at.date() == END.date()]
            self.rng.shuffle(candidates)
            for s in candidates[: max(0, 3 - len(inside))]:
                s.created_at = BURST_START + timedelta(seconds=self.rng.randint(20, 1190))
                s.forced_window = True

    def burst(self) -> list[Spec]:
        originals: list[Spec] = []
        for lang, (n_orig, _) in BURST_PLAN.items():
            templates = BURST[lang]
            order = list(templates)
            self.rng.shuffle(order)
            for i in range(n_orig):
                spec = Spec(lang, (NA,), "neg", burst=True)
                for _ in range(40):
                    text = self.fill(order[i % len(order)] if i < len(order) else self.choice(templates),
                                     lang, burst=True)
                    if self.text_counts[text] == 0:
                        break
                self.text_counts[text] += 1
                spec.text = text
                spec.author = self.pick_author(lang, personal=True)
                # intensity ramps up through the 20 minutes
                spec.created_at = BURST_START + timedelta(seconds=int(1195 * math.sqrt(self.rng.random())))
                originals.append(spec)
        reposts: list[Spec] = []
        for lang, (_, n_rep) in BURST_PLAN.items():
            pool = sorted((s for s in originals if s.lang == lang), key=lambda s: s.created_at)
            viral = pool[: max(2, len(pool) // 3)]
            self.rng.shuffle(viral)
            for i in range(n_rep):
                src = viral[i % min(len(viral), 3)]  # a couple of posts go viral; reposts cluster on them
                assert src.author is not None
                author = self.pick_author(lang, avoid={src.author.id} | {
                    r.author.id for r in reposts if r.repost_of is src and r.author is not None})
                t = src.created_at + timedelta(seconds=self.rng.randint(25, 420))
                if t >= BURST_END:
                    t = BURST_END - timedelta(seconds=self.rng.randint(1, 30))
                as_rt = (lang == "en" and i < 2) or (lang == "ur" and i == 0)
                text = f"RT @{src.author.handle}: {src.text}" if as_rt else src.text
                reposts.append(Spec(lang, (NA,), "neg", text=text, author=author, created_at=t, burst=True,
                                    repost_of=src))
        return originals + reposts


# --------------------------------------------------------------------------------------------------
# Output.
# --------------------------------------------------------------------------------------------------
def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def engagement(rng: random.Random, spec: Spec) -> dict[str, int]:
    assert spec.author is not None
    mu = math.log(spec.author.followers + 1) * 0.55 - 1.2
    likes = int(rng.lognormvariate(mu, 1.0))
    if spec.burst:
        likes = int(likes * rng.uniform(2.0, 5.0)) + rng.randint(2, 20)
    if spec.repost_of is not None:
        likes //= 3
    shares = int(likes * rng.uniform(0.0, 0.35 if not spec.burst else 0.9))
    replies = int(likes * rng.uniform(0.03, 0.3)) + (rng.randint(0, 6) if spec.sentiment == "neg" else 0)
    return {"likes": likes, "shares": shares, "replies": replies}


def build_posts(gen: Gen, specs: list[Spec]) -> list[dict[str, Any]]:
    rng = gen.rng
    ordered = sorted(enumerate(specs), key=lambda p: (p[1].created_at, p[0]))
    posts: list[dict[str, Any]] = []
    for n, (_, spec) in enumerate(ordered, start=1):
        a = spec.author
        assert a is not None
        spec.extra["native_id"] = f"demo-{n:06d}"
        post: dict[str, Any] = {
            "native_id": f"demo-{n:06d}",
            "source": "replay",
            "text": spec.text,
            "created_at": iso(spec.created_at),
        }
        if rng.random() < 0.05:
            post["title"] = None
        post["url"] = f"https://social.example/p/{n}"
        author: dict[str, Any] = {"id": a.id, "handle": a.handle, "name": a.name, "followers": a.followers}
        if a.location:
            author["location"] = a.location
        post["author"] = author
        if a.coords and rng.random() < 0.12:
            lat, lon = a.coords
            post["geo"] = {"lat": round(lat + rng.uniform(-0.06, 0.06), 4),
                           "lon": round(lon + rng.uniform(-0.06, 0.06), 4)}
        post["engagement"] = engagement(rng, spec)
        if spec.lang in DECLARED and rng.random() < 0.56:
            post["lang"] = DECLARED[spec.lang]
        posts.append(post)
    specs[:] = [s for _, s in ordered]
    return posts


# RSS items: (guid, pubDate, title, description-html, link, intended brands, language, cdata?)
RSS_ITEMS: list[tuple[str, str, str, str, str, tuple[str, ...], str, bool]] = [
    ("https://news.example/business/2026/11/18/airline-second-daily-tbilisi-dubai",
     "Wed, 18 Nov 2026 09:15:00 +0400",
     "Nimbus Air adds second daily Tbilisi–Dubai rotation",
     "<p><b>Nimbus Air</b> will operate a second daily flight between Tbilisi and Dubai from 15 December, "
     "the airline said on Tuesday.</p><p>The extra evening departure targets transfer traffic to Karachi "
     "and Lahore.</p>",
     "https://news.example/business/2026/11/18/airline-second-daily-tbilisi-dubai", (NA,), "en", False),
    ("news-example-88412", "Wed, 18 Nov 2026 14:02:00 GMT",
     "Kartuli Pay passes one million monthly users in Georgia",
     "<p>The Tbilisi-based payments app "
     "<a href=\"https://news.example/companies/georgian-wallet\">Kartuli Pay</a> says one in three adults "
     "in Georgia now uses it every month.</p><ul><li>QR payments at markets"
     "</li><li>Bill splitting</li></ul>",
     "https://news.example/tech/2026/11/18/georgian-wallet-one-million", (KP,), "en", True),
    ("news-example-88107", "Tue, 17 Nov 2026 16:30:00 -0500",
     "Lumora unveils X9 Pro with satellite messaging",
     "<p>Phone maker Lumora has announced the X9 Pro, its first handset able to send text messages over "
     "satellite when there is no mobile signal.</p><p>Prices start at $799.</p>",
     "https://news.example/tech/2026/11/17/phone-satellite-messaging", (LU,), "en", False),
    ("https://news.example/es/tecnologia/2026/11/19/nova-5-madrid-buenos-aires",
     "Thu, 19 Nov 2026 10:45:00 +0100",
     "Lumora lanza el Nova 5 en Madrid y Buenos Aires",
     "<p>El fabricante Lumora presentó el <em>Nova 5</em>, que llegará a las tiendas de España y Argentina "
     "antes de Navidad.</p>",
     "https://news.example/es/tecnologia/2026/11/19/nova-5-madrid-buenos-aires", (LU,), "es", True),
    ("news-example-es-5521", "Thu, 19 Nov 2026 18:20:00 -0300",
     "Nimbus Air inaugurará la ruta Madrid–Tiflis en primavera",
     "<p>La aerolínea Nimbus Air volará tres veces por semana entre Madrid y Tiflis a partir de abril, "
     "según ha confirmado la compañía.</p>",
     "https://news.example/es/viajes/2026/11/19/ruta-madrid-tiflis", (NA,), "es", False),
    ("news-example-88630", "Fri, 20 Nov 2026 08:00:00 +0000",
     "Nimbus Air and Kartuli Pay team up on in-app ticketing",
     "<p>Travellers will be able to buy <b>Nimbus Air</b> tickets directly inside Kartuli Pay from "
     "December, the two companies said.</p>",
     "https://news.example/business/2026/11/20/airline-wallet-partnership", (NA, KP), "en", True),
    ("news-example-es-5530", "Fri, 20 Nov 2026 12:30:00 +0100",
     "Kartuli Pay, la app con la que se paga todo en Georgia",
     "<p>En Tiflis y Batumi casi todo se paga con Kartuli Pay: del <i>khachapuri</i> al taxi. Así funciona "
     "para los turistas.</p>",
     "https://news.example/es/viajes/2026/11/20/pagar-en-georgia", (KP,), "es", False),
    ("https://news.example/ka/2026/11/19/bill-splitting",
     "Thu, 19 Nov 2026 13:10:00 +0400",
     "ქართული ფეი ანგარიშის გაყოფის ფუნქციას ამატებს",
     "<p>გადახდების აპლიკაცია ქართული ფეი მომხმარებლებს საშუალებას აძლევს, რესტორნის ანგარიში მეგობრებს "
     "შორის <b>რამდენიმე წამში</b> გაიყონ.</p>",
     "https://news.example/ka/2026/11/19/bill-splitting", (KP,), "ka", True),
    ("news-example-ur-301", "Fri, 20 Nov 2026 15:40:00 +0500",
     "لومورا کا کراچی میں نیا اسمبلی پلانٹ لگانے کا اعلان",
     "<p>موبائل فون ساز کمپنی لومورا نے کہا ہے کہ کراچی کے نئے پلانٹ میں سالانہ دس لاکھ فون تیار ہوں گے۔</p>",
     "https://news.example/ur/2026/11/20/karachi-assembly-plant", (LU,), "ur", False),
    ("https://news.example/ka/2026/11/18/batumi-dubai",
     "Wed, 18 Nov 2026 20:05:00 +0400",
     "ავიაკომპანია „ნიმბუს ეარ“ ბათუმიდან დუბაიში პირდაპირ რეისს იწყებს",
     "<p>ავიაკომპანია „ნიმბუს ეარ“ 2027 წლის მარტიდან ბათუმიდან დუბაიში კვირაში სამ რეისს შეასრულებს.</p>",
     "https://news.example/ka/2026/11/18/batumi-dubai", (NA,), "ka", False),
    ("news-example-88520", "Thu, 19 Nov 2026 13:00:00 +0500",
     "Nimbus Air apologises after IT glitch delays Lahore departures",
     "<p>Several morning departures from Allama Iqbal International were delayed by up to three hours after "
     "a check-in system failure, Nimbus Air said.</p>",
     "https://news.example/business/2026/11/19/lahore-checkin-glitch", (NA,), "en", True),
    ("news-example-88455", "Thu, 19 Nov 2026 07:55:00 +0500",
     "Dense fog disrupts flights across Punjab",
     "<p>Visibility fell below 50 metres at Lahore and Islamabad airports overnight; several flights were "
     "diverted.</p>",
     "https://news.example/world/2026/11/19/punjab-fog", (), "en", False),
    ("news-example-es-5502", "Wed, 18 Nov 2026 07:00:00 +0100",
     "Ola de frío: Madrid registra la mínima más baja del otoño",
     "<p>Los termómetros bajaron a <b>-3 °C</b> en el centro de Madrid, según la agencia meteorológica.</p>",
     "https://news.example/es/tiempo/2026/11/18/ola-de-frio-madrid", (), "es", False),
    ("news-example-88701", "Fri, 20 Nov 2026 09:00:00 EST",
     "Tbilisi hosts regional fintech week",
     "<p>Start-ups from Georgia, Armenia and Azerbaijan are presenting in Tbilisi this week &amp; investors "
     "say payments and remittances dominate.</p>",
     "https://news.example/tech/2026/11/20/tbilisi-fintech-week", (), "en", True),
]


def rss_xml() -> str:
    from email.utils import parsedate_to_datetime

    items = sorted(RSS_ITEMS, key=lambda it: parsedate_to_datetime(it[1]), reverse=True)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0">',
        "  <channel>",
        "    <title>Demo Wire: travel, payments &amp; phones</title>",
        "    <link>https://news.example/</link>",
        "    <description>Synthetic demo news feed for BrandPulse (CC0). Not real news.</description>",
        "    <language>en</language>",
        "    <lastBuildDate>Fri, 20 Nov 2026 17:30:00 GMT</lastBuildDate>",
    ]
    for guid, pub, title, desc, link, _brands, _lang, cdata in items:
        permalink = "true" if guid.startswith("https://") else "false"
        body = f"<![CDATA[{desc}]]>" if cdata else escape(desc)
        out += [
            "    <item>",
            f"      <title>{escape(title)}</title>",
            f"      <link>{escape(link)}</link>",
            f'      <guid isPermaLink="{permalink}">{escape(guid)}</guid>',
            f"      <pubDate>{pub}</pubDate>",
            f"      <description>{body}</description>",
            "    </item>",
        ]
    out += ["  </channel>", "</rss>", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------
# Verification of intent against text.
# --------------------------------------------------------------------------------------------------
def _norm(s: str) -> str:
    return unicodedata.normalize("NFKC", s).casefold()


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_" or unicodedata.category(ch).startswith("M")


def alias_hit(text: str, alias: str) -> bool:
    """Whole word/phrase, or the start of a #hashtag / @handle (the documented matching rule)."""
    t, a = _norm(text), _norm(alias)
    i = t.find(a)
    while i >= 0:
        before = t[i - 1] if i > 0 else ""
        after = t[i + len(a)] if i + len(a) < len(t) else ""
        if before in ("#", "@") and before:
            return True
        if not (before and _is_word(before)) and not (after and _is_word(after)):
            return True
        i = t.find(a, i + 1)
    return False


def brands_by_rule(text: str) -> tuple[str, ...]:
    return tuple(b for b in BRAND_ORDER if any(alias_hit(text, a) for a in ALIASES[b]))


def brands_by_substring(text: str) -> tuple[str, ...]:
    t = _norm(text)
    return tuple(b for b in BRAND_ORDER if any(_norm(a) in t for a in ALIASES[b]))


def verify(specs: list[Spec], posts: list[dict[str, Any]], rss: str) -> list[str]:
    problems: list[str] = []
    try:
        import yaml

        doc = yaml.safe_load(BRANDS_YAML.read_text(encoding="utf-8"))
        for b in doc["brands"]:
            if tuple(b["aliases"]) != ALIASES[b["name"]]:
                problems.append(f"brands.yaml aliases of {b['name']} differ from make_demo.ALIASES")
            if tuple(b.get("exclude_terms") or ()) != EXCLUDE_TERMS[b["name"]]:
                problems.append(f"brands.yaml exclude_terms of {b['name']} differ from EXCLUDE_TERMS")
    except ImportError:  # pragma: no cover - pyyaml is a project dependency
        problems.append("pyyaml missing: cannot cross-check brands.yaml")
    for spec, post in zip(specs, posts, strict=True):
        nid = post["native_id"]
        if brands_by_rule(spec.text) != spec.brands:
            problems.append(f"{nid}: rule match {brands_by_rule(spec.text)} != intent {spec.brands}")
        if brands_by_substring(spec.text) != spec.brands:
            problems.append(f"{nid}: substring match {brands_by_substring(spec.text)} != {spec.brands}")
        for b in spec.brands:
            for term in EXCLUDE_TERMS[b]:
                if _norm(term) in _norm(spec.text):
                    problems.append(f"{nid}: contains exclude term {term!r} of {b}")
        if not (START <= spec.created_at < END):
            problems.append(f"{nid}: outside the 72 h window")
        in_window = BURST_START <= spec.created_at < BURST_END
        if NA in spec.brands and in_window != spec.burst:
            problems.append(f"{nid}: Nimbus Air post in burst window that is not a burst post (or v.v.)")
        a = spec.author
        assert a is not None
        if brands_by_substring(f"{a.handle} {a.name} {a.location or ''}"):
            problems.append(f"{nid}: author fields contain a brand alias")
    counts = Counter(s.text for s in specs if not s.burst)
    for text, c in counts.items():
        if c > 2:
            problems.append(f"text repeated {c} times outside the burst: {text!r}")
    if [p["created_at"] for p in posts] != sorted(p["created_at"] for p in posts):
        problems.append("mentions are not sorted by created_at")
    for guid, _pub, title, desc, link, brands, _lang, _c in RSS_ITEMS:
        for part in (title, _html_text(desc), f"{title}\n{_html_text(desc)}"):
            if brands_by_rule(part) != brands or brands_by_substring(part) != brands:
                problems.append(f"rss {guid}: brands in {part[:40]!r} differ from intent {brands}")
        if brands_by_substring(link) or brands_by_substring(guid):
            problems.append(f"rss {guid}: link/guid contains a brand alias")
    from email.utils import parsedate_to_datetime

    for guid, pub, *_ in RSS_ITEMS:
        dt = parsedate_to_datetime(pub)
        if dt.strftime("%a") != pub[:3]:
            problems.append(f"rss {guid}: weekday of {pub} is wrong")
        if not (START <= dt < BURST_START):
            problems.append(f"rss {guid}: pubDate {pub} outside [window start, burst start)")
    import xml.etree.ElementTree as ET

    try:
        # our own generated string, not untrusted input
        if len(ET.fromstring(rss).findall("./channel/item")) != len(RSS_ITEMS):  # noqa: S314
            problems.append("rss item count mismatch")
    except ET.ParseError as exc:
        problems.append(f"news.xml is not well-formed: {exc}")
    return problems


def _html_text(markup: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]*>", "", markup))


# --------------------------------------------------------------------------------------------------
def generate() -> tuple[dict[str, str], list[Spec], list[dict[str, Any]]]:
    gen = Gen()
    gen.build_authors()
    specs = gen.background()
    gen.place_background(specs)
    specs += gen.burst()
    posts = build_posts(gen, specs)
    rss = rss_xml()

    per_brand = {b: 0 for b in BRAND_ORDER}
    for s in specs:
        for b in s.brands:
            per_brand[b] += 1
    for it in RSS_ITEMS:
        for b in it[5]:
            per_brand[b] += 1
    expected = {
        "mentions_lines": len(posts),
        "rss_items": len(RSS_ITEMS),
        "records_per_brand": per_brand,
        "records_total": sum(per_brand.values()),
        "no_brand_posts": sum(1 for s in specs if not s.brands) + sum(1 for it in RSS_ITEMS if not it[5]),
        "burst": {
            "brand": NA,
            "start": iso(BURST_START),
            "end": iso(BURST_END),
            "negative_posts": sum(1 for s in specs if s.burst and s.sentiment == "neg"
                                  and BURST_START <= s.created_at < BURST_END),
        },
    }
    files = {
        "mentions.jsonl": "".join(json.dumps(p, ensure_ascii=False, separators=(", ", ": ")) + "\n"
                                  for p in posts),
        "news.xml": rss,
        "expected.json": json.dumps(expected, ensure_ascii=False, indent=2) + "\n",
    }
    problems = verify(specs, posts, rss)
    if problems:
        raise SystemExit("demo data failed its checks:\n  " + "\n  ".join(problems))
    return files, specs, posts


def summary(specs: list[Spec], posts: list[dict[str, Any]]) -> str:
    lines = []
    lines.append(f"posts: {len(posts)}; authors: {len({p['author']['id'] for p in posts})}; "
                 f"geo: {sum('geo' in p for p in posts)}; declared lang: {sum('lang' in p for p in posts)}")
    by_lang = sorted(Counter(s.lang for s in specs).items())
    lines.append("by language: " + ", ".join(f"{k}={v}" for k, v in by_lang))
    kinds = Counter("burst" if s.burst else "noise" if not s.brands else "two" if len(s.brands) > 1 else "one"
                    for s in specs)
    lines.append("by kind: " + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())))
    for b in BRAND_ORDER:
        bg = [s for s in specs if b in s.brands and not s.burst]
        sc = Counter(s.sentiment for s in bg)
        bl = sorted(Counter(s.lang for s in bg).items())
        sl = sorted(sc.items())
        lines.append(f"{b}: background records={len(bg)} " + ", ".join(f"{k}={v}" for k, v in sl)
                     + "; by lang " + ", ".join(f"{k}={v}" for k, v in bl))
        hourly = Counter(s.created_at.replace(minute=0, second=0) for s in bg)
        window = [s for s in specs if b in s.brands and s.created_at >= BURST_START]
        neg10 = Counter((s.created_at - START) // timedelta(minutes=10) for s in bg if s.sentiment == "neg")
        lines.append(f"  busiest hour={max(hourly.values())}, mean/hour={len(bg) / 72:.2f}, "
                     f"max negatives per 10-min bucket={max(neg10.values(), default=0)}, "
                     f"posts in final 20 min={len(window)}")
    burst = [s for s in specs if s.burst]
    lines.append(f"burst: {len(burst)} posts, reposts={sum(s.repost_of is not None for s in burst)}, by lang "
                 + ", ".join(f"{k}={v}" for k, v in sorted(Counter(s.lang for s in burst).items())))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    files, specs, posts = generate()
    if "--check" in argv:
        stale = [n for n, c in files.items() if (HERE / n).read_text(encoding="utf-8") != c]
        if stale:
            print("out of date: " + ", ".join(stale), file=sys.stderr)
            return 1
        print("demo feeds are up to date")
        return 0
    for name, content in files.items():
        (HERE / name).write_text(content, encoding="utf-8", newline="\n")
    print(summary(specs, posts))
    print(files["expected.json"], end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
