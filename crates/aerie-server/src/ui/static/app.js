// Aerie's only script: live updates of the Incidents tab over server-sent events.
// When incidents change, it fetches the server-rendered rows again and swaps them in.
(function () {
  "use strict";
  const box = document.querySelector("[data-live]");
  if (!box || !window.EventSource) {
    return;
  }
  const state = document.getElementById("live-state");
  const say = (text) => {
    if (state) {
      state.textContent = text;
    }
  };
  let busy = false;
  let again = false;
  async function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      const url = new URL(window.location.href);
      url.searchParams.set("fragment", "rows");
      const resp = await fetch(url, { credentials: "same-origin" });
      if (resp.ok) {
        const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
        const fresh = doc.getElementById("live");
        const current = document.getElementById("live");
        if (fresh && current) {
          current.replaceWith(fresh);
          say("Live · updated " + new Date().toLocaleTimeString());
        }
      } else if (resp.redirected || resp.status === 401) {
        say("Session ended: log in again");
      }
    } catch (e) {
      say("Live updates interrupted");
    } finally {
      busy = false;
      if (again) {
        again = false;
        refresh();
      }
    }
  }
  const source = new EventSource(box.dataset.live);
  source.addEventListener("change", refresh);
  source.addEventListener("open", () => say("Live"));
  source.addEventListener("error", () => say("Live updates reconnecting…"));
})();
