"""The widget script and the demo shop page (fa, ar, en), loaded once at start.

The demo shop «نارنج» is fictional; it exists so `pasokh serve` shows the product at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from html import escape
from importlib import resources
from string import Template

_DEMO_TEXTS: dict[str, dict[str, object]] = {
    "fa": {
        "dir": "rtl",
        "shop": "نارنج",
        "tagline": "چای، دمنوش و ادویهٔ ایرانی",
        "language_label": "زبان",
        "hero_title": "ارسال رایگان برای خریدهای بالای ۵۰۰٬۰۰۰ تومان",
        "hero_text": "سؤالی دربارهٔ سفارش، ارسال یا مرجوعی دارید؟ دکمهٔ گفتگو را بزنید؛ "
        "دستیار ما فوراً پاسخ می‌دهد و اگر لازم باشد همکارانمان ادامه می‌دهند.",
        "products_title": "پرفروش‌ها",
        "products": [
            ("چای سیاه لاهیجان", "۵۰۰ گرم، برداشت بهاره", "۱۸۵٬۰۰۰ تومان"),
            ("زعفران سرگل قائنات", "یک مثقال (۴٫۶ گرم)", "۲۹۰٬۰۰۰ تومان"),
            ("دمنوش گل‌گاوزبان", "۱۰۰ گرم، با گل‌های درشت", "۹۵٬۰۰۰ تومان"),
            ("هل سبز درشت", "۵۰ گرم", "۲۱۰٬۰۰۰ تومان"),
        ],
        "footer": "فروشگاه نارنج یک فروشگاه خیالی برای نمایش پاسخ است.",
        "chat_title": "پشتیبانی نارنج",
        "suggestions": ["ارسال سفارش چقدر طول می‌کشد؟", "چطور کالا را مرجوع کنم؟"],
    },
    "ar": {
        "dir": "rtl",
        "shop": "نارنج",
        "tagline": "شاي وأعشاب وتوابل إيرانية",
        "language_label": "اللغة",
        "hero_title": "شحن مجاني للطلبات فوق ٥٠٠٬٠٠٠ تومان",
        "hero_text": "لديك سؤال عن طلبك أو الشحن أو الإرجاع؟ اضغط زر المحادثة؛ "
        "يجيبك مساعدنا فورًا ويتابع زملاؤنا عند الحاجة.",
        "products_title": "الأكثر مبيعًا",
        "products": [
            ("شاي لاهيجان الأسود", "٥٠٠ غرام، قطفة الربيع", "١٨٥٬٠٠٠ تومان"),
            ("زعفران قائنات", "مثقال واحد (٤٫٦ غرام)", "٢٩٠٬٠٠٠ تومان"),
            ("منقوع لسان الثور", "١٠٠ غرام", "٩٥٬٠٠٠ تومان"),
            ("هيل أخضر", "٥٠ غرامًا", "٢١٠٬٠٠٠ تومان"),
        ],
        "footer": "متجر نارنج متجر خيالي لعرض «پاسخ».",
        "chat_title": "دعم نارنج",
        "suggestions": ["كم يستغرق الشحن؟", "كيف أرجع منتجًا؟"],
    },
    "en": {
        "dir": "ltr",
        "shop": "Naranj",
        "tagline": "Persian tea, herbal infusions and spices",
        "language_label": "Language",
        "hero_title": "Free delivery on orders over 500,000 toman",
        "hero_text": "A question about an order, delivery or a return? Press the chat button; "
        "our assistant answers at once and a colleague takes over when needed.",
        "products_title": "Best sellers",
        "products": [
            ("Lahijan black tea", "500 g, spring harvest", "185,000 toman"),
            ("Qaenat saffron", "one mesghal (4.6 g)", "290,000 toman"),
            ("Borage flower infusion", "100 g", "95,000 toman"),
            ("Green cardamom", "50 g", "210,000 toman"),
        ],
        "footer": "Naranj is a fictional shop showing Pasokh.",
        "chat_title": "Naranj support",
        "suggestions": ["How long does delivery take?", "How do I return an item?"],
    },
}

_LANGUAGE_NAMES = {"fa": "فارسی", "ar": "العربية", "en": "English"}


@dataclass(frozen=True, slots=True)
class Assets:
    """What the web chat serves besides its API: the widget and the demo pages."""

    widget_js: bytes
    widget_etag: str
    demo_pages: dict[str, str]


def _static(name: str) -> bytes:
    return resources.files("channels.webchat").joinpath("static", name).read_bytes()


def render_demo(template: str, lang: str) -> str:
    """The demo shop page in one language (every text escaped)."""
    texts = _DEMO_TEXTS[lang]
    products = "".join(
        f'<li><h3>{escape(name)}</h3><p>{escape(note)}</p><p class="price">{escape(price)}</p></li>'
        for name, note, price in texts["products"]  # type: ignore[attr-defined]
    )
    links = "".join(
        f'<a href="/?lang={code}" hreflang="{code}" lang="{code}"'
        + (' aria-current="page"' if code == lang else "")
        + f">{escape(name)}</a>"
        for code, name in _LANGUAGE_NAMES.items()
    )
    values = {
        key: escape(str(value))
        for key, value in texts.items()
        if key not in {"products", "suggestions"}
    }
    values |= {
        "lang": lang,
        "products": products,
        "language_links": links,
        "suggestions": escape("|".join(texts["suggestions"])),  # type: ignore[arg-type]
    }
    return Template(template).substitute(values)


def load_assets() -> Assets:
    """Read the widget and render the demo pages (blocking: call in a thread)."""
    widget = _static("widget.js")
    template = _static("demo.html").decode("utf-8")
    return Assets(
        widget_js=widget,
        widget_etag='"' + hashlib.sha256(widget).hexdigest()[:20] + '"',
        demo_pages={lang: render_demo(template, lang) for lang in _DEMO_TEXTS},
    )
