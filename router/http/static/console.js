// Pasokh agent console: plain JavaScript, no build step; the one library is Chart.js
// (router/http/static/vendor/, loaded before this file) for the Reports page's charts.
//
// Reads and changes threads through the JSON API (/api/v1) with the session cookie
// and the session's CSRF token; /ws/console tells it what changed so the queue and
// the open thread update without a reload.
//
// Every text that comes from a customer, an agent or the server is put on the page
// with textContent (through el()), never innerHTML, so "<script>" or
// "<img src=x onerror=...>" in a message is shown as those characters and never runs.
"use strict";

(function () {
  const I18N = {
    en: {
      app_title: "Pasokh — agent console",
      loading: "Loading…",
      email: "Email",
      password: "Password",
      sign_in: "Sign in",
      sign_out: "Sign out",
      language: "Language",
      presence: "Status",
      presence_online: "online",
      presence_away: "away",
      presence_offline: "offline",
      tab_queue: "Queue",
      tab_mine: "Mine",
      tab_all: "All open",
      tab_low_rating: "Low ratings",
      low_rating_badge: "low rating",
      queue_empty: "Nothing here right now.",
      queue_more: "More threads",
      pick_thread: "Pick a thread from the list.",
      claim: "Claim",
      take_over: "Take over",
      attach: "Attach files",
      transfer_to_tier: "…or to tier",
      release: "Release",
      resolve: "Resolve",
      resolve_survey: "ask how it went",
      escalate: "Escalate",
      transfer: "Transfer",
      reason: "Reason",
      agent_email: "Colleague's email",
      canned: "Canned responses…",
      reply_via: "Reply via",
      internal_note: "Internal note",
      reply_placeholder: "Write a reply…",
      send: "Send",
      audit: "Activity",
      tier: "Tier {n}",
      tier_to: "to tier {n}",
      status_bot: "bot",
      status_queued: "queued",
      status_assigned: "assigned",
      status_resolved: "resolved",
      assigned_to: "with {name}",
      waiting: "waiting since {time}",
      customer: "Customer #{id}",
      thread: "Thread #{id}",
      earlier_thread: "Earlier thread #{id} ({status})",
      author_customer: "Customer",
      author_bot: "Bot",
      author_agent: "Agent",
      author_system: "System",
      preview_author: "{author}:",
      internal: "note",
      unverified_sender: "unverified sender",
      unverified_sender_hint: "The From address of this mail could not be authenticated (SPF/DKIM/DMARC): anyone may have written it.",
      verified: "verified",
      not_delivered: "Not delivered: {reason}",
      not_seen: "Not seen yet",
      not_seen_resending: "Not seen yet — sending by {channel}",
      not_seen_resent: "Not seen yet — sent by {channel} at {time}",
      not_seen_resend_failed: "Not seen yet — not delivered by {channel}: {reason}",
      delivery_retrying: "Not delivered yet, retrying: {reason}. Next try {when}",
      unreachable: "unreachable: {reason}",
      attachment: "Attachment: {name} ({size} bytes)",
      claim_ours: "Claims {address} (customer #{id}) — not proven",
      claim_theirs: "Customer #{id} claims {address} — not proven",
      claim_alone: "Claims {address} — not proven",
      merge: "Merge",
      merge_confirm: "Merge customer #{other} with this customer? Their addresses and threads become one customer.",
      customer_typing: "The customer is typing…",
      live_on: "live",
      live_off: "reconnecting…",
      wrong_credentials: "Wrong email or password.",
      too_many: "Too many attempts; wait a little and try again.",
      csrf_reload: "The page is out of date; reload it.",
      failed: "That did not work: {message}",
      claimed: "You have this thread now.",
      escalated: "Escalated.",
      transferred: "Transferred.",
      resolved: "Resolved.",
      released: "Back in the queue.",
      sent: "Sent.",
      note_saved: "Note saved.",
      new_in_queue: "New thread in the queue.",
      action_claim: "claimed",
      action_release: "released",
      action_transfer: "transferred",
      action_transfer_tier: "moved to another tier",
      action_escalate: "escalated",
      action_resolve: "resolved",
      action_handoff: "handed to the queue",
      action_reopen: "reopened",
      action_assign: "assigned",
      action_sign_in: "signed in",
      action_priority: "changed the priority",
      action_pending: "set waiting on the customer",
      action_pending_end: "ended waiting on the customer",
      action_sla_warning: "target nearly due",
      action_sla_breach: "target breached",
      target_first_response: "first response",
      target_next_response: "next response",
      target_resolution: "resolution",
      priority_from_to: "from {from} to {to}",
      actor_bot: "bot",
      actor_system: "system",
      actor_customer: "customer",
      page_threads: "Threads",
      page_reports: "Reports",
      report_from: "From",
      report_to: "To (inclusive)",
      report_group_by: "Group by",
      group_none: "nothing (total)",
      group_day: "day",
      group_week: "week",
      group_agent: "agent",
      group_tier: "tier",
      group_channel: "channel",
      group_language: "language",
      report_show: "Show",
      report_csv: "Download CSV",
      report_period: "{from} – {to} (UTC days)",
      report_scope_own: "Your own figures.",
      report_scope_all: "The whole team's figures.",
      report_total: "Total",
      report_nobody: "No agent (bot, new threads)",
      report_week_of: "Week of {date}",
      chart_volume: "Threads",
      chart_times: "Median times (minutes)",
      chart_quality: "Quality (%)",
      kpi_group: "Group",
      kpi_threads_created: "Threads created",
      kpi_threads_resolved: "Threads resolved",
      kpi_first_response: "First response (median)",
      kpi_first_response_p90: "First response (90th percentile)",
      kpi_next_response: "Next response (median)",
      kpi_resolution: "Resolution by agents (median)",
      kpi_fcr: "First-contact resolution",
      kpi_reopen: "Reopened",
      kpi_containment: "Bot containment",
      kpi_handoff: "Hand-off rate",
      kpi_csat: "CSAT (satisfied)",
      kpi_csat_responses: "CSAT answers",
      kpi_csat_sent: "CSAT surveys sent",
      kpi_csat_response_rate: "CSAT response rate",
      kpi_threads_merged: "Closed by a merge",
      kpi_nps: "NPS",
      kpi_csat_mean: "CSAT (mean of 5)",
      kpi_nps_responses: "NPS answers",
      kpi_nps_sent: "NPS surveys sent",
      kpi_nps_response_rate: "NPS response rate",
      kpi_first_response_business: "First response, business hours (median)",
      kpi_next_response_business: "Next response, business hours (median)",
      kpi_resolution_business: "Resolution, business hours (median)",
      kpi_sla_first_response: "SLA met: first response",
      kpi_sla_next_response: "SLA met: next response",
      kpi_sla_resolution: "SLA met: resolution",
      kpi_sla_breaches: "SLA breaches",
      kpi_bot_helped: "Bot answer helped",
      kpi_backlog: "Open now",
      kpi_oldest: "Oldest open",
      no_data: "—",
      priority: "Priority",
      priority_urgent: "urgent",
      priority_high: "high",
      priority_normal: "normal",
      priority_low: "low",
      pending: "Waiting on the customer",
      pending_badge: "waiting on customer",
      due_first_response: "first reply due {time}",
      due_next_response: "reply due {time}",
      due_resolution: "resolution due {time}",
      sla_breached: "breached",
      sla_warning: "nearly due",
      sort: "Sort",
      sort_default: "priority, then waiting",
      sort_due: "due soonest",
      priority_changed: "Priority changed.",
      pending_set: "Waiting on the customer: the clocks are paused.",
      pending_cleared: "The clocks run again.",
      back: "Back",
      customer_details: "Customer",
      at_time: "{date}, {time}",
      channel_webchat: "web chat",
      channel_email: "email",
      channel_telegram: "Telegram",
      channel_api: "API",
      channel_phone: "phone",
      show_original: "Show the original mail",
      hide_original: "Hide the original mail",
      subject: "Subject: {subject}",
      reason_agent_offline: "the agent went offline",
      reason_agent_deactivated: "the agent was deactivated",
      reason_merged: "merged by an agent",
      reason_no_bot: "no bot is configured",
      reason_bot_did_not_help: "the bot's answer did not help",
      reason_no_confident_answer: "the bot had no confident answer",
      reason_asked_for_person: "the customer asked for a person",
      reason_faq_hands_off: "the FAQ entry hands off to a person",
      action_requeue: "returned to the queue",
      invite_title: "Choose your password",
      invite_submit: "Save and sign in",
      invite_done: "Your password is set; sign in with it.",
      invite_used: "This invitation has been used already; sign in or ask an admin for a new one.",
      invite_invalid: "This invitation is not valid, has expired or was withdrawn; ask an admin for a new one.",
      password_short: "The password needs at least 8 characters.",
      session_ended: "Your session has ended; sign in again. What you were writing is kept, not sent.",
      more_actions: "More actions",
      history: "Conversation",
      pages: "Pages",
      queues: "Queues",
      conflict_taken: "Someone else has already taken this thread.",
      conflict_claim_first: "Claim this thread before replying.",
      conflict_resolved: "This thread is resolved; the customer's next message reopens it.",
      conflict_at_capacity: "That agent already has as many open threads as allowed.",
      conflict_not_waiting: "This thread is no longer waiting in the queue.",
      conflict_changed: "The thread changed meanwhile; it is shown as it is now.",
      conflict_no_channel: "This thread has no channel to reply on.",
      conflict_unverified_identity: "That address is not verified; reply where the customer last wrote or on a verified address.",
      conflict_unreachable: "The customer cannot be reached there; pick another address.",
    },
    fa: {
      app_title: "پاسخ — میز کار پشتیبان",
      loading: "در حال بارگذاری…",
      email: "ایمیل",
      password: "گذرواژه",
      sign_in: "ورود",
      sign_out: "خروج",
      language: "زبان",
      presence: "وضعیت",
      presence_online: "در دسترس",
      presence_away: "دور از میز",
      presence_offline: "آفلاین",
      tab_queue: "صف",
      tab_mine: "گفت‌وگوهای من",
      tab_all: "همهٔ باز",
      tab_low_rating: "امتیاز پایین",
      low_rating_badge: "امتیاز پایین",
      queue_empty: "فعلاً چیزی اینجا نیست.",
      queue_more: "گفت‌وگوهای بیشتر",
      pick_thread: "یک گفت‌وگو را از فهرست انتخاب کنید.",
      claim: "برداشتن",
      take_over: "گرفتن از ربات",
      attach: "پیوست فایل",
      transfer_to_tier: "…یا به سطح",
      release: "بازگرداندن به صف",
      resolve: "بستن",
      resolve_survey: "نظر مشتری را بپرس",
      escalate: "ارجاع به سطح بالاتر",
      transfer: "واگذاری",
      reason: "دلیل",
      agent_email: "ایمیل همکار",
      canned: "پاسخ‌های آماده…",
      reply_via: "ارسال از راه",
      internal_note: "یادداشت داخلی",
      reply_placeholder: "پاسخ را بنویسید…",
      send: "ارسال",
      audit: "رویدادها",
      tier: "سطح {n}",
      tier_to: "به سطح {n}",
      status_bot: "ربات",
      status_queued: "در صف",
      status_assigned: "در دست پشتیبان",
      status_resolved: "بسته",
      assigned_to: "با {name}",
      waiting: "در انتظار از {time}",
      customer: "مشتری #{id}",
      thread: "گفت‌وگوی #{id}",
      earlier_thread: "گفت‌وگوی پیشین #{id} ({status})",
      author_customer: "مشتری",
      author_bot: "ربات",
      author_agent: "پشتیبان",
      author_system: "سامانه",
      preview_author: "{author}:",
      internal: "یادداشت",
      unverified_sender: "فرستندهٔ تأییدنشده",
      unverified_sender_hint: "نشانی فرستندهٔ این ایمیل احراز نشد (SPF/DKIM/DMARC): ممکن است هر کسی آن را نوشته باشد.",
      verified: "تأییدشده",
      not_delivered: "نرسید: {reason}",
      not_seen: "هنوز دیده نشده",
      not_seen_resending: "هنوز دیده نشده — در حال فرستادن با {channel}",
      not_seen_resent: "هنوز دیده نشده — با {channel} فرستاده شد، {time}",
      not_seen_resend_failed: "هنوز دیده نشده — با {channel} نرسید: {reason}",
      delivery_retrying: "هنوز نرسیده، دوباره فرستاده می‌شود: {reason}. تلاش بعدی {when}",
      unreachable: "در دسترس نیست: {reason}",
      attachment: "پیوست: {name} ({size} بایت)",
      claim_ours: "ادعای {address} (مشتری #{id}) — اثبات‌نشده",
      claim_theirs: "مشتری #{id} ادعای {address} را دارد — اثبات‌نشده",
      claim_alone: "ادعای {address} — اثبات‌نشده",
      merge: "ادغام",
      merge_confirm: "مشتری #{other} با این مشتری ادغام شود؟ نشانی‌ها و گفتگوهایشان یکی می‌شوند.",
      customer_typing: "مشتری در حال نوشتن است…",
      live_on: "زنده",
      live_off: "در حال اتصال دوباره…",
      wrong_credentials: "ایمیل یا گذرواژه درست نیست.",
      too_many: "تلاش‌ها زیاد است؛ کمی صبر کنید و دوباره امتحان کنید.",
      csrf_reload: "صفحه قدیمی است؛ آن را دوباره بارگذاری کنید.",
      failed: "انجام نشد: {message}",
      claimed: "این گفت‌وگو اکنون با شماست.",
      escalated: "ارجاع شد.",
      transferred: "واگذار شد.",
      resolved: "بسته شد.",
      released: "به صف برگشت.",
      sent: "فرستاده شد.",
      note_saved: "یادداشت ذخیره شد.",
      new_in_queue: "گفت‌وگوی تازه در صف.",
      action_claim: "برداشت",
      action_release: "به صف برگرداند",
      action_transfer: "واگذار کرد",
      action_transfer_tier: "به سطح دیگری برد",
      action_escalate: "ارجاع داد",
      action_resolve: "بست",
      action_handoff: "به صف سپرده شد",
      action_reopen: "دوباره باز شد",
      action_assign: "واگذار شد",
      action_sign_in: "وارد شد",
      action_priority: "اولویت را تغییر داد",
      action_pending: "در انتظار مشتری گذاشت",
      action_pending_end: "انتظار مشتری را پایان داد",
      action_sla_warning: "نزدیک به مهلت",
      action_sla_breach: "مهلت گذشت",
      target_first_response: "نخستین پاسخ",
      target_next_response: "پاسخ بعدی",
      target_resolution: "حل",
      priority_from_to: "از {from} به {to}",
      actor_bot: "ربات",
      actor_system: "سامانه",
      actor_customer: "مشتری",
      page_threads: "گفت‌وگوها",
      page_reports: "گزارش‌ها",
      report_from: "از",
      report_to: "تا پایانِ",
      report_group_by: "دسته‌بندی بر پایهٔ",
      group_none: "هیچ (جمع کل)",
      group_day: "روز",
      group_week: "هفته",
      group_agent: "پشتیبان",
      group_tier: "سطح",
      group_channel: "کانال",
      group_language: "زبان",
      report_show: "نمایش",
      report_csv: "دریافت CSV",
      report_period: "{from} تا {to} (روزهای UTC)",
      report_scope_own: "آمار خود شما.",
      report_scope_all: "آمار همهٔ تیم.",
      report_total: "جمع کل",
      report_nobody: "بی‌پشتیبان (ربات، گفت‌وگوهای تازه)",
      report_week_of: "هفتهٔ {date}",
      chart_volume: "گفت‌وگوها",
      chart_times: "زمان‌های میانه (دقیقه)",
      chart_quality: "کیفیت (٪)",
      kpi_group: "دسته",
      kpi_threads_created: "گفت‌وگوهای تازه",
      kpi_threads_resolved: "گفت‌وگوهای بسته‌شده",
      kpi_first_response: "نخستین پاسخ (میانه)",
      kpi_first_response_p90: "نخستین پاسخ (صدک ۹۰)",
      kpi_next_response: "پاسخ بعدی (میانه)",
      kpi_resolution: "زمان حل به دست پشتیبان (میانه)",
      kpi_fcr: "حل در نخستین تماس",
      kpi_reopen: "بازگشایی‌شده",
      kpi_containment: "حل‌شده به دست ربات",
      kpi_handoff: "نرخ ارجاع به پشتیبان",
      kpi_csat: "رضایت مشتری (راضی)",
      kpi_csat_responses: "پاسخ‌های نظرسنجی رضایت",
      kpi_csat_sent: "نظرسنجی‌های رضایتِ فرستاده‌شده",
      kpi_csat_response_rate: "نرخ پاسخ به نظرسنجی رضایت",
      kpi_threads_merged: "بسته‌شده با ادغام",
      kpi_nps: "NPS",
      kpi_csat_mean: "رضایت (میانگین از ۵)",
      kpi_nps_responses: "پاسخ‌های NPS",
      kpi_nps_sent: "نظرسنجی‌های NPSِ فرستاده‌شده",
      kpi_nps_response_rate: "نرخ پاسخ به نظرسنجی NPS",
      kpi_first_response_business: "نخستین پاسخ در ساعت کاری (میانه)",
      kpi_next_response_business: "پاسخ بعدی در ساعت کاری (میانه)",
      kpi_resolution_business: "حل شدن در ساعت کاری (میانه)",
      kpi_sla_first_response: "رعایت SLA: نخستین پاسخ",
      kpi_sla_next_response: "رعایت SLA: پاسخ بعدی",
      kpi_sla_resolution: "رعایت SLA: حل شدن",
      kpi_sla_breaches: "نقض‌های SLA",
      kpi_bot_helped: "پاسخ ربات کمک کرد",
      kpi_backlog: "باز در این لحظه",
      kpi_oldest: "قدیمی‌ترین باز",
      no_data: "—",
      priority: "اولویت",
      priority_urgent: "فوری",
      priority_high: "بالا",
      priority_normal: "عادی",
      priority_low: "پایین",
      pending: "در انتظار مشتری",
      pending_badge: "در انتظار مشتری",
      due_first_response: "مهلت نخستین پاسخ {time}",
      due_next_response: "مهلت پاسخ {time}",
      due_resolution: "مهلت حل {time}",
      sla_breached: "از مهلت گذشته",
      sla_warning: "نزدیک به مهلت",
      sort: "ترتیب",
      sort_default: "اولویت، سپس زمان انتظار",
      sort_due: "نزدیک‌ترین مهلت",
      priority_changed: "اولویت تغییر کرد.",
      pending_set: "در انتظار مشتری: زمان‌سنج‌ها متوقف شدند.",
      pending_cleared: "زمان‌سنج‌ها دوباره به کار افتادند.",
      back: "بازگشت",
      customer_details: "مشتری",
      at_time: "{date}، {time}",
      channel_webchat: "گفت‌وگوی وب",
      channel_email: "ایمیل",
      channel_telegram: "تلگرام",
      channel_api: "API",
      channel_phone: "تلفن",
      show_original: "نمایش ایمیل اصلی",
      hide_original: "پنهان کردن ایمیل اصلی",
      subject: "موضوع: {subject}",
      reason_agent_offline: "پشتیبان آفلاین شد",
      reason_agent_deactivated: "حساب پشتیبان غیرفعال شد",
      reason_merged: "به دست پشتیبان ادغام شد",
      reason_no_bot: "رباتی پیکربندی نشده است",
      reason_bot_did_not_help: "پاسخ ربات کمکی نکرد",
      reason_no_confident_answer: "ربات پاسخ مطمئنی نداشت",
      reason_asked_for_person: "مشتری گفت‌وگو با پشتیبان را خواست",
      reason_faq_hands_off: "این پرسش باید به پشتیبان سپرده شود",
      action_requeue: "به صف برگشت",
      invite_title: "گذرواژهٔ خود را برگزینید",
      invite_submit: "ذخیره و ورود",
      invite_done: "گذرواژه ثبت شد؛ با آن وارد شوید.",
      invite_used: "این دعوت‌نامه پیش‌تر به کار رفته است؛ وارد شوید یا از مدیر دعوت‌نامهٔ تازه بخواهید.",
      invite_invalid: "این دعوت‌نامه معتبر نیست، منقضی شده یا پس گرفته شده است؛ از مدیر دعوت‌نامهٔ تازه بخواهید.",
      password_short: "گذرواژه دست‌کم ۸ نویسه لازم دارد.",
      session_ended: "نشست شما به پایان رسیده است؛ دوباره وارد شوید. آنچه می‌نوشتید نگه داشته شده و فرستاده نشده است.",
      more_actions: "کارهای بیشتر",
      history: "گفت‌وگو",
      pages: "صفحه‌ها",
      queues: "صف‌ها",
      conflict_taken: "همکار دیگری این گفت‌وگو را برداشته است.",
      conflict_claim_first: "پیش از پاسخ دادن، این گفت‌وگو را بردارید.",
      conflict_resolved: "این گفت‌وگو بسته شده است؛ پیام بعدی مشتری آن را دوباره باز می‌کند.",
      conflict_at_capacity: "این پشتیبان به سقف گفت‌وگوهای باز خود رسیده است.",
      conflict_not_waiting: "این گفت‌وگو دیگر در صف نیست.",
      conflict_changed: "گفت‌وگو در این میان تغییر کرد؛ اکنون همان‌گونه که هست نمایش داده می‌شود.",
      conflict_no_channel: "کانالی برای پاسخ به این گفت‌وگو نیست.",
      conflict_unverified_identity: "این نشانی تأیید نشده است؛ از راه آخرین پیام مشتری یا یک نشانی تأییدشده پاسخ دهید.",
      conflict_unreachable: "مشتری از این راه در دسترس نیست؛ نشانی دیگری برگزینید.",
    },
    ar: {
      app_title: "پاسخ — لوحة موظفي الدعم",
      loading: "جارٍ التحميل…",
      email: "البريد الإلكتروني",
      password: "كلمة المرور",
      sign_in: "تسجيل الدخول",
      sign_out: "تسجيل الخروج",
      language: "اللغة",
      presence: "الحالة",
      presence_online: "متاح",
      presence_away: "بعيد",
      presence_offline: "غير متصل",
      tab_queue: "قائمة الانتظار",
      tab_mine: "محادثاتي",
      tab_all: "كل المفتوحة",
      tab_low_rating: "تقييمات منخفضة",
      low_rating_badge: "تقييم منخفض",
      queue_empty: "لا شيء هنا الآن.",
      queue_more: "محادثات أخرى",
      pick_thread: "اختر محادثة من القائمة.",
      claim: "استلام",
      take_over: "استلام من الروبوت",
      attach: "إرفاق ملفات",
      transfer_to_tier: "…أو إلى المستوى",
      release: "إعادة إلى القائمة",
      resolve: "إغلاق",
      resolve_survey: "اسأل العميل عن رأيه",
      escalate: "تصعيد",
      transfer: "تحويل",
      reason: "السبب",
      agent_email: "بريد الزميل",
      canned: "ردود جاهزة…",
      reply_via: "الرد عبر",
      internal_note: "ملاحظة داخلية",
      reply_placeholder: "اكتب ردًا…",
      send: "إرسال",
      audit: "السجل",
      tier: "المستوى {n}",
      tier_to: "إلى المستوى {n}",
      status_bot: "الروبوت",
      status_queued: "في الانتظار",
      status_assigned: "مع موظف",
      status_resolved: "مغلقة",
      assigned_to: "مع {name}",
      waiting: "في الانتظار منذ {time}",
      customer: "العميل #{id}",
      thread: "المحادثة #{id}",
      earlier_thread: "محادثة سابقة #{id} ({status})",
      author_customer: "العميل",
      author_bot: "الروبوت",
      author_agent: "الموظف",
      author_system: "النظام",
      preview_author: "{author}:",
      internal: "ملاحظة",
      unverified_sender: "مرسل غير موثّق",
      unverified_sender_hint: "تعذّر التحقق من عنوان مرسل هذه الرسالة (SPF/DKIM/DMARC): ربما كتبها أي شخص.",
      verified: "موثّق",
      not_delivered: "لم تُسلَّم: {reason}",
      not_seen: "لم تُشاهَد بعد",
      not_seen_resending: "لم تُشاهَد بعد — جارٍ الإرسال عبر {channel}",
      not_seen_resent: "لم تُشاهَد بعد — أُرسلت عبر {channel} في {time}",
      not_seen_resend_failed: "لم تُشاهَد بعد — لم تُسلَّم عبر {channel}: {reason}",
      delivery_retrying: "لم تُسلَّم بعد، ستُعاد المحاولة: {reason}. المحاولة التالية {when}",
      unreachable: "لا يمكن الوصول: {reason}",
      attachment: "مرفق: {name} ({size} بايت)",
      claim_ours: "يدّعي {address} (العميل #{id}) — غير مُثبت",
      claim_theirs: "العميل #{id} يدّعي {address} — غير مُثبت",
      claim_alone: "يدّعي {address} — غير مُثبت",
      merge: "دمج",
      merge_confirm: "دمج العميل #{other} مع هذا العميل؟ تصبح عناوينهما ومحادثاتهما عميلًا واحدًا.",
      customer_typing: "العميل يكتب…",
      live_on: "مباشر",
      live_off: "إعادة الاتصال…",
      wrong_credentials: "البريد أو كلمة المرور غير صحيحة.",
      too_many: "محاولات كثيرة؛ انتظر قليلًا ثم حاول مجددًا.",
      csrf_reload: "الصفحة قديمة؛ أعد تحميلها.",
      failed: "لم ينجح ذلك: {message}",
      claimed: "المحادثة معك الآن.",
      escalated: "تم التصعيد.",
      transferred: "تم التحويل.",
      resolved: "تم الإغلاق.",
      released: "عادت إلى القائمة.",
      sent: "تم الإرسال.",
      note_saved: "حُفظت الملاحظة.",
      new_in_queue: "محادثة جديدة في القائمة.",
      action_claim: "استلم",
      action_release: "أعاد إلى القائمة",
      action_transfer: "حوّل",
      action_transfer_tier: "نقل إلى مستوى آخر",
      action_escalate: "صعّد",
      action_resolve: "أغلق",
      action_handoff: "أُحيلت إلى القائمة",
      action_reopen: "أُعيد فتحها",
      action_assign: "أُسندت",
      action_sign_in: "سجّل الدخول",
      action_priority: "غيّر الأولوية",
      action_pending: "جعلها بانتظار العميل",
      action_pending_end: "أنهى انتظار العميل",
      action_sla_warning: "اقتربت المهلة",
      action_sla_breach: "تجاوزت المهلة",
      target_first_response: "أول رد",
      target_next_response: "الرد التالي",
      target_resolution: "الحل",
      priority_from_to: "من {from} إلى {to}",
      actor_bot: "الروبوت",
      actor_system: "النظام",
      actor_customer: "العميل",
      page_threads: "المحادثات",
      page_reports: "التقارير",
      report_from: "من",
      report_to: "حتى نهاية",
      report_group_by: "التجميع حسب",
      group_none: "لا شيء (المجموع)",
      group_day: "اليوم",
      group_week: "الأسبوع",
      group_agent: "الموظف",
      group_tier: "المستوى",
      group_channel: "القناة",
      group_language: "اللغة",
      report_show: "عرض",
      report_csv: "تنزيل CSV",
      report_period: "{from} – {to} (أيام UTC)",
      report_scope_own: "أرقامك أنت.",
      report_scope_all: "أرقام الفريق كله.",
      report_total: "المجموع",
      report_nobody: "بلا موظف (الروبوت، المحادثات الجديدة)",
      report_week_of: "أسبوع {date}",
      chart_volume: "المحادثات",
      chart_times: "الأزمنة الوسيطة (بالدقائق)",
      chart_quality: "الجودة (٪)",
      kpi_group: "المجموعة",
      kpi_threads_created: "محادثات جديدة",
      kpi_threads_resolved: "محادثات محلولة",
      kpi_first_response: "أول رد (الوسيط)",
      kpi_first_response_p90: "أول رد (المئين 90)",
      kpi_next_response: "الرد التالي (الوسيط)",
      kpi_resolution: "زمن الحل على يد الموظفين (الوسيط)",
      kpi_fcr: "الحل من أول تواصل",
      kpi_reopen: "أعيد فتحها",
      kpi_containment: "حلها الروبوت",
      kpi_handoff: "نسبة التحويل إلى موظف",
      kpi_csat: "رضا العملاء (راضون)",
      kpi_csat_responses: "إجابات استبيان الرضا",
      kpi_csat_sent: "استبيانات الرضا المرسلة",
      kpi_csat_response_rate: "نسبة الرد على استبيان الرضا",
      kpi_threads_merged: "أغلقت بالدمج",
      kpi_nps: "NPS",
      kpi_csat_mean: "الرضا (المتوسط من ٥)",
      kpi_nps_responses: "إجابات NPS",
      kpi_nps_sent: "استبيانات NPS المرسلة",
      kpi_nps_response_rate: "نسبة الرد على استبيان NPS",
      kpi_first_response_business: "الرد الأول في ساعات العمل (الوسيط)",
      kpi_next_response_business: "الرد التالي في ساعات العمل (الوسيط)",
      kpi_resolution_business: "الحل في ساعات العمل (الوسيط)",
      kpi_sla_first_response: "الالتزام باتفاقية الخدمة: الرد الأول",
      kpi_sla_next_response: "الالتزام باتفاقية الخدمة: الرد التالي",
      kpi_sla_resolution: "الالتزام باتفاقية الخدمة: الحل",
      kpi_sla_breaches: "خروقات اتفاقية الخدمة",
      kpi_bot_helped: "أفادت إجابة الروبوت",
      kpi_backlog: "مفتوحة الآن",
      kpi_oldest: "أقدم مفتوحة",
      no_data: "—",
      priority: "الأولوية",
      priority_urgent: "عاجلة",
      priority_high: "عالية",
      priority_normal: "عادية",
      priority_low: "منخفضة",
      pending: "بانتظار العميل",
      pending_badge: "بانتظار العميل",
      due_first_response: "موعد أول رد {time}",
      due_next_response: "موعد الرد {time}",
      due_resolution: "موعد الحل {time}",
      sla_breached: "تجاوز المهلة",
      sla_warning: "اقتربت المهلة",
      sort: "الترتيب",
      sort_default: "الأولوية ثم مدة الانتظار",
      sort_due: "الأقرب موعدًا",
      priority_changed: "تغيّرت الأولوية.",
      pending_set: "بانتظار العميل: توقفت المؤقتات.",
      pending_cleared: "عادت المؤقتات إلى العمل.",
      back: "رجوع",
      customer_details: "العميل",
      at_time: "{date}، {time}",
      channel_webchat: "الدردشة",
      channel_email: "البريد",
      channel_telegram: "تيليجرام",
      channel_api: "API",
      channel_phone: "الهاتف",
      show_original: "عرض الرسالة الأصلية",
      hide_original: "إخفاء الرسالة الأصلية",
      subject: "الموضوع: {subject}",
      reason_agent_offline: "أصبح الموظف غير متصل",
      reason_agent_deactivated: "عُطّل حساب الموظف",
      reason_merged: "دمجه موظف",
      reason_no_bot: "لا يوجد روبوت مُعدّ",
      reason_bot_did_not_help: "لم يُفد رد الروبوت",
      reason_no_confident_answer: "لم يجد الروبوت ردًا واثقًا",
      reason_asked_for_person: "طلب العميل التحدث إلى موظف",
      reason_faq_hands_off: "هذا السؤال يُحال إلى موظف",
      action_requeue: "أُعيدت إلى القائمة",
      invite_title: "اختر كلمة المرور",
      invite_submit: "حفظ وتسجيل الدخول",
      invite_done: "تم حفظ كلمة المرور؛ سجّل الدخول بها.",
      invite_used: "استُخدمت هذه الدعوة من قبل؛ سجّل الدخول أو اطلب دعوة جديدة من المدير.",
      invite_invalid: "هذه الدعوة غير صالحة أو منتهية أو مسحوبة؛ اطلب دعوة جديدة من المدير.",
      password_short: "تحتاج كلمة المرور إلى ٨ أحرف على الأقل.",
      session_ended: "انتهت جلستك؛ سجّل الدخول مرة أخرى. ما كنت تكتبه محفوظ ولم يُرسل.",
      more_actions: "إجراءات أخرى",
      history: "المحادثة",
      pages: "الصفحات",
      queues: "قوائم الانتظار",
      conflict_taken: "زميل آخر استلم هذه المحادثة.",
      conflict_claim_first: "استلم هذه المحادثة قبل الرد.",
      conflict_resolved: "هذه المحادثة مغلقة؛ تعيد رسالة العميل التالية فتحها.",
      conflict_at_capacity: "بلغ هذا الموظف الحد الأقصى من المحادثات المفتوحة.",
      conflict_not_waiting: "لم تعد هذه المحادثة في قائمة الانتظار.",
      conflict_changed: "تغيّرت المحادثة في الأثناء؛ وهي معروضة الآن كما هي.",
      conflict_no_channel: "لا توجد قناة للرد على هذه المحادثة.",
      conflict_unverified_identity: "هذا العنوان غير موثّق؛ ردّ حيث كتب العميل آخر مرة أو على عنوان موثّق.",
      conflict_unreachable: "لا يمكن الوصول إلى العميل هناك؛ اختر عنوانًا آخر.",
    },
  };
  const RTL = new Set(["fa", "ar"]);
  // Persian and Arabic-Indic digits (and the Solar Hijri calendar for fa, as Iran uses).
  const LOCALES = { fa: "fa-IR-u-ca-persian", ar: "ar-u-nu-arab", en: "en-GB" };
  const LANG_KEY = "pasokh.console.lang";

  const QUEUE_PAGE = 50; // threads per page of the queue list

  const state = {
    lang: "fa",
    agent: null,
    csrf: null,
    view: "queue",
    sort: "", // "" the server's order (priority, then waiting); "due": soonest deadline first
    page: "threads",
    report: null, // the last summary shown on the Reports page
    surveyOnResolve: true, // the Resolve box's default (the server's surveys.send_by_default)
    charts: {},
    threads: [],
    queueNext: null, // the cursor after the last page of the queue list shown
    queuePages: 1, // pages of the queue list shown: a reload reads as many again
    queueRead: 0, // bumped by each (re)load: a page read for an older list is dropped
    queueLoadingMore: false,
    knownQueued: new Set(),
    queuePrimed: false, // the queue was read once: threads queued after that are new
    current: null, // the open thread's detail
    currentId: null,
    threadRead: 0, // bumped by each read of the open thread and each action on it
    threadReadsOpen: 0, // reads in flight: the thread view is aria-busy meanwhile
    actionsOpen: 0, // actions in flight: a read not made by one of them is dropped
    sending: false, // a reply is on its way: no second one until it is answered
    replyKey: null, // {what, key}: the idempotency key of the reply being composed
    canned: [],
    socket: null,
    socketRetry: 0,
    reloadQueueTimer: null,
    reloadThreadTimer: null,
    typingTimer: null,
  };

  const $ = (id) => document.getElementById(id);

  // Pages other files add (console-admin.js): name -> {allowed(), show(container), render()}.
  const EXTRA_PAGES = {};
  // What other files listen to (console-notify.js): "event" (a socket event), "queue"
  // (the queue list was read: {threads, fresh}), "thread" (a thread was opened: its id),
  // "started" (signed in), "language" (the language changed).
  const LISTENERS = {};
  function emit(name, detail) {
    for (const listener of LISTENERS[name] || []) {
      try {
        listener(detail);
      } catch (error) {
        console.error(error);
      }
    }
  }

  // The one way this file makes elements: attributes by property, text by textContent.
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (value === undefined || value === null || value === false) continue;
        if (key === "class") node.className = value;
        else if (key === "text") node.textContent = String(value);
        else if (key === "dataset") Object.assign(node.dataset, value);
        else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value === true ? "" : String(value));
      }
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function t(key, vars) {
    const table = I18N[state.lang] || I18N.en;
    let text = table[key] !== undefined ? table[key] : I18N.en[key] !== undefined ? I18N.en[key] : key;
    if (vars) {
      for (const [name, value] of Object.entries(vars)) text = text.split(`{${name}}`).join(String(value));
    }
    return text;
  }

  // Text a customer (or a remote server) wrote: names, addresses, file names, reasons.
  // Each goes in its own bidi isolate, so neither a right-to-left name nor a stray
  // U+202E inside it can reorder the words around it.
  function isolated(value) {
    return el("bdi", { class: "customer-supplied", text: value });
  }

  // The same for a string that cannot hold elements (an <option>): FSI ... PDI.
  function isolatedText(value) {
    return `\u2068${value}\u2069`;
  }

  // t() as nodes, each variable in its own isolate; for el()'s children.
  function tIsolated(key, vars) {
    const template = t(key);
    const nodes = [];
    let start = 0;
    for (const match of template.matchAll(/\{(\w+)\}/g)) {
      if (!(match[1] in vars)) continue;
      if (match.index > start) nodes.push(template.slice(start, match.index));
      nodes.push(isolated(String(vars[match[1]])));
      start = match.index + match[0].length;
    }
    if (start < template.length) nodes.push(template.slice(start));
    return nodes;
  }

  function num(value) {
    return new Intl.NumberFormat(LOCALES[state.lang] || "en").format(value);
  }

  function when(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "";
    // Date and time apart, joined by the language's own pattern: Intl puts a Latin
    // comma between them even in Persian («۱۴۰۵/۹/۷, ۲۲:۲۲»).
    const locale = LOCALES[state.lang] || "en";
    return t("at_time", {
      date: new Intl.DateTimeFormat(locale, { dateStyle: "short" }).format(date),
      time: new Intl.DateTimeFormat(locale, { timeStyle: "short" }).format(date),
    });
  }

  // Channel names come from the server; only a safe subset goes into a class name.
  function safeClass(prefix, value) {
    return `${prefix}-${String(value || "unknown").toLowerCase().replace(/[^a-z0-9_-]/g, "")}`;
  }

  function channelBadge(channel) {
    return el("span", {
      class: `badge ${safeClass("ch", channel)}`,
      dataset: { channel: String(channel || "") },
      text: channelName(channel),
    });
  }

  // A channel's name in the console's language; a channel we have no words for, as named.
  function channelName(channel) {
    const key = `channel_${channel}`;
    return I18N.en[key] !== undefined ? t(key) : String(channel || "?");
  }

  function statusBadge(status) {
    return el("span", { class: `badge ${safeClass("status", status)}`, text: t(`status_${status}`) });
  }

  // ---- service levels ------------------------------------------------------

  const PRIORITIES = ["urgent", "high", "normal", "low"];
  const SLA_TARGETS = ["first_response", "next_response", "resolution"];

  function priorityBadge(priority) {
    const known = PRIORITIES.includes(priority) ? priority : "normal";
    return el("span", {
      class: `badge priority ${safeClass("priority", known)}`,
      dataset: { priority: known },
      text: t(`priority_${known}`),
    });
  }

  // The running clock whose deadline comes first: {target, due} or null (none running,
  // or the thread waits on the customer, when the server shows no deadlines).
  function nearestDue(thread) {
    const sla = thread.sla || {};
    let nearest = null;
    for (const target of SLA_TARGETS) {
      const due = sla[`${target}_due`];
      if (!due) continue;
      const at = new Date(due).getTime();
      if (Number.isNaN(at)) continue;
      if (!nearest || at < nearest.at) nearest = { target, due, at };
    }
    return nearest;
  }

  // The server's word, not the browser's clock: "breached" once the scheduler fired a
  // breach on the thread (as GET /api/v1/threads?breached=true counts it); "warning"
  // when it fired a warning for a target whose clock still runs.
  function slaState(thread) {
    const sla = thread.sla || {};
    const fired = sla.breaches || [];
    if (fired.some((alarm) => alarm.kind === "breach")) return "breached";
    const warned = fired.some((alarm) => alarm.kind === "warning" && sla[`${alarm.target}_due`]);
    return warned ? "warning" : null;
  }

  // Priority, the nearest deadline, the breach badge and "waiting on customer".
  function slaParts(thread) {
    const parts = [priorityBadge(thread.priority)];
    const alarm = slaState(thread);
    if (alarm) {
      parts.push(
        el("span", {
          class: `badge sla-badge sla-${alarm}`,
          dataset: { sla: alarm },
          text: t(alarm === "breached" ? "sla_breached" : "sla_warning"),
        }),
      );
    }
    if (thread.pending) parts.push(el("span", { class: "badge pending-badge", text: t("pending_badge") }));
    if (thread.low_rating_at) parts.push(el("span", { class: "badge low-rating-badge", text: t("low_rating_badge") }));
    const nearest = nearestDue(thread);
    if (nearest) {
      parts.push(
        el(
          "span",
          { class: "due", dataset: { target: nearest.target } },
          ...t(`due_${nearest.target}`)
            .split(/(\{time\})/)
            .filter((piece) => piece)
            .map((piece) =>
              piece === "{time}" ? el("time", { datetime: nearest.due, text: when(nearest.due) }) : piece,
            ),
        ),
      );
    }
    return parts;
  }

  // `remember`: the agent picked it, so it wins over their profile's language next time.
  function applyLanguage(lang, remember) {
    state.lang = I18N[lang] ? lang : "en";
    if (remember) {
      try {
        localStorage.setItem(LANG_KEY, state.lang);
      } catch (_) {
        /* storage may be disabled; the choice then lasts for this page only */
      }
    }
    document.documentElement.lang = state.lang;
    document.documentElement.dir = RTL.has(state.lang) ? "rtl" : "ltr";
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll("[data-i18n-label]")) {
      node.setAttribute("aria-label", t(node.dataset.i18nLabel));
    }
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
      node.placeholder = t(node.dataset.i18nPlaceholder);
    }
    for (const select of document.querySelectorAll(".lang-select")) select.value = state.lang;
    document.title = t("app_title");
    document.dispatchEvent(new CustomEvent("pasokh:language", { detail: state.lang }));
    renderMe();
    renderLive();
    renderQueue();
    if (state.current) renderThread();
    renderCanned();
    renderReport();
    const page = EXTRA_PAGES[state.page];
    if (page && page.render) page.render();
    emit("language", state.lang);
    document.dispatchEvent(new CustomEvent("pasokh:language", { detail: state.lang }));
  }

  let noticeTimer = null;
  function notify(text) {
    const node = $("notice");
    node.textContent = text;
    node.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => {
      node.hidden = true;
    }, 6000);
  }

  // `code`: the server's word for why (error.code, on some 409s), shown in the
  // console's own language by failed().
  class ApiError extends Error {
    constructor(status, message, code) {
      super(message);
      this.status = status;
      this.code = code || null;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = state.csrf || "";
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const message = (data && data.error && data.error.message) || response.statusText;
      if (response.status === 401 && !path.startsWith("/console/")) sessionEnded();
      throw new ApiError(response.status, message, data && data.error && data.error.code);
    }
    return data;
  }

  // Every row of a paged list (`{<key>: [...], next}`): follows `next` to the end, so a
  // picker or an admin table shows everything however long the list grows.
  async function apiAll(path, key) {
    const rows = [];
    let cursor = null;
    do {
      const separator = path.includes("?") ? "&" : "?";
      const page = await api("GET", cursor ? `${path}${separator}cursor=${encodeURIComponent(cursor)}` : path);
      rows.push(...(page[key] || []));
      cursor = page.next || null;
    } while (cursor);
    return rows;
  }

  // The server's reason in the agent's language when it names one we have words for
  // (error.code); otherwise its own message. Never a guess from the status alone: a
  // 409 is "claim it first" as often as "someone else has it".
  function failed(error) {
    const key = error instanceof ApiError && error.code ? `conflict_${error.code}` : null;
    if (key && I18N.en[key] !== undefined) notify(t(key));
    else notify(t("failed", { message: error.message || String(error) }));
  }


  // ---- sign-in -------------------------------------------------------------

  async function loadSession() {
    const data = await api("GET", "/console/session");
    if (data.authenticated) {
      startConsole(data);
    } else {
      $("signin-csrf").value = data.login_csrf;
      showSignIn(data.login_csrf);
    }
  }

  // The session ran out (or was revoked) under a signed-in agent: the sign-in form
  // says so. The console keeps the open thread and the reply box as they are, so
  // signing in again finds the draft where it was.
  function sessionEnded() {
    if (!state.agent) return;
    showSignIn();
    $("signin-error").textContent = t("session_ended");
  }

  function showSignIn(loginCsrf) {
    stopSocket();
    state.agent = null;
    state.csrf = null;
    $("loading").hidden = true;
    $("console").hidden = true;
    $("signin").hidden = false;
    if (!loginCsrf) {
      api("GET", "/console/session")
        .then((data) => {
          if (data.login_csrf) $("signin-csrf").value = data.login_csrf;
        })
        .catch(() => {});
    }
    $("signin-email").focus();
  }

  // Signs in; true once the console has started. Otherwise the reason is shown under
  // the sign-in form.
  async function signInWith(email, password) {
    const error = $("signin-error");
    error.textContent = "";
    $("signin-notice").textContent = "";
    try {
      const response = await fetch("/console/login", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": $("signin-csrf").value },
        body: JSON.stringify({ email, password }),
      });
      const data = await response.json().catch(() => ({}));
      if (response.ok) {
        $("signin-password").value = "";
        startConsole(data);
        // The form that had focus is gone: focus goes to the console's heading, so a
        // screen reader announces where the agent is and Tab starts from the top.
        $("console-heading").focus();
        return true;
      }
      const messages = { 401: "wrong_credentials", 429: "too_many", 403: "csrf_reload" };
      error.textContent = messages[response.status]
        ? t(messages[response.status])
        : t("failed", { message: (data.error && data.error.message) || response.status });
    } catch (err) {
      error.textContent = t("failed", { message: err.message });
    }
    return false;
  }

  async function signIn(event) {
    event.preventDefault();
    $("signin-submit").disabled = true;
    try {
      await signInWith($("signin-email").value, $("signin-password").value);
    } finally {
      $("signin-submit").disabled = false;
    }
  }

  async function signOut() {
    try {
      await api("POST", "/console/logout");
    } catch (_) {
      /* the session may already be gone; show the sign-in form either way */
    }
    state.current = null;
    state.currentId = null;
    showSignIn();
  }

  function startConsole(data) {
    state.agent = data.agent;
    state.csrf = data.csrf_token;
    state.surveyOnResolve = data.survey_on_resolve !== false;
    $("resolve-survey").checked = state.surveyOnResolve;
    let stored = null;
    try {
      stored = localStorage.getItem(LANG_KEY);
    } catch (_) {
      stored = null;
    }
    applyLanguage(stored || state.agent.language || "fa");
    $("loading").hidden = true;
    $("signin").hidden = true;
    $("console").hidden = false;
    // Tier 1 watches the bot's threads too (to take one over).
    document.querySelector('.tab[data-view="all"]').hidden = !(state.agent.is_admin || state.agent.tier === 1);
    for (const tab of document.querySelectorAll(".page-tab.admin-only")) tab.hidden = !state.agent.is_admin;
    buildTierChoices();
    selectView(state.view);
    selectPage(state.page);
    startSocket();
    loadCanned();
    loadAgents();
    emit("started", state.agent);
    // Opening the console's socket marks an offline agent online (server side).
    $("presence-select").value = state.agent.presence === "away" ? "away" : "online";
  }

  function renderMe() {
    const me = $("me");
    me.textContent = "";
    if (!state.agent) return;
    me.append(
      el("span", { text: state.agent.name }),
      " ",
      el("span", { class: "badge", text: t("tier", { n: num(state.agent.tier) }) }),
    );
  }

  // ---- presence ------------------------------------------------------------

  async function setPresence(status) {
    $("presence-select").value = status;
    try {
      await api("POST", "/api/v1/agents/me/presence", { status });
      if (state.agent) state.agent.presence = status;
    } catch (error) {
      failed(error);
    }
  }

  // ---- live updates --------------------------------------------------------

  function renderLive() {
    const live = $("live");
    const on = state.socket && state.socket.readyState === WebSocket.OPEN;
    live.dataset.state = on ? "on" : "off";
    live.textContent = on ? t("live_on") : t("live_off");
  }

  function startSocket() {
    stopSocket();
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/console`);
    state.socket = socket;
    socket.addEventListener("open", () => {
      renderLive();
      // Anything that changed while we were away: read it again.
      reloadQueueSoon();
      if (state.currentId) reloadThreadSoon();
    });
    socket.addEventListener("message", (event) => {
      let data;
      try {
        data = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      // The server says hello only to a socket it let in (one over a cap is opened,
      // then closed): only then does the back-off start again from its shortest wait.
      if (data.type === "hello") state.socketRetry = 0;
      onEvent(data);
    });
    socket.addEventListener("close", (event) => {
      if (state.socket !== socket) return;
      state.socket = null;
      renderLive();
      if (event.code === 4401 || !state.agent) {
        sessionEnded();
        return;
      }
      // Too many sockets for this session (4429) or a busy server (1013): wait 8 s or
      // more, not 0.5 s, as the web chat widget does.
      if (event.code === 4429 || event.code === 1013) {
        state.socketRetry = Math.max(state.socketRetry, 5);
      }
      const delay = Math.min(30000, 500 * 2 ** state.socketRetry++) * (0.5 + Math.random());
      setTimeout(() => {
        if (state.agent && !state.socket) startSocket();
      }, delay);
    });
  }

  function stopSocket() {
    const socket = state.socket;
    state.socket = null;
    if (socket) socket.close();
  }

  function onEvent(data) {
    emit("event", data);
    if (data.type === "thread" || data.type === "message" || data.type === "resync") {
      reloadQueueSoon();
      if (data.thread_id === state.currentId) reloadThreadSoon();
    } else if (data.type === "queue") {
      // A thread left this agent's sight (escalated, given to someone else): no id is
      // sent, the list is read again.
      reloadQueueSoon();
    } else if (data.type === "presence" && state.agent && data.agent_id === state.agent.id) {
      state.agent.presence = data.status;
      $("presence-select").value = data.status;
    } else if (data.type === "sla" || data.type === "survey") {
      // A warning or breach fired, or a survey was answered: the badges change.
      reloadQueueSoon();
      if (data.thread_id === state.currentId) reloadThreadSoon();
    } else if (data.type === "customers_merged" && state.current) {
      reloadThreadSoon();
    } else if (data.type === "typing" && data.who === "customer" && data.thread_id === state.currentId) {
      const typing = $("typing");
      typing.hidden = false;
      clearTimeout(state.typingTimer);
      state.typingTimer = setTimeout(() => {
        typing.hidden = true;
      }, 4000);
    }
  }

  function reloadQueueSoon() {
    clearTimeout(state.reloadQueueTimer);
    state.reloadQueueTimer = setTimeout(loadQueue, 150);
  }

  function reloadThreadSoon() {
    clearTimeout(state.reloadThreadTimer);
    state.reloadThreadTimer = setTimeout(() => openThread(state.currentId, true), 150);
  }

  // ---- tab lists -----------------------------------------------------------
  //
  // The page tabs and the queue tabs follow the ARIA tab pattern: the selected tab is
  // the one in the Tab order (the others are reached with the arrow keys, Home and
  // End, which select them), so Tab goes from the tabs straight to what they show.

  function visibleTabs(list) {
    return [...list.querySelectorAll('[role="tab"]')].filter((tab) => !tab.hidden);
  }

  function syncTabs(list) {
    if (!list) return;
    const tabs = visibleTabs(list);
    const selected = tabs.find((tab) => tab.getAttribute("aria-selected") === "true") || tabs[0];
    for (const tab of list.querySelectorAll('[role="tab"]')) {
      tab.tabIndex = tab === selected ? 0 : -1;
    }
  }

  function onTabKey(event) {
    const list = event.currentTarget;
    const tabs = visibleTabs(list);
    const at = tabs.indexOf(document.activeElement);
    if (at < 0) return;
    // Arrow keys follow the reading direction: in fa/ar the next tab is on the left.
    const forward = RTL.has(state.lang) ? "ArrowLeft" : "ArrowRight";
    const back = RTL.has(state.lang) ? "ArrowRight" : "ArrowLeft";
    let next = null;
    if (event.key === forward) next = tabs[(at + 1) % tabs.length];
    else if (event.key === back) next = tabs[(at - 1 + tabs.length) % tabs.length];
    else if (event.key === "Home") next = tabs[0];
    else if (event.key === "End") next = tabs[tabs.length - 1];
    if (!next) return;
    event.preventDefault();
    next.focus();
    next.click();
  }

  // ---- the queue -----------------------------------------------------------

  function selectView(view) {
    state.view = view;
    for (const tab of document.querySelectorAll(".tab")) {
      tab.setAttribute("aria-selected", String(tab.dataset.view === view));
    }
    const selected = document.querySelector(`.tab[data-view="${view}"]`);
    if (selected) $("queue-panel").setAttribute("aria-labelledby", selected.id);
    syncTabs(document.querySelector(".tabs"));
    state.threads = [];
    state.queuePages = 1;
    renderQueue();
    loadQueue();
  }

  function queuePath() {
    const sort = state.sort === "due" ? "&sort=due" : "";
    if (state.view === "mine") return `/api/v1/threads?status=assigned&assignee=me${sort}`;
    if (state.view === "all") return `/api/v1/threads?status=open${sort}`;
    // Threads a low survey answer flagged for the team lead, whatever their status.
    if (state.view === "low") return `/api/v1/threads?low_rating=true${sort}`;
    return `/api/v1/threads?status=queued${sort}`;
  }

  function selectSort(sort) {
    state.sort = sort === "due" ? "due" : "";
    $("queue-sort").value = state.sort;
    state.queuePages = 1;
    loadQueue();
  }

  // One page of the queue list after `cursor` (null: the first).
  function queuePage(cursor) {
    const path = `${queuePath()}&limit=${QUEUE_PAGE}`;
    return api("GET", cursor ? `${path}&cursor=${encodeURIComponent(cursor)}` : path);
  }

  // Rows of `more` not in `threads` already: a thread that moved up the list (a new
  // message, a priority) between two page reads is shown once, where it was first read.
  function withoutRepeats(threads, more) {
    const seen = new Set(threads.map((thread) => thread.id));
    return threads.concat(more.filter((thread) => !seen.has(thread.id)));
  }

  // (Re)reads the queue list: as many pages as the agent has scrolled through, from the
  // top, so a reload on an event keeps the rows below the first page.
  async function loadQueue() {
    if (!state.agent) return;
    const view = state.view;
    const read = ++state.queueRead;
    try {
      let threads = [];
      let cursor = null;
      for (let pages = 0; pages < state.queuePages; pages++) {
        const data = await queuePage(cursor);
        if (read !== state.queueRead || view !== state.view) return;
        threads = withoutRepeats(threads, data.threads || []);
        cursor = data.next || null;
        if (!cursor) break;
      }
      state.queueNext = cursor;
      const fresh = threads.filter(
        (thread) => thread.status === "queued" && !state.knownQueued.has(thread.id),
      );
      // New since the first read: an empty queue at sign-in makes the next thread new too.
      const primed = state.queuePrimed;
      state.queuePrimed = true;
      if (fresh.length && primed) notify(t("new_in_queue"));
      emit("queue", { threads, fresh: primed ? fresh : [] });
      for (const thread of threads) if (thread.status === "queued") state.knownQueued.add(thread.id);
      state.threads = threads;
      renderQueue();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) failed(error);
    }
  }

  // The next page of the queue list (the "more" button, or scrolling to it).
  async function loadMoreQueue() {
    if (!state.agent || !state.queueNext || state.queueLoadingMore) return;
    const read = state.queueRead;
    state.queueLoadingMore = true;
    try {
      const data = await queuePage(state.queueNext);
      if (read !== state.queueRead) return; // the list was read again meanwhile
      state.threads = withoutRepeats(state.threads, data.threads || []);
      state.queueNext = data.next || null;
      state.queuePages += 1;
      for (const thread of state.threads) if (thread.status === "queued") state.knownQueued.add(thread.id);
      renderQueue();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) failed(error);
    } finally {
      state.queueLoadingMore = false;
    }
  }

  // The server picks the best known identity (router/identity/display.py); "Customer #n"
  // only when nothing at all is known.
  function customerName(customer, fallbackId) {
    if (customer && customer.display_name) return customer.display_name;
    if (customer && customer.name) return customer.name;
    const identities = (customer && customer.identities) || [];
    const named = identities.find((identity) => identity.display_name);
    if (named) return named.display_name;
    return t("customer", { id: num((customer && customer.id) || fallbackId || 0) });
  }

  function threadCustomer(thread) {
    if (thread.customer && typeof thread.customer === "object") return thread.customer;
    return { id: thread.customer_id, name: thread.customer_name || null };
  }

  function assigneeName(thread) {
    if (thread.assignee && typeof thread.assignee === "object") return thread.assignee.name;
    return thread.assignee_name || null;
  }

  const queueSignature = new WeakMap(); // queue item -> the markup it was built with

  // The queue re-renders on every event; an item whose content did not change keeps its
  // element, so a click that lands while the list is re-read is not lost.
  function renderQueue() {
    const list = $("thread-list");
    if (!list) return;
    const kept = new Map();
    for (const item of list.querySelectorAll(":scope > .thread-item")) kept.set(queueSignature.get(item), item);
    const items = state.threads.map((thread) => {
      const fresh = queueItem(thread);
      const signature = fresh.outerHTML;
      const same = kept.get(signature);
      if (same) {
        kept.delete(signature);
        return same;
      }
      queueSignature.set(fresh, signature);
      return fresh;
    });
    for (const stale of kept.values()) stale.remove();
    items.forEach((item, index) => {
      if (list.children[index] !== item) list.insertBefore(item, list.children[index] || null);
      item.setAttribute("aria-current", String(item.dataset.threadId === String(state.currentId)));
    });
    $("thread-list-empty").hidden = state.threads.length > 0;
    $("queue-more").hidden = !state.queueNext;
  }

  function queueItem(thread) {
    const customer = threadCustomer(thread);
    const assignee = assigneeName(thread);
    // A real button inside the list item: Enter and Space open it, and it is announced
    // as one, while the list keeps its items.
    return el(
      "li",
      { class: "thread-item", dataset: { threadId: String(thread.id) } },
      el(
        "button",
        { type: "button", class: "thread-open", onclick: () => openThread(thread.id) },
        ...queueItemRows(thread, customer, assignee),
      ),
    );
  }

  // The customer's newest words: after a hand-off or a claim the newest message is the
  // bot's or the router's own text, the same on every row, and tells an agent nothing
  // about which thread to take. Without any (a file alone), the newest message, named
  // by its author so boilerplate does not read as the customer's.
  function queuePreview(thread) {
    const said = thread.last_customer_message;
    if (said && said.text) return el("span", { class: "preview", text: said.text });
    const last = thread.last_message;
    if (!last || !last.text) return null;
    return el(
      "span",
      { class: "preview" },
      el("span", { class: "preview-author", text: t("preview_author", { author: t(`author_${last.author_kind}`) }) }),
      " ",
      isolated(last.text),
    );
  }

  function queueItemRows(thread, customer, assignee) {
    return [
      el(
        "span",
        { class: "row" },
        el("span", { class: "name", text: customerName(customer, thread.customer_id) }),
        channelBadge(thread.last_channel || thread.channel),
        statusBadge(thread.status),
        el("span", { class: "badge", text: t("tier", { n: num(thread.tier) }) }),
      ),
      el("span", { class: "row sla" }, ...slaParts(thread)),
      queuePreview(thread),
      el(
        "span",
        { class: "muted" },
        assignee
          ? t("assigned_to", { name: assignee })
          : t("waiting", { time: when(thread.queued_at || thread.updated_at || thread.created_at) }),
      ),
    ];
  }

  // ---- one thread ----------------------------------------------------------

  // Unproven claims (an address typed, never proved): hints; an admin may merge by hand.
  async function loadClaims(customerId, threadId) {
    const list = $("claims");
    let claims = [];
    try {
      claims = (await api("GET", `/api/v1/customers/${encodeURIComponent(customerId)}/claims`)).claims || [];
    } catch (_) {
      claims = [];
    }
    if (state.currentId !== threadId) return;
    list.textContent = "";
    for (const claim of claims) {
      const other = claim.other_customer_id;
      const key = !other ? "claim_alone" : claim.kind === "claimed_address" ? "claim_ours" : "claim_theirs";
      const item = el("li", { class: "muted" }, ...tIsolated(key, { address: claim.address || "", id: num(other || 0) }));
      if (other && state.agent.is_admin) {
        item.append(
          " ",
          el("button", {
            type: "button",
            class: "merge",
            text: t("merge"),
            onclick: async () => {
              if (!window.confirm(t("merge_confirm", { other: num(other) }))) return;
              try {
                await api("POST", `/api/v1/customers/${encodeURIComponent(customerId)}/merge`, { other });
              } catch (error) {
                failed(error);
              }
              openThread(state.currentId, true);
            },
          }),
        );
      }
      list.append(item);
    }
    list.hidden = !claims.length;
  }

  async function openThread(id, quiet, byAction) {
    if (!id) return;
    const switching = id !== state.currentId;
    state.currentId = id;
    if (switching) {
      $("typing").hidden = true;
      for (const item of document.querySelectorAll(".thread-item")) {
        item.setAttribute("aria-current", String(item.dataset.threadId === String(id)));
      }
    }
    // Only the newest read is shown, and none that began before an action on the thread
    // or while one is in flight: an older answer would undo what the agent just did (a
    // box just unticked ticks itself again).
    const read = ++state.threadRead;
    const stale = () => state.currentId !== id || read !== state.threadRead || (state.actionsOpen && !byAction);
    threadReading(+1);
    try {
      const data = await api("GET", `/api/v1/threads/${encodeURIComponent(id)}`);
      if (stale()) return;
      const detail = normaliseThread(data);
      detail.earlier = await loadEarlier(detail);
      if (stale()) return;
      state.current = detail;
      // The pane first: a hidden (phone) pane cannot be scrolled to the newest message.
      if (switching) showPane("thread");
      renderThread(switching);
      if (switching) emit("thread", id);
      // console-assist.js offers knowledge-base answers for the thread.
      document.dispatchEvent(new CustomEvent("pasokh:thread", { detail: id }));
      if (switching) loadCanned(id);
      loadClaims(detail.customer.id || detail.thread.customer_id, id);
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 403)) {
        state.current = null;
        state.currentId = null;
        $("thread-view").hidden = true;
        $("customer-pane").hidden = true;
        $("thread-empty").hidden = false;
      }
      if (!quiet) failed(error);
    } finally {
      threadReading(-1);
    }
  }

  function threadReading(change) {
    state.threadReadsOpen += change;
    $("thread-view").setAttribute("aria-busy", String(state.threadReadsOpen > 0));
  }

  function normaliseThread(data) {
    const thread = Object.assign({}, data.thread || data);
    const customer = data.customer || thread.customer || { id: thread.customer_id };
    return {
      thread,
      customer,
      identities: customer.identities || data.identities || [],
      messages: data.messages || thread.messages || [],
      earlierThreads: data.earlier_threads || customer.threads || [],
      audit: data.audit || [],
      earlier: [],
    };
  }

  // The customer's earlier threads, oldest first, so the whole history reads in order.
  async function loadEarlier(detail) {
    const others = detail.earlierThreads
      .filter((thread) => thread && thread.id !== detail.thread.id)
      .sort((a, b) => a.id - b.id)
      .slice(-10);
    const loaded = [];
    for (const other of others) {
      if (Array.isArray(other.messages)) {
        loaded.push({ thread: other, messages: other.messages });
        continue;
      }
      try {
        const data = await api("GET", `/api/v1/threads/${encodeURIComponent(other.id)}`);
        const inner = normaliseThread(data);
        loaded.push({ thread: inner.thread, messages: inner.messages });
      } catch (_) {
        loaded.push({ thread: other, messages: [] });
      }
    }
    return loaded;
  }

  function messageAuthor(message) {
    return message.author || message.author_kind || (message.direction === "in" ? "customer" : "agent");
  }

  function renderMessage(message) {
    const author = messageAuthor(message);
    const name = message.author_name || (message.agent && message.agent.name) || t(`author_${author}`);
    return el(
      "li",
      {
        class: `msg ${safeClass("author", author)}${message.internal ? " internal" : ""}`,
        dataset: { messageId: String(message.id) },
      },
      el(
        "div",
        { class: "meta" },
        channelBadge(message.channel),
        el("span", { class: "author", text: name }),
        message.internal ? el("span", { class: "badge internal", text: t("internal") }) : null,
        message.sender_authenticated === false
          ? el("span", {
              class: "badge unverified",
              text: t("unverified_sender"),
              title: t("unverified_sender_hint"),
            })
          : null,
        el("time", { datetime: message.created_at, text: when(message.created_at) }),
      ),
      el("p", { class: "text" }, ...withIsolatedUrls(message.text || "")),
      ...(message.attachments || []).filter((file) => !isOriginalMail(file)).map((file) =>
        el(
          "p",
          { class: "attachment muted" },
          el(
            "a",
            {
              href: attachmentUrl(file, message),
              target: "_blank",
              rel: "noopener noreferrer",
            },
            ...tIsolated("attachment", { name: file.filename || file.sha256, size: num(file.size || 0) }),
          ),
        ),
      ),
      ...(message.attachments || []).filter(isOriginalMail).map((file) => originalMail(file, message)),
      // A reply the channel refused for good (bounce, blocked bot, relay 5xx): the
      // agent must see that the customer never got it, and the channel's own words.
      message.delivery && message.delivery.status === "dead"
        ? el(
            "p",
            { class: "delivery-failed" },
            ...tIsolated("not_delivered", { reason: message.delivery.last_error || "?" }),
          )
        : null,
      notSeen(message.delivery),
      // A reply the channel deferred (a relay's 4xx, an outage) is retried for days:
      // the agent sees that it is on its way, why it is late, and when it is tried next.
      message.delivery && message.delivery.status === "pending" && message.delivery.next_attempt_at
        ? el(
            "p",
            { class: "delivery-retrying muted" },
            ...tIsolated("delivery_retrying", {
              reason: message.delivery.last_error || "?",
              when: when(message.delivery.next_attempt_at),
            }),
          )
        : null,
    );
  }

  // A reply the channel only stores until the customer comes back (web chat) that no
  // page of theirs has shown: "delivered" alone would say they have it. When it was
  // sent again where the customer is (their email), when and how.
  function notSeen(delivery) {
    if (!delivery || delivery.seen !== false || delivery.status !== "delivered") return null;
    const resent = delivery.resent;
    let words;
    if (!resent) {
      words = [t("not_seen")];
    } else {
      const channel = channelName(resent.channel);
      if (resent.status === "delivered") {
        words = tIsolated("not_seen_resent", { channel, time: when(resent.delivered_at) });
      } else if (resent.status === "dead") {
        words = tIsolated("not_seen_resend_failed", { channel, reason: resent.last_error || "?" });
      } else {
        words = tIsolated("not_seen_resending", { channel });
      }
    }
    return el("p", { class: "delivery-unseen muted" }, ...words);
  }

  // A web address in a message is left-to-right whatever the text around it: in its own
  // isolate, so in Persian or Arabic text its trailing "/" is not drawn in front of it,
  // nor does it pull the words around it out of order. It ends before closing
  // punctuation (".", "،", ")" without its "(" ...), which belongs to the sentence.
  // Shown as text, not a link: a customer's link is theirs to vouch for.
  const URL_PATTERN = /https?:\/\/[^\s<>"]+/g;
  const URL_TRAILING = /[.,;:!?'"»،؛؟…\])}]$/;
  const URL_PAIRS = { ")": "(", "]": "[", "}": "{" };

  function urlEnd(url) {
    let end = url.length;
    while (end > 0 && URL_TRAILING.test(url.slice(0, end))) {
      const last = url[end - 1];
      const open = URL_PAIRS[last];
      // A closing bracket the address opened itself stays (…/Foo_(bar)).
      if (open) {
        const inner = url.slice(0, end - 1);
        if (inner.split(open).length - 1 > inner.split(last).length - 1) break;
      }
      end -= 1;
    }
    return end;
  }

  function withIsolatedUrls(text) {
    const nodes = [];
    let start = 0;
    for (const match of text.matchAll(URL_PATTERN)) {
      const url = match[0].slice(0, urlEnd(match[0]));
      if (!url.includes("://") || url.endsWith("://")) continue;
      if (match.index > start) nodes.push(text.slice(start, match.index));
      nodes.push(el("bdi", { class: "url", dir: "ltr", text: url }));
      start = match.index + url.length;
    }
    if (start < text.length) nodes.push(text.slice(start));
    return nodes;
  }

  // The copy of the whole mail as received, which the email channel keeps with every
  // mail: read as text on demand, never rendered as HTML.
  function isOriginalMail(file) {
    return file.content_type === "message/rfc822" && file.filename === "message.eml";
  }

  function attachmentUrl(file, message) {
    // Through the open thread: it also serves its customer's earlier threads' files.
    // The message and name pick the reference clicked: the same bytes may have been
    // sent under two names, and each downloads under its own.
    const which = new URLSearchParams({ message: String(message.id) });
    if (file.filename) which.set("name", file.filename);
    return `/api/v1/threads/${encodeURIComponent(state.current.thread.id)}/attachments/${encodeURIComponent(file.sha256)}?${which}`;
  }

  function originalMail(file, message) {
    const pre = el("pre", { class: "original-text", hidden: true });
    const toggle = el("button", {
      type: "button",
      class: "link show-original",
      text: t("show_original"),
      onclick: async () => {
        if (!pre.hidden) {
          pre.hidden = true;
          toggle.textContent = t("show_original");
          return;
        }
        if (!pre.textContent) {
          try {
            const response = await fetch(toggle.dataset.url, { credentials: "same-origin" });
            if (!response.ok) throw new Error(response.statusText);
            pre.textContent = await response.text();
          } catch (error) {
            failed(error);
            return;
          }
        }
        pre.hidden = false;
        toggle.textContent = t("hide_original");
      },
    });
    toggle.dataset.url = attachmentUrl(file, message);
    return el("div", { class: "original" }, toggle, pre);
  }

  function renderThread(switching) {
    const detail = state.current;
    if (!detail) return;
    const { thread, customer } = detail;
    $("thread-empty").hidden = true;
    $("thread-view").hidden = false;
    $("customer-pane").hidden = false;
    $("customer-name").textContent = customerName(customer, thread.customer_id);
    const subject = $("thread-subject");
    subject.textContent = "";
    if (thread.subject) subject.append(...tIsolated("subject", { subject: thread.subject }));
    subject.hidden = !thread.subject;

    const identities = $("identities");
    identities.textContent = "";
    for (const identity of detail.identities) {
      identities.append(
        el(
          "li",
          null,
          channelBadge(identity.channel),
          " ",
          el("span", { class: "address", text: identity.display_name || identity.username || identity.address }),
          identity.display_name && identity.address ? el("span", { class: "muted" }, " ", isolated(identity.address)) : null,
          identity.verified ? el("span", { class: "verified", title: t("verified"), text: " ✓" }) : null,
          identity.unreachable_reason
            ? el(
                "span",
                { class: "badge unreachable" },
                ...tIsolated("unreachable", { reason: identity.unreachable_reason }),
              )
            : null,
        ),
      );
    }

    const meta = $("thread-meta");
    meta.textContent = "";
    const assignee = assigneeName(thread);
    meta.append(
      el("span", { text: t("thread", { id: num(thread.id) }) }),
      " ",
      statusBadge(thread.status),
      " ",
      el("span", { class: "badge", text: t("tier", { n: num(thread.tier) }) }),
      assignee ? ` ${t("assigned_to", { name: assignee })}` : "",
    );
    const due = $("thread-sla");
    due.textContent = "";
    due.append(...slaParts(thread).flatMap((part, i) => (i ? [" ", part] : [part])));
    $("priority-select").value = PRIORITIES.includes(thread.priority) ? thread.priority : "normal";
    $("pending-toggle").checked = thread.pending === true;

    const mine = thread.assignee_id === state.agent.id || (thread.assignee && thread.assignee.id === state.agent.id);
    const open = thread.status !== "resolved";
    // A bot thread can be taken over: the bot stays silent on it until it is released.
    $("claim").hidden = !(open && (thread.status === "queued" || thread.status === "bot"));
    $("claim").textContent = t(thread.status === "bot" ? "take_over" : "claim");
    $("release").hidden = !(open && mine);
    $("resolve").disabled = !open;
    $("escalate").disabled = !open || thread.tier >= 3;
    $("transfer").disabled = !open;
    $("priority-select").disabled = !open;
    $("pending-toggle").disabled = !open;
    buildTierChoices(thread.tier);
    buildTransferTiers(thread.tier);

    const history = $("history");
    const pane = $("thread-scroll");
    const nearBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 40;
    history.textContent = "";
    for (const earlier of detail.earlier) {
      history.append(
        el("li", {
          class: "separator",
          text: t("earlier_thread", { id: num(earlier.thread.id), status: t(`status_${earlier.thread.status}`) }),
        }),
      );
      for (const message of earlier.messages) history.append(renderMessage(message));
    }
    if (detail.earlier.length) {
      history.append(el("li", { class: "separator", text: t("thread", { id: num(thread.id) }) }));
    }
    for (const message of detail.messages) history.append(renderMessage(message));

    const replyVia = $("reply-identity");
    const previous = replyVia.value;
    replyVia.textContent = "";
    // The customer's last address, or another one they proved; never a dead one.
    const usable = detail.identities.filter(
      (identity) =>
        !identity.unreachable_reason && identity.id !== thread.last_identity_id && identity.verified,
    );
    const last = detail.identities.find((identity) => identity.id === thread.last_identity_id);
    replyVia.append(
      el("option", {
        value: "",
        text: last
          ? `${channelName(last.channel)}: ${isolatedText(last.address)}`
          : thread.last_channel
            ? channelName(thread.last_channel)
            : "—",
      }),
    );
    for (const identity of usable) {
      replyVia.append(
        el("option", {
          value: String(identity.id),
          text: `${channelName(identity.channel)}: ${isolatedText(identity.address)}`,
        }),
      );
    }
    replyVia.value = previous && [...replyVia.options].some((o) => o.value === previous) ? previous : "";

    const audit = $("audit-list");
    audit.textContent = "";
    for (const entry of detail.audit || []) audit.append(renderAudit(entry));
    renderCanned();
    // The pane's own scrollTop: scrollIntoView would scroll every scrollable ancestor,
    // the window included, and push the top bar and the queue out of sight. Last, and
    // again after layout, as the reply box's height moves the pane's bottom.
    if (switching || nearBottom) {
      pane.scrollTop = pane.scrollHeight;
      requestAnimationFrame(() => {
        pane.scrollTop = pane.scrollHeight;
      });
    }
  }

  function renderAudit(entry) {
    const action = entry.action || entry.type || "";
    const actorName =
      entry.actor_name ||
      (entry.actor && entry.actor.name) ||
      (entry.actor_kind && entry.actor_kind !== "agent" ? t(`actor_${entry.actor_kind}`) : "") ||
      (entry.actor_id ? `#${entry.actor_id}` : "");
    const details = entry.details || {};
    const extra = [];
    if (details.to_tier || (action === "handoff" && details.tier)) {
      extra.push(t("tier_to", { n: num(details.to_tier || details.tier) }));
    }
    if (action === "priority" && PRIORITIES.includes(details.after)) {
      const after = t(`priority_${details.after}`);
      extra.push(
        PRIORITIES.includes(details.before)
          ? t("priority_from_to", { from: t(`priority_${details.before}`), to: after })
          : after,
      );
    }
    if (SLA_TARGETS.includes(details.target)) extra.push(t(`target_${details.target}`));
    if (details.to_email) extra.push(isolated(String(details.to_email)));
    if (details.reason) extra.push(reasonText(String(details.reason)));
    if (details.resolution && details.resolution !== "resolved") extra.push(String(details.resolution));
    const label = I18N.en[`action_${action}`] !== undefined ? t(`action_${action}`) : action;
    return el(
      "li",
      { class: "audit-entry", dataset: { action } },
      el("time", { datetime: entry.at || entry.created_at, text: when(entry.at || entry.created_at) }),
      " ",
      el("strong", { text: actorName }),
      " ",
      el("span", { text: label }),
      extra.length
        ? el("span", { class: "muted" }, " — ", ...extra.flatMap((part, i) => (i ? [" · ", part] : [part])))
        : null,
    );
  }

  // The reasons the server and the bot record, in the console's language; a reason an
  // agent typed (escalating) is shown as written.
  const KNOWN_REASONS = [
    [/^agent offline$/, "reason_agent_offline"],
    [/^agent deactivated$/, "reason_agent_deactivated"],
    [/^merged by an agent$/, "reason_merged"],
    [/^no bot configured$/, "reason_no_bot"],
    [/^the bot's answer did not help$/, "reason_bot_did_not_help"],
    [/^no confident answer$/, "reason_no_confident_answer"],
    [/^customer asked for a person$/, "reason_asked_for_person"],
    [/^FAQ entry .* hands off to a person$/, "reason_faq_hands_off"],
  ];

  function reasonText(reason) {
    const known = KNOWN_REASONS.find(([pattern]) => pattern.test(reason));
    return known ? t(known[1]) : isolated(reason);
  }

  function buildTierChoices(current) {
    const select = $("escalate-tier");
    const floor = Math.max(1, (current || 0) + 1);
    const previous = select.value;
    select.textContent = "";
    for (let tier = floor; tier <= 3; tier++) {
      select.append(el("option", { value: String(tier), text: t("tier", { n: num(tier) }) }));
    }
    if ([...select.options].some((o) => o.value === previous)) select.value = previous;
  }

  // Transfer to a tier, up or down: every tier but the thread's own.
  function buildTransferTiers(current) {
    const select = $("transfer-tier");
    select.textContent = "";
    select.append(el("option", { value: "", text: t("transfer_to_tier") }));
    for (let tier = 1; tier <= 3; tier++) {
      if (tier !== current) select.append(el("option", { value: String(tier), text: t("tier", { n: num(tier) }) }));
    }
  }

  // ---- actions -------------------------------------------------------------

  async function act(path, body, done) {
    const id = state.currentId;
    if (!id) return;
    state.threadRead += 1;
    state.actionsOpen += 1;
    try {
      await api("POST", `/api/v1/threads/${encodeURIComponent(id)}/${path}`, body);
      if (done) notify(t(done));
    } catch (error) {
      failed(error);
      // A conflict means the thread changed under the agent: show it as it is now.
      if (!(error instanceof ApiError && error.status === 409)) return;
    } finally {
      state.actionsOpen -= 1;
    }
    await openThread(id, true, true);
    reloadQueueSoon();
  }

  // Resolve, asking the customer how it went or not ({"survey": false}); the box goes
  // back to the server's default afterwards, so skipping a survey is never sticky.
  async function resolveThread() {
    await act("resolve", { survey: $("resolve-survey").checked }, "resolved");
    $("resolve-survey").checked = state.surveyOnResolve;
  }

  async function sendReply(event) {
    event.preventDefault();
    // One send at a time, however it was asked for (the button, Ctrl+Enter twice, Enter
    // on the button): the box is locked until the server answers, so a second request
    // cannot carry the same text again.
    if (state.sending) return;
    const textarea = $("reply-text");
    const text = textarea.value.trim();
    if (!text || !state.currentId) return;
    const internal = $("reply-internal").checked;
    const body = { text, internal };
    const identityId = $("reply-identity").value;
    if (identityId && !internal) body.identity_id = Number(identityId);
    const files = [...$("reply-files").files];
    body.idempotency_key = replyKey(state.currentId, body, files);
    state.sending = true;
    $("reply-send").disabled = true;
    textarea.readOnly = true;
    try {
      if (files.length) body.attachments = await Promise.all(files.map(uploadFile));
      await api("POST", `/api/v1/threads/${encodeURIComponent(state.currentId)}/messages`, body);
      state.replyKey = null;
      $("reply-files").value = "";
      showFileCount();
      textarea.value = "";
      $("reply-internal").checked = false;
      notify(t(internal ? "note_saved" : "sent"));
      await openThread(state.currentId, true);
    } catch (error) {
      failed(error);
    } finally {
      state.sending = false;
      $("reply-send").disabled = false;
      textarea.readOnly = false;
    }
  }

  // The idempotency key of the reply being composed (docs/agent-api.md): sent again
  // unchanged after an error (a timeout, a lost answer) it is the same key, so the
  // server answers with the reply it may already have stored instead of sending it
  // twice; any change to the reply (thread, text, note or not, address, files) is a new
  // one with a new key. Random bytes from getRandomValues, which, unlike randomUUID,
  // plain-HTTP pages have too.
  function replyKey(threadId, body, files) {
    const what = JSON.stringify([
      threadId,
      body.text,
      body.internal,
      body.identity_id || null,
      files.map((file) => [file.name, file.size, file.lastModified]),
    ]);
    if (!state.replyKey || state.replyKey.what !== what) {
      const bytes = crypto.getRandomValues(new Uint8Array(16));
      const key = "console-" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
      state.replyKey = { what, key };
    }
    return state.replyKey.key;
  }

  // How many files wait to go with the reply (the file input itself is hidden behind
  // its label, which takes less room than the browser's own control).
  function showFileCount() {
    const count = $("reply-files").files.length;
    const badge = $("reply-files-count");
    badge.hidden = !count;
    badge.textContent = count ? num(count) : "";
  }

  // The thread's less used controls (priority, waiting on the customer, escalate,
  // transfer) fold away so the conversation gets the height; the agent's choice is kept.
  const TOOLS_KEY = "pasokh.console.threadTools";

  function showThreadTools(open, remember) {
    $("thread-tools").hidden = !open;
    $("thread-tools-toggle").setAttribute("aria-expanded", String(open));
    if (!remember) return;
    try {
      localStorage.setItem(TOOLS_KEY, open ? "open" : "closed");
    } catch (_) {
      /* storage may be disabled: the choice lasts for this page */
    }
  }

  // One file to POST /api/v1/uploads (the server sniffs its type and checks its size);
  // its upload id goes with the reply.
  async function uploadFile(file) {
    const form = new FormData();
    form.append("file", file, file.name);
    const response = await fetch("/api/v1/uploads", {
      method: "POST",
      headers: { Accept: "application/json", "X-CSRF-Token": state.csrf || "" },
      credentials: "same-origin",
      body: form,
    });
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      throw new ApiError(response.status, (data && data.error && data.error.message) || response.statusText);
    }
    return data.upload;
  }

  // ---- canned responses and colleagues --------------------------------------

  // With a thread, the server fills in {customer_name} and {agent_name} ("rendered").
  async function loadCanned(threadId) {
    const query = threadId ? `?thread_id=${encodeURIComponent(threadId)}` : "";
    try {
      const canned = await apiAll(`/api/v1/canned${query}`, "canned");
      if (threadId && threadId !== state.currentId) return;
      state.canned = canned;
    } catch (_) {
      state.canned = [];
    }
    renderCanned();
  }

  function renderCanned() {
    const select = $("canned");
    if (!select) return;
    select.textContent = "";
    select.append(el("option", { value: "", text: t("canned") }));
    const language = (state.current && state.current.thread.language) || state.lang;
    const fitting = state.canned.filter((c) => !c.language || c.language === language);
    const shown = fitting.length ? fitting : state.canned;
    shown.forEach((canned) => {
      select.append(
        el("option", {
          value: String(state.canned.indexOf(canned)),
          text: canned.title || String(canned.text || "").slice(0, 40),
        }),
      );
    });
    select.value = "";
  }

  function insertCanned() {
    const select = $("canned");
    const canned = state.canned[Number(select.value)];
    select.value = "";
    if (!canned) return;
    const customer = state.current ? customerName(state.current.customer, state.current.thread.customer_id) : "";
    const text = String(canned.rendered || canned.text || "")
      .split("{customer_name}")
      .join(customer)
      .split("{agent_name}")
      .join(state.agent ? state.agent.name : "");
    const textarea = $("reply-text");
    textarea.value = textarea.value ? `${textarea.value}\n${text}` : text;
    textarea.focus();
  }

  async function loadAgents() {
    try {
      const agents = await apiAll("/api/v1/agents", "agents");
      const list = $("agent-emails");
      list.textContent = "";
      for (const agent of agents) {
        if (agent.id === state.agent.id) continue;
        list.append(el("option", { value: agent.email, text: `${agent.name} (${t("tier", { n: num(agent.tier) })})` }));
      }
    } catch (_) {
      /* no colleague list: the email is typed by hand */
    }
  }

  // ---- reports -------------------------------------------------------------
  //
  // GET /api/v1/reports/summary for the chosen window and grouping (admins get the
  // team's figures, an agent their own: the server decides). Numbers and dates go
  // through Intl in the console's language: Persian digits and the Solar Hijri
  // calendar in fa, Arabic-Indic digits in ar. Report days are UTC days, so dates are
  // formatted in UTC. Charts are Chart.js (vendored, drawn on <canvas>).

  const DAY_MS = 86400000;

  function selectPage(page) {
    const extra = EXTRA_PAGES[page];
    const known = extra ? extra.allowed() : Boolean(document.querySelector(`.page-tab[data-page="${page}"]`));
    state.page = page === "reports" || known ? page : "threads";
    for (const tab of document.querySelectorAll(".page-tab")) {
      tab.setAttribute("aria-selected", String(tab.dataset.page === state.page));
    }
    document.querySelector("main.panes").hidden = state.page !== "threads";
    $("reports").hidden = state.page !== "reports";
    const admin = $("admin-page");
    admin.hidden = !EXTRA_PAGES[state.page];
    admin.dataset.page = EXTRA_PAGES[state.page] ? state.page : "";
    if (EXTRA_PAGES[state.page]) {
      admin.textContent = "";
      EXTRA_PAGES[state.page].show(admin);
    }
    $("customers-page").hidden = state.page !== "customers";
    document.dispatchEvent(new CustomEvent("pasokh:page", { detail: state.page }));
    if (state.page === "reports") {
      if (!$("report-from").value) {
        const today = new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS);
        $("report-to").value = isoDay(today);
        $("report-from").value = isoDay(new Date(today.getTime() - 6 * DAY_MS));
      }
      loadReport();
    }
  }

  function isoDay(date) {
    return date.toISOString().slice(0, 10);
  }

  // The page's "To" is a day included (1-30 November is all of November, as help desks'
  // ranges are); the API's `to` is exclusive, so it gets the next day's midnight.
  function reportQuery(format) {
    const through = new Date(`${$("report-to").value}T00:00:00Z`);
    const to = isoDay(new Date(through.getTime() + DAY_MS));
    const params = new URLSearchParams({ from: $("report-from").value, to });
    const groupBy = $("report-group-by").value;
    if (groupBy) params.set("group_by", groupBy);
    if (format) params.set("format", format);
    return `/api/v1/reports/summary?${params}`;
  }

  // Reads of one kind (a report window, a search, a profile) can answer out of order:
  // opening Reports reads the default window while the admin is already choosing
  // another. Only the newest read asked for is shown (or its error), whichever answers
  // last, and `region` is aria-busy while any of them is open.
  function newestReads(region) {
    let asked = 0;
    let open = 0;
    const reading = (change) => {
      open += change;
      $(region).setAttribute("aria-busy", String(open > 0));
    };
    return async (read, show) => {
      const mine = ++asked;
      reading(1);
      try {
        const data = await read();
        if (mine === asked) show(data);
      } catch (error) {
        if (mine === asked) failed(error);
      } finally {
        reading(-1);
      }
    };
  }

  const readReport = newestReads("report-cards");

  async function loadReport() {
    if (!$("report-from").value || !$("report-to").value) return;
    $("report-csv").href = reportQuery("csv");
    await readReport(
      () => api("GET", reportQuery()),
      (report) => {
        state.report = report;
        renderReport();
      },
    );
  }

  function locale() {
    return LOCALES[state.lang] || "en";
  }

  function reportNumber(value, options) {
    if (value === null || value === undefined) return t("no_data");
    return new Intl.NumberFormat(locale(), options).format(value);
  }

  // Seconds as minutes (or hours past two hours), in the language's units and digits.
  function reportDuration(seconds) {
    if (seconds === null || seconds === undefined) return t("no_data");
    const hours = seconds >= 7200;
    return reportNumber(hours ? seconds / 3600 : seconds / 60, {
      style: "unit",
      unit: hours ? "hour" : "minute",
      unitDisplay: "short",
      maximumFractionDigits: 1,
    });
  }

  function reportRate(fraction) {
    return reportNumber(fraction, { style: "percent", maximumFractionDigits: 1 });
  }

  function reportPct(percent) {
    return reportRate(percent === null || percent === undefined ? null : percent / 100);
  }

  function reportDate(iso) {
    const date = new Date(iso.length === 10 ? `${iso}T00:00:00Z` : iso);
    return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeZone: "UTC" }).format(date);
  }

  function groupLabel(report, group) {
    if (group.key === null) return report.group_by === "agent" ? t("report_nobody") : t("no_data");
    if (report.group_by === "agent") return group.label || String(group.key);
    if (report.group_by === "tier") return t("tier", { n: num(group.key) });
    if (report.group_by === "day") return reportDate(group.key);
    if (report.group_by === "week") return t("report_week_of", { date: reportDate(group.key) });
    return String(group.key);
  }

  // [label key, how to show it, the figure] for the cards and the table.
  const REPORT_FIGURES = [
    ["kpi_threads_created", (f) => reportNumber(f.threads_created)],
    ["kpi_threads_resolved", (f) => reportNumber(f.threads_resolved)],
    ["kpi_threads_merged", (f) => reportNumber(f.threads_merged)],
    ["kpi_first_response", (f) => reportDuration(f.first_response_seconds.median)],
    ["kpi_first_response_p90", (f) => reportDuration(f.first_response_seconds.p90)],
    ["kpi_next_response", (f) => reportDuration(f.next_response_seconds.median)],
    ["kpi_resolution", (f) => reportDuration(f.resolution_seconds.median)],
    ["kpi_fcr", (f) => reportRate(f.fcr_rate)],
    ["kpi_reopen", (f) => reportRate(f.reopen_rate)],
    ["kpi_containment", (f) => reportRate(f.bot_containment_rate)],
    ["kpi_handoff", (f) => reportRate(f.handoff_rate)],
    ["kpi_csat", (f) => reportPct(f.csat.satisfied_pct)],
    ["kpi_csat_responses", (f) => reportNumber(f.csat.responses)],
    ["kpi_csat_sent", (f) => reportNumber(f.csat.sent)],
    ["kpi_csat_response_rate", (f) => reportRate(f.csat.response_rate)],
    ["kpi_nps", (f) => reportNumber(f.nps.score, { signDisplay: "exceptZero", maximumFractionDigits: 1 })],
    ["kpi_csat_mean", (f) => reportNumber(f.csat.mean, { maximumFractionDigits: 2 })],
    ["kpi_nps_responses", (f) => reportNumber(f.nps.responses)],
    ["kpi_nps_sent", (f) => reportNumber(f.nps.sent)],
    ["kpi_nps_response_rate", (f) => reportRate(f.nps.response_rate)],
    ["kpi_bot_helped", (f) => reportRate(f.bot_helped_rate)],
    ["kpi_first_response_business", (f) => reportDuration(f.first_response_business_seconds.median)],
    ["kpi_next_response_business", (f) => reportDuration(f.next_response_business_seconds.median)],
    ["kpi_resolution_business", (f) => reportDuration(f.resolution_business_seconds.median)],
    ["kpi_sla_first_response", (f) => reportPct(f.sla.first_response_met_pct)],
    ["kpi_sla_next_response", (f) => reportPct(f.sla.next_response_met_pct)],
    ["kpi_sla_resolution", (f) => reportPct(f.sla.resolution_met_pct)],
    ["kpi_sla_breaches", (f) => reportNumber(f.sla.breaches)],
  ];

  function renderReport() {
    const report = state.report;
    if (!report || !$("report-cards")) return;
    const end = new Date(new Date(report.to).getTime() - 1).toISOString();
    $("report-period").textContent = t("report_period", {
      from: reportDate(report.from),
      to: reportDate(end),
    });
    $("report-scope").textContent = t(state.agent && state.agent.is_admin ? "report_scope_all" : "report_scope_own");
    const cards = $("report-cards");
    cards.textContent = "";
    const card = (key, value) =>
      el("div", { class: "kpi", dataset: { kpi: key } }, el("span", { class: "kpi-label", text: t(key) }), el("strong", { class: "kpi-value", text: value }));
    for (const [key, show] of REPORT_FIGURES) cards.append(card(key, show(report.total)));
    cards.append(card("kpi_backlog", reportNumber(report.backlog.open)));
    cards.append(card("kpi_oldest", reportDuration(report.backlog.oldest_age_seconds)));

    const rows = report.group_by ? report.groups : [{ key: null, ...report.total }];
    const labels = report.group_by ? rows.map((group) => groupLabel(report, group)) : [t("report_total")];
    const head = $("report-head");
    head.textContent = "";
    head.append(el("th", { text: t("kpi_group") }), ...REPORT_FIGURES.map(([key]) => el("th", { text: t(key) })));
    const body = $("report-rows");
    body.textContent = "";
    rows.forEach((group, index) => {
      body.append(
        el(
          "tr",
          { dataset: { key: group.key === null ? "" : String(group.key) } },
          el("th", { scope: "row" }, isolated(labels[index])),
          ...REPORT_FIGURES.map(([key, show]) => el("td", { dataset: { kpi: key }, text: show(group) })),
        ),
      );
    });
    const minutes = (seconds) => (seconds === null || seconds === undefined ? null : seconds / 60);
    const percent = (fraction) => (fraction === null || fraction === undefined ? null : fraction * 100);
    drawChart(
      "chart-volume",
      labels,
      [
        [t("kpi_threads_created"), rows.map((g) => g.threads_created)],
        [t("kpi_threads_resolved"), rows.map((g) => g.threads_resolved)],
      ],
      true,
    );
    drawChart("chart-times", labels, [
      [t("kpi_first_response"), rows.map((g) => minutes(g.first_response_seconds.median))],
      [t("kpi_resolution"), rows.map((g) => minutes(g.resolution_seconds.median))],
    ]);
    drawChart("chart-quality", labels, [
      [t("kpi_fcr"), rows.map((g) => percent(g.fcr_rate))],
      [t("kpi_csat"), rows.map((g) => g.csat.satisfied_pct)],
      [t("kpi_containment"), rows.map((g) => percent(g.bot_containment_rate))],
      [t("kpi_bot_helped"), rows.map((g) => percent(g.bot_helped_rate))],
      [t("kpi_sla_first_response"), rows.map((g) => g.sla.first_response_met_pct)],
      [t("kpi_sla_resolution"), rows.map((g) => g.sla.resolution_met_pct)],
    ]);
  }

  const CHART_COLOURS = ["#2f6fb3", "#e08a2e", "#3c9a5f", "#8e5bb5", "#c0504d", "#4a9fa8"];

  // `counts`: whole numbers only on the value axis (threads, not 2.5 of them).
  function drawChart(id, labels, series, counts) {
    if (typeof window.Chart !== "function") return; // the library did not load: table only
    const rtl = RTL.has(state.lang);
    const data = {
      labels,
      datasets: series.map(([label, values], index) => ({
        label,
        data: values,
        backgroundColor: CHART_COLOURS[index % CHART_COLOURS.length],
      })),
    };
    const options = {
      animation: false,
      maintainAspectRatio: false,
      locale: locale(),
      scales: {
        x: { reverse: rtl },
        y: { beginAtZero: true, position: rtl ? "right" : "left", ticks: counts ? { precision: 0 } : {} },
      },
      plugins: {
        legend: { rtl, textDirection: rtl ? "rtl" : "ltr" },
        tooltip: { rtl, textDirection: rtl ? "rtl" : "ltr" },
      },
    };
    const existing = state.charts[id];
    if (existing) existing.destroy();
    state.charts[id] = new window.Chart($(id), { type: "bar", data, options });
  }


  // ---- wiring --------------------------------------------------------------

  function wire() {
    $("signin-form").addEventListener("submit", signIn);
    $("signout").addEventListener("click", signOut);
    for (const select of document.querySelectorAll(".lang-select")) {
      select.addEventListener("change", () => applyLanguage(select.value, true));
    }
    $("presence-select").addEventListener("change", (event) => setPresence(event.target.value));
    for (const tab of document.querySelectorAll(".tab")) {
      tab.addEventListener("click", () => selectView(tab.dataset.view));
    }
    for (const list of document.querySelectorAll('[role="tablist"]')) {
      list.addEventListener("keydown", onTabKey);
    }
    // selectPage marks the page tab; the Tab order and the shared admin panel's name follow.
    document.addEventListener("pasokh:page", () => {
      const pages = document.querySelector(".pages");
      syncTabs(pages);
      const selected = pages.querySelector('[aria-selected="true"]');
      if (selected && selected.getAttribute("aria-controls") === "admin-page") {
        $("admin-page").setAttribute("aria-labelledby", selected.id);
      }
    });
    $("thread-tools-toggle").addEventListener("click", () => {
      showThreadTools($("thread-tools").hidden, true);
    });
    let tools = null;
    try {
      tools = localStorage.getItem(TOOLS_KEY);
    } catch (_) {
      tools = null;
    }
    showThreadTools(tools === "open", false);
    $("reply-files").addEventListener("change", showFileCount);
    $("claim").addEventListener("click", () => act("claim", undefined, "claimed"));
    $("release").addEventListener("click", () => act("release", undefined, "released"));
    $("resolve").addEventListener("click", resolveThread);
    $("escalate-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const tier = Number($("escalate-tier").value);
      const reason = $("escalate-reason").value.trim();
      if (!tier) return;
      act("escalate", { tier, reason }, "escalated").then(() => {
        $("escalate-reason").value = "";
      });
    });
    $("transfer-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const agent = $("transfer-agent").value.trim();
      const tier = Number($("transfer-tier").value);
      if (!agent && !tier) return;
      act("transfer", agent ? { agent } : { tier }, "transferred").then(() => {
        $("transfer-agent").value = "";
        $("transfer-tier").value = "";
      });
    });
    $("reply-form").addEventListener("submit", sendReply);
    $("invite-form").addEventListener("submit", acceptInvite);
    $("back-to-queue").addEventListener("click", () => showPane("queue"));
    $("show-customer").addEventListener("click", () => showPane("customer"));
    $("back-to-thread").addEventListener("click", () => showPane("thread"));
    $("reply-text").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("reply-form").requestSubmit();
    });
    $("canned").addEventListener("change", insertCanned);
    $("queue-sort").addEventListener("change", (event) => selectSort(event.target.value));
    $("queue-more").addEventListener("click", loadMoreQueue);
    // Scrolling the queue pane down to the "more" button reads the next page.
    new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) loadMoreQueue();
    }).observe($("queue-more"));
    $("priority-select").addEventListener("change", (event) => {
      act("priority", { priority: event.target.value }, "priority_changed");
    });
    $("pending-toggle").addEventListener("change", (event) => {
      const pending = event.target.checked;
      act("pending", { pending }, pending ? "pending_set" : "pending_cleared");
    });
    for (const tab of document.querySelectorAll(".page-tab")) {
      tab.addEventListener("click", () => selectPage(tab.dataset.page));
    }
    $("report-form").addEventListener("submit", (event) => {
      event.preventDefault();
      loadReport();
    });
    $("report-group-by").addEventListener("change", loadReport);
  }

  // The few things the console's other files use; one copy of each, here. Pages kept in
  // their own files also follow the "pasokh:page" and "pasokh:language" document events.
  window.PasokhConsole = {
    agent: () => state.agent,
    lang: () => state.lang,
    locale: () => LOCALES[state.lang] || "en",
    api,
    apiAll,
    newestReads,
    el,
    t,
    num,
    when,
    notify,
    failed,
    isolated,
    withIsolatedUrls,
    channelName,
    customerName,
    state,
    ApiError,
    openThread,
    openThreadPage: (id) => {
      selectPage("threads");
      openThread(id);
    },
    addStrings(tables) {
      for (const [lang, table] of Object.entries(tables)) Object.assign(I18N[lang], table);
    },
    addPage(name, page) {
      EXTRA_PAGES[name] = page;
    },
    on(name, listener) {
      (LISTENERS[name] = LISTENERS[name] || []).push(listener);
    },
  };

  // Opened from an invitation link (/console#invite=<token>): choose a password first.
  // The token is in the fragment, so it never reaches a server log or a Referer.
  function inviteToken() {
    const match = /^#invite=([A-Za-z0-9._-]+)$/.exec(location.hash);
    return match ? match[1] : null;
  }

  function showInvite() {
    $("loading").hidden = true;
    $("signin").hidden = true;
    $("console").hidden = true;
    $("invite").hidden = false;
    $("invite-password").focus();
  }

  async function acceptInvite(event) {
    event.preventDefault();
    const error = $("invite-error");
    const password = $("invite-password").value;
    error.textContent = "";
    if (password.length < 8) {
      error.textContent = t("password_short");
      return;
    }
    $("invite-submit").disabled = true;
    try {
      const data = await api("POST", "/api/v1/invitations/accept", { token: inviteToken(), password });
      history.replaceState(null, "", location.pathname);
      // Straight into the console with the password just chosen ("Save and sign in"),
      // as help desks do after an invitation; the sign-in form only when that fails
      // (too many attempts from this network, say), with the success said as one.
      const session = await api("GET", "/console/session").catch(() => ({}));
      $("invite").hidden = true;
      if (session.login_csrf) {
        $("signin-csrf").value = session.login_csrf;
        if (await signInWith(data.email, password)) return;
      }
      if (session.authenticated) {
        startConsole(session);
        return;
      }
      showSignIn(session.login_csrf);
      $("signin-email").value = data.email;
      $("signin-notice").textContent = t("invite_done");
      $("signin-password").focus();
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 0;
      error.textContent =
        status === 409 ? t("invite_used") : status === 404 ? t("invite_invalid") : t("failed", { message: err.message });
    } finally {
      $("invite-submit").disabled = false;
    }
  }

  // One pane at a time on a phone (and the customer pane on demand when narrow).
  function showPane(pane) {
    document.querySelector("main.panes").dataset.pane = pane;
  }

  // Bidi embeddings and overrides (U+202A-U+202E) in anything a customer, an agent or
  // an admin wrote would reorder what they stand in: "invoice_<RLO>fdp.exe" reads as
  // "invoice_exe.pdf", a tag "<RLO>piv" as "vip". An isolate only keeps the override
  // from leaking out, not from acting inside. So every text that reaches the page,
  // from any script of the console and whenever it was stored, loses them; isolates
  // (U+2066-U+2069: how the console keeps values apart) and marks stay.
  const BIDI_OVERRIDES = /[\u202A-\u202E]/g;

  function dropBidiOverrides(node) {
    if (node.nodeType === Node.TEXT_NODE) {
      const plain = node.data.replace(BIDI_OVERRIDES, "");
      if (plain !== node.data) node.data = plain;
      return;
    }
    const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
    for (let text = walker.nextNode(); text; text = walker.nextNode()) dropBidiOverrides(text);
  }

  function watchForBidiOverrides() {
    dropBidiOverrides(document.body);
    new MutationObserver((records) => {
      for (const record of records) {
        if (record.type === "characterData") dropBidiOverrides(record.target);
        else record.addedNodes.forEach(dropBidiOverrides);
      }
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  }

  document.addEventListener("DOMContentLoaded", () => {
    watchForBidiOverrides();
    let stored = null;
    try {
      stored = localStorage.getItem(LANG_KEY);
    } catch (_) {
      stored = null;
    }
    applyLanguage(stored || document.documentElement.lang || "fa");
    wire();
    if (inviteToken()) {
      showInvite();
      return;
    }
    loadSession().catch((error) => {
      $("loading").textContent = t("failed", { message: error.message });
    });
  });
})();
