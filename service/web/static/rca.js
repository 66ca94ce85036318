// The RCA editor's live preview: the server renders it with the same sanitiser the saved RCA uses,
// so the preview is exactly what readers will see (and is safe to insert).
"use strict";
(function () {
  const meta = document.querySelector('meta[name="incident-id"]');
  const text = document.getElementById("rca-text");
  const preview = document.getElementById("rca-preview");
  const status = document.getElementById("preview-state");
  const form = document.getElementById("rca-form");
  if (!meta || !text || !preview || !form) return;
  const csrf = form.querySelector('input[name="csrf_token"]');
  let timer = null;
  let seq = 0;

  async function render() {
    const mine = ++seq;
    status.textContent = "(updating…)";
    try {
      const response = await fetch("/incidents/" + meta.content + "/rca/preview", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf ? csrf.value : "" },
        body: JSON.stringify({ markdown: text.value }),
      });
      const body = await response.json();
      if (mine !== seq) return;
      if (!response.ok) { status.textContent = "(preview failed: " + (body.detail || response.status) + ")"; return; }
      preview.innerHTML = body.html;
      status.textContent = "(sanitised, as readers will see it)";
      preview.dataset.rendered = String(mine);
    } catch (err) {
      if (mine === seq) status.textContent = "(preview unavailable: " + err.message + ")";
    }
  }
  text.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(render, 250);
  });
})();
