// cctrace pages: buttons and forms call the JSON API with the session's CSRF token.
"use strict";
(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  // Messages in the page's language (base.html writes them, translated, as JSON).
  const strings = (() => {
    const el = document.getElementById("i18n-strings");
    try { return el ? JSON.parse(el.textContent) : {}; } catch (e) { return {}; }
  })();
  const t = (key, fallback, values) => String(strings[key] || fallback).replace(/\{(\w+)\}/g,
    (m, name) => (values && name in values ? String(values[name]) : m));
  const label = (value) => (strings.labels && strings.labels[value]) || value;
  const flash = (text, isError) => {
    const el = document.getElementById("flash");
    el.textContent = text;
    el.className = "flash" + (isError ? " error" : "");
    el.hidden = false;
    if (isError) { el.setAttribute("role", "alert"); }
  };
  const errorText = async (resp) => {
    try { const body = await resp.json(); return body.error ? body.error.message : resp.statusText; }
    catch (e) { return resp.status + " " + resp.statusText; }
  };
  const fill = (template, data) => template.replace(/\{([a-z_.]+)\}/g, (_, key) =>
    encodeURIComponent(key.split(".").reduce((o, k) => (o ? o[k] : ""), data)));

  // Times typed in datetime-local inputs are the site's local time: they are sent
  // without an offset and the server reads them in the site's time zone.
  const localInput = (v) => v + (v.length === 16 ? ":00" : "");

  // An ISO UTC instant as the site's wall-clock time "YYYY-MM-DDTHH:MM:SS" (Intl knows
  // the IANA zones; this direction, UTC to local, is unambiguous).
  function toLocalInput(iso, tz) {
    const parts = {};
    const fmt = new Intl.DateTimeFormat("en-GB", { timeZone: tz || "UTC", hourCycle: "h23",
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    const instant = /(Z|[+-]\d\d:?\d\d)$/.test(iso) ? iso : iso + "Z";  // JSON times are UTC
    for (const p of fmt.formatToParts(new Date(instant))) { parts[p.type] = p.value; }
    return parts.year + "-" + parts.month + "-" + parts.day + "T" + parts.hour + ":" + parts.minute + ":" + parts.second;
  }

  function formJson(form) {
    const out = {};
    for (const [k, v] of new FormData(form).entries()) {
      if (v === "") continue;
      out[k] = /^window_/.test(k) ? localInput(v) : v;
    }
    return out;
  }

  async function pollJob(jobId) {
    const box = document.getElementById("job");
    if (!box) { location.reload(); return; }
    box.hidden = false;
    const stage = document.getElementById("job-stage");
    const bar = document.getElementById("job-progress");
    for (;;) {
      const resp = await fetch("/api/jobs/" + jobId, { headers: { Accept: "application/json" } });
      if (!resp.ok) { flash(await errorText(resp), true); return; }
      const job = await resp.json();
      stage.textContent = job.status === "queued" ? t("waiting", "Waiting for a free worker") : label(job.stage);
      bar.value = job.progress;
      if (job.status === "done") { flash(t("trace_done", "Trace finished.")); location.reload(); return; }
      if (job.status === "failed") { flash(t("trace_failed", "Trace failed: {error}", { error: job.error }), true); return; }
      await new Promise((r) => setTimeout(r, 400));
    }
  }

  async function call(el, body, isForm) {
    const method = el.dataset.method || "POST";
    const headers = { "X-CSRF-Token": csrf(), Accept: "application/json" };
    let payload = body;
    if (!isForm && body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
    const buttons = el.tagName === "FORM" ? el.querySelectorAll("button") : [el];
    buttons.forEach((b) => (b.disabled = true));
    try {
      const resp = await fetch(el.dataset.api, { method, headers, body: payload, credentials: "same-origin" });
      if (resp.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); return; }
      if (!resp.ok) { flash(await errorText(resp), true); return; }
      const data = resp.status === 204 ? {} : await resp.json();
      if (el.dataset.report === "verify") {
        const problem = data.problems && data.problems[0] ? data.problems[0] : "";
        flash(data.ok
          ? t("verified", "The whole chain verifies: {entries} entries, against {checkpoints} signed checkpoints.", { entries: data.head_id, checkpoints: data.checkpoints })
          : (data.broken_at === null
            ? t("not_verified", "The audit log does not verify: {problem}", { problem })
            : t("broken_at", "The chain is broken at entry {entry}: {problem}", { entry: data.broken_at, problem })), !data.ok);
        return;
      }
      if (el.dataset.redirect) { location.href = fill(el.dataset.redirect, data); return; }
      if ("job" in el.dataset) { await pollJob(data.job_id || (data.job && data.job.job_id)); return; }
      if ("reload" in el.dataset) { location.reload(); return; }
      flash(t("done", "Done."));
    } catch (e) {
      flash(t("network_error", "Network error: {error}", { error: e.message }), true);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    if (!form.dataset || !form.dataset.api) return;
    ev.preventDefault();
    if ("json" in form.dataset) { call(form, formJson(form), false); }
    else { call(form, new FormData(form), true); }
  });

  document.addEventListener("click", (ev) => {
    const el = ev.target.closest("button[data-api]");
    if (!el || el.form) return;
    if (el.dataset.confirm && !window.confirm(el.dataset.confirm)) return;
    let body = el.dataset.body ? JSON.parse(el.dataset.body) : undefined;
    if (el.dataset.prompt) {
      const reason = window.prompt(el.dataset.prompt);
      if (!reason) return;
      body = Object.assign({}, body, { reason });
    }
    call(el, body, false);
  });


  // Pick a person in a camera frame (case page).
  const picker = document.getElementById("picker");
  if (picker) {
    const caseId = picker.dataset.case;
    const tz = picker.dataset.tz || "UTC";
    const select = document.getElementById("pick-camera");
    const at = document.getElementById("pick-at");
    const stage = document.getElementById("pick-stage");
    const img = document.getElementById("pick-img");
    const boxes = document.getElementById("pick-boxes");
    let people = [];
    picker.addEventListener("toggle", async () => {
      if (!picker.open || select.options.length) return;
      const resp = await fetch("/api/cases/" + encodeURIComponent(caseId) + "/cameras", { headers: { Accept: "application/json" } });
      if (!resp.ok) { flash(await errorText(resp), true); return; }
      for (const cam of await resp.json()) {
        const opt = document.createElement("option");
        const from = toLocalInput(cam.footage_from, tz), to = toLocalInput(cam.footage_to, tz);
        opt.value = cam.camera_id; opt.textContent = cam.name + " (" + from.replace("T", " ") + " – " + to.slice(11, 19) + ")";
        opt.dataset.from = from;
        select.appendChild(opt);
      }
      if (select.options.length) { at.value = select.options[0].dataset.from; }
      else { flash(t("no_cameras", "No camera has ingested footage yet."), true); }
    });
    select.addEventListener("change", () => { at.value = select.selectedOptions[0].dataset.from; });
    const place = () => {
      boxes.replaceChildren();
      const scale = img.clientWidth / img.naturalWidth;
      // Larger boxes first, so a smaller (further, partly hidden) person's box lies on
      // top; each number tag (drawn inside its own box) is a button for that person too.
      const area = (p) => (p.box[2] - p.box[0]) * (p.box[3] - p.box[1]);
      for (const p of [...people].sort((a, c) => area(c) - area(a))) {
        const b = document.createElement("button");
        b.type = "button"; b.className = "pick-box";
        b.setAttribute("aria-label", t("person", "Person {id}", { id: p.tracklet_id }));
        b.title = t("person", "Person {id}", { id: p.tracklet_id });
        b.style.left = p.box[0] * scale + "px"; b.style.top = p.box[1] * scale + "px";
        b.style.width = (p.box[2] - p.box[0]) * scale + "px"; b.style.height = (p.box[3] - p.box[1]) * scale + "px";
        b.addEventListener("click", () => {
          document.getElementById("tracklet_id").value = p.tracklet_id;
          flash(t("person_chosen", "Person {id} chosen: press Run trace.", { id: p.tracklet_id }));
          document.getElementById("run-trace").focus();
        });
        boxes.appendChild(b);
      }
      for (const p of people) {
        if (!p.label_box || p.label_box.length !== 4) continue;
        const tag = document.createElement("button");
        tag.type = "button"; tag.className = "pick-tag"; tag.textContent = String(p.tracklet_id);
        tag.setAttribute("aria-label", t("person", "Person {id}", { id: p.tracklet_id }));
        tag.style.left = p.label_box[0] * scale + "px"; tag.style.top = p.label_box[1] * scale + "px";
        tag.style.width = (p.label_box[2] - p.label_box[0]) * scale + "px"; tag.style.height = (p.label_box[3] - p.label_box[1]) * scale + "px";
        tag.addEventListener("click", () => {
          document.getElementById("tracklet_id").value = p.tracklet_id;
          flash(t("person_chosen", "Person {id} chosen: press Run trace.", { id: p.tracklet_id }));
          document.getElementById("run-trace").focus();
        });
        boxes.appendChild(tag);
      }
    };
    img.addEventListener("load", place);
    window.addEventListener("resize", () => { if (people.length) place(); });
    document.getElementById("pick-show").addEventListener("click", async () => {
      if (!select.value || !at.value) return;
      const when = localInput(at.value);
      const url = "/api/cases/" + encodeURIComponent(caseId) + "/cameras/" + encodeURIComponent(select.value) + "/people?at=" + encodeURIComponent(when);
      const resp = await fetch(url, { headers: { Accept: "application/json" } });
      if (!resp.ok) { flash(await errorText(resp), true); return; }
      const data = await resp.json();
      people = data.people;
      stage.hidden = false;
      img.src = data.frame_url;
    });
  }

  // A card or table wider than the screen (on a phone) scrolls inside itself: make it
  // reachable and scrollable by keyboard, named after its heading.
  const markScrollable = () => {
    for (const card of document.querySelectorAll(".card, table.data")) {
      const wide = card.scrollWidth > card.clientWidth + 1;
      if (wide && !card.hasAttribute("tabindex")) {
        card.setAttribute("tabindex", "0");
        card.dataset.scrollable = "1";
        if (!card.getAttribute("aria-labelledby") && !card.getAttribute("aria-label")) {
          const box = card.matches(".card") ? card : card.closest(".card") || card;
          const heading = box.querySelector("h1, h2, h3");
          if (heading) { card.setAttribute("aria-label", heading.textContent.trim()); }
        }
      } else if (!wide && card.dataset.scrollable) {
        card.removeAttribute("tabindex");
        delete card.dataset.scrollable;
      }
    }
  };
  markScrollable();
  window.addEventListener("resize", markScrollable);

  // Admin: a click on the site plan fills in the pixel of the point being edited.
  const planImg = document.getElementById("plan-preview");
  if (planImg) {
    let row = document.querySelector(".plan-point");
    document.querySelectorAll(".plan-point").forEach((fs) => fs.addEventListener("focusin", () => { row = fs; }));
    planImg.addEventListener("click", (ev) => {
      if (!row) return;
      const box = planImg.getBoundingClientRect();
      const n = row.dataset.point;
      document.getElementById("p" + n + "_u").value = Math.round((ev.clientX - box.left) * planImg.naturalWidth / box.width);
      document.getElementById("p" + n + "_v").value = Math.round((ev.clientY - box.top) * planImg.naturalHeight / box.height);
      document.getElementById("p" + n + "_a").focus();
    });
  }

  const running = document.getElementById("job");
  if (running && running.dataset.jobId && !running.querySelector(".error")) { pollJob(running.dataset.jobId); }
})();
