// Polls the campaign's progress counters and updates the bar until the campaign is finished.
(function () {
  const root = document.getElementById("campaign-progress");
  if (!root) return;
  const bar = document.getElementById("progress-bar");
  function update(data) {
    for (const el of root.querySelectorAll("[data-field]")) {
      const key = el.getAttribute("data-field");
      if (key in data) el.textContent = data[key];
    }
    bar.value = data.percent;
    bar.textContent = data.percent + " %";
    return data.status === "sending" || data.status === "scheduled";
  }
  function poll() {
    fetch(root.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => r.json())
      .then((data) => { if (update(data)) setTimeout(poll, 1000); })
      .catch(() => setTimeout(poll, 3000));
  }
  poll();
})();
