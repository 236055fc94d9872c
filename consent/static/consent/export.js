// While an export is being built, poll its progress and reload the page when it is done.
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("export-state");
  if (!box) return;
  const running = ["queued", "processing"];
  if (!running.includes(box.dataset.exportStatus)) return;
  const bar = document.getElementById("export-progress");
  const poll = () => {
    fetch(box.dataset.exportStatusUrl, { credentials: "same-origin" })
      .then((r) => r.json())
      .then((data) => {
        if (bar) bar.value = data.progress;
        if (running.includes(data.status)) setTimeout(poll, 2000);
        else window.location.reload();
      })
      .catch(() => setTimeout(poll, 5000));
  };
  setTimeout(poll, 1500);
});
