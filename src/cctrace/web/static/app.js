// cctrace pages: buttons and forms call the JSON API with the session's CSRF token.
"use strict";
(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
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

  function formJson(form) {
    const out = {};
    for (const [k, v] of new FormData(form).entries()) {
      if (v === "") continue;
      out[k] = /^window_/.test(k) ? v + (v.length === 16 ? ":00" : "") + "Z" : v;
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
      stage.textContent = job.status === "queued" ? "Waiting for a free worker" : job.stage;
      bar.value = job.progress;
      if (job.status === "done") { flash("Trace finished."); location.reload(); return; }
      if (job.status === "failed") { flash("Trace failed: " + job.error, true); return; }
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
      if (el.dataset.redirect) { location.href = fill(el.dataset.redirect, data); return; }
      if ("job" in el.dataset) { await pollJob(data.job_id || (data.job && data.job.job_id)); return; }
      if ("reload" in el.dataset) { location.reload(); return; }
      flash("Done.");
    } catch (e) {
      flash("Network error: " + e.message, true);
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

  const running = document.getElementById("job");
  if (running && running.dataset.jobId && !running.querySelector(".error")) { pollJob(running.dataset.jobId); }
})();
