// Keeps "5m ago" and "in 3m" current between page loads. Server-rendered text stays if this never runs.
"use strict";
(function () {
  function fmt(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return seconds + "s";
    const parts = [];
    for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) {
      const v = Math.floor(seconds / size);
      if (v) { parts.push(v + unit); seconds -= v * size; }
    }
    if (seconds && parts.length < 2) parts.push(seconds + "s");
    return parts.slice(0, 2).join(" ");
  }
  function tick() {
    const now = Date.now();
    for (const el of document.querySelectorAll("time[data-ago]")) {
      el.textContent = fmt((now - Date.parse(el.dateTime)) / 1000) + " ago";
    }
    for (const el of document.querySelectorAll("time[data-until]")) {
      const left = (Date.parse(el.dateTime) - now) / 1000;
      el.textContent = left > 0 ? "in " + fmt(left) : "due now";
    }
  }
  window.incidentdTick = tick;
  setInterval(tick, 10000);
})();
