// Pasokh agent console: the admin pages (agents, canned responses, tags, channels).
// Loaded after console.js; uses only window.PasokhConsole. Every page reads and writes
// through the JSON API (admins only there too: the server decides, this file only
// hides what would be refused). Text from the server goes in with textContent (el()).
"use strict";

(function () {
  const C = window.PasokhConsole;
  if (!C) return;
  const { api, apiAll, el, t, num, when, notify, failed, isolated } = C;
  const LANGS = ["fa", "ar", "en"];
  const LANGUAGE_NAMES = { fa: "فارسی", ar: "العربية", en: "English" };

  C.addStrings({
    en: {
      page_agents: "Agents",
      page_canned: "Canned responses",
      page_tags: "Tags",
      page_channels: "Channels",
      admin_name: "Name",
      admin_email: "Email",
      admin_tier: "Tier",
      admin_capacity: "Capacity",
      admin_admin: "Admin",
      admin_presence: "Status",
      admin_open: "Open threads",
      admin_active: "Active",
      admin_inactive: "Deactivated",
      admin_deactivate: "Deactivate",
      admin_reactivate: "Reactivate",
      admin_deactivate_confirm: "Deactivate {name}? Their sessions end and their open threads return to the queue.",
      admin_add_agent: "Add an agent",
      admin_password_optional: "Initial password (empty: an invitation link)",
      admin_add: "Add",
      admin_added: "Agent added.",
      admin_invitation: "Send this invitation link to {name} (valid 7 days, works once):",
      admin_invited: "Invited (no password yet)",
      admin_reissue: "New invitation link",
      admin_withdraw: "Withdraw invitation",
      admin_withdraw_confirm: "Withdraw the invitation of {name}? Their link stops working for good; you can issue a new one.",
      admin_withdrawn: "Invitation withdrawn: the link no longer works.",
      admin_saved: "Saved.",
      admin_language: "Language",
      admin_title: "Title",
      admin_text: "Text",
      admin_delete: "Delete",
      admin_rename: "Rename",
      admin_delete_confirm: "Delete «{name}»?",
      admin_canned_hint: "{customer_name} and {agent_name} are filled in when inserted.",
      admin_all_languages: "all languages",
      admin_tag_name: "Tag",
      admin_nothing: "Nothing here yet.",
      channel_summary: "Runs as",
      channel_missing: "Setup still missing",
      fact_origins: "Web chat origins",
      fact_origins_any: "same origin (no list configured)",
      fact_address: "Support address",
      fact_domains: "Email domains",
      fact_relay: "Outgoing relay",
      fact_relay_answers: "Relay answers",
      fact_relay_error: "Relay error",
      fact_mode: "Mode",
      fact_connected: "Connected",
      fact_bot: "Bot",
      fact_probe_failed: "Status check failed",
      fact_yes: "yes",
      fact_no: "no",
      fact_none: "none",
      mode_webhook: "webhook",
      mode_polling: "polling",
      outbox_title: "Outbox",
      outbox_pending: "Waiting to be sent",
      outbox_delivered: "Delivered",
      outbox_dead: "Given up (dead letters)",
      dead_letters: "Dead letters",
      dead_thread: "Thread",
      dead_to: "To",
      dead_attempts: "Attempts",
      dead_error: "Last error",
      dead_at: "Written",
      dead_retry: "Retry",
      dead_retried: "Sent back to the outbox.",
    },
    fa: {
      page_agents: "پشتیبان‌ها",
      page_canned: "پاسخ‌های آماده",
      page_tags: "برچسب‌ها",
      page_channels: "کانال‌ها",
      admin_name: "نام",
      admin_email: "ایمیل",
      admin_tier: "سطح",
      admin_capacity: "ظرفیت",
      admin_admin: "مدیر",
      admin_presence: "وضعیت",
      admin_open: "گفت‌وگوهای باز",
      admin_active: "فعال",
      admin_inactive: "غیرفعال",
      admin_deactivate: "غیرفعال کردن",
      admin_reactivate: "فعال کردن دوباره",
      admin_deactivate_confirm: "{name} غیرفعال شود؟ نشست‌هایش بسته می‌شود و گفت‌وگوهای بازش به صف برمی‌گردد.",
      admin_add_agent: "افزودن پشتیبان",
      admin_password_optional: "گذرواژهٔ آغازین (خالی: پیوند دعوت)",
      admin_add: "افزودن",
      admin_added: "پشتیبان افزوده شد.",
      admin_invitation: "این پیوند دعوت را برای {name} بفرستید (۷ روز اعتبار، یک‌بار مصرف):",
      admin_invited: "دعوت‌شده (هنوز گذرواژه ندارد)",
      admin_reissue: "پیوند دعوت تازه",
      admin_withdraw: "پس گرفتن دعوت",
      admin_withdraw_confirm: "دعوت {name} پس گرفته شود؟ پیوندش برای همیشه از کار می‌افتد؛ می‌توانید پیوند تازه‌ای بسازید.",
      admin_withdrawn: "دعوت پس گرفته شد: پیوندش دیگر کار نمی‌کند.",
      admin_saved: "ذخیره شد.",
      admin_language: "زبان",
      admin_title: "عنوان",
      admin_text: "متن",
      admin_delete: "حذف",
      admin_rename: "تغییر نام",
      admin_delete_confirm: "«{name}» حذف شود؟",
      admin_canned_hint: "{customer_name} و {agent_name} هنگام درج پر می‌شوند.",
      admin_all_languages: "همهٔ زبان‌ها",
      admin_tag_name: "برچسب",
      admin_nothing: "هنوز چیزی نیست.",
      channel_summary: "اجرا",
      channel_missing: "پیکربندی ناقص",
      fact_origins: "دامنه‌های مجاز گفت‌وگوی وب",
      fact_origins_any: "همان دامنه (فهرستی تنظیم نشده)",
      fact_address: "نشانی پشتیبانی",
      fact_domains: "دامنه‌های ایمیل",
      fact_relay: "رله‌ی خروجی",
      fact_relay_answers: "رله پاسخ می‌دهد",
      fact_relay_error: "خطای رله",
      fact_mode: "روش",
      fact_connected: "متصل",
      fact_bot: "ربات",
      fact_probe_failed: "بررسی وضعیت ناموفق بود",
      fact_yes: "بله",
      fact_no: "خیر",
      fact_none: "هیچ",
      mode_webhook: "وب‌هوک",
      mode_polling: "پرس‌وجوی دوره‌ای",
      outbox_title: "صندوق خروجی",
      outbox_pending: "در انتظار ارسال",
      outbox_delivered: "رسیده",
      outbox_dead: "رهاشده (نامه‌های مرده)",
      dead_letters: "نامه‌های مرده",
      dead_thread: "گفت‌وگو",
      dead_to: "گیرنده",
      dead_attempts: "تلاش‌ها",
      dead_error: "آخرین خطا",
      dead_at: "نوشته‌شده",
      dead_retry: "تلاش دوباره",
      dead_retried: "به صندوق خروجی برگشت.",
    },
    ar: {
      page_agents: "الموظفون",
      page_canned: "الردود الجاهزة",
      page_tags: "الوسوم",
      page_channels: "القنوات",
      admin_name: "الاسم",
      admin_email: "البريد",
      admin_tier: "المستوى",
      admin_capacity: "السعة",
      admin_admin: "مدير",
      admin_presence: "الحالة",
      admin_open: "محادثات مفتوحة",
      admin_active: "نشط",
      admin_inactive: "معطّل",
      admin_deactivate: "تعطيل",
      admin_reactivate: "إعادة التفعيل",
      admin_deactivate_confirm: "تعطيل {name}؟ تنتهي جلساته وتعود محادثاته المفتوحة إلى القائمة.",
      admin_add_agent: "إضافة موظف",
      admin_password_optional: "كلمة مرور أولية (فارغة: رابط دعوة)",
      admin_add: "إضافة",
      admin_added: "أُضيف الموظف.",
      admin_invitation: "أرسل رابط الدعوة هذا إلى {name} (صالح ٧ أيام، لمرة واحدة):",
      admin_invited: "مدعوّ (بلا كلمة مرور بعد)",
      admin_reissue: "رابط دعوة جديد",
      admin_withdraw: "سحب الدعوة",
      admin_withdraw_confirm: "سحب دعوة {name}؟ يتوقف رابطه عن العمل نهائيًا؛ يمكنك إصدار رابط جديد.",
      admin_withdrawn: "سُحبت الدعوة: لم يعد الرابط يعمل.",
      admin_saved: "تم الحفظ.",
      admin_language: "اللغة",
      admin_title: "العنوان",
      admin_text: "النص",
      admin_delete: "حذف",
      admin_rename: "إعادة تسمية",
      admin_delete_confirm: "حذف «{name}»؟",
      admin_canned_hint: "يُملأ {customer_name} و{agent_name} عند الإدراج.",
      admin_all_languages: "كل اللغات",
      admin_tag_name: "الوسم",
      admin_nothing: "لا شيء هنا بعد.",
      channel_summary: "يعمل",
      channel_missing: "إعداد ناقص",
      fact_origins: "مصادر الدردشة المسموح بها",
      fact_origins_any: "المصدر نفسه (لا قائمة)",
      fact_address: "عنوان الدعم",
      fact_domains: "نطاقات البريد",
      fact_relay: "خادم الإرسال",
      fact_relay_answers: "خادم الإرسال يستجيب",
      fact_relay_error: "خطأ خادم الإرسال",
      fact_mode: "الوضع",
      fact_connected: "متصل",
      fact_bot: "الروبوت",
      fact_probe_failed: "تعذّر فحص الحالة",
      fact_yes: "نعم",
      fact_no: "لا",
      fact_none: "لا شيء",
      mode_webhook: "webhook",
      mode_polling: "استطلاع دوري",
      outbox_title: "صندوق الصادر",
      outbox_pending: "بانتظار الإرسال",
      outbox_delivered: "سُلّمت",
      outbox_dead: "متروكة (رسائل ميتة)",
      dead_letters: "الرسائل الميتة",
      dead_thread: "المحادثة",
      dead_to: "إلى",
      dead_attempts: "المحاولات",
      dead_error: "آخر خطأ",
      dead_at: "كُتبت",
      dead_retry: "إعادة المحاولة",
      dead_retried: "أُعيدت إلى صندوق الصادر.",
    },
  });

  const isAdmin = () => Boolean(C.state.agent && C.state.agent.is_admin);

  // A page: load() reads from the API into `data`; draw() puts it in the container; a
  // language change redraws without reading again.
  function page(load, draw) {
    let container = null;
    let data = null;
    const render = () => {
      if (!container || data === null) return;
      container.textContent = "";
      draw(container, data, reload);
    };
    async function reload() {
      try {
        data = await load();
      } catch (error) {
        failed(error);
        return;
      }
      render();
    }
    return {
      allowed: isAdmin,
      show(node) {
        container = node;
        data = null;
        reload();
      },
      render,
    };
  }

  function table(headers, rows) {
    return el(
      "table",
      { class: "admin-table" },
      el("thead", null, el("tr", null, ...headers.map((key) => el("th", { text: t(key) })))),
      el("tbody", null, ...rows),
    );
  }

  function section(titleKey, ...children) {
    return el("section", { class: "admin-card" }, el("h2", { text: t(titleKey) }), ...children);
  }

  function field(labelKey, input) {
    return el("label", { class: "admin-field" }, el("span", { text: t(labelKey) }), input);
  }

  // Preselected: the console's language now (the admin's), which is usually the team's.
  function languageSelect() {
    return el(
      "select",
      { name: "language" },
      ...LANGS.map((lang) => el("option", { value: lang, selected: lang === C.state.lang, text: LANGUAGE_NAMES[lang] })),
    );
  }

  function tierSelect(value) {
    return el(
      "select",
      { name: "tier" },
      ...[1, 2, 3].map((tier) =>
        el("option", { value: String(tier), selected: tier === value, text: t("tier", { n: num(tier) }) }),
      ),
    );
  }

  // ---- agents --------------------------------------------------------------

  async function patchAgent(agent, change, reload) {
    try {
      await api("PATCH", `/api/v1/agents/${encodeURIComponent(agent.id)}`, change);
      notify(t("admin_saved"));
    } catch (error) {
      failed(error);
    }
    reload();
  }

  // A leaked link ends with either button: a new link (the old one stops working for
  // good) or none. The server refuses both once the agent has a password.
  function invitationButtons(agent, reload, shown) {
    const path = `/api/v1/agents/${encodeURIComponent(agent.id)}/invitation`;
    const reissue = el("button", {
      type: "button",
      class: "secondary reissue-invitation",
      disabled: !agent.active,
      text: t("admin_reissue"),
      onclick: async () => {
        try {
          const data = await api("POST", path);
          shown.invitation = { agentId: agent.id, name: data.agent.name, url: data.invitation_url };
        } catch (error) {
          failed(error);
        }
        reload();
      },
    });
    const withdraw = el("button", {
      type: "button",
      class: "secondary withdraw-invitation",
      text: t("admin_withdraw"),
      onclick: async () => {
        if (!window.confirm(t("admin_withdraw_confirm", { name: agent.name }))) return;
        try {
          await api("DELETE", path);
          notify(t("admin_withdrawn"));
          if (shown.invitation && shown.invitation.agentId === agent.id) shown.invitation = null;
        } catch (error) {
          failed(error);
        }
        reload();
      },
    });
    return [el("span", { class: "muted invited", text: t("admin_invited") }), " ", reissue, " ", withdraw];
  }

  function agentRow(agent, reload, shown) {
    const self = C.state.agent && agent.id === C.state.agent.id;
    const tier = tierSelect(agent.tier);
    tier.addEventListener("change", () => patchAgent(agent, { tier: Number(tier.value) }, reload));
    const capacity = el("input", { type: "number", min: "1", max: "100", value: String(agent.max_concurrent) });
    capacity.addEventListener("change", () =>
      patchAgent(agent, { max_concurrent: Number(capacity.value) }, reload),
    );
    const adminBox = el("input", { type: "checkbox", checked: agent.is_admin, disabled: self });
    adminBox.addEventListener("change", () => patchAgent(agent, { admin: adminBox.checked }, reload));
    const toggle = el("button", {
      type: "button",
      class: agent.active ? "secondary deactivate" : "reactivate",
      disabled: self,
      text: t(agent.active ? "admin_deactivate" : "admin_reactivate"),
      onclick: () => {
        if (agent.active && !window.confirm(t("admin_deactivate_confirm", { name: agent.name }))) return;
        patchAgent(agent, { active: !agent.active }, reload);
      },
    });
    return el(
      "tr",
      { dataset: { agentId: String(agent.id) }, class: agent.active ? "" : "inactive" },
      el("td", null, isolated(agent.name)),
      el("td", null, isolated(agent.email)),
      el("td", null, tier),
      el("td", null, capacity),
      el("td", null, adminBox),
      el("td", { text: agent.active ? t(`presence_${agent.presence}`) : t("admin_inactive") }),
      el("td", { text: num(agent.open_threads) }),
      el("td", null, toggle, ...(agent.invited ? [" ", ...invitationButtons(agent, reload, shown)] : [])),
    );
  }

  function addAgentForm(reload, shown) {
    const email = el("input", { type: "email", name: "email", required: true, maxlength: "320" });
    const name = el("input", { type: "text", name: "name", required: true, maxlength: "200" });
    const tier = tierSelect(1);
    // The new agent's console opens in this language (they may change it there): an
    // Arabic-speaking agent invited from a Persian console is not handed a Persian one.
    const language = languageSelect();
    const adminBox = el("input", { type: "checkbox", name: "admin" });
    const password = el("input", { type: "password", name: "password", minlength: "8", autocomplete: "new-password" });
    const form = el(
      "form",
      { class: "admin-form", id: "add-agent-form" },
      field("admin_email", email),
      field("admin_name", name),
      field("admin_tier", tier),
      field("admin_language", language),
      el("label", { class: "inline" }, adminBox, el("span", { text: t("admin_admin") })),
      field("admin_password_optional", password),
      el("button", { type: "submit", text: t("admin_add") }),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { email: email.value.trim(), name: name.value.trim(), tier: Number(tier.value), admin: adminBox.checked, language: language.value };
      if (password.value) body.password = password.value;
      try {
        const data = await api("POST", "/api/v1/agents", body);
        notify(t("admin_added"));
        shown.invitation = data.invitation_url
          ? { agentId: data.agent.id, name: data.agent.name, url: data.invitation_url }
          : null;
      } catch (error) {
        failed(error);
        return;
      }
      reload();
    });
    return form;
  }

  const agentsShown = { invitation: null };
  C.addPage(
    "agents",
    page(
      () => apiAll("/api/v1/agents", "agents"),
      (node, agents, reload) => {
        const rows = agents.map((agent) => agentRow(agent, reload, agentsShown));
        node.append(
          section(
            "page_agents",
            table(
              ["admin_name", "admin_email", "admin_tier", "admin_capacity", "admin_admin", "admin_presence", "admin_open", "admin_active"],
              rows,
            ),
          ),
          section(
            "admin_add_agent",
            addAgentForm(reload, agentsShown),
            agentsShown.invitation
              ? el(
                  "p",
                  { class: "invitation" },
                  ...[t("admin_invitation", { name: "\u2068" + agentsShown.invitation.name + "\u2069" }), " "],
                  el("input", { id: "invitation-url", readonly: true, value: agentsShown.invitation.url, dir: "ltr" }),
                )
              : null,
          ),
        );
      },
    ),
  );

  // ---- canned responses ----------------------------------------------------

  C.addPage(
    "canned",
    page(
      () => apiAll("/api/v1/canned", "canned"),
      (node, canned, reload) => {
        const rows = canned.map((item) =>
          el(
            "tr",
            { dataset: { cannedId: String(item.id) } },
            el("td", { text: LANGUAGE_NAMES[item.language] || item.language }),
            el("td", null, isolated(item.title)),
            el("td", { class: "canned-text", text: item.text }),
            el(
              "td",
              null,
              el("button", {
                type: "button",
                class: "secondary",
                text: t("admin_delete"),
                onclick: async () => {
                  if (!window.confirm(t("admin_delete_confirm", { name: item.title }))) return;
                  try {
                    await api("DELETE", `/api/v1/canned/${encodeURIComponent(item.id)}`);
                  } catch (error) {
                    failed(error);
                  }
                  reload();
                },
              }),
            ),
          ),
        );
        const language = languageSelect();
        const title = el("input", { type: "text", name: "title", required: true, maxlength: "200" });
        const text = el("textarea", { name: "text", required: true, rows: "3", maxlength: "10000" });
        const form = el(
          "form",
          { class: "admin-form", id: "add-canned-form" },
          field("admin_language", language),
          field("admin_title", title),
          field("admin_text", text),
          el("p", { class: "muted", text: t("admin_canned_hint") }),
          el("button", { type: "submit", text: t("admin_add") }),
        );
        form.addEventListener("submit", async (event) => {
          event.preventDefault();
          try {
            await api("POST", "/api/v1/canned", { language: language.value, title: title.value, text: text.value });
            notify(t("admin_saved"));
          } catch (error) {
            failed(error);
            return;
          }
          reload();
        });
        node.append(
          section(
            "page_canned",
            rows.length
              ? table(["admin_language", "admin_title", "admin_text", "admin_delete"], rows)
              : el("p", { class: "muted", text: t("admin_nothing") }),
          ),
          section("admin_add", form),
        );
      },
    ),
  );

  // ---- tags ----------------------------------------------------------------

  C.addPage(
    "tags",
    page(
      async () => (await api("GET", "/api/v1/tags")).tags || [],
      (node, tags, reload) => {
        const rows = tags.map((tag) => {
          const name = el("input", { type: "text", value: tag.name, maxlength: "64", "aria-label": t("admin_tag_name") });
          return el(
            "tr",
            { dataset: { tagId: String(tag.id) } },
            el("td", null, name),
            el(
              "td",
              null,
              el("button", {
                type: "button",
                text: t("admin_rename"),
                onclick: async () => {
                  try {
                    await api("PATCH", `/api/v1/tags/${encodeURIComponent(tag.id)}`, { name: name.value });
                    notify(t("admin_saved"));
                  } catch (error) {
                    failed(error);
                  }
                  reload();
                },
              }),
              " ",
              el("button", {
                type: "button",
                class: "secondary",
                text: t("admin_delete"),
                onclick: async () => {
                  if (!window.confirm(t("admin_delete_confirm", { name: tag.name }))) return;
                  try {
                    await api("DELETE", `/api/v1/tags/${encodeURIComponent(tag.id)}`);
                  } catch (error) {
                    failed(error);
                  }
                  reload();
                },
              }),
            ),
          );
        });
        const name = el("input", { type: "text", name: "name", required: true, maxlength: "64" });
        const form = el(
          "form",
          { class: "admin-form inline-form", id: "add-tag-form" },
          field("admin_tag_name", name),
          el("button", { type: "submit", text: t("admin_add") }),
        );
        form.addEventListener("submit", async (event) => {
          event.preventDefault();
          try {
            await api("POST", "/api/v1/tags", { name: name.value });
          } catch (error) {
            failed(error);
            return;
          }
          reload();
        });
        node.append(
          section(
            "page_tags",
            rows.length ? table(["admin_tag_name", "admin_delete"], rows) : el("p", { class: "muted", text: t("admin_nothing") }),
            form,
          ),
        );
      },
    ),
  );

  // ---- channels ------------------------------------------------------------

  function factValue(key, value) {
    if (typeof value === "boolean") return t(value ? "fact_yes" : "fact_no");
    if (Array.isArray(value)) {
      if (!value.length) return t(key === "origins" ? "fact_origins_any" : "fact_none");
      return value.map((item) => `\u2068${item}\u2069`).join("، ");
    }
    if (key === "mode" && (value === "webhook" || value === "polling")) return t(`mode_${value}`);
    if (value === "") return t("fact_none");
    return typeof value === "number" ? num(value) : `\u2068${value}\u2069`;
  }

  function channelCard(channel) {
    const facts = Object.entries(channel.facts || {});
    return el(
      "section",
      { class: "admin-card channel-card", dataset: { channel: channel.name } },
      el("h2", { text: C.channelName(channel.name) }),
      el(
        "dl",
        { class: "facts" },
        el("dt", { text: t("channel_summary") }),
        el("dd", { dir: "ltr", text: channel.summary }),
        ...facts.flatMap(([key, value]) => [
          el("dt", { text: t(`fact_${key}`) }),
          el("dd", { class: value === false ? "fact-bad" : "", dataset: { fact: key }, text: factValue(key, value) }),
        ]),
      ),
      channel.missing.length
        ? el(
            "div",
            { class: "missing" },
            el("strong", { text: t("channel_missing") }),
            ...channel.missing.map((line) => el("p", { dir: "ltr", text: line })),
          )
        : null,
    );
  }

  C.addPage(
    "channels",
    page(
      () => api("GET", "/api/v1/channels/status"),
      (node, report, reload) => {
        const outbox = report.outbox || {};
        const dead = (report.dead_letters || []).map((row) =>
          el(
            "tr",
            { dataset: { outboxId: String(row.id) } },
            el(
              "td",
              null,
              el("button", {
                type: "button",
                class: "link",
                text: t("thread", { id: num(row.thread_id) }),
                onclick: () => {
                  document.querySelector('.page-tab[data-page="threads"]').click();
                  C.openThread(row.thread_id);
                },
              }),
            ),
            el("td", null, C.channelName(row.channel), " ", isolated(row.address)),
            el("td", { text: num(row.attempts) }),
            el("td", null, isolated(row.last_error || "—")),
            el("td", null, el("time", { datetime: row.created_at, text: when(row.created_at) })),
            el(
              "td",
              null,
              el("button", {
                type: "button",
                class: "retry",
                text: t("dead_retry"),
                onclick: async () => {
                  try {
                    await api("POST", `/api/v1/outbox/${encodeURIComponent(row.id)}/retry`);
                    notify(t("dead_retried"));
                  } catch (error) {
                    failed(error);
                  }
                  reload();
                },
              }),
            ),
          ),
        );
        node.append(
          el("div", { class: "channel-cards" }, ...(report.channels || []).map(channelCard)),
          section(
            "outbox_title",
            el(
              "dl",
              { class: "facts" },
              ...["pending", "delivered", "dead"].flatMap((state) => [
                el("dt", { text: t(`outbox_${state}`) }),
                el("dd", { dataset: { outbox: state }, text: num(outbox[state] || 0) }),
              ]),
            ),
          ),
          section(
            "dead_letters",
            dead.length
              ? table(["dead_thread", "dead_to", "dead_attempts", "dead_error", "dead_at", "dead_retry"], dead)
              : el("p", { class: "muted", text: t("admin_nothing") }),
          ),
        );
      },
    ),
  );
})();
