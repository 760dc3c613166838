// Pasokh agent console: agent assist. When a thread opens (console.js dispatches
// "pasokh:thread"), the knowledge base's best answers to the customer's latest message
// are shown above the reply box, in the customer's language; a click puts one in the
// reply box, where the agent edits it before sending. Texts only through textContent.
"use strict";

(function () {
  const TEXTS = {
    en: { title: "Suggested answers", insert: "Insert" },
    fa: { title: "پاسخ‌های پیشنهادی", insert: "درج" },
    ar: { title: "إجابات مقترحة", insert: "إدراج" },
  };
  let shownFor = null;

  function tr(key) {
    const C = window.PasokhConsole;
    return (TEXTS[C.lang()] || TEXTS.en)[key];
  }

  async function show(threadId) {
    const C = window.PasokhConsole;
    const box = document.getElementById("kb-suggestions");
    if (!C || !box) return;
    let data;
    try {
      data = await C.api("GET", `/api/v1/threads/${encodeURIComponent(threadId)}/suggestions`);
    } catch (_) {
      return; // assist is a help, never an error in the agent's way
    }
    const key = `${threadId}:${data.message_id}`;
    if (key === shownFor) return;
    shownFor = key;
    box.textContent = "";
    if (!data.suggestions.length) return;
    box.append(C.el("strong", { text: tr("title") }));
    for (const suggestion of data.suggestions) {
      const dir = suggestion.language === "en" ? "ltr" : "rtl";
      box.append(
        C.el(
          "div",
          { class: "kb-suggestion", dataset: { entryId: suggestion.entry_id } },
          C.el("p", { class: "kb-question", dir, lang: suggestion.language, text: suggestion.question }),
          C.el("p", { class: "kb-answer", dir, lang: suggestion.language, text: suggestion.answer }),
          C.el("button", {
            type: "button",
            class: "kb-insert",
            text: tr("insert"),
            onclick: () => {
              const reply = document.getElementById("reply-text");
              reply.value = suggestion.answer;
              reply.focus();
            },
          }),
        ),
      );
    }
  }

  document.addEventListener("pasokh:thread", (event) => show(event.detail));
})();
