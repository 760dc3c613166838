/* Pasokh web chat widget: one <script src=".../widget.js" data-lang="fa"> tag.
 * Plain JS in its own Shadow DOM; protocol: docs/webchat-protocol.md. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.PasokhChat) return;
  var data = script.dataset;

  var TEXT = {
    fa: {
      title: "پشتیبانی", open: "گفتگو با پشتیبانی", close: "بستن گفتگو",
      greeting: "سلام! چطور می‌توانیم کمکتان کنیم؟", input: "متن پیام",
      placeholder: "پیامتان را بنویسید…", send: "ارسال", attach: "پیوست فایل",
      typing: "در حال نوشتن…",
      connecting: "در حال اتصال…", offline: "اتصال قطع شد؛ دوباره وصل می‌شویم…",
      sending: "در حال ارسال", failed: "ارسال نشد", you: "شما", bot: "دستیار",
      agent: "پشتیبان", messages: "پیام‌های گفتگو", suggestions: "پیشنهادها",
      tooLong: "پیام بلندتر از {n} نویسه است.", slow: "کمی صبر کنید؛ پیام خودکار دوباره فرستاده می‌شود.",
      upload: "بارگذاری فایل ممکن نشد.", unavailable: "گفتگو اکنون در دسترس نیست.", unread: "{n} پیام تازه"
    },
    ar: {
      title: "الدعم", open: "تحدث مع الدعم", close: "إغلاق المحادثة",
      greeting: "مرحبًا! كيف يمكننا مساعدتك؟", input: "نص الرسالة",
      placeholder: "اكتب رسالتك…", send: "إرسال", attach: "إرفاق ملف",
      typing: "يكتب الآن…",
      connecting: "جارٍ الاتصال…", offline: "انقطع الاتصال؛ نعيد المحاولة…",
      sending: "جارٍ الإرسال", failed: "لم تُرسل", you: "أنت", bot: "المساعد",
      agent: "موظف الدعم", messages: "رسائل المحادثة", suggestions: "اقتراحات",
      tooLong: "الرسالة أطول من {n} حرفًا.", slow: "انتظر قليلًا؛ ستُرسل الرسالة تلقائيًا.",
      upload: "تعذر رفع الملف.", unavailable: "المحادثة غير متاحة الآن.", unread: "{n} رسائل جديدة"
    },
    en: {
      title: "Support", open: "Chat with support", close: "Close chat",
      greeting: "Hi! How can we help?", input: "Message",
      placeholder: "Type your message…", send: "Send", attach: "Attach a file",
      typing: "typing…",
      connecting: "Connecting…", offline: "Connection lost; reconnecting…",
      sending: "Sending", failed: "Not sent", you: "You", bot: "Assistant",
      agent: "Support agent", messages: "Conversation messages", suggestions: "Suggestions",
      tooLong: "Messages are limited to {n} characters.", slow: "Slow down a little; the message will be resent.",
      upload: "The file could not be uploaded.", unavailable: "Chat is unavailable right now.", unread: "{n} new messages"
    }
  };

  // Proving who you are (an email code, a Telegram link): see docs/identity.md.
  var LINK_TEXT = {
    fa: {
      email: "پیوند ایمیل من", telegram: "ادامه در تلگرام", sendCode: "فرستادن کد", confirm: "تأیید",
      codeSent: "کدی شش‌رقمی به ایمیلتان فرستادیم؛ آن را اینجا بنویسید.", verified: "ایمیل شما تأیید شد.",
      wrong: "کد درست نیست؛ {n} بار دیگر.", failed: "انجام نشد؛ دوباره امتحان کنید.", refused: "این پیوند معتبر نیست یا منقضی شده است.",
      continueAsk: "گفتگوی ایمیلی {address} به این گفتگو وصل شود؟ فقط اگر آن نامه برای شما بوده است.", continueYes: "ادامه در اینجا"
    },
    ar: {
      email: "ربط بريدي الإلكتروني", telegram: "المتابعة في تيليجرام", sendCode: "إرسال الرمز", confirm: "تأكيد",
      codeSent: "أرسلنا رمزًا من ستة أرقام إلى بريدك؛ اكتبه هنا.", verified: "تم التحقق من بريدك الإلكتروني.",
      wrong: "الرمز غير صحيح؛ {n} محاولات متبقية.", failed: "لم يتم ذلك؛ حاول مرة أخرى.", refused: "هذا الرابط غير صالح أو منتهي الصلاحية.",
      continueAsk: "هل تُربط محادثة البريد لـ {address} بهذه المحادثة؟ فقط إذا كانت الرسالة لك.", continueYes: "المتابعة هنا"
    },
    en: {
      email: "Link my email", telegram: "Continue on Telegram", sendCode: "Send code", confirm: "Confirm",
      codeSent: "We sent a six-digit code to your email; type it here.", verified: "Your email is verified.",
      wrong: "That code is not right; {n} tries left.", failed: "That did not work; please try again.", refused: "This link is not valid or has expired.",
      continueAsk: "Join the email conversation of {address} to this chat? Only if that mail was sent to you.", continueYes: "Continue here"
    }
  };

  // The rating prompt of a message that carries a survey (docs/webchat-protocol.md).
  var RATE_TEXT = {
    fa: {
      score: "امتیاز {n} از {of}", rating: "امتیاز شما", thanks: "ممنون از نظرتان!", comment: "توضیحی دارید؟ (اختیاری)",
      send: "ثبت توضیح", saved: "توضیح شما ثبت شد؛ ممنون.", failed: "ثبت نشد؛ دوباره امتحان کنید.", expired: "مهلت این نظرسنجی تمام شده است."
    },
    ar: {
      score: "التقييم {n} من {of}", rating: "تقييمك", thanks: "شكرًا على تقييمك!", comment: "هل لديك تعليق؟ (اختياري)",
      send: "إرسال التعليق", saved: "تم حفظ تعليقك؛ شكرًا.", failed: "لم يُحفظ؛ حاول مرة أخرى.", expired: "انتهت مهلة هذا الاستطلاع."
    },
    en: {
      score: "{n} out of {of}", rating: "Your rating", thanks: "Thank you for your rating!", comment: "Anything to add? (optional)",
      send: "Send comment", saved: "Your comment is saved; thank you.", failed: "Not saved; please try again.", expired: "This survey has expired."
    }
  };

  var lang = (data.lang || document.documentElement.lang || "fa").slice(0, 2).toLowerCase();
  if (!TEXT[lang]) lang = "en";
  var T = TEXT[lang];
  var L = LINK_TEXT[lang];
  var R = RATE_TEXT[lang];
  var rtl = lang === "fa" || lang === "ar";
  var base = (data.server || new URL(script.src, location.href).origin).replace(/\/+$/, "");
  var color = "#0f766e";
  // Only #rgb and #rrggbb: a looser pattern let "#12345" through, which paints nothing.
  if (/^#([0-9a-f]{3}){1,2}$/i.test(data.color || "")) color = data.color;
  else if (data.color) console.warn("Pasokh chat: data-color must be #rgb or #rrggbb; using " + color);
  // Text on the accent: white or near-black, whichever contrasts more with it.
  var DARK = "#111827";
  var onAccent = 1.05 / (luminance(color) + 0.05) >= (luminance(color) + 0.05) / (luminance(DARK) + 0.05) ? "#fff" : DARK;
  var userId = data.userId || "";
  var key = keyOf(userId);
  var starters = (data.suggestions || "").split("|").filter(Boolean);

  function luminance(hex) {
    // WCAG relative luminance of "#rgb" or "#rrggbb".
    var h = hex.length === 4 ? hex.replace(/\w/g, "$&$&") : hex;
    return [1, 3, 5].reduce(function (sum, at, i) {
      var c = parseInt(h.substr(at, 2), 16) / 255;
      c = c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
      return sum + [0.2126, 0.7152, 0.0722][i] * c;
    }, 0);
  }
  function digits(s) {
    s = String(s);
    if (lang === "fa") return s.replace(/[0-9]/g, function (d) { return "۰۱۲۳۴۵۶۷۸۹"[d]; });
    if (lang === "ar") return s.replace(/[0-9]/g, function (d) { return "٠١٢٣٤٥٦٧٨٩"[d]; });
    return s;
  }
  function fill(s, vars) {
    return s.replace(/\{(\w+)\}/g, function (_, k) { return vars[k]; });
  }
  function keyOf(user) { return "pasokh:" + base + ":" + (user ? "u:" + user : "anon") + ":"; }
  function keysOf(prefix) {
    // This widget's localStorage keys that start with `prefix`.
    var found = [];
    try {
      for (var i = 0; i < localStorage.length; i++) {
        if (localStorage.key(i).indexOf(prefix) === 0) found.push(localStorage.key(i));
      }
    } catch (e) {}
    return found;
  }
  function forget(prefix) {
    keysOf(prefix).forEach(function (k) { localStorage.removeItem(k); });
  }
  function store(name, value) {
    try {
      if (value === undefined) return JSON.parse(localStorage.getItem(key + name));
      if (value === null) localStorage.removeItem(key + name);
      else localStorage.setItem(key + name, JSON.stringify(value));
    } catch (e) { return null; }
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var name in attrs || {}) node.setAttribute(name, attrs[name]);
    if (text != null) node.textContent = text;
    return node;
  }

  var CSS = [
    ".root{all:initial;font:14px/1.6 Vazirmatn,Tahoma,'Segoe UI',system-ui,sans-serif;color:#1f2937;--accent:" + color + ";--on-accent:" + onAccent + "}",
    "*{box-sizing:border-box;font:inherit;color:inherit;margin:0;padding:0}",
    "[hidden]{display:none!important}",
    ".launcher{position:fixed;bottom:20px;inset-inline-end:20px;width:60px;height:60px;border-radius:50%;border:0;background:var(--accent);color:var(--on-accent);cursor:pointer;box-shadow:0 4px 16px #0004;display:flex;align-items:center;justify-content:center}",
    ".launcher svg{width:28px;height:28px;fill:var(--on-accent)}",
    ".badge{position:absolute;top:-4px;inset-inline-start:-4px;min-width:22px;height:22px;border-radius:11px;background:#dc2626;color:#fff;font-size:12px;line-height:22px;text-align:center;padding:0 6px}",
    ".panel{position:fixed;bottom:92px;inset-inline-end:20px;width:370px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 112px);background:#fff;border-radius:14px;box-shadow:0 8px 32px #0005;display:flex;flex-direction:column;overflow:hidden}",
    // Full screen on a phone: the launcher under the panel leaves the tab order too.
    "@media (max-width:480px){.panel{inset:0;width:auto;max-width:none;height:auto;max-height:none;border-radius:0}.open .launcher{display:none}}",
    "header{background:var(--accent);color:var(--on-accent);padding:12px 16px;display:flex;align-items:center;gap:8px}",
    "header div{flex:1}",
    "h2{font-size:16px;font-weight:bold;color:var(--on-accent)}",
    ".sub,.team{font-size:12px;color:var(--on-accent);opacity:.9}",
    ".team.online::before{content:\"\";display:inline-block;width:8px;height:8px;border-radius:50%;background:#4ade80;margin-inline-end:6px}",
    ".close{background:none;border:0;color:var(--on-accent);font-size:22px;line-height:1;width:32px;height:32px;border-radius:6px;cursor:pointer}",
    ".status{background:#fef3c7;color:#92400e;font-size:12px;padding:6px 16px}",
    ".log{flex:1;overflow-y:auto;background:#f8fafc}",
    ".messages{list-style:none;padding:12px;display:flex;flex-direction:column;gap:8px}",
    ".msg{max-width:82%;display:flex;flex-direction:column;align-self:flex-start}",
    ".msg.customer{align-self:flex-end}",
    ".bubble{padding:8px 12px;border-radius:14px;background:#fff;border:1px solid #e5e7eb;white-space:pre-wrap;overflow-wrap:anywhere;text-align:start}",
    ".customer .bubble{background:var(--accent);border-color:var(--accent);color:var(--on-accent)}",
    ".customer .bubble a{color:var(--on-accent)}",
    ".bubble a{color:var(--accent);text-decoration:underline;cursor:pointer}",
    ".bubble a[dir]{unicode-bidi:isolate}bdi{unicode-bidi:isolate}",
    ".bubble img{display:block;max-width:220px;max-height:220px;border-radius:8px;margin-top:4px}",
    ".meta{font-size:11px;color:#6b7280;padding:2px 6px}",
    ".customer .meta{text-align:end}",
    ".failed .bubble{opacity:.6}.failed .meta{color:#dc2626}",
    ".note{align-self:center;font-size:12px;color:#6b7280;text-align:center}",
    ".typing{font-size:12px;color:#6b7280;padding:0 16px 4px}",
    ".suggestions{display:flex;flex-wrap:wrap;gap:6px;padding:6px 12px}",
    ".suggestions button{border:1px solid var(--accent);color:var(--accent);background:#fff;border-radius:16px;padding:4px 12px;cursor:pointer;font-size:13px}",
    "form{display:flex;align-items:flex-end;gap:6px;padding:8px;border-top:1px solid #e5e7eb;background:#fff}",
    "textarea{flex:1;resize:none;border:1px solid #d1d5db;border-radius:10px;padding:8px 10px;min-height:40px;max-height:120px;background:#fff;text-align:start}",
    ".icon{width:40px;height:40px;border:0;border-radius:10px;background:#f1f5f9;cursor:pointer;display:flex;align-items:center;justify-content:center}",
    ".icon svg{width:20px;height:20px;fill:#475569}",
    ".send{background:var(--accent)}.send svg{fill:var(--on-accent)}",
    "[dir=rtl] .send svg{transform:scaleX(-1)}",
    // Two tones, so one of them stands out (3:1) on white and on any accent colour.
    "button:focus-visible,textarea:focus-visible,input:focus-visible,.log:focus-visible,a:focus-visible{outline:3px solid #111827;outline-offset:2px;box-shadow:0 0 0 2px #fff}.log:focus-visible{outline-offset:-3px}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    ".idbar{display:flex;gap:6px;padding:4px 12px;flex-wrap:wrap}",
    ".idlink{border:0;background:none;color:var(--accent);text-decoration:underline;cursor:pointer;font-size:12px}",
    ".idform{display:flex;gap:6px;padding:4px 12px}",
    ".idform input{flex:1;border:1px solid #d1d5db;border-radius:8px;padding:4px 8px;background:#fff}",
    ".idform button{border:0;border-radius:8px;background:var(--accent);color:var(--on-accent);padding:4px 10px;cursor:pointer}",
    ".idnote{font-size:12px;color:#374151;padding:0 12px}",
    ".idconfirm{margin:4px 12px;align-self:flex-start;border:0;border-radius:8px;background:var(--accent);color:var(--on-accent);padding:4px 10px;cursor:pointer}",
    ".rating{display:flex;flex-direction:column;gap:6px;margin-top:6px}",
    ".scores{display:flex;flex-wrap:wrap;gap:4px}",
    ".scores button{min-width:34px;height:34px;border:1px solid var(--accent);border-radius:8px;background:#fff;color:var(--accent);cursor:pointer;font-size:16px}",
    ".scores.csat button{border:0;font-size:24px;color:#d1d5db;background:none;min-width:30px}",
    ".scores.csat button.on{color:#f59e0b}",
    ".scores.nps button.on{background:var(--accent);color:var(--on-accent)}",
    ".rating textarea{min-height:48px}",
    ".rating .commit{align-self:flex-start;border:0;border-radius:8px;background:var(--accent);color:var(--on-accent);padding:4px 10px;cursor:pointer}",
    ".rating .said{font-size:12px;color:#166534}"
  ].join("");

  // Icons are built node by node: a site enforcing Trusted Types refuses innerHTML.
  var ICON = {
    chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z",
    send: "M3 20l18-8L3 4v6l12 2-12 2z",
    clip: "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z"
  };
  function icon(name) {
    var ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg"), path = document.createElementNS(ns, "path");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    path.setAttribute("d", ICON[name]);
    svg.append(path);
    return svg;
  }

  // The host element is a custom tag styled inline with !important: host-page rules such
  // as `* { all: unset }` or `div { display: none }` cannot reach into it.
  var host = document.createElement("pasokh-chat");
  var hostStyle = { all: "initial", position: "fixed", "z-index": "2147483000", bottom: "0", right: "0", width: "0", height: "0", display: "block", visibility: "visible", opacity: "1" };
  for (var prop in hostStyle) host.style.setProperty(prop, hostStyle[prop], "important");
  var shadow = host.attachShadow({ mode: "open" });
  var root = el("div", { class: "root", dir: rtl ? "rtl" : "ltr", lang: lang });
  try {
    // A constructed sheet is not an inline style, so a strict host CSP does not block it.
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [sheet];
  } catch (e) {
    shadow.append(el("style", null, CSS));
  }
  shadow.append(root);

  var launcher = el("button", { class: "launcher", type: "button", "aria-label": T.open, "aria-expanded": "false", "aria-controls": "pasokh-panel" });
  var badge = el("span", { class: "badge", "aria-hidden": "true", hidden: "" });
  launcher.append(icon("chat"), badge);
  var panel = el("section", { class: "panel", id: "pasokh-panel", role: "dialog", "aria-label": data.title || T.title, hidden: "" });
  var header = el("header");
  var heading = el("div");
  var title = el("h2", null, data.title || T.title);
  var subtitle = el("p", { class: "sub", "aria-live": "polite" });
  // The team's status, in the server's words (docs/widget.md): "online" / "away until …".
  var teamStatus = el("p", { class: "team", hidden: "" });
  heading.append(title, subtitle, teamStatus);
  var closeButton = el("button", { class: "close", type: "button", "aria-label": T.close }, "×");
  header.append(heading, closeButton);
  var status = el("div", { class: "status", role: "status", hidden: "" });
  // The log scrolls and is announced; the list inside keeps its list semantics.
  var log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-label": T.messages, tabindex: "0" });
  var list = el("ol", { class: "messages" });
  log.append(list);
  var typing = el("div", { class: "typing", "aria-live": "polite", hidden: "" });
  var suggestions = el("div", { class: "suggestions", role: "group", "aria-label": T.suggestions });
  var form = el("form", { class: "composer" });
  var label = el("label", { for: "pasokh-input", class: "sr" }, T.input);
  var input = el("textarea", { id: "pasokh-input", rows: "1", placeholder: T.placeholder });
  followText(input);
  var attach = el("button", { class: "icon attach", type: "button", "aria-label": T.attach });
  attach.append(icon("clip"));
  var file = el("input", { type: "file", hidden: "", tabindex: "-1", accept: "image/png,image/jpeg,image/gif,image/webp,application/pdf" });
  var sendButton = el("button", { class: "icon send", type: "submit", "aria-label": T.send });
  sendButton.append(icon("send"));
  form.append(label, input, attach, file, sendButton);
  var idBar = el("div", { class: "idbar" });
  // Hidden until the server says it offers them (no mail relay, no Telegram: no button).
  var emailButton = el("button", { class: "idlink", type: "button", "aria-expanded": "false", hidden: "" }, L.email);
  var telegramButton = el("button", { class: "idlink", type: "button", hidden: "" }, L.telegram);
  var telegramLink = el("a", { class: "idlink", target: "_blank", rel: "noopener noreferrer", hidden: "" }, L.telegram);
  idBar.append(emailButton, telegramButton, telegramLink);
  var idForm = el("form", { class: "idform", hidden: "" });
  var idInput = el("input", { dir: "ltr", "aria-label": L.email });
  var idSubmit = el("button", { type: "submit" }, L.sendCode);
  idForm.append(idInput, idSubmit);
  var idNote = el("p", { class: "idnote", role: "status", "aria-live": "polite" });
  panel.append(header, status, log, typing, suggestions, idBar, idForm, idNote, form);
  root.append(launcher, panel);
  list.append(el("li", { class: "note greeting" }, T.greeting));

  // --- state -------------------------------------------------------------------
  var ws = null, ready = false, attempt = 0, timer = null, lastId = 0, agentName = "";
  var limits = { max_message_length: 4000, max_upload_bytes: 5242880 };
  var pending = storedPending(key);
  // Older versions kept a tab's unsent messages under one key.
  (store("pending") || []).forEach(function (p) { pending.push(p); keep(p); });
  store("pending", null);
  var unread = 0, typingTimer = null, lastTypingSent = 0, started = false;

  function setStatus(text) {
    status.textContent = text || "";
    status.hidden = !text;
  }

  function isOpen() { return !panel.hidden; }
  // On a phone the panel covers the page: it is modal then, and Tab stays inside it.
  var phone = window.matchMedia ? matchMedia("(max-width:480px)") : { matches: false };
  function open(quiet) {
    if (panel.hidden && started) showTeamStatus();
    panel.hidden = false;
    panel.setAttribute("aria-modal", String(phone.matches));
    root.classList.add("open");
    launcher.setAttribute("aria-expanded", "true");
    unread = 0;
    badge.hidden = true;
    store("open", true);
    log.scrollTop = log.scrollHeight;
    if (!quiet) input.focus();
  }
  function close() {
    panel.hidden = true;
    root.classList.remove("open");
    launcher.setAttribute("aria-expanded", "false");
    store("open", null);
    launcher.focus();
  }
  function keepFocusInside(e) {
    if (e.key !== "Tab" || !phone.matches) return;
    var all = Array.prototype.filter.call(panel.querySelectorAll("button,textarea,input,a[href],[tabindex='0']"), function (n) {
      return n.tabIndex >= 0 && !n.disabled && n.getClientRects().length;
    });
    var first = all[0], last = all[all.length - 1], at = shadow.activeElement;
    if (e.shiftKey ? at === first : at === last) {
      e.preventDefault();
      (e.shiftKey ? last : first).focus();
    }
  }

  function timeOf(iso) {
    var d = iso ? new Date(iso) : new Date();
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return digits(pad(d.getHours()) + ":" + pad(d.getMinutes()));
  }

  // A link is a left-to-right isolate, so a URL inside Persian or Arabic text reads whole;
  // punctuation closing the sentence after it (".", "،", an unmatched ")") is not the link's.
  function linkify(node, text, name) {
    text.split(/(https?:\/\/[^\s<>"]+)/g).forEach(function (part, i) {
      if (!(i % 2)) return words(node, part, name);
      var tail = "";
      while (/[.,;:!?'»،؛)\]}]$/.test(part)) {
        var end = part.slice(-1), start = { ")": "(", "]": "[", "}": "{" }[end];
        if (start && part.split(start).length >= part.split(end).length) break;
        tail = end + tail;
        part = part.slice(0, -1);
      }
      node.append(el("a", { href: part, dir: "ltr", target: "_blank", rel: "noopener noreferrer" }, part));
      words(node, tail, name);
    });
  }
  // A name inside the text is isolated: a Latin name opening a Persian sentence neither
  // sets the bubble's direction (dir=auto skips <bdi>) nor moves its punctuation.
  function words(node, text, name) {
    (name ? text.split(name) : [text]).forEach(function (part, i) {
      if (i) node.append(el("bdi", null, name));
      if (part) node.append(part);
    });
  }
  // An empty field takes the widget's direction (dir=auto would resolve it to ltr and
  // ignore the placeholder); once typed into, the text decides.
  function followText(field) {
    field.dir = field.value ? "auto" : rtl ? "rtl" : "ltr";
  }

  function who(m) {
    if (m.author === "customer") return T.you;
    return m.author_name || (m.author === "agent" ? T.agent : T.bot);
  }

  function render(m, item) {
    item = item || el("li");
    item.className = "msg " + m.author;
    item.textContent = "";
    if (m.id) item.dataset.id = m.id;
    item.suggestions = m.suggestions || [];
    var bubble = el("div", { class: "bubble", dir: "auto" });
    linkify(bubble, m.text || "", m.author === "customer" ? "" : m.author_name || "");
    (m.attachments || []).forEach(function (a) {
      var url = /^https?:/.test(a.url) ? a.url : base + a.url;
      var link = el("a", { href: "#", target: "_blank", rel: "noopener noreferrer" });
      if (/^image\//.test(a.content_type)) {
        var image = el("img", { alt: a.filename });
        link.append(image);
        fileUrl(url).then(function (u) { image.src = u; link.href = u; }).catch(function () {});
      } else {
        link.textContent = "📄 " + a.filename;
        link.addEventListener("click", function (e) {
          e.preventDefault();
          fileUrl(url).then(function (u) { el("a", { href: u, download: a.filename }).click(); })
            .catch(function () { setStatus(T.upload); });
        });
      }
      bubble.append(link);
    });
    if (m.survey && m.survey.token) bubble.append(ratingPrompt(m.survey));
    var meta = el("div", { class: "meta" }, who(m) + " · " + (m.state || timeOf(m.created_at)));
    item.append(bubble, meta);
    return item;
  }

  // Stars for a CSAT (1-5), 0-10 buttons for an NPS; a tap answers at once, a comment
  // may follow; every answer goes to POST /api/v1/surveys/{token} (the token is the key).
  function ratingPrompt(survey) {
    var box = el("div", { class: "rating", dir: rtl ? "rtl" : "ltr" });
    var scores = el("div", { class: "scores " + survey.kind, role: "group", "aria-label": R.rating });
    var said = el("p", { class: "said", role: "status", "aria-live": "polite" });
    var comment = el("textarea", { rows: "2", placeholder: R.comment, "aria-label": R.comment, hidden: "" });
    followText(comment);
    comment.addEventListener("input", function () { followText(comment); });
    var commit = el("button", { class: "commit", type: "button", hidden: "" }, R.send);
    var chosen = null, buttons = [];
    for (var n = survey.kind === "nps" ? 0 : 1; n <= survey.scale; n++) {
      var label = fill(R.score, { n: digits(String(n)), of: digits(String(survey.scale)) });
      var b = el("button", { type: "button", "aria-label": label, "aria-pressed": "false", "data-score": String(n) },
        survey.kind === "csat" ? "★" : digits(String(n)));
      b.addEventListener("click", pick.bind(null, n));
      buttons.push(b);
      scores.append(b);
    }
    function pick(n) {
      chosen = n;
      buttons.forEach(function (b) {
        var score = Number(b.dataset.score);
        var on = survey.kind === "csat" ? score <= n : score === n;
        b.classList.toggle("on", on);
        b.setAttribute("aria-pressed", String(score === n));
      });
      post({ score: n }, R.thanks);
    }
    function post(body, done) {
      said.textContent = "";
      fetch(base + "/api/v1/surveys/" + encodeURIComponent(survey.token), {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
      }).then(function (r) {
        if (r.status === 410) { said.textContent = R.expired; return; }
        if (!r.ok) throw new Error("survey " + r.status);
        said.textContent = done;
        comment.hidden = false;
        commit.hidden = false;
      }).catch(function () { said.textContent = R.failed; });
    }
    commit.addEventListener("click", function () {
      if (chosen === null || !comment.value.trim()) return;
      post({ score: chosen, comment: comment.value.trim() }, R.saved);
    });
    box.append(scores, said, comment, commit);
    return box;
  }

  // File links work only with this visitor's token (and for a while): fetched, not linked.
  var files = {};
  function fileUrl(url) {
    if (!files[url]) {
      files[url] = session().then(function (token) {
        return fetch(url, { headers: { Authorization: "Bearer " + token } });
      }).then(function (r) {
        if (!r.ok) throw new Error("file " + r.status);
        return r.blob();
      }).then(function (b) { return URL.createObjectURL(b); });
      files[url].catch(function () { delete files[url]; });
    }
    return files[url];
  }

  function place(item, id) {
    // Keep the list ordered by message id; unsent messages stay at the end.
    var n = Number(id), before = null;
    var items = list.querySelectorAll(".msg[data-id]");
    for (var i = items.length - 1; i >= 0; i--) {
      if (Number(items[i].dataset.id) < n) { before = items[i].nextSibling; break; }
      before = items[i];
    }
    if (!items.length) before = list.querySelector(".msg:not([data-id])");
    // Where it already is, it stays: a moved item is announced again by screen readers.
    if (item.parentNode === list && (before === item || before === item.nextSibling)) return;
    list.insertBefore(item, before);
  }

  function confirm(item, id, createdAt) {
    // Our own "sending" bubble is stored now: updated in place, not rendered again.
    place(item, id);
    item.dataset.id = id;
    item.querySelector(".meta").textContent = T.you + " · " + timeOf(createdAt);
    lastId = Math.max(lastId, Number(id));
  }

  function showMessage(m, live) {
    if (list.querySelector('.msg[data-id="' + m.id + '"]')) return;
    // Our own message (from this tab or another) may come before its ack: it takes over
    // its "sending" bubble.
    var mine = m.author === "customer" && Array.prototype.filter.call(list.querySelectorAll(".msg[data-client]:not([data-id])"), function (item) {
      return item.sentText === m.text;
    })[0];
    if (mine) confirm(mine, m.id, m.created_at);
    else place(render(m), m.id);
    lastId = Math.max(lastId, Number(m.id));
    // The server's own message says who joined (once); the header just shows the name.
    if (m.author === "agent" && m.author_name && m.author_name !== agentName) {
      agentName = m.author_name;
      subtitle.textContent = agentName;
      // An agent of any tier has the chat now: "away" would contradict the name above.
      if (live) showTeamStatus();
    }
    if (live && m.author !== "customer") {
      typing.hidden = true;
      if (!isOpen()) {
        unread++;
        badge.textContent = digits(unread);
        badge.hidden = false;
        launcher.setAttribute("aria-label", T.open + " — " + fill(T.unread, { n: digits(unread) }));
      }
    }
  }

  function showSuggestions() {
    suggestions.textContent = "";
    var items = list.querySelectorAll(".msg[data-id]");
    var last = items[items.length - 1];
    var offered = last ? (last.suggestions || []) : starters;
    if (last && last.classList.contains("customer")) offered = [];
    offered.forEach(function (s) {
      var button = el("button", { type: "button", dir: "auto" }, s);
      button.addEventListener("click", function () { sendText(s, []); });
      suggestions.append(button);
    });
  }

  function afterRender() {
    showSuggestions();
    log.scrollTop = log.scrollHeight;
  }

  // --- sending -------------------------------------------------------------------
  function pendingItem(p) {
    return list.querySelector('.msg[data-client="' + p.client_id + '"]');
  }

  // Each unacknowledged message has a key of its own, so the tabs of one visitor never
  // write over each other's; an ack removes only its own.
  function keep(p) { store("pending:" + p.client_id, p); }
  function storedPending(prefix) {
    var found = keysOf(prefix + "pending:").map(function (k) {
      try { return JSON.parse(localStorage.getItem(k)); } catch (e) { return null; }
    });
    return found.filter(Boolean).sort(function (a, b) { return (a.at || 0) - (b.at || 0); });
  }

  function showPending(p) {
    var item = render({ author: "customer", text: p.text, attachments: p.attachments, state: p.failed ? T.failed : T.sending });
    item.dataset.client = p.client_id;
    item.sentText = p.text;
    if (p.failed) item.classList.add("failed");
    list.append(item);
    afterRender();
  }

  function transmit(p) {
    if (!ready) return;
    ws.send(JSON.stringify({ type: "message", client_id: p.client_id, text: p.text, attachments: (p.attachments || []).map(function (a) { return a.upload; }) }));
    expectAnswer();
  }

  function sendText(text, attachments) {
    text = text.trim();
    if (!text && !attachments.length) return;
    if (text.length > limits.max_message_length) {
      setStatus(fill(T.tooLong, { n: digits(limits.max_message_length) }));
      return;
    }
    var p = { client_id: uuid(), text: text, attachments: attachments, at: Date.now() };
    pending.push(p);
    keep(p);
    showPending(p);
    suggestions.textContent = "";
    transmit(p);
  }

  function settle(clientId, fn) {
    pending = pending.filter(function (p) {
      if (p.client_id !== clientId) return true;
      fn(p);
      return false;
    });
    store("pending:" + clientId, null);
  }

  function onAck(frame) {
    settle(frame.client_id, function (p) {
      var item = pendingItem(p);
      if (!item) return;
      delete item.dataset.client;
      if (item.dataset.id === frame.message_id) return;
      if (list.querySelector('.msg[data-id="' + frame.message_id + '"]')) item.remove();
      else confirm(item, frame.message_id);
    });
    afterRender();
  }

  // Another tab of this visitor wrote or settled a message: it waits here too, so it is
  // sent (once: the server stores a client_id once) even if that tab closes offline.
  window.addEventListener("storage", function (e) {
    if (!e.key || e.key.indexOf(key + "pending:") !== 0) return;
    var id = e.key.slice(key.length + 8), p = null;
    pending = pending.filter(function (q) { return q.client_id !== id; });
    try { p = JSON.parse(e.newValue); } catch (err) {}
    if (!p) return;
    pending.push(p);
    if (!pendingItem(p)) showPending(p);
  });

  function onError(frame) {
    var retry = frame.code === "rate_limited" || frame.code === "server_error";
    if (frame.code === "rate_limited") setStatus(T.slow);
    else if (frame.code === "message_too_long") setStatus(fill(T.tooLong, { n: digits(limits.max_message_length) }));
    if (!frame.client_id) return;
    var p = pending.filter(function (x) { return x.client_id === frame.client_id; })[0];
    if (!p) return;
    if (retry) {
      setTimeout(function () { setStatus(""); transmit(p); }, (frame.retry_after || 5) * 1000);
      return;
    }
    settle(frame.client_id, function (q) {
      var item = pendingItem(q);
      if (item) { item.classList.add("failed"); item.querySelector(".meta").textContent = T.you + " · " + T.failed; }
    });
  }

  // --- connection -------------------------------------------------------------------
  function anonymousToken() {
    try { return JSON.parse(localStorage.getItem("pasokh:" + base + ":anon:token")); } catch (e) { return null; }
  }
  // A stored token is resumed once per page: the server answers a fresh one (a token
  // lives 30 days from its issue, so a returning visitor's never ends while one left
  // behind does) and the same conversation.
  var resumed = false, resuming = null;
  function session() {
    var token = store("token"), asked = key;
    if (token && resumed) return Promise.resolve(token);
    if (token) return resuming || (resuming = resume(token));
    var anonymous = userId ? anonymousToken() : null;
    if (anonymous) {
      // Signed in after chatting anonymously: the site's user_hash links the two (once).
      return fetch(base + "/api/v1/webchat/identity/site", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + anonymous },
        body: JSON.stringify({ user_id: userId, user_hash: data.userHash || "" })
      }).then(function (r) {
        if (!r.ok) throw new Error("site link " + r.status);
        return r.json();
      }).then(function (j) {
        token = keepToken(asked, j);
        // The anonymous chat is the user's now; nothing of it stays for whoever uses this
        // browser after the site's sign-out (the server retired that token as well).
        storedPending(keyOf("")).forEach(function (p) { pending.push(p); keep(p); showPending(p); });
        forget(keyOf(""));
        return token;
      }).catch(function () { return newSession(); });
    }
    return newSession();
  }
  function resume(token) {
    return newSession(token).catch(function (e) {
      if (e && e.message === VISITOR_CHANGED) throw e;
      return token;
    }).then(function (t) { resuming = null; return t; });
  }
  var VISITOR_CHANGED = "the visitor changed";
  function keepToken(asked, j) {
    // Signed in or out meanwhile: the token is not the current visitor's, kept nowhere.
    if (asked !== key) throw new Error(VISITOR_CHANGED);
    store("token", j.visitor_token);
    resumed = true;
    return j.visitor_token;
  }
  function newSession(token) {
    var asked = key;
    var body = userId ? { user_id: userId, user_hash: data.userHash || "", name: data.userName || undefined } : {};
    if (token) body.visitor_token = token;
    return fetch(base + "/api/v1/webchat/sessions", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) {
      if (!r.ok) throw new Error("session " + r.status);
      return r.json();
    }).then(function (j) { return keepToken(asked, j); });
  }

  // A half-open connection (a Wi-Fi change, a NAT that forgot us) fires no close for
  // minutes: whatever is sent expects an answer (any frame: ready, ack, pong) within
  // ANSWER_MS, an idle socket is pinged every PING_MS, and a silent one is made again.
  var PING_MS = 25000, ANSWER_MS = 10000, watchdog = null;
  function expectAnswer() { if (!watchdog) watchdog = setTimeout(lost, ANSWER_MS); }
  function heard() { clearTimeout(watchdog); watchdog = null; }
  function lost() { hangUp(); retryLater(); }
  function hangUp() {
    heard();
    if (!ws) return;
    var old = ws;
    ws = null;
    ready = false;
    old.onclose = old.onmessage = null;
    old.close();
  }
  setInterval(function () {
    if (ready) { ws.send('{"type":"ping"}'); expectAnswer(); }
  }, PING_MS);

  function connect() {
    clearTimeout(timer);
    setStatus(T.connecting);
    var asked = key;
    session().then(function (token) {
      if (asked !== key) return;  // restarted meanwhile, which connects anew
      var url = base.replace(/^http/, "ws") + "/ws/webchat?lang=" + lang + "&token=" + encodeURIComponent(token) + (lastId ? "&after=" + lastId : "");
      ws = new WebSocket(url);
      expectAnswer();
      ws.onmessage = function (e) {
        heard();
        var f;
        try { f = JSON.parse(e.data); } catch (err) { return; }
        if (f.type === "ready") {
          ready = true;
          attempt = 0;
          limits = f.limits || limits;
          setStatus("");
        } else if (f.type === "history") {
          f.messages.forEach(function (m) { showMessage(m, false); });
          pending.forEach(transmit);
          afterRender();
        } else if (f.type === "message") {
          showMessage(f.message, true);
          afterRender();
        } else if (f.type === "ack") onAck(f);
        else if (f.type === "typing") {
          typing.textContent = "";
          if (f.name) typing.append(el("bdi", null, f.name), " ");
          typing.append(T.typing);
          typing.hidden = false;
          clearTimeout(typingTimer);
          typingTimer = setTimeout(function () { typing.hidden = true; }, 6000);
        } else if (f.type === "error") onError(f);
      };
      ws.onclose = function (e) {
        heard();
        ready = false;
        ws = null;
        if (e.code === 4401) store("token", null);
        if (e.code === 4403) { setStatus(T.unavailable); return; }
        // Too many sockets (4429) or a busy server (1013): wait 8 s or more, not 0.5 s,
        // so a refused widget does not knock again at once.
        if (e.code === 4429 || e.code === 1013) attempt = Math.max(attempt, 5);
        retryLater(e.code === 4401 ? 0 : undefined);
      };
    }).catch(function () {
      if (asked !== key) return;
      setStatus(T.unavailable);
      retryLater();
    });
  }

  function retryLater(delay) {
    // Exponential backoff with jitter, capped at 30 s; reset by a `ready` frame.
    if (delay === undefined) {
      delay = Math.min(30000, 500 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
      attempt++;
      setStatus(T.offline);
    }
    timer = setTimeout(connect, delay);
  }

  function upload(f) {
    if (f.size > limits.max_upload_bytes) { setStatus(T.upload); return; }
    var body = new FormData();
    body.append("file", f, f.name);
    session().then(function (token) {
      return fetch(base + "/api/v1/webchat/uploads", { method: "POST", headers: { Authorization: "Bearer " + token }, body: body });
    }).then(function (r) {
      if (!r.ok) throw new Error("upload " + r.status);
      return r.json();
    }).then(function (j) {
      setStatus("");
      sendText(input.value, [j]);
      input.value = "";
      followText(input);
    }).catch(function () { setStatus(T.upload); });
  }

  // --- events -------------------------------------------------------------------
  launcher.addEventListener("click", function () { isOpen() ? close() : open(false); });
  closeButton.addEventListener("click", close);
  panel.addEventListener("keydown", function (e) {
    if (e.key === "Escape") close();
    keepFocusInside(e);
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    sendText(input.value, []);
    input.value = "";
    followText(input);
    input.focus();
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit")); }
  });
  input.addEventListener("input", function () {
    followText(input);
    if (ready && Date.now() - lastTypingSent > 3000 && input.value.trim()) {
      lastTypingSent = Date.now();
      ws.send('{"type":"typing"}');
    }
  });
  attach.addEventListener("click", function () { file.click(); });
  file.addEventListener("change", function () { if (file.files[0]) upload(file.files[0]); file.value = ""; });

  // --- proving who you are -----------------------------------------------------------
  var idStep = "email";
  function identityCall(path, body) {
    return session().then(function (token) {
      return fetch(base + "/api/v1/webchat/identity/" + path, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
        body: JSON.stringify(body || {})
      });
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { return { ok: r.ok, body: j }; });
    });
  }
  function reloadHistory() {
    // A proof may have joined earlier conversations: read the whole history again.
    lastId = 0;
    hangUp();
    connect();
  }
  function askFor(step) {
    idStep = step;
    idInput.value = "";
    idInput.type = step === "email" ? "email" : "text";
    idInput.setAttribute("inputmode", step === "email" ? "email" : "numeric");
    idInput.setAttribute("autocomplete", step === "email" ? "email" : "one-time-code");
    idInput.placeholder = step === "email" ? "name@example.com" : "123456";
    idSubmit.textContent = step === "email" ? L.sendCode : L.confirm;
  }
  emailButton.addEventListener("click", function () {
    idForm.hidden = !idForm.hidden;
    emailButton.setAttribute("aria-expanded", String(!idForm.hidden));
    askFor("email");
    if (!idForm.hidden) idInput.focus();
  });
  idForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var value = idInput.value.trim();
    if (!value) return;
    if (idStep === "email") {
      identityCall("email", { email: value, lang: lang }).then(function (r) {
        if (r.ok) { askFor("code"); idNote.textContent = L.codeSent; idInput.focus(); return; }
        idNote.textContent = L.failed;
        // This server sends no mail: stop offering what cannot work.
        if (((r.body && r.body.error) || {}).code === "email_unavailable") { idForm.hidden = true; emailButton.hidden = true; }
      }).catch(function () { idNote.textContent = L.failed; });
      return;
    }
    identityCall("email/verify", { code: value }).then(function (r) {
      var error = (r.body && r.body.error) || {};
      if (r.ok) {
        idForm.hidden = true;
        idNote.textContent = L.verified;
        reloadHistory();
      } else if (error.code === "wrong_code") {
        idNote.textContent = fill(L.wrong, { n: digits(String(error.remaining_attempts)) });
      } else {
        idNote.textContent = L.failed;
        askFor("email");
      }
    }).catch(function () { idNote.textContent = L.failed; });
  });
  telegramButton.addEventListener("click", function () {
    identityCall("telegram", {}).then(function (r) {
      if (!r.ok || !/^https:\/\/t\.me\//.test(r.body.url || "")) { telegramButton.hidden = true; return; }
      telegramLink.href = r.body.url;
      telegramLink.hidden = false;
      telegramButton.hidden = true;
      telegramLink.focus();
    }).catch(function () { idNote.textContent = L.failed; });
  });
  function showLinkingOptions() {
    fetch(base + "/api/v1/webchat/identity/options").then(function (r) {
      return r.ok ? r.json() : {};
    }).then(function (offered) {
      emailButton.hidden = offered.email !== true;
      telegramButton.hidden = offered.telegram !== true;
    }).catch(function () {});
  }
  function showTeamStatus() {
    // With this visitor's token the server answers for the people their thread is with
    // (a tier-2 agent chatting here is online though tier 1 is away); never asks for one.
    var token = store("token");
    var headers = token ? { Authorization: "Bearer " + token } : {};
    fetch(base + "/api/v1/webchat/team-status?lang=" + lang, { headers: headers }).then(function (r) {
      return r.ok ? r.json() : {};
    }).then(function (team) {
      teamStatus.textContent = typeof team.text === "string" ? team.text : "";
      teamStatus.hidden = !teamStatus.textContent;
      teamStatus.className = "team " + (team.online ? "online" : "away");
    }).catch(function () {});
  }
  function start() {
    showLinkingOptions();
    showTeamStatus();
    started = true;
    connect();
    // Opened from a mail's "continue in chat" link: say what it would join and spend the
    // token only on a click. A link can come from somebody else, and mail scanners open
    // links and run their scripts.
    if (!data.continueToken) return;
    idNote.textContent = fill(L.continueAsk, { address: data.continueAddress || "" });
    var confirm = el("button", { class: "idconfirm", type: "button" }, L.continueYes);
    confirm.addEventListener("click", function () {
      confirm.disabled = true;
      identityCall("continue", { token: data.continueToken }).then(function (r) {
        confirm.remove();
        idNote.textContent = r.ok ? L.verified : L.refused;
        if (r.ok) reloadHistory();
      }).catch(function () { confirm.disabled = false; idNote.textContent = L.failed; });
    });
    idNote.after(confirm);
  }

  // The site's sign-out (PasokhChat.reset(), or data-user-id taken away or changed):
  // nothing of this browser's chats stays for the next person at the computer, and the
  // widget starts over as that user or a new anonymous visitor. A user id appearing is a
  // sign-in: the anonymous chat is carried into the account.
  function restart(user) {
    hangUp();
    userId = user;
    key = keyOf(user);
    lastId = 0;
    agentName = subtitle.textContent = idNote.textContent = "";
    files = {};
    Array.prototype.forEach.call(list.querySelectorAll(".msg"), function (item) { item.remove(); });
    pending = storedPending(key);
    pending.forEach(showPending);
    showSuggestions();
    connect();
  }
  function reset() {
    forget("pasokh:" + base + ":");
    restart("");
  }
  new MutationObserver(function () {
    var now = data.userId || "";
    if (now === userId) return;
    if (userId) forget("pasokh:" + base + ":");
    restart(now);
  }).observe(script, { attributes: true, attributeFilter: ["data-user-id"] });

  pending.forEach(showPending);
  showSuggestions();
  // On <html>, not <body>: a transform, filter or will-change on the body would become
  // the fixed launcher's containing block and carry it off screen. Where the browser has
  // popovers, the top layer escapes every ancestor and z-index too.
  document.documentElement.append(host);
  if (host.showPopover) {
    host.popover = "manual";
    host.showPopover();
  }
  window.PasokhChat = { open: function () { open(false); }, close: close, send: function (t) { sendText(t, []); }, reset: reset };
  if (store("open") || data.open === "true") open(true);
  start();
})();
