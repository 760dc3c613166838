// Pasokh console: the "Service hours" page (admins only) — business-hour calendars and
// SLA policies, read with GET /api/v1/calendars and /api/v1/sla-policies and saved with
// PUT /api/v1/calendars/{name} and /api/v1/sla-policies/{name} (docs/service-levels.md).
// The server checks every body (a 422 names each problem, shown as is) and audits each
// save. It uses console.js through window.PasokhConsole; every text goes in by
// textContent (through el()).
"use strict";

(function () {
  const I18N = {
    en: {
      page_service: "Service hours",
      calendars: "Calendars",
      policies: "SLA policies",
      new_calendar: "New calendar",
      new_policy: "New policy",
      name: "Name",
      timezone: "Time zone",
      holidays: "Public holidays (country code, e.g. IR)",
      closed: "Closed dates (YYYY-MM-DD, comma-separated)",
      open: "Extra open dates (YYYY-MM-DD, comma-separated)",
      week: "Weekly hours",
      add_interval: "+ hours",
      remove_interval: "Remove",
      save: "Save",
      saved: "Saved: {name}",
      configured: "from the settings file",
      priority: "Priority",
      calendar: "Calendar",
      business_hours: "Business hours (else wall clock)",
      first_response: "First response (minutes)",
      next_response: "Next response (minutes)",
      resolution: "Resolution (minutes)",
      tier: "Tier (empty: any)",
      channel: "Channel (empty: any)",
      none: "none",
      bad_name: "A name is 1-64 letters, digits, - or _.",
      sat: "Saturday", sun: "Sunday", mon: "Monday", tue: "Tuesday", wed: "Wednesday", thu: "Thursday", fri: "Friday",
      urgent: "urgent", high: "high", normal: "normal", low: "low",
    },
    fa: {
      page_service: "ساعات کاری",
      calendars: "تقویم‌ها",
      policies: "سیاست‌های SLA",
      new_calendar: "تقویم تازه",
      new_policy: "سیاست تازه",
      name: "نام",
      timezone: "منطقهٔ زمانی",
      holidays: "تعطیلات رسمی (کد کشور، مثلاً IR)",
      closed: "روزهای تعطیل (YYYY-MM-DD، با ویرگول جدا)",
      open: "روزهای باز اضافه (YYYY-MM-DD، با ویرگول جدا)",
      week: "ساعات هفتگی",
      add_interval: "+ بازه",
      remove_interval: "حذف",
      save: "ذخیره",
      saved: "ذخیره شد: {name}",
      configured: "از فایل تنظیمات",
      priority: "اولویت",
      calendar: "تقویم",
      business_hours: "ساعات کاری (وگرنه ساعت واقعی)",
      first_response: "اولین پاسخ (دقیقه)",
      next_response: "پاسخ بعدی (دقیقه)",
      resolution: "حل (دقیقه)",
      tier: "سطح (خالی: همه)",
      channel: "کانال (خالی: همه)",
      none: "هیچ",
      bad_name: "نام ۱ تا ۶۴ حرف لاتین، رقم، - یا _ است.",
      sat: "شنبه", sun: "یک‌شنبه", mon: "دوشنبه", tue: "سه‌شنبه", wed: "چهارشنبه", thu: "پنج‌شنبه", fri: "جمعه",
      urgent: "فوری", high: "بالا", normal: "عادی", low: "پایین",
    },
    ar: {
      page_service: "ساعات العمل",
      calendars: "التقويمات",
      policies: "سياسات SLA",
      new_calendar: "تقويم جديد",
      new_policy: "سياسة جديدة",
      name: "الاسم",
      timezone: "المنطقة الزمنية",
      holidays: "العطل الرسمية (رمز الدولة، مثل SA)",
      closed: "أيام الإغلاق (YYYY-MM-DD، مفصولة بفواصل)",
      open: "أيام عمل إضافية (YYYY-MM-DD، مفصولة بفواصل)",
      week: "الساعات الأسبوعية",
      add_interval: "+ فترة",
      remove_interval: "حذف",
      save: "حفظ",
      saved: "تم الحفظ: {name}",
      configured: "من ملف الإعدادات",
      priority: "الأولوية",
      calendar: "التقويم",
      business_hours: "ساعات العمل (وإلا الوقت الفعلي)",
      first_response: "الرد الأول (دقائق)",
      next_response: "الرد التالي (دقائق)",
      resolution: "الحل (دقائق)",
      tier: "المستوى (فارغ: الكل)",
      channel: "القناة (فارغ: الكل)",
      none: "لا شيء",
      bad_name: "الاسم من ١ إلى ٦٤ حرفًا لاتينيًا أو رقمًا أو - أو _.",
      sat: "السبت", sun: "الأحد", mon: "الاثنين", tue: "الثلاثاء", wed: "الأربعاء", thu: "الخميس", fri: "الجمعة",
      urgent: "عاجل", high: "مرتفع", normal: "عادي", low: "منخفض",
    },
  };
  const DAYS = ["sat", "sun", "mon", "tue", "wed", "thu", "fri"];
  const PRIORITIES = ["urgent", "high", "normal", "low"];
  const NAME = /^[A-Za-z0-9_-]{1,64}$/;

  const page = { calendars: [], policies: [], editing: null, shown: false };

  function host() {
    return window.PasokhConsole;
  }

  function t(key, vars) {
    const lang = host() ? host().lang() : "en";
    let text = (I18N[lang] || I18N.en)[key] || I18N.en[key] || key;
    for (const [name, value] of Object.entries(vars || {})) text = text.split(`{${name}}`).join(String(value));
    return text;
  }

  function isAdmin() {
    const agent = host() && host().agent();
    return Boolean(agent && agent.is_admin);
  }

  function section() {
    return document.getElementById("service-admin");
  }

  function field(labelKey, input) {
    return host().el("label", { class: "sla-field" }, host().el("span", { text: t(labelKey) }), input);
  }

  function dates(text) {
    return text
      .split(/[,\s،]+/)
      .map((piece) => piece.trim())
      .filter((piece) => piece);
  }

  function intervalRow(day, interval) {
    const el = host().el;
    const start = el("input", { type: "time", class: "sla-start", value: interval[0], required: true, dir: "ltr" });
    const end = el("input", { type: "time", class: "sla-end", value: interval[1], required: true, dir: "ltr" });
    const row = el("span", { class: "sla-interval" }, start, "–", end);
    row.append(
      el("button", { type: "button", class: "sla-remove", text: t("remove_interval"), onclick: () => row.remove() }),
    );
    return row;
  }

  function weekEditor(week) {
    const el = host().el;
    const rows = DAYS.map((day) => {
      const intervals = el("span", { class: "sla-intervals" });
      for (const interval of week[day] || []) intervals.append(intervalRow(day, interval));
      const add = el("button", {
        type: "button",
        class: "sla-add",
        text: t("add_interval"),
        onclick: () => intervals.append(intervalRow(day, ["09:00", "17:00"])),
      });
      return el("div", { class: "sla-day", dataset: { day } }, el("span", { class: "sla-day-name", text: t(day) }), intervals, add);
    });
    return el("fieldset", { class: "sla-week" }, el("legend", { text: t("week") }), ...rows);
  }

  function readWeek(form) {
    const week = {};
    for (const row of form.querySelectorAll(".sla-day")) {
      const intervals = [...row.querySelectorAll(".sla-interval")].map((span) => [
        span.querySelector(".sla-start").value,
        span.querySelector(".sla-end").value,
      ]);
      if (intervals.length) week[row.dataset.day] = intervals;
    }
    return week;
  }

  function nameInput(name) {
    return host().el("input", {
      class: "sla-name",
      value: name || "",
      required: true,
      dir: "ltr",
      readonly: name ? true : undefined,
      pattern: "[A-Za-z0-9_\\-]{1,64}",
    });
  }

  function calendarForm(name, calendar) {
    const el = host().el;
    const nameBox = nameInput(name);
    const zone = el("input", { class: "sla-timezone", value: calendar.timezone || "Asia/Tehran", required: true, dir: "ltr" });
    const holidays = el("input", { class: "sla-holidays", value: calendar.holidays || "", dir: "ltr", maxlength: "3" });
    const closed = el("input", { class: "sla-closed", value: (calendar.closed || []).join(", "), dir: "ltr" });
    const open = el("input", { class: "sla-open", value: (calendar.open || []).join(", "), dir: "ltr" });
    const form = el(
      "form",
      { class: "sla-form sla-calendar-form" },
      field("name", nameBox),
      field("timezone", zone),
      field("holidays", holidays),
      weekEditor(calendar.week || {}),
      field("closed", closed),
      field("open", open),
      el("button", { type: "submit", class: "sla-save", text: t("save") }),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = {
        timezone: zone.value.trim(),
        week: readWeek(form),
        holidays: holidays.value.trim().toUpperCase() || null,
        closed: dates(closed.value),
        open: dates(open.value),
      };
      // Hours for the extra open dates have no editor here: kept as they are.
      if (calendar.open_date_hours) body.open_date_hours = calendar.open_date_hours;
      save("/api/v1/calendars/", nameBox.value.trim(), body);
    });
    return form;
  }

  function numberInput(cls, value, min, max) {
    return host().el("input", {
      type: "number",
      class: cls,
      min: String(min),
      max: String(max),
      value: value === null || value === undefined ? "" : String(value),
      dir: "ltr",
    });
  }

  function policyForm(name, policy) {
    const el = host().el;
    const nameBox = nameInput(name);
    const priority = el("select", { class: "sla-priority" }, ...PRIORITIES.map((p) => el("option", { value: p, text: t(p) })));
    priority.value = policy.priority || "normal";
    const calendar = el(
      "select",
      { class: "sla-policy-calendar" },
      el("option", { value: "", text: t("none") }),
      ...page.calendars.map((c) => el("option", { value: c.name, text: c.name })),
    );
    calendar.value = policy.calendar || "";
    const business = el("input", { type: "checkbox", class: "sla-business", checked: policy.business_hours !== false ? true : undefined });
    const first = numberInput("sla-first", policy.first_response_minutes, 1, 525600);
    const next = numberInput("sla-next", policy.next_response_minutes, 1, 525600);
    const resolution = numberInput("sla-resolution", policy.resolution_minutes, 1, 525600);
    const tier = numberInput("sla-tier", policy.tier, 1, 3);
    const channel = el("input", { class: "sla-channel", value: policy.channel || "", dir: "ltr" });
    const minutes = (input) => (input.value === "" ? null : Number(input.value));
    const form = el(
      "form",
      { class: "sla-form sla-policy-form" },
      field("name", nameBox),
      field("priority", priority),
      field("calendar", calendar),
      field("business_hours", business),
      field("first_response", first),
      field("next_response", next),
      field("resolution", resolution),
      field("tier", tier),
      field("channel", channel),
      el("button", { type: "submit", class: "sla-save", text: t("save") }),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      save("/api/v1/sla-policies/", nameBox.value.trim(), {
        priority: priority.value,
        calendar: calendar.value || null,
        business_hours: business.checked && Boolean(calendar.value),
        first_response_minutes: minutes(first),
        next_response_minutes: minutes(next),
        resolution_minutes: minutes(resolution),
        tier: minutes(tier),
        channel: channel.value.trim() || null,
      });
    });
    return form;
  }

  async function save(prefix, name, body) {
    if (!NAME.test(name)) {
      host().notify(t("bad_name"));
      return;
    }
    try {
      await host().api("PUT", prefix + encodeURIComponent(name), body);
      host().notify(t("saved", { name }));
      const kind = prefix.includes("calendars") ? "calendar" : "policy";
      page.editing = { kind, name };
      await load();
    } catch (error) {
      host().notify(error.message || String(error));
    }
  }

  function listOf(kind, items) {
    const el = host().el;
    const list = el("ul", { class: `sla-list sla-${kind}-list` });
    for (const item of items) {
      const button = el("button", {
        type: "button",
        class: "sla-item",
        dataset: { name: item.name },
        "aria-pressed": String(Boolean(page.editing && page.editing.kind === kind && page.editing.name === item.name)),
        onclick: () => {
          page.editing = { kind, name: item.name };
          render();
        },
      }, item.name);
      list.append(el("li", null, button, item.stored ? null : el("small", { class: "muted", text: ` (${t("configured")})` })));
    }
    const fresh = el("button", {
      type: "button",
      class: `sla-new sla-new-${kind}`,
      text: t(kind === "calendar" ? "new_calendar" : "new_policy"),
      onclick: () => {
        page.editing = { kind, name: null };
        render();
      },
    });
    list.append(el("li", null, fresh));
    return list;
  }

  function editor() {
    const editing = page.editing;
    if (!editing) return null;
    if (editing.kind === "calendar") {
      const found = page.calendars.find((c) => c.name === editing.name);
      return calendarForm(editing.name, found ? found.calendar : { week: {} });
    }
    const found = page.policies.find((p) => p.name === editing.name);
    return policyForm(editing.name, found ? found.policy : {});
  }

  function render() {
    const root = section();
    if (!root || !host()) return;
    root.textContent = "";
    if (!page.shown) return;
    const el = host().el;
    root.append(
      el(
        "div",
        { class: "sla-columns" },
        el(
          "nav",
          { class: "sla-lists" },
          el("h2", { text: t("calendars") }),
          listOf("calendar", page.calendars),
          el("h2", { text: t("policies") }),
          listOf("policy", page.policies),
        ),
        el("div", { class: "sla-editor" }, editor()),
      ),
    );
  }

  async function load() {
    try {
      const [calendars, policies] = await Promise.all([
        host().api("GET", "/api/v1/calendars"),
        host().api("GET", "/api/v1/sla-policies"),
      ]);
      page.calendars = calendars.calendars;
      page.policies = policies.policies;
    } catch (error) {
      host().notify(error.message || String(error));
    }
    render();
  }

  function translateTab() {
    for (const node of document.querySelectorAll("[data-sla-i18n]")) node.textContent = t(node.dataset.slaI18n);
  }

  document.addEventListener("pasokh:page", (event) => {
    const admin = isAdmin();
    const tab = document.querySelector('.page-tab[data-page="service"]');
    if (tab) tab.hidden = !admin;
    translateTab();
    page.shown = admin && event.detail === "service";
    if (section()) section().hidden = !page.shown;
    if (page.shown) load();
    else render();
  });
  document.addEventListener("pasokh:language", () => {
    translateTab();
    render();
  });
})();
