// Pasokh agent console: the Customers page (search, the customers list, a profile).
// Loaded after console.js, whose hook (window.PasokhConsole) lends it the API call with
// the session's CSRF token, el() (text only through textContent), dates and opening a
// thread. Every customer-supplied text goes in its own bidi isolate.
"use strict";

(function () {
  const TEXTS = {
    en: {
      page_customers: "Customers",
      search_placeholder: "Search names, emails, phones, @usernames, messages, thread ids",
      search: "Search",
      customers: "Customers",
      threads: "Threads",
      messages: "Messages",
      more: "More",
      nothing: "Nothing found.",
      all_customers: "All customers",
      tags: "Tags",
      add_tag: "Add tag",
      notes: "Notes",
      add_note: "Add note",
      ratings: "Ratings",
      identities: "Identities",
      thread: "Thread #{id}",
      unnamed: "Customer #{id}",
      pick_customer: "Pick a customer to see their profile.",
    },
    fa: {
      page_customers: "مشتریان",
      search_placeholder: "جست‌وجو در نام، ایمیل، تلفن، ‎@نام کاربری، پیام‌ها، شماره گفت‌وگو",
      search: "جست‌وجو",
      customers: "مشتریان",
      threads: "گفت‌وگوها",
      messages: "پیام‌ها",
      more: "بیشتر",
      nothing: "چیزی پیدا نشد.",
      all_customers: "همه مشتریان",
      tags: "برچسب‌ها",
      add_tag: "افزودن برچسب",
      notes: "یادداشت‌ها",
      add_note: "افزودن یادداشت",
      ratings: "امتیازها",
      identities: "نشانی‌ها",
      thread: "گفت‌وگوی #{id}",
      unnamed: "مشتری #{id}",
      pick_customer: "مشتری‌ای را برای دیدن نمایه‌اش انتخاب کنید.",
    },
    ar: {
      page_customers: "العملاء",
      search_placeholder: "ابحث في الأسماء والبريد والهاتف و‎@اسم المستخدم والرسائل ورقم المحادثة",
      search: "بحث",
      customers: "العملاء",
      threads: "المحادثات",
      messages: "الرسائل",
      more: "المزيد",
      nothing: "لم يُعثر على شيء.",
      all_customers: "كل العملاء",
      tags: "الوسوم",
      add_tag: "إضافة وسم",
      notes: "الملاحظات",
      add_note: "إضافة ملاحظة",
      ratings: "التقييمات",
      identities: "العناوين",
      thread: "المحادثة #{id}",
      unnamed: "العميل #{id}",
      pick_customer: "اختر عميلًا لعرض ملفه.",
    },
  };

  const page = { query: "", next: null, listNext: null, profileId: null };
  let C = null; // window.PasokhConsole, set on load
  let reads = null; // one C.newestReads per kind of read, set on load

  function tr(key, vars) {
    const table = TEXTS[C.lang()] || TEXTS.en;
    let text = table[key] !== undefined ? table[key] : TEXTS.en[key];
    for (const [name, value] of Object.entries(vars || {})) text = text.split(`{${name}}`).join(String(value));
    return text;
  }

  const $ = (id) => document.getElementById(id);
  const isolated = (value) => C.el("bdi", { class: "customer-supplied", text: value });

  function relabel() {
    for (const node of document.querySelectorAll("[data-ci18n]")) node.textContent = tr(node.dataset.ci18n);
    for (const node of document.querySelectorAll("[data-ci18n-placeholder]")) {
      node.placeholder = tr(node.dataset.ci18nPlaceholder);
    }
  }

  function customerItem(customer) {
    const name = customer.display_name || customer.name || tr("unnamed", { id: C.num(customer.id) });
    const addresses = (customer.identities || []).map((i) => (i.username ? `@${i.username}` : i.address));
    return C.el(
      "li",
      { class: "customer-item", dataset: { customerId: String(customer.id) } },
      C.el(
        "button",
        { type: "button", class: "link", onclick: () => openProfile(customer.id) },
        isolated(name),
      ),
      addresses.length ? C.el("span", { class: "muted" }, " — ", isolated(addresses.join(", "))) : null,
      ...(customer.tags || []).map((tag) => C.el("span", { class: "badge tag" }, " ", isolated(tag))),
    );
  }

  function threadLink(id) {
    return C.el(
      "button",
      { type: "button", class: "link", onclick: () => C.openThreadPage(id) },
      tr("thread", { id: C.num(id) }),
    );
  }

  function section(key, items) {
    return C.el(
      "section",
      { class: "search-section", dataset: { section: key } },
      C.el("h3", { text: tr(key) }),
      C.el("ol", { class: "search-list" }, ...items),
    );
  }

  async function runSearch(append) {
    const results = $("search-results");
    const params = new URLSearchParams({ q: page.query });
    if (append && page.next) params.set("cursor", page.next);
    await reads.search(
      () => C.api("GET", `/api/v1/search?${params}`),
      (data) => showFound(results, data, append),
    );
  }

  function showFound(results, data, append) {
    if (!append) results.textContent = "";
    page.next = data.next;
    const found = data.customers.length + data.threads.length + data.messages.length;
    if (!append && !found) results.append(C.el("p", { class: "muted", text: tr("nothing") }));
    if (data.customers.length) results.append(section("customers", data.customers.map(customerItem)));
    if (data.threads.length) {
      results.append(section("threads", data.threads.map((th) => C.el("li", {}, threadLink(th.id)))));
    }
    if (data.messages.length) {
      results.append(
        section(
          "messages",
          data.messages.map((m) =>
            C.el(
              "li",
              { class: "search-message" },
              threadLink(m.thread_id),
              " ",
              C.el("time", { datetime: m.created_at, text: C.when(m.created_at) }),
              C.el(
                "p",
                {},
                C.el("bdi", { class: "customer-supplied" }, ...C.withIsolatedUrls(m.text.slice(0, 300))),
              ),
            ),
          ),
        ),
      );
    }
    $("search-more").hidden = !page.next;
  }

  async function loadCustomers(append) {
    const params = new URLSearchParams();
    if (append && page.listNext) params.set("cursor", page.listNext);
    await reads.list(
      () => C.api("GET", `/api/v1/customers?${params}`),
      (data) => showCustomers(data, append),
    );
  }

  function showCustomers(data, append) {
    const list = $("customer-list");
    if (!append) list.textContent = "";
    for (const customer of data.customers) list.append(customerItem(customer));
    page.listNext = data.next;
    $("customers-more").hidden = !page.listNext;
  }

  async function openProfile(id) {
    page.profileId = id;
    await reads.profile(() => C.api("GET", `/api/v1/customers/${encodeURIComponent(id)}`), showProfile);
  }

  function showProfile(data) {
    const id = data.id;
    const view = $("customer-profile");
    view.hidden = false;
    view.textContent = "";
    $("customer-profile-empty").hidden = true;
    showPane("profile");
    view.append(
      C.el("h2", {}, isolated(data.display_name || data.name || tr("unnamed", { id: C.num(data.id) }))),
      C.el("h3", { text: tr("identities") }),
      C.el(
        "ul",
        {},
        ...data.identities.map((i) =>
          C.el("li", {}, C.el("span", { class: "badge", text: C.channelName(i.channel) }), " ", isolated(i.username ? `@${i.username}` : i.address)),
        ),
      ),
      C.el("h3", { text: tr("threads") }),
      C.el(
        "ul",
        { class: "profile-threads" },
        ...data.threads.map((th) => C.el("li", {}, threadLink(th.id), " ", C.el("span", { class: "muted", text: C.t(`status_${th.status}`) }))),
      ),
      C.el("h3", { text: tr("tags") }),
      C.el("p", { class: "profile-tags" }, ...data.tags.map((tag) => C.el("span", { class: "badge tag" }, isolated(tag), " "))),
      C.el(
        "form",
        {
          class: "inline-form",
          onsubmit: async (event) => {
            event.preventDefault();
            const input = event.target.querySelector("input");
            if (!input.value.trim()) return;
            try {
              await C.api("POST", `/api/v1/customers/${encodeURIComponent(id)}/tags`, { tag: input.value.trim() });
              await openProfile(id);
            } catch (error) {
              C.failed(error);
            }
          },
        },
        C.el("input", { type: "text", maxlength: "64", "aria-label": tr("add_tag") }),
        C.el("button", { type: "submit", text: tr("add_tag") }),
      ),
      C.el("h3", { text: tr("notes") }),
      C.el(
        "ul",
        { class: "profile-notes" },
        ...data.notes.map((n) =>
          C.el("li", {}, C.el("strong", {}, isolated(n.agent_name || "")), " ", C.el("time", { text: C.when(n.created_at) }), C.el("p", {}, isolated(n.text))),
        ),
      ),
      C.el(
        "form",
        {
          class: "inline-form",
          onsubmit: async (event) => {
            event.preventDefault();
            const input = event.target.querySelector("textarea");
            if (!input.value.trim()) return;
            try {
              await C.api("POST", `/api/v1/customers/${encodeURIComponent(id)}/notes`, { text: input.value.trim() });
              await openProfile(id);
            } catch (error) {
              C.failed(error);
            }
          },
        },
        C.el("textarea", { rows: "2", maxlength: "10000", "aria-label": tr("add_note") }),
        C.el("button", { type: "submit", text: tr("add_note") }),
      ),
      C.el("h3", { text: tr("ratings") }),
      C.el("ul", {}, ...data.ratings.map((r) => C.el("li", { text: `${r.kind.toUpperCase()} ${C.num(r.score)}` }))),
    );
  }

  // A phone shows one pane at a time (console.css): the list, or the profile with Back.
  function showPane(name) {
    $("customers-page").dataset.pane = name;
    if (name === "profile") document.querySelector(".customers-profile-pane").scrollTop = 0;
  }

  function wire() {
    C = window.PasokhConsole;
    if (!C) return;
    reads = {
      search: C.newestReads("search-results"),
      list: C.newestReads("customer-list"),
      profile: C.newestReads("customer-profile"),
    };
    relabel();
    document.addEventListener("pasokh:language", () => {
      relabel();
      if (page.profileId) openProfile(page.profileId);
    });
    document.addEventListener("pasokh:page", (event) => {
      if (event.detail === "customers") loadCustomers(false);
    });
    $("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      page.query = $("search-input").value.trim();
      page.next = null;
      if (page.query) runSearch(false);
    });
    $("search-more").addEventListener("click", () => runSearch(true));
    $("customers-more").addEventListener("click", () => loadCustomers(true));
    $("customers-back").addEventListener("click", () => showPane("list"));
  }

  document.addEventListener("DOMContentLoaded", wire);
})();
