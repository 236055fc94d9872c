// The door poster's page: check in at once, as if the member had tapped the button (the
// page's GET never checks anyone in: a link preview or a prefetch must not). After the
// check-in the page shows the welcome, which has no such form, so this runs once.
(function () {
  "use strict";
  var form = document.querySelector("form[data-door-autosubmit]");
  if (form) {
    form.submit();
  }
})();
