// Offline copies and the install hint (docs/member-pages.md "Offline and install").
(() => {
  const root = document.documentElement;
  const offline = root.dataset.offline; // set by the service worker on a kept copy or the offline page

  // A kept copy: say so, and when it was saved ("Visas offline, uppdaterad 14:05").
  if (offline === "copy") {
    const banner = document.querySelector("[data-offline-banner]");
    const saved = new Date(root.dataset.offlineAt || "");
    if (banner && !Number.isNaN(saved.getTime())) {
      const locale = root.lang === "en" ? "en-GB" : "sv-SE";
      const zone = { timeZone: "Europe/Stockholm" };
      const day = (d) => d.toLocaleDateString(locale, { ...zone, day: "numeric", month: "short" });
      let when = saved.toLocaleTimeString(locale, { ...zone, hour: "2-digit", minute: "2-digit" });
      if (day(saved) !== day(new Date())) when = `${day(saved)} ${when}`;
      banner.textContent = banner.dataset.text.replace("{time}", when);
      banner.hidden = false;
    }
  }
  if (offline) {
    // Back online: the real page instead of the copy, once the site really answers (the
    // "online" event only says that some network is there).
    window.addEventListener("online", () => {
      fetch(location.href, { method: "HEAD", cache: "no-store", credentials: "same-origin" })
        .then((response) => { if (response.ok) location.reload(); })
        .catch(() => {});
    });
  } else if (!document.querySelector(".member-nav")) {
    // A page for a visitor who is not logged in as a member (logged out, the session ended,
    // someone else's turn on a shared phone): no copy of anyone's pages stays on the phone.
    forget();
  }

  function forget() {
    if (navigator.serviceWorker && navigator.serviceWorker.controller) {
      navigator.serviceWorker.controller.postMessage({ type: "forget" });
    }
    if ("caches" in window) {
      for (const name of ["kundklubb-member-v1", "kundklubb-card-v1"]) caches.delete(name).catch(() => {});
    }
  }

  // Logging out forgets the copies at once (the service worker does too, on the POST).
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.action.endsWith("/konto/logout/")) forget();
  });

  // "Add the card to your home screen": shown once, never when opened from the home screen.
  const hint = document.querySelector("[data-install-hint]");
  if (!hint) return;
  const KEY = "kundklubb-install-hint";
  const installed =
    window.matchMedia("(display-mode: standalone)").matches || window.navigator.standalone === true;
  let seen = true;
  try {
    seen = window.localStorage.getItem(KEY) !== null;
    if (!seen && !installed) window.localStorage.setItem(KEY, "shown");
  } catch {
    seen = true; // no storage: it could not stay dismissed, so it is not shown at all
  }
  if (seen || installed) return;
  hint.hidden = false;
  const close = () => {
    hint.hidden = true;
    try {
      window.localStorage.setItem(KEY, "dismissed");
    } catch {}
    const heading = document.querySelector("main h1");
    const main = document.getElementById("main");
    (heading && heading.tabIndex >= 0 ? heading : main).focus();
  };
  hint.querySelector("[data-install-dismiss]").addEventListener("click", close);
  // Where the browser offers its own install dialog (Chrome on Android), a button opens it.
  const install = hint.querySelector("[data-install-prompt]");
  window.addEventListener("beforeinstallprompt", (event) => {
    event.preventDefault();
    install.hidden = false;
    install.addEventListener("click", () => {
      event.prompt();
      close();
    }, { once: true });
  });
  window.addEventListener("appinstalled", () => { hint.hidden = true; });
})();
