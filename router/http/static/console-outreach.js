// The console's Outreach page: proactive messages per template and channel
// (GET /api/v1/outbound/messages, admins only; docs/outreach.md). Kept apart from
// console.js: it adds its own page tab and section and follows the console's language
// (the <html lang> console.js sets). Every value is written with textContent.
"use strict";

(() => {
  const STATUSES = ["scheduled", "sent", "delivered", "failed", "skipped", "cancelled", "replied", "opted_out"];
  const I18N = {
    en: {
      page: "Outreach",
      status_any: "any status",
      template: "Template",
      channel: "Channel",
      show: "Show",
      counts: "Per template and channel",
      messages: "Messages",
      skipped_why: "skipped (why)",
      none: "No outreach messages yet.",
      forbidden: "Only admins see outreach.",
      failed: "Could not load: {message}",
      id: "#",
      status: "Status",
      send_at: "Send at",
      customer: "Customer",
      scheduled: "scheduled",
      sent: "sent",
      delivered: "delivered",
      failed_status: "failed",
      skipped: "skipped",
      cancelled: "cancelled",
      replied: "replied",
      opted_out: "opted out since",
    },
    fa: {
      page: "اطلاع‌رسانی",
      status_any: "همهٔ وضعیت‌ها",
      template: "قالب",
      channel: "کانال",
      show: "نمایش",
      counts: "به تفکیک قالب و کانال",
      messages: "پیام‌ها",
      skipped_why: "فرستاده‌نشده (چرا)",
      none: "هنوز پیام اطلاع‌رسانی‌ای نیست.",
      forbidden: "فقط مدیران اطلاع‌رسانی را می‌بینند.",
      failed: "بارگذاری نشد: {message}",
      id: "#",
      status: "وضعیت",
      send_at: "زمان ارسال",
      customer: "مشتری",
      scheduled: "زمان‌بندی‌شده",
      sent: "فرستاده",
      delivered: "رسیده",
      failed_status: "ناموفق",
      skipped: "فرستاده‌نشده",
      cancelled: "لغوشده",
      replied: "پاسخ‌داده",
      opted_out: "انصراف پس از آن",
    },
    ar: {
      page: "التواصل الاستباقي",
      status_any: "كل الحالات",
      template: "القالب",
      channel: "القناة",
      show: "عرض",
      counts: "حسب القالب والقناة",
      messages: "الرسائل",
      skipped_why: "لم تُرسل (السبب)",
      none: "لا رسائل بعد.",
      forbidden: "المشرفون فقط يرون هذه الصفحة.",
      failed: "تعذّر التحميل: {message}",
      id: "#",
      status: "الحالة",
      send_at: "وقت الإرسال",
      customer: "العميل",
      scheduled: "مجدولة",
      sent: "مُرسلة",
      delivered: "وصلت",
      failed_status: "فشلت",
      skipped: "لم تُرسل",
      cancelled: "أُلغيت",
      replied: "رُدّ عليها",
      opted_out: "ألغوا الاشتراك بعدها",
    },
  };

  const language = () => (I18N[document.documentElement.lang] ? document.documentElement.lang : "en");
  const t = (key, values) => {
    const text = I18N[language()][key] || I18N.en[key] || key;
    return text.replace(/\{(\w+)\}/g, (_, name) => String((values || {})[name] ?? ""));
  };
  const statusLabel = (status) => t(status === "failed" ? "failed_status" : status);
  const number = (value) => new Intl.NumberFormat(language()).format(value);

  function el(tag, text, attributes) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    return node;
  }

  function translate() {
    for (const node of document.querySelectorAll("[data-outreach-i18n]")) {
      node.textContent = t(node.dataset.outreachI18n);
    }
    const select = document.getElementById("outreach-status");
    if (select) {
      for (const option of select.options) {
        option.textContent = option.value ? statusLabel(option.value) : t("status_any");
      }
    }
  }

  function show(visible) {
    const section = document.getElementById("outreach");
    section.hidden = !visible;
    if (!visible) return;
    document.querySelector("main.panes").hidden = true;
    const reports = document.getElementById("reports");
    if (reports) reports.hidden = true;
    for (const tab of document.querySelectorAll(".page-tab")) {
      tab.setAttribute("aria-selected", String(tab.dataset.page === "outreach"));
    }
    load();
  }

  async function load() {
    const note = document.getElementById("outreach-note");
    const params = new URLSearchParams();
    const status = document.getElementById("outreach-status").value;
    const template = document.getElementById("outreach-template").value.trim();
    if (status) params.set("status", status);
    if (template) params.set("template", template);
    note.textContent = "";
    let response;
    try {
      response = await fetch(`/api/v1/outbound/messages?${params}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
    } catch (error) {
      note.textContent = t("failed", { message: error.message });
      return;
    }
    if (response.status === 403) {
      note.textContent = t("forbidden");
      return;
    }
    if (!response.ok) {
      note.textContent = t("failed", { message: response.statusText });
      return;
    }
    const data = await response.json();
    renderCounts(data.counts);
    renderMessages(data.messages);
    if (!data.messages.length) note.textContent = t("none");
  }

  function renderCounts(groups) {
    const head = document.getElementById("outreach-counts-head");
    const body = document.getElementById("outreach-counts");
    head.replaceChildren(
      el("th", t("template")),
      el("th", t("channel")),
      ...STATUSES.map((status) => el("th", statusLabel(status))),
      el("th", t("skipped_why")),
    );
    body.replaceChildren(
      ...groups.map((group) => {
        const row = el("tr", null, { "data-template": group.template, "data-channel": group.channel });
        row.append(el("th", group.template), el("td", group.channel));
        for (const status of STATUSES) {
          row.append(el("td", number(group.counts[status] || 0), { "data-count": status }));
        }
        const reasons = Object.entries(group.counts)
          .filter(([key]) => key.startsWith("skipped:"))
          .map(([key, count]) => `${key.slice(8)}: ${number(count)}`);
        row.append(el("td", reasons.join("، "), { "data-count": "reasons" }));
        return row;
      }),
    );
  }

  function renderMessages(messages) {
    const body = document.getElementById("outreach-rows");
    body.replaceChildren(
      ...messages.map((message) => {
        const row = el("tr", null, { "data-id": String(message.id), "data-status": message.status });
        const status = message.reason
          ? `${statusLabel(message.status)} (${message.reason})`
          : statusLabel(message.status);
        row.append(
          el("td", number(message.id)),
          el("td", message.template),
          el("td", message.channel || "—"),
          el("td", status),
          el("td", new Date(message.send_at).toLocaleString(language())),
          el("td", number(message.customer_id)),
        );
        return row;
      }),
    );
  }

  document.addEventListener("DOMContentLoaded", () => {
    // After console.js's own listeners (this script loads after it), so this page's
    // tab wins over the console's two-page switch; the other tabs hide this page.
    for (const tab of document.querySelectorAll(".page-tab")) {
      tab.addEventListener("click", () => show(tab.dataset.page === "outreach"));
    }
    document.getElementById("outreach-form").addEventListener("submit", (event) => {
      event.preventDefault();
      load();
    });
    translate();
    new MutationObserver(() => {
      translate();
      if (!document.getElementById("outreach").hidden) load();
    }).observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });
  });
})();
