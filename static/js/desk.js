// The staff desk: scan a card QR with the tablet's camera where the browser can
// (BarcodeDetector); otherwise a USB/Bluetooth scanner types into the field.
(function () {
  "use strict";
  var button = document.getElementById("desk-camera");
  var video = document.getElementById("desk-video");
  var input = document.getElementById("desk-q");
  if (!button || !video || !input || !("BarcodeDetector" in window) || !navigator.mediaDevices) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
      video.srcObject = stream;
      video.hidden = false;
      video.play();
      function stop() {
        stream.getTracks().forEach(function (track) { track.stop(); });
        video.hidden = true;
      }
      function look() {
        detector.detect(video).then(function (codes) {
          if (codes.length) {
            stop();
            input.value = codes[0].rawValue;
            input.form.submit();
          } else {
            window.requestAnimationFrame(look);
          }
        }).catch(function () { window.requestAnimationFrame(look); });
      }
      look();
    }).catch(function () {
      button.hidden = true;
      input.focus();
    });
  });
})();

// "Arrived today": asked for again every few seconds while the desk's first page is open.
(function () {
  "use strict";
  var list = document.getElementById("desk-arrivals");
  if (!list || !window.fetch) {
    return;
  }
  var seconds = parseInt(list.getAttribute("data-refresh-seconds"), 10) || 10;
  window.setInterval(function () {
    if (document.hidden) {
      return;
    }
    fetch(list.getAttribute("data-refresh-url"), { credentials: "same-origin" }).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      var current = document.getElementById("desk-arrivals");
      if (html && current) {
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var fresh = holder.querySelector("#desk-arrivals");
        if (fresh) {
          current.replaceWith(fresh);
          list = fresh;
        }
      }
    }).catch(function () {});
  }, seconds * 1000);
})();
