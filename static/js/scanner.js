// Partner scanner page. A keyboard-wedge 2D scanner types the QR text into the focused input and
// presses Enter; the camera mode decodes frames with the vendored jsQR. The API key is kept in
// this browser's localStorage only and sent as a bearer token; the page itself holds no data.
(function () {
  "use strict";
  var root = document.getElementById("scanner");
  if (!root) { return; }
  var STORE = "idsys-partner-key";
  var keyForm = document.getElementById("key-form");
  var keyInput = document.getElementById("api-key");
  var form = document.getElementById("scan-form");
  var input = document.getElementById("qr-input");
  var box = document.getElementById("result");
  var word = document.getElementById("result-word");
  var detail = document.getElementById("result-detail");
  var photo = document.getElementById("result-photo");
  var video = document.getElementById("scan-video");
  var cameraButton = document.getElementById("camera-button");
  var msg = function (name) { return root.getAttribute("data-msg-" + name) || name; };

  function storedKey() { try { return window.localStorage.getItem(STORE) || ""; } catch (e) { return ""; } }
  if (storedKey()) { keyForm.hidden = true; }
  keyForm.addEventListener("submit", function (event) {
    event.preventDefault();
    try { window.localStorage.setItem(STORE, keyInput.value.trim()); } catch (e) { /* private mode */ }
    keyInput.value = "";
    keyForm.hidden = true;
    input.focus();
  });
  document.getElementById("forget-key").addEventListener("click", function () {
    try { window.localStorage.removeItem(STORE); } catch (e) { /* nothing stored */ }
    keyForm.hidden = false;
    keyInput.focus();
  });

  function show(result, text, photoData) {
    box.hidden = false;
    box.className = "result result-" + result;
    word.textContent = msg(result);
    detail.textContent = text;
    if (photoData) {
      photo.src = "data:" + photoData.media_type + ";base64," + photoData.data;
      photo.hidden = false;
    } else {
      photo.hidden = true;
      photo.removeAttribute("src");
    }
  }

  function check(text) {
    var key = storedKey();
    if (!key) { show("error", msg("nokey"), null); keyForm.hidden = false; keyInput.focus(); return; }
    fetch(root.getAttribute("data-api"), {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + key },
      body: JSON.stringify({ qr: text.trim() }),
      credentials: "omit"
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (reply) {
      if (!reply.ok) { show("error", msg("error") + " " + (reply.body.message || ""), null); return; }
      var body = reply.body;
      var parts = [];
      if (body.reason) { parts.push(body.reason); }
      if (body.holder) { parts.push(body.holder.full_name + " · " + body.holder.date_of_birth); }
      if (body.card && body.card.expires_on) { parts.push(body.card.expires_on); }
      show(body.result, parts.join(" — "), body.photo || null);
    }).catch(function () {
      show("error", msg("error"), null);
    }).then(function () {
      input.value = "";
      input.focus();
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (input.value.trim()) { check(input.value); }
  });

  var stream = null;
  function stopCamera() {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    video.hidden = true;
  }
  cameraButton.addEventListener("click", function () {
    if (stream) { stopCamera(); return; }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.jsQR) {
      show("error", msg("camera-off"), null);
      return;
    }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (s) {
      stream = s;
      video.srcObject = s;
      video.hidden = false;
      video.play();
      var canvas = document.createElement("canvas");
      var context = canvas.getContext("2d");
      (function scanFrame() {
        if (!stream) { return; }
        if (video.readyState === video.HAVE_ENOUGH_DATA) {
          canvas.width = video.videoWidth;
          canvas.height = video.videoHeight;
          context.drawImage(video, 0, 0);
          var image = context.getImageData(0, 0, canvas.width, canvas.height);
          var code = window.jsQR(image.data, image.width, image.height);
          if (code && code.data) { stopCamera(); check(code.data); return; }
        }
        window.requestAnimationFrame(scanFrame);
      }());
    }).catch(function () { show("error", msg("camera-off"), null); });
  });
}());
