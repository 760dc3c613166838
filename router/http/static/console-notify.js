// Pasokh agent console: desktop notifications, an optional sound and the unread count
// in the tab title. Loaded after console.js; uses only window.PasokhConsole.
//
// What notifies: a new thread in the agent's queue, a customer's message on a thread
// the agent holds, and a service-level warning or breach on a thread the agent can
// see. A thread counts as unread from then until the agent opens it.
"use strict";

(function () {
  const C = window.PasokhConsole;
  if (!C) return;
  const SOUND_KEY = "pasokh.console.sound";
  const SOUND_URL = "/console/static/notify.wav";
  const unread = new Set();
  const threadsById = new Map();
  // Threads this agent holds, as the lists and the socket's thread events last said.
  const held = new Set();

  function noteHolder(threadId, assigneeId) {
    const me = C.state.agent;
    if (me && assigneeId === me.id) held.add(threadId);
    else held.delete(threadId);
  }

  C.addStrings({
    en: {
      notify_enable: "Enable notifications",
      notify_sound: "Sound",
      notify_new_thread: "New thread in the queue",
      notify_customer_reply: "The customer replied",
      notify_sla_warning: "A target is nearly due",
      notify_sla_breach: "A target was breached",
      notify_thread: "Thread #{id}",
    },
    fa: {
      notify_enable: "روشن کردن اعلان‌ها",
      notify_sound: "صدا",
      notify_new_thread: "گفت‌وگوی تازه در صف",
      notify_customer_reply: "مشتری پاسخ داد",
      notify_sla_warning: "مهلت نزدیک است",
      notify_sla_breach: "مهلت گذشت",
      notify_thread: "گفت‌وگوی #{id}",
    },
    ar: {
      notify_enable: "تفعيل الإشعارات",
      notify_sound: "الصوت",
      notify_new_thread: "محادثة جديدة في القائمة",
      notify_customer_reply: "ردّ العميل",
      notify_sla_warning: "اقتربت المهلة",
      notify_sla_breach: "تجاوزت المهلة",
      notify_thread: "المحادثة #{id}",
    },
  });

  function soundOn() {
    try {
      return localStorage.getItem(SOUND_KEY) === "on";
    } catch (_) {
      return false;
    }
  }

  function permission() {
    return typeof window.Notification === "function" ? window.Notification.permission : "denied";
  }

  function renderControls() {
    const button = document.getElementById("notify-enable");
    if (button) button.hidden = permission() !== "default";
    const sound = document.getElementById("notify-sound");
    if (sound) sound.checked = soundOn();
  }

  function renderTitle() {
    const base = C.t("app_title");
    document.title = unread.size ? `(${C.num(unread.size)}) ${base}` : base;
  }

  // The agent is reading this very thread now: nothing to tell them.
  function watching(threadId) {
    return threadId === C.state.currentId && document.visibilityState === "visible" && document.hasFocus();
  }

  // `key`: the reason in the agent's language; opening the notification opens the thread.
  function raise(key, threadId) {
    if (watching(threadId)) return;
    unread.add(threadId);
    renderTitle();
    if (soundOn()) {
      const audio = new Audio(SOUND_URL);
      audio.play().catch(() => {});
    }
    if (permission() !== "granted") return;
    const thread = threadsById.get(threadId);
    const customer = thread ? C.customerName({ display_name: thread.customer_name }, thread.customer_id) : "";
    const body = customer || C.t("notify_thread", { id: C.num(threadId) });
    try {
      const shown = new window.Notification(C.t(key), {
        body,
        tag: `pasokh-${key}-${threadId}`,
        lang: C.state.lang,
        dir: C.state.lang === "en" ? "ltr" : "rtl",
      });
      shown.onclick = () => {
        window.focus();
        C.openThread(threadId);
        shown.close();
      };
    } catch (_) {
      /* some browsers allow notifications only from a service worker: the title still counts */
    }
  }

  C.on("queue", ({ threads, fresh }) => {
    for (const thread of threads) {
      threadsById.set(thread.id, thread);
      noteHolder(thread.id, thread.assignee ? thread.assignee.id : null);
    }
    for (const thread of fresh) raise("notify_new_thread", thread.id);
  });

  C.on("event", (data) => {
    const me = C.state.agent;
    if (!me) return;
    if (data.type === "thread") {
      noteHolder(data.thread_id, data.assignee_id);
    } else if (data.type === "message" && data.author === "customer" && !data.internal) {
      if (held.has(data.thread_id)) raise("notify_customer_reply", data.thread_id);
    } else if (data.type === "sla") {
      raise(data.kind === "breach" ? "notify_sla_breach" : "notify_sla_warning", data.thread_id);
    }
  });

  C.on("thread", (threadId) => {
    if (unread.delete(threadId)) renderTitle();
  });

  C.on("language", () => {
    renderTitle();
    renderControls();
  });

  C.on("started", () => {
    renderControls();
    renderTitle();
  });

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("notify-enable").addEventListener("click", async () => {
      if (typeof window.Notification !== "function") return;
      await window.Notification.requestPermission();
      renderControls();
    });
    document.getElementById("notify-sound").addEventListener("change", (event) => {
      try {
        localStorage.setItem(SOUND_KEY, event.target.checked ? "on" : "off");
      } catch (_) {
        /* storage disabled: the choice lasts for this page */
      }
      if (event.target.checked) new Audio(SOUND_URL).play().catch(() => {});
    });
    renderControls();
  });
})();
