// Pasokh agent console: the knowledge base editor and the gaps report (admins).
// Loaded after console.js; uses only window.PasokhConsole and the JSON API
// (/api/v1/knowledge/..., docs/console.md). An entry is edited per language (fa, ar,
// en: one phrasing a line, right-to-left for fa and ar); what the editor does not show
// (suggestions, `not`, other languages) is kept as it was. Every text from the server
// goes in with textContent (el()).
"use strict";

(function () {
  const C = window.PasokhConsole;
  if (!C) return;
  const { api, el, t, num, when, notify, failed } = C;
  const LANGS = ["fa", "ar", "en"];
  const LANGUAGE_NAMES = { fa: "فارسی", ar: "العربية", en: "English" };
  const dirOf = (lang) => (lang === "en" ? "ltr" : "rtl");

  C.addStrings({
    en: {
      page_knowledge: "Knowledge base",
      page_gaps: "Gaps",
      kb_search: "Search",
      kb_new: "New entry",
      kb_export: "Export",
      kb_import: "Import a KB file",
      kb_imported: "Imported: {created} new, {updated} changed, {deleted} deleted.",
      kb_import_confirm: "Replace the whole knowledge base with this file?",
      kb_id: "Id",
      kb_question: "Question",
      kb_questions: "Questions (one a line)",
      kb_answer: "Answer",
      kb_tags: "Tags (comma-separated)",
      kb_handoff: "Hand off to a person after answering",
      kb_version: "Version",
      kb_save: "Save",
      kb_saved: "Saved: version {version}.",
      kb_delete: "Delete",
      kb_delete_confirm: "Delete the entry «{id}»? Its history stays.",
      kb_deleted: "Deleted.",
      kb_changed:
        "Someone else changed this entry (now version {version}). Reload to see their change (your unsaved text is dropped), or keep editing: saving then replaces their version.",
      kb_changed_gone: "Someone else deleted this entry. Reload to go back to the list, or keep editing to copy your text.",
      kb_reload: "Reload",
      kb_keep: "Keep editing",
      kb_invalid: "Not saved: {message}",
      kb_history: "History",
      kb_change: "Change",
      kb_by: "By",
      kb_at: "When",
      kb_restore: "Restore",
      kb_restored: "Version {version} restored.",
      kb_none: "No entries match.",
      kb_back: "All entries",
      gaps_since: "Since",
      gaps_span_hours: "Last {n} hours",
      gaps_span_days: "Last {n} days",
      gaps_total: "{count} questions the bot could not serve (previous period: {previous})",
      gaps_topic: "Topic",
      gaps_count: "Count",
      gaps_trend: "Trend",
      gaps_examples: "Example questions",
      gaps_nearest: "Nearest entry",
      gaps_add: "Add as phrasings to entry…",
      gaps_pick: "Entry",
      gaps_open: "Open in the editor",
      gaps_draft: "Draft new entry",
      gaps_none: "No gaps in this period.",
      gaps_by_meaning: "Questions are grouped by meaning, across languages (the semantic model).",
      trend_new: "new",
      trend_up: "up",
      trend_down: "down",
      trend_same: "same",
    },
    fa: {
      page_knowledge: "پایگاه دانش",
      page_gaps: "پرسش‌های بی‌پاسخ",
      kb_search: "جستجو",
      kb_new: "مدخل تازه",
      kb_export: "خروجی گرفتن",
      kb_import: "بارگذاری فایل پایگاه دانش",
      kb_imported: "بارگذاری شد: {created} تازه، {updated} تغییرکرده، {deleted} حذف‌شده.",
      kb_import_confirm: "همهٔ پایگاه دانش با این فایل جایگزین شود؟",
      kb_id: "شناسه",
      kb_question: "پرسش",
      kb_questions: "پرسش‌ها (هر خط یکی)",
      kb_answer: "پاسخ",
      kb_tags: "برچسب‌ها (با ویرگول جدا)",
      kb_handoff: "پس از پاسخ به یک نفر سپرده شود",
      kb_version: "نسخه",
      kb_save: "ذخیره",
      kb_saved: "ذخیره شد: نسخهٔ {version}.",
      kb_delete: "حذف",
      kb_delete_confirm: "مدخل «{id}» حذف شود؟ تاریخچه‌اش می‌ماند.",
      kb_deleted: "حذف شد.",
      kb_changed:
        "کس دیگری این مدخل را تغییر داد (اکنون نسخهٔ {version}). با بارگذاری دوباره تغییر او را می‌بینید (متن ذخیره‌نشدهٔ شما کنار گذاشته می‌شود)، یا به ویرایش ادامه دهید: ذخیره کردن نسخهٔ او را جایگزین می‌کند.",
      kb_changed_gone: "کس دیگری این مدخل را حذف کرد. با بارگذاری دوباره به فهرست برمی‌گردید، یا به ویرایش ادامه دهید تا متنتان را بردارید.",
      kb_reload: "بارگذاری دوباره",
      kb_keep: "ادامهٔ ویرایش",
      kb_invalid: "ذخیره نشد: {message}",
      kb_history: "تاریخچه",
      kb_change: "تغییر",
      kb_by: "به دست",
      kb_at: "زمان",
      kb_restore: "بازگرداندن",
      kb_restored: "نسخهٔ {version} بازگردانده شد.",
      kb_none: "مدخلی پیدا نشد.",
      kb_back: "همهٔ مدخل‌ها",
      gaps_since: "از",
      gaps_span_hours: "{n} ساعت گذشته",
      gaps_span_days: "{n} روز گذشته",
      gaps_total: "{count} پرسش که ربات نتوانست پاسخ دهد (دورهٔ پیش: {previous})",
      gaps_topic: "موضوع",
      gaps_count: "تعداد",
      gaps_trend: "روند",
      gaps_examples: "نمونهٔ پرسش‌ها",
      gaps_nearest: "نزدیک‌ترین مدخل",
      gaps_add: "افزودن به پرسش‌های یک مدخل…",
      gaps_pick: "مدخل",
      gaps_open: "باز کردن در ویرایشگر",
      gaps_draft: "پیش‌نویس مدخل تازه",
      gaps_none: "در این دوره پرسش بی‌پاسخی نبود.",
      gaps_by_meaning: "پرسش‌ها بر پایهٔ معنا و در همهٔ زبان‌ها دسته‌بندی شده‌اند (مدل معنایی).",
      trend_new: "تازه",
      trend_up: "رو به افزایش",
      trend_down: "رو به کاهش",
      trend_same: "بی‌تغییر",
    },
    ar: {
      page_knowledge: "قاعدة المعرفة",
      page_gaps: "أسئلة بلا جواب",
      kb_search: "بحث",
      kb_new: "مدخل جديد",
      kb_export: "تصدير",
      kb_import: "استيراد ملف قاعدة المعرفة",
      kb_imported: "تم الاستيراد: {created} جديد، {updated} معدّل، {deleted} محذوف.",
      kb_import_confirm: "استبدال قاعدة المعرفة كلها بهذا الملف؟",
      kb_id: "المعرّف",
      kb_question: "السؤال",
      kb_questions: "الأسئلة (سؤال في كل سطر)",
      kb_answer: "الجواب",
      kb_tags: "الوسوم (مفصولة بفواصل)",
      kb_handoff: "التحويل إلى موظف بعد الجواب",
      kb_version: "الإصدار",
      kb_save: "حفظ",
      kb_saved: "تم الحفظ: الإصدار {version}.",
      kb_delete: "حذف",
      kb_delete_confirm: "حذف المدخل «{id}»؟ يبقى سجلّه.",
      kb_deleted: "تم الحذف.",
      kb_changed:
        "غيّر شخص آخر هذا المدخل (الإصدار الآن {version}). أعد التحميل لترى تغييره (يُتجاهل نصك غير المحفوظ)، أو تابع التعديل: الحفظ عندها يستبدل إصداره.",
      kb_changed_gone: "حذف شخص آخر هذا المدخل. أعد التحميل للعودة إلى القائمة، أو تابع التعديل لتنسخ نصك.",
      kb_reload: "إعادة التحميل",
      kb_keep: "متابعة التعديل",
      kb_invalid: "لم يُحفظ: {message}",
      kb_history: "السجل",
      kb_change: "التغيير",
      kb_by: "بواسطة",
      kb_at: "الوقت",
      kb_restore: "استعادة",
      kb_restored: "استُعيد الإصدار {version}.",
      kb_none: "لا مداخل مطابقة.",
      kb_back: "كل المداخل",
      gaps_since: "منذ",
      gaps_span_hours: "آخر {n} ساعة",
      gaps_span_days: "آخر {n} يومًا",
      gaps_total: "{count} سؤالًا لم يجب عنها البوت (الفترة السابقة: {previous})",
      gaps_topic: "الموضوع",
      gaps_count: "العدد",
      gaps_trend: "الاتجاه",
      gaps_examples: "أمثلة الأسئلة",
      gaps_nearest: "أقرب مدخل",
      gaps_add: "إضافة كصيغ لمدخل…",
      gaps_pick: "المدخل",
      gaps_open: "فتح في المحرر",
      gaps_draft: "مسودة مدخل جديد",
      gaps_none: "لا أسئلة بلا جواب في هذه الفترة.",
      gaps_by_meaning: "الأسئلة مجمّعة حسب المعنى عبر اللغات (النموذج الدلالي).",
      trend_new: "جديد",
      trend_up: "في ازدياد",
      trend_down: "في تراجع",
      trend_same: "ثابت",
    },
  });

  const isAdmin = () => Boolean(C.state.agent && C.state.agent.is_admin);
  const ENTRIES = "/api/v1/knowledge/entries";
  const entryPath = (id) => `${ENTRIES}/${encodeURIComponent(id)}`;
  const isolate = (text) => "\u2068" + text + "\u2069";
  const lines = (text) =>
    text
      .split("\n")
      .map((line) => line.trim())
      .filter(Boolean);
  const asList = (value) => (Array.isArray(value) ? value : value ? [value] : []);

  // What the gaps page hands to the editor: an entry to open (with questions to add),
  // or a new entry's questions.
  // `editor`: the entry editor on screen, told when the KB changes (see drawEditor).
  const KB = { view: { kind: "list" }, container: null, search: "", editor: null };

  function openEditor(view) {
    KB.view = view;
    const tab = document.querySelector('.page-tab[data-page="knowledge"]');
    if (tab) tab.click();
  }

  function firstQuestion(entry) {
    for (const lang of [C.state.lang, ...LANGS]) {
      const found = asList((entry.questions || {})[lang]);
      if (found.length) return { text: found[0], lang };
    }
    const any = Object.entries(entry.questions || {}).find(([, list]) => asList(list).length);
    return any ? { text: asList(any[1])[0], lang: any[0] } : { text: "", lang: "en" };
  }

  // ---- the list --------------------------------------------------------------

  async function drawList(node) {
    const query = KB.search ? `?q=${encodeURIComponent(KB.search)}` : "";
    const data = await api("GET", ENTRIES + query);
    const search = el("input", { type: "search", id: "kb-search", value: KB.search, "aria-label": t("kb_search") });
    const form = el(
      "form",
      {
        class: "kb-toolbar",
        onsubmit: (event) => {
          event.preventDefault();
          KB.search = search.value.trim();
          draw();
        },
      },
      search,
      el("button", { type: "submit", text: t("kb_search") }),
      el("button", { type: "button", id: "kb-new", text: t("kb_new"), onclick: () => showView({ kind: "new", questions: {} }) }),
      el("a", { href: "/api/v1/knowledge/export", download: "knowledge-base.json", id: "kb-export", text: t("kb_export") }),
      el(
        "label",
        { class: "kb-import" },
        el("span", { text: t("kb_import") }),
        el("input", { type: "file", id: "kb-import", accept: ".json,.yaml,.yml", onchange: importFile }),
      ),
    );
    const rows = data.entries.map((entry) => {
      const question = firstQuestion(entry);
      return el(
        "tr",
        { dataset: { entry: entry.id } },
        el("td", null, el("button", { type: "button", class: "linklike", dir: "auto", text: entry.id, onclick: () => showView({ kind: "edit", id: entry.id }) })),
        el("td", { dir: dirOf(question.lang), lang: question.lang, text: question.text }),
        el("td", { dir: "auto", text: asList(entry.tags).join("، ") }),
        el("td", { text: entry.handoff ? "✓" : "" }),
        el("td", { text: num(entry.version) }),
      );
    });
    node.append(
      el(
        "section",
        { class: "admin-card", id: "kb-list" },
        el("h2", { text: t("page_knowledge") }),
        form,
        rows.length
          ? el(
              "table",
              { class: "admin-table" },
              el("thead", null, el("tr", null, ...["kb_id", "kb_question", "kb_tags", "kb_handoff", "kb_version"].map((key) => el("th", { text: t(key) })))),
              el("tbody", null, ...rows),
            )
          : el("p", { class: "muted", text: t("kb_none") }),
      ),
    );
  }

  async function importFile(event) {
    const file = event.target.files[0];
    if (!file || !window.confirm(t("kb_import_confirm"))) return;
    const text = await file.text();
    const json = file.name.toLowerCase().endsWith(".json");
    const response = await fetch("/api/v1/knowledge/import", {
      method: "POST",
      headers: {
        Accept: "application/json",
        "Content-Type": json ? "application/json" : "application/yaml",
        "X-CSRF-Token": C.state.csrf || "",
      },
      credentials: "same-origin",
      body: text,
    });
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      notify(t("kb_invalid", { message: (data && data.error && data.error.message) || response.statusText }));
      return;
    }
    notify(t("kb_imported", { created: num(data.created), updated: num(data.updated), deleted: num(data.deleted) }));
    draw();
  }

  // ---- the editor ------------------------------------------------------------

  async function drawEditor(node, view) {
    let entry = { questions: {}, answers: {}, tags: [], handoff: false };
    let versions = [];
    if (view.kind === "edit") {
      entry = (await api("GET", entryPath(view.id))).entry;
      versions = (await api("GET", `${entryPath(view.id)}/history`)).versions;
    }
    const adding = view.questions || {};
    let addedQuestions = 0;
    const id = el("input", { id: "kb-entry-id", dir: "ltr", value: entry.id || view.id || "", required: true });
    if (view.kind === "edit") id.readOnly = true;
    const fields = {};
    const languageBlocks = LANGS.map((lang) => {
      const present = asList((entry.questions || {})[lang]);
      const added = asList(adding[lang]).filter((q) => !present.includes(q));
      addedQuestions += added.length;
      const questions = el("textarea", { dir: dirOf(lang), lang, rows: 4, dataset: { kbQuestions: lang } });
      questions.value = [...present, ...added].join("\n");
      const answer = el("textarea", { dir: dirOf(lang), lang, rows: 3, dataset: { kbAnswer: lang } });
      answer.value = (entry.answers || {})[lang] || "";
      fields[lang] = { questions, answer };
      return el(
        "fieldset",
        { class: "kb-language", dir: dirOf(lang), lang },
        el("legend", { text: LANGUAGE_NAMES[lang] }),
        el("label", { class: "admin-field" }, el("span", { text: t("kb_questions") }), questions),
        el("label", { class: "admin-field" }, el("span", { text: t("kb_answer") }), answer),
      );
    });
    const tags = el("input", { id: "kb-tags", dir: "auto", value: asList(entry.tags).join(", ") });
    const handoff = el("input", { type: "checkbox", id: "kb-handoff" });
    handoff.checked = Boolean(entry.handoff);
    const error = el("p", { class: "error", id: "kb-error", role: "alert" });
    const conflict = el("div", { class: "kb-conflict", id: "kb-conflict", role: "alert" });
    conflict.hidden = true;
    const snapshot = () =>
      JSON.stringify([id.value, tags.value, handoff.checked, ...LANGS.map((lang) => [fields[lang].questions.value, fields[lang].answer.value])]);
    const drawn = snapshot();
    const unsaved = () => addedQuestions > 0 || snapshot() !== drawn;

    // Someone else saved or deleted the entry (`latest`: its newest version, or null).
    // The agent's text is never replaced without asking: they reload (their text goes)
    // or keep editing on top of the newest version (a save then replaces it).
    function showConflict(latest) {
      const reload = () => showView(latest ? { kind: "edit", id: view.id } : { kind: "list" });
      const keep = () => {
        if (latest) entry = latest;
        conflict.hidden = true;
      };
      conflict.replaceChildren(
        el("p", { text: latest ? t("kb_changed", { version: num(latest.version) }) : t("kb_changed_gone") }),
        el(
          "div",
          { class: "kb-actions" },
          el("button", { type: "button", id: "kb-conflict-reload", text: t("kb_reload"), onclick: reload }),
          el("button", { type: "button", id: "kb-conflict-keep", text: t("kb_keep"), onclick: keep }),
        ),
      );
      conflict.hidden = false;
    }

    async function newest() {
      try {
        return (await api("GET", entryPath(view.id))).entry;
      } catch (err) {
        if (err.status === 404) return null;
        throw err;
      }
    }

    const editor = {
      saving: false,
      // The KB changed somewhere: show the newer version, or ask when text is typed.
      async changed() {
        const latest = await newest();
        if (KB.editor !== editor || KB.view !== view || editor.saving) return;
        if (latest && latest.version === entry.version) return;
        if (unsaved() || !conflict.hidden) showConflict(latest);
        else showView(latest ? { kind: "edit", id: view.id } : { kind: "list" });
      },
    };
    if (view.kind === "edit") KB.editor = editor;

    async function save(event) {
      event.preventDefault();
      error.textContent = "";
      const body = {};
      for (const key of ["suggestions", "not"]) if (entry[key] !== undefined) body[key] = entry[key];
      body.questions = { ...(entry.questions || {}) };
      body.answers = { ...(entry.answers || {}) };
      for (const lang of LANGS) {
        const questions = lines(fields[lang].questions.value);
        const answer = fields[lang].answer.value.trim();
        if (questions.length) body.questions[lang] = questions;
        else delete body.questions[lang];
        if (answer) body.answers[lang] = answer;
        else delete body.answers[lang];
      }
      body.tags = tags.value
        .split(/[,،]/)
        .map((tag) => tag.trim())
        .filter(Boolean);
      body.handoff = handoff.checked;
      editor.saving = true;
      try {
        let saved;
        if (view.kind === "edit") saved = await api("PUT", entryPath(view.id), { ...body, version: entry.version });
        else saved = await api("POST", ENTRIES, { id: id.value.trim(), ...body });
        KB.editor = null; // the change event of this very save is not someone else's
        notify(t("kb_saved", { version: num(saved.entry.version) }));
        showView({ kind: "edit", id: saved.entry.id });
      } catch (err) {
        editor.saving = false;
        if (err.status === 409 && view.kind === "edit") showConflict(await newest().catch(() => entry));
        else error.textContent = t("kb_invalid", { message: err.message });
      }
    }

    async function remove() {
      if (!window.confirm(t("kb_delete_confirm", { id: isolate(view.id) }))) return;
      try {
        await api("DELETE", `${entryPath(view.id)}?version=${encodeURIComponent(entry.version)}`);
        notify(t("kb_deleted"));
        showView({ kind: "list" });
      } catch (err) {
        failed(err);
      }
    }

    async function restore(version) {
      try {
        await api("POST", `${entryPath(view.id)}/restore`, { restore: version, version: entry.version });
        notify(t("kb_restored", { version: num(version) }));
      } catch (err) {
        failed(err);
      }
      showView({ kind: "edit", id: view.id });
    }

    const form = el(
      "form",
      { id: "kb-editor", class: "kb-editor", onsubmit: save },
      conflict,
      el("label", { class: "admin-field" }, el("span", { text: t("kb_id") }), id),
      ...languageBlocks,
      el("label", { class: "admin-field" }, el("span", { text: t("kb_tags") }), tags),
      el("label", { class: "admin-check" }, handoff, el("span", { text: t("kb_handoff") })),
      error,
      el(
        "div",
        { class: "kb-actions" },
        el("button", { type: "submit", id: "kb-save", text: t("kb_save") }),
        view.kind === "edit" ? el("button", { type: "button", id: "kb-delete", text: t("kb_delete"), onclick: remove }) : null,
        el("button", { type: "button", text: t("kb_back"), onclick: () => showView({ kind: "list" }) }),
      ),
    );
    const history = versions.length
      ? el(
          "section",
          { class: "admin-card", id: "kb-history" },
          el("h2", { text: t("kb_history") }),
          el(
            "table",
            { class: "admin-table" },
            el("thead", null, el("tr", null, ...["kb_version", "kb_change", "kb_by", "kb_at", "kb_restore"].map((key) => el("th", { text: t(key) })))),
            el(
              "tbody",
              null,
              ...versions.map((v) =>
                el(
                  "tr",
                  { dataset: { version: String(v.version) } },
                  el("td", { text: num(v.version) }),
                  el("td", { dir: "ltr", text: v.change }),
                  el("td", { dir: "auto", text: v.agent || "—" }),
                  el("td", { text: when(v.at) }),
                  el(
                    "td",
                    null,
                    v.entry && v.version !== entry.version
                      ? el("button", { type: "button", class: "kb-restore", text: t("kb_restore"), onclick: () => restore(v.version) })
                      : null,
                  ),
                ),
              ),
            ),
          ),
        )
      : null;
    node.append(
      el(
        "section",
        { class: "admin-card" },
        el("h2", { dir: "auto", text: view.kind === "edit" ? view.id : t("kb_new") }),
        form,
      ),
      history,
    );
  }

  function showView(view) {
    KB.view = view;
    draw();
  }

  async function draw() {
    const node = KB.container;
    if (!node) return;
    const view = KB.view;
    KB.editor = null;
    const fresh = el("div", { class: "kb-page" });
    try {
      if (view.kind === "list") await drawList(fresh);
      else await drawEditor(fresh, view);
    } catch (error) {
      failed(error);
      return;
    }
    if (KB.container === node && KB.view === view) node.replaceChildren(fresh);
  }

  C.addPage("knowledge", {
    allowed: isAdmin,
    show(node) {
      KB.container = node;
      draw();
    },
    render: () => draw(),
  });

  // ---- the gaps report -------------------------------------------------------

  const GAPS = { container: null, since: "7d", entries: null };

  function topicQuestions(topic) {
    const byLanguage = {};
    for (const example of topic.examples) {
      const lang = LANGS.includes(example.language) ? example.language : "en";
      (byLanguage[lang] = byLanguage[lang] || []).push(example.text);
    }
    return byLanguage;
  }

  // A topic is named by one of its questions, in the agent's language when it has one;
  // its key is the matcher's normalised features, which read as code.
  function topicTitle(topic) {
    const own = topic.examples.find((example) => example.language === C.state.lang);
    const example = own || topic.examples[0];
    return example ? example.text : topic.key.join(" ");
  }

  function topicCard(topic, entries, picked) {
    const pick = el("select", { class: "gaps-entry", "aria-label": t("gaps_pick") });
    for (const entry of entries) {
      const option = el("option", { value: entry.id, text: entry.id });
      if (entry.id === (picked || topic.top_entry)) option.selected = true;
      pick.append(option);
    }
    const trend = `${t(`trend_${topic.trend}`)} (${num(topic.previous_count)} → ${num(topic.count)})`;
    return el(
      "section",
      { class: "admin-card gap-topic", dataset: { topic: topic.key.join(" ") } },
      el("h3", { dir: "auto", text: topicTitle(topic) }),
      el(
        "dl",
        { class: "facts" },
        el("dt", { text: t("gaps_count") }),
        el("dd", { text: num(topic.count) }),
        el("dt", { text: t("gaps_trend") }),
        el("dd", { text: trend }),
        el("dt", { text: t("gaps_nearest") }),
        el("dd", { dir: "auto", text: topic.top_entry || "—" }),
      ),
      el("h4", { text: t("gaps_examples") }),
      el(
        "ul",
        { class: "gap-examples" },
        ...topic.examples.map((example) => el("li", { dir: "auto", lang: example.language || "", text: example.text })),
      ),
      el(
        "div",
        { class: "kb-actions" },
        el("span", { text: t("gaps_add") }),
        pick,
        el("button", {
          type: "button",
          class: "gaps-add",
          text: t("gaps_open"),
          onclick: () => openEditor({ kind: "edit", id: pick.value, questions: topicQuestions(topic) }),
        }),
        el("button", {
          type: "button",
          class: "gaps-draft",
          text: t("gaps_draft"),
          onclick: () => openEditor({ kind: "new", questions: topicQuestions(topic) }),
        }),
      ),
    );
  }

  async function drawGaps() {
    const node = GAPS.container;
    if (!node) return;
    let report;
    let entries;
    try {
      [report, entries] = await Promise.all([
        api("GET", `/api/v1/knowledge/gaps?since=${encodeURIComponent(GAPS.since)}`),
        api("GET", ENTRIES),
      ]);
    } catch (error) {
      failed(error);
      return;
    }
    // A re-read (the KB changed) keeps the entries the admin picked.
    const picked = new Map([...node.querySelectorAll(".gap-topic")].map((card) => [card.dataset.topic, card.querySelector(".gaps-entry").value]));
    const since = el("select", { id: "gaps-since", "aria-label": t("gaps_since") });
    for (const span of ["24h", "7d", "30d", "90d"]) {
      const n = num(parseInt(span, 10));
      const option = el("option", { value: span, text: t(span.endsWith("h") ? "gaps_span_hours" : "gaps_span_days", { n }) });
      if (span === GAPS.since) option.selected = true;
      since.append(option);
    }
    since.addEventListener("change", () => {
      GAPS.since = since.value;
      drawGaps();
    });
    node.replaceChildren(
      el(
        "section",
        { class: "admin-card", id: "gaps" },
        el("h2", { text: t("page_gaps") }),
        el("label", { class: "admin-field" }, el("span", { text: t("gaps_since") }), since),
        el("p", { text: t("gaps_total", { count: num(report.total), previous: num(report.previous_total) }) }),
        ...(report.grouping === "embeddings" ? [el("p", { class: "muted", id: "gaps-grouping", text: t("gaps_by_meaning") })] : []),
      ),
      ...(report.topics.length
        ? report.topics.map((topic) => topicCard(topic, entries.entries, picked.get(topic.key.join(" "))))
        : [el("p", { class: "muted", text: t("gaps_none") })]),
    );
  }

  C.addPage("gaps", {
    allowed: isAdmin,
    show(node) {
      GAPS.container = node;
      drawGaps();
    },
    render: () => drawGaps(),
  });

  // Another admin's save or an import (the "knowledge" socket event), or events missed
  // while the socket was away ("resync"): the page on screen reads the KB again.
  let changeTimer = null;
  function knowledgeChanged() {
    if (C.state.page === "gaps") drawGaps();
    else if (C.state.page !== "knowledge") return;
    else if (KB.view.kind === "list") draw();
    else if (KB.editor) KB.editor.changed().catch(failed);
  }
  C.on("event", (data) => {
    if (data.type !== "knowledge" && data.type !== "resync") return;
    clearTimeout(changeTimer); // an import's burst of changes is read once
    changeTimer = setTimeout(knowledgeChanged, 150);
  });
})();
