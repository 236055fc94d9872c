// The back-office import's progress (members/admin_imports.py): ask the job's progress
// every second and move the bar; when the job has finished, load the page again for the
// report. Without JavaScript the page refreshes itself (a <noscript> refresh).
(function () {
  "use strict";
  var root = document.getElementById("import-job");
  if (!root) return;
  var url = root.getAttribute("data-progress-url");
  var bar = document.getElementById("import-progress");
  var count = document.getElementById("import-count");
  var status = document.getElementById("import-status");
  function tick() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (job) {
        if (!job) return;
        if (job.finished || job.stale) { window.location.reload(); return; }
        if (status) status.textContent = job.status_label;
        if (bar && job.total) { bar.max = job.total; bar.value = job.done; }
        if (count && job.total) count.textContent = job.done + "/" + job.total;
        window.setTimeout(tick, 1000);
      })
      .catch(function () { window.setTimeout(tick, 3000); });
  }
  window.setTimeout(tick, 1000);
})();
