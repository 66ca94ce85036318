// The incident page's live regions: a server-sent event says "changed", we re-read /live and swap
// every [data-live] region in. On every (re)connect we re-read too, so nothing missed while away is lost.
"use strict";
(function () {
  const meta = document.querySelector('meta[name="incident-id"]');
  if (!meta) return;
  const id = meta.content;
  const state = document.getElementById("live-state");
  let source = null;
  let fetching = false;
  let again = false;
  let retryDelay = 1000;

  function show(kind, text) {
    state.dataset.state = kind;
    state.textContent = text;
  }

  async function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    try {
      const response = await fetch("/incidents/" + id + "/live", { headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (response.status === 401) { show("down", "Live updates: your session ended; reload the page to log in"); return; }
      if (!response.ok) throw new Error("HTTP " + response.status);
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const fresh of doc.querySelectorAll("[data-live]")) {
        const old = document.getElementById(fresh.id);
        if (old && old.outerHTML !== fresh.outerHTML) old.replaceWith(document.importNode(fresh, true));
      }
      if (window.incidentdTick) window.incidentdTick();
      document.body.dataset.refreshed = String(Date.now());
    } catch (err) {
      show("down", "Live updates: could not refresh (" + err.message + "); retrying");
    } finally {
      fetching = false;
      if (again) { again = false; refresh(); }
    }
  }

  function connect() {
    source = new EventSource("/incidents/" + id + "/stream");
    let opened = false;
    source.addEventListener("hello", function () {
      retryDelay = 1000;
      show("live", "Live updates: on");
      if (opened || document.body.dataset.connected) refresh();
      opened = true;
      document.body.dataset.connected = "1";
    });
    source.addEventListener("changed", function (event) {
      if (event.data === "poll") show("degraded", "Live updates: degraded (database listener down), refreshing every few seconds");
      else show("live", "Live updates: on");
      refresh();
    });
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        show("down", "Live updates: disconnected; reconnecting");
        source.close();
        setTimeout(connect, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 15000);
      } else {
        show("reconnecting", "Live updates: reconnecting…");
      }
    };
  }
  connect();
})();
