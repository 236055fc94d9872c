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
// Logging out forgets the offline copy of the card, so the next person on this phone cannot open it.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.action.endsWith("/konto/logout/") && "caches" in window) {
    caches.delete("kundklubb-card-v1");
  }
});
