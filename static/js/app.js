// Registers the service worker that keeps the membership card readable offline.
if ("serviceWorker" in navigator) {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
  });
}
// Move focus to the first field with an error, so keyboard and screen-reader users land on it.
document.addEventListener("DOMContentLoaded", () => {
  const firstError = document.querySelector(".field-error input, .field-error select, [aria-invalid=true]");
  if (firstError) firstError.focus();
});
// Logging out forgets the offline copies: static/js/offline.js.
// "Copy code" on the referral page: shown only where the browser can copy (otherwise the
// code stays selectable text); says "Copied!" in a status region screen readers announce.
document.addEventListener("DOMContentLoaded", () => {
  if (!navigator.clipboard || !window.isSecureContext) return;
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", () => {
      const status = button.parentElement.querySelector(".copy-status");
      navigator.clipboard.writeText(button.dataset.copy).then(() => {
        if (status) status.textContent = button.dataset.copied || "";
      }).catch(() => {});
    });
  }
});
// The tab bar's "More" menu (a <details>, which opens without JavaScript): Escape or a tap
// outside closes it, and Escape puts focus back on "More".
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const open = document.querySelector(".more-menu[open]");
  if (open) {
    open.open = false;
    open.querySelector("summary").focus();
  }
});
document.addEventListener("click", (event) => {
  const open = document.querySelector(".more-menu[open]");
  if (open && !open.contains(event.target)) open.open = false;
});
