"""The widget script and the demo shop page (fa, ar, en), loaded once at start.

The demo shop «نارنج» (phones, accessories, clothes) is fictional; it matches the sample
FAQ shipped in `faq/sample_kb`, so `pasokh serve` answers its questions at once.
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
        "tagline": "موبایل، لوازم جانبی و پوشاک",
        "language_label": "زبان",
        "hero_title": "ارسال رایگان برای خریدهای بالای ۲ میلیون تومان",
        "hero_text": "سؤالی دربارهٔ سفارش، ارسال یا مرجوعی دارید؟ دکمهٔ گفتگو را بزنید؛ "
        "دستیار ما فوراً پاسخ می‌دهد و اگر لازم باشد همکارانمان ادامه می‌دهند.",
        "products_title": "پرفروش‌ها",
        "products": [
            ("گوشی نارنج X۱", "۱۲۸ گیگابایت، ۱۸ ماه گارانتی", "۱۸٬۹۰۰٬۰۰۰ تومان"),
            ("هدفون بی‌سیم", "۳۰ ساعت شارژ، حذف نویز", "۲٬۴۵۰٬۰۰۰ تومان"),
            ("کاپشن پشمی زمستانه", "سایز S تا XXL", "۳٬۲۰۰٬۰۰۰ تومان"),
            ("تی‌شرت نخی", "نخ ۱۰۰٪، شش رنگ", "۴۸۰٬۰۰۰ تومان"),
        ],
        "footer": "فروشگاه نارنج یک فروشگاه خیالی برای نمایش پاسخ است.",
        "chat_title": "پشتیبانی نارنج",
        "suggestions": ["ارسال چند روز طول می‌کشد؟", "چطور کالا را مرجوع کنم؟"],
    },
    "ar": {
        "dir": "rtl",
        "shop": "نارنج",
        "tagline": "هواتف وإكسسوارات وملابس",
        "language_label": "اللغة",
        "hero_title": "شحن مجاني للطلبات فوق ٢ مليون تومان",
        "hero_text": "لديك سؤال عن طلبك أو الشحن أو الإرجاع؟ اضغط زر المحادثة؛ "
        "يجيبك مساعدنا فورًا ويتابع زملاؤنا عند الحاجة.",
        "products_title": "الأكثر مبيعًا",
        "products": [
            ("هاتف نارنج X١", "١٢٨ غيغابايت، ضمان ١٨ شهرًا", "١٨٬٩٠٠٬٠٠٠ تومان"),
            ("سماعات لاسلكية", "٣٠ ساعة تشغيل، عزل الضوضاء", "٢٬٤٥٠٬٠٠٠ تومان"),
            ("سترة صوفية شتوية", "المقاسات S إلى XXL", "٣٬٢٠٠٬٠٠٠ تومان"),
            ("قميص قطني", "قطن ١٠٠٪، ستة ألوان", "٤٨٠٬٠٠٠ تومان"),
        ],
        "footer": "متجر نارنج متجر خيالي لعرض «پاسخ».",
        "chat_title": "دعم نارنج",
        "suggestions": ["كم يستغرق التوصيل؟", "كيف أرجع المنتج؟"],
    },
    "en": {
        "dir": "ltr",
        "shop": "Naranj",
        "tagline": "Phones, accessories and clothes",
        "language_label": "Language",
        "hero_title": "Free delivery on orders over 2 million toman",
        "hero_text": "A question about an order, delivery or a return? Press the chat button; "
        "our assistant answers at once and a colleague takes over when needed.",
        "products_title": "Best sellers",
        "products": [
            ("Naranj X1 phone", "128 GB, 18-month warranty", "18,900,000 toman"),
            ("Wireless headphones", "30 hours of play, noise cancelling", "2,450,000 toman"),
            ("Winter wool jacket", "sizes S to XXL", "3,200,000 toman"),
            ("Cotton T-shirt", "100% cotton, six colours", "480,000 toman"),
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
