// Live news on Mina sidor and the points page (docs/member-pages.md "Live updates").
// Polling, not a push or server-sent events: one small GET every 2 s while the page is
// visible, none while it is hidden (asked again at once when it is shown), slower after
// errors. The answer lists the member's own events newer than the cursor, as sentences in
// the page's language, and the balance; they go into the page's polite live region.
(() => {
  const region = document.querySelector("[data-live-news]");
  if (!region || !window.fetch) return;
  const FAST = 2000;
  const SLOWEST = 60000;
  const url = region.dataset.url;
  let cursor = region.dataset.cursor || "0";
  let delay = FAST;
  let timer = 0;
  let busy = false;
  let stopped = false;
  const shown = new Set();
  // A challenge's bar moves without news of its own (the worker counts it just after the
  // purchase): for a while after news, the poll also asks for the shown challenges' progress.
  const FOLLOW = 20000;
  const challengeIds = [...document.querySelectorAll("[data-live-challenge]")].map((n) => n.dataset.liveChallenge);
  let followUntil = 0;

  const offlineCopy = () => document.documentElement.dataset.offline === "copy";
  const visible = () => document.visibilityState === "visible";

  function later(ms) {
    clearTimeout(timer);
    if (!stopped && visible() && !offlineCopy()) timer = setTimeout(poll, ms);
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function show(events, balance) {
    const fresh = events.filter((event) => !shown.has(event.id));
    fresh.forEach((event, index) => {
      shown.add(event.id);
      const item = element("p", "live-item");
      item.dataset.kind = event.kind;
      item.append(element("strong", "live-text", event.text));
      if (event.time) item.append(" ", element("span", "muted live-time", event.time));
      if (event.detail) item.append(element("span", "live-detail", event.detail));
      if (event.badge) {
        const badge = element("span", "live-badge");
        badge.append(element("span", "badge-symbol", event.badge.symbol), " ", event.badge.text);
        badge.querySelector(".badge-symbol").setAttribute("aria-hidden", "true");
        item.append(badge);
      }
      // The balance after the last one, so a screen reader says it once.
      if (index === fresh.length - 1 && balance.text) item.append(element("span", "live-balance", balance.text));
      region.prepend(item);
    });
    while (region.children.length > 5) region.lastElementChild.remove();
  }

  function update(balance) {
    for (const node of document.querySelectorAll("[data-live-balance]")) {
      const value = balance[node.dataset.liveBalance];
      if (value !== undefined && value !== null) node.textContent = `${value}${node.dataset.liveSuffix || ""}`;
    }
    for (const node of document.querySelectorAll("[data-live-show]")) {
      node.hidden = !balance[node.dataset.liveShow];
    }
  }

  function progress(challenges) {
    for (const challenge of challenges) {
      const bar = document.querySelector(`[data-live-challenge="${challenge.id}"]`);
      if (bar) {
        bar.value = challenge.progress;
        bar.textContent = `${Math.round((100 * challenge.progress) / Math.max(1, bar.max))} %`;
      }
      const left = document.querySelector(`[data-live-challenge-left="${challenge.id}"]`);
      if (left) left.textContent = challenge.left;
    }
  }

  async function poll() {
    if (busy || stopped) return;
    busy = true;
    try {
      const following = challengeIds.length > 0 && Date.now() < followUntil;
      const query = following ? `&utmaningar=${challengeIds.join(",")}` : "";
      const response = await fetch(`${url}?efter=${encodeURIComponent(cursor)}${query}`, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
        redirect: "follow",
      });
      if (response.redirected || response.status === 401 || response.status === 403) {
        stopped = true; // logged out (here or in another tab): sent to the login page
        return;
      }
      if (!response.ok) throw new Error(String(response.status));
      const body = await response.json();
      cursor = String(body.cursor);
      if ((body.events || []).length) followUntil = Date.now() + FOLLOW;
      show(body.events || [], body.balance || {});
      if (body.challenges) progress(body.challenges);
      update(body.balance || {});
      delay = FAST;
    } catch {
      delay = Math.min(delay * 2, SLOWEST); // offline or a server error: ask less often
    } finally {
      busy = false;
      region.dataset.liveReady = "true";
      later(delay);
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (visible()) {
      delay = FAST;
      poll();
    } else {
      clearTimeout(timer);
    }
  });
  window.addEventListener("online", () => {
    delay = FAST;
    later(0);
  });
  later(0);
})();
