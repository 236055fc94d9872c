// The door poster's page.
// 1. Before the check-in: check in at once, as if the member had tapped the button (the
//    page's GET never checks anyone in: a link preview or a prefetch must not). After the
//    check-in the page shows the welcome, which has no such form, so this runs once.
// 2. After it: while a campaign triggered by the check-in is preparing the member's offer
//    (the worker sends it), ask for it every second, for at most half a minute, and show it
//    in place of the "on its way" line. 204: not yet; 200: the offer's panel, or nothing
//    (none is coming after all); anything else: give up.
(function () {
  "use strict";
  var form = document.querySelector("form[data-door-autosubmit]");
  if (form) {
    form.submit();
    return;
  }
  var slot = document.querySelector("[data-door-offer-poll]");
  if (!slot || !window.fetch) {
    return;
  }
  var url = slot.getAttribute("data-door-offer-poll");
  var tries = 0;
  var INTERVAL_MS = 1000;
  var MAX_TRIES = 30;

  function give_up() {
    slot.parentNode.removeChild(slot);
  }

  function ask() {
    tries += 1;
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.status === 200) {
          return response.text().then(function (html) {
            if (!html.trim()) {
              give_up();
              return;
            }
            slot.innerHTML = html;
            slot.removeAttribute("data-door-offer-poll");
          });
        }
        if (response.status === 204 && tries < MAX_TRIES) {
          window.setTimeout(ask, INTERVAL_MS);
          return undefined;
        }
        give_up();
        return undefined;
      })
      .catch(function () {
        if (tries < MAX_TRIES) {
          window.setTimeout(ask, INTERVAL_MS);
        } else {
          give_up();
        }
      });
  }

  window.setTimeout(ask, 300);
})();
