// Partner scanner page. A keyboard-wedge 2D scanner types the QR text into the focused input and
// presses Enter (or Tab); the camera mode decodes frames with the vendored jsQR. The API key is
// kept in this browser's localStorage only and sent as a bearer token; the page itself holds no
// data. Every text shown comes from the template's data-msg-* attributes (translated there), and
// reaches the page through textContent only.
(function () {
  "use strict";
  var root = document.getElementById("scanner");
  if (!root) { return; }
  var STORE = "idsys-partner-key";
  // The screen is a shared counter's: a holder's name, date of birth and photo must not wait
  // there for the next person in the queue.
  var CLEAR_AFTER_MS = 60 * 1000;
  var VERDICTS = { valid: true, expired: true, revoked: true, not_found: true, invalid: true };
  var byId = function (id) { return document.getElementById(id); };
  var keyForm = byId("key-form");
  var keyInput = byId("api-key");
  var keyMessage = byId("key-message");
  var keyStored = byId("key-stored");
  var form = byId("scan-form");
  var input = byId("qr-input");
  var numberForm = byId("number-form");
  var numberInput = byId("card-number");
  var bornInput = byId("card-born");
  var box = byId("result");
  var word = byId("result-word");
  var detail = byId("result-detail");
  var photo = byId("result-photo");
  var clearButton = byId("clear-result");
  var video = byId("scan-video");
  var cameraButton = byId("camera-button");
  var cameraStatus = byId("camera-status");

  function msg(name) { return root.getAttribute("data-msg-" + name) || name; }
  function fill(text, values) {
    return text.replace(/\{([a-z_]+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  // -- the key -------------------------------------------------------------------------------
  // Where the browser refuses storage (a locked-down profile), the key is kept in memory so
  // that the page still works until it is closed.
  var memoryKey = "";
  function storedKey() {
    try { return window.localStorage.getItem(STORE) || memoryKey; } catch (e) { return memoryKey; }
  }
  function saveKey(value) {
    memoryKey = "";
    try { window.localStorage.setItem(STORE, value); } catch (e) { memoryKey = value; }
  }
  function dropKey() {
    memoryKey = "";
    try { window.localStorage.removeItem(STORE); } catch (e) { /* nothing stored */ }
  }
  // The key form is shown when there is no key or when the server refused it; "Forget key"
  // whenever one is stored, so a wrong or leaked key can always be removed.
  function showKeyState(problem) {
    var key = storedKey();
    keyStored.hidden = !key;
    keyForm.hidden = Boolean(key) && !problem;
    keyMessage.textContent = problem || "";
    keyMessage.hidden = !problem;
  }
  function askForKey(problem) {
    showKeyState(problem);
    keyInput.focus();
  }
  showKeyState("");
  keyForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var value = keyInput.value.trim();
    if (!value) { askForKey(msg("key-empty")); return; }
    saveKey(value);
    keyInput.value = "";
    showKeyState("");
    input.focus();
  });
  byId("forget-key").addEventListener("click", function () {
    dropKey();
    askForKey("");
  });

  // -- the answer ----------------------------------------------------------------------------
  var latest = 0;  // number of the latest check: only its reply may reach the screen
  var inFlight = null;
  var clearTimer = null;

  function emptyResult() {
    window.clearTimeout(clearTimer);
    clearTimer = null;
    box.hidden = true;
    box.className = "result";
    word.textContent = "";
    while (detail.firstChild) { detail.removeChild(detail.firstChild); }
    photo.hidden = true;
    photo.removeAttribute("src");
    clearButton.hidden = true;
  }
  // Off the screen, and no reply still on its way may bring it back.
  function forgetResult() {
    latest += 1;
    if (inFlight) { inFlight.abort(); inFlight = null; }
    var hadFocus = document.activeElement === clearButton;
    emptyResult();
    if (hadFocus) { input.focus(); }
  }
  function show(kind, heading, lines, photoData) {
    emptyResult();
    box.className = "result result-" + kind;
    word.textContent = heading;
    lines.forEach(function (line) {
      var p = document.createElement("p");
      p.textContent = line;
      detail.appendChild(p);
    });
    if (photoData && photoData.media_type === "image/jpeg" && typeof photoData.data === "string") {
      photo.src = "data:image/jpeg;base64," + photoData.data;
      photo.hidden = false;
    }
    box.hidden = false;
    clearButton.hidden = false;
    if (kind !== "checking") { clearTimer = window.setTimeout(forgetResult, CLEAR_AFTER_MS); }
  }
  function showProblem(text) { show("error", msg("not-checked"), [text], null); }

  function grouped(number) { return String(number).replace(/(\d{4})(?=\d)/g, "$1 "); }
  function reasonLabel(code) { return root.getAttribute("data-msg-reason-" + code) || code; }

  function showVerdict(body) {
    var lines = [];
    if (body.reason) { lines.push(reasonLabel(body.reason)); }
    if (body.holder) {
      lines.push(body.holder.full_name);
      lines.push(fill(msg("holder-born"), { date: body.holder.date_of_birth }));
    }
    if (body.card) {
      lines.push(fill(msg("card-number"), { number: grouped(body.card.number) }));
      if (body.card.expires_on) {
        var label = body.result === "expired" ? "expired-on" : "expires";
        lines.push(fill(msg(label), { date: body.card.expires_on }));
      }
    }
    // A code the scanner misread says nothing about the card: ask for another scan, in the
    // neutral colour, rather than have a genuine holder turned away as a forger.
    if (body.result === "invalid" && body.reason === "malformed") {
      show("unread", msg("unread"), lines, null);
      return;
    }
    show(body.result, msg(body.result), lines, body.photo || null);
  }

  function waitText(retryAfter) {
    var seconds = /^\s*\d+\s*$/.test(retryAfter || "") ? parseInt(retryAfter, 10) : NaN;
    if (isNaN(seconds) && retryAfter) {
      seconds = Math.ceil((Date.parse(retryAfter) - Date.now()) / 1000);  // the HTTP-date form
    }
    if (isNaN(seconds) || seconds < 0) { return msg("wait-later"); }
    if (seconds < 60) {
      return seconds <= 1 ? msg("wait-second") : fill(msg("wait-seconds"), { n: seconds });
    }
    var minutes = Math.ceil(seconds / 60);
    if (minutes < 120) {
      return minutes === 1 ? msg("wait-minute") : fill(msg("wait-minutes"), { n: minutes });
    }
    return fill(msg("wait-hours"), { n: Math.ceil(minutes / 60) });
  }

  // System failures are shown in the neutral colour, never the red of a revoked or forged card:
  // the holder is not to be turned away because the network or the service failed.
  function showFailure(reply) {
    var body = reply.body;
    var code = body && typeof body.error === "string" ? body.error : String(reply.status);
    if (reply.status === 401) {
      dropKey();  // refused for good (unknown or revoked): a new key must be entered
      showProblem(msg("key-invalid"));
      askForKey(msg("key-invalid"));
    } else if (reply.status === 403) {
      // Kept: the same key works again once the programme office restores access.
      showProblem(msg("key-suspended"));
      askForKey(msg("key-suspended"));
    } else if (reply.status === 429) {
      showProblem(code === "daily_quota_exceeded" ? msg("quota") : waitText(reply.retryAfter));
    } else if (reply.status >= 500 || !body) {
      showProblem(msg("unavailable"));
    } else {
      showProblem(fill(msg("refused"), { code: code }));
    }
  }

  function readReply(response) {
    var type = response.headers.get("Content-Type") || "";
    var parsed = type.indexOf("application/json") === 0
      ? response.json().catch(function () { return null; })
      : Promise.resolve(null);
    return parsed.then(function (body) {
      return {
        ok: response.ok,
        status: response.status,
        body: body && typeof body === "object" ? body : null,
        retryAfter: response.headers.get("Retry-After")
      };
    });
  }

  function check(request) {
    forgetResult();
    var key = storedKey();
    if (!key) { showProblem(msg("nokey")); askForKey(msg("nokey")); return; }
    var mine = latest;
    var controller = window.AbortController ? new window.AbortController() : null;
    inFlight = controller;
    show("checking", msg("checking"), [], null);
    fetch(root.getAttribute("data-api"), {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + key },
      body: JSON.stringify(request),
      credentials: "omit",
      cache: "no-store",
      signal: controller ? controller.signal : undefined
    }).then(readReply).then(function (reply) {
      if (mine !== latest) { return; }  // a later scan, a Clear or a hidden page came first
      inFlight = null;
      if (reply.ok && reply.body && VERDICTS[reply.body.result] === true) {
        showVerdict(reply.body);
      } else if (reply.ok) {
        showProblem(msg("unavailable"));
      } else {
        showFailure(reply);
      }
    }, function () {
      if (mine !== latest) { return; }
      inFlight = null;
      showProblem(msg("offline"));
    });
  }

  // The input is emptied at once, not when the reply comes: a wedge scanner may already be
  // typing the next card into it.
  function submitScan() {
    var text = input.value.trim();
    input.value = "";
    input.focus();
    if (text) { check({ qr: text }); }
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submitScan();
  });
  // Some scanners are set up to end with Tab instead of Enter.
  input.addEventListener("keydown", function (event) {
    if (event.key === "Tab" && !event.shiftKey && !event.altKey && !event.ctrlKey &&
        !event.metaKey && input.value.trim()) {
      event.preventDefault();
      submitScan();
    }
  });
  numberForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var request = { card_number: numberInput.value.trim(), date_of_birth: bornInput.value };
    if (!storedKey()) { check(request); return; }  // asks for the key; what was typed stays
    // The date of birth is personal data: it does not stay in the form on a shared screen.
    numberInput.value = "";
    bornInput.value = "";
    input.focus();
    check(request);
  });
  clearButton.addEventListener("click", function () {
    forgetResult();
    input.focus();
  });

  // -- the camera ----------------------------------------------------------------------------
  var stream = null;
  var cameraRequest = 0;  // the camera request the page still wants; 0 when it wants none
  var cameraRequests = 0;

  function stopCamera() {
    cameraRequest = 0;
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    video.srcObject = null;
    video.hidden = true;
    cameraButton.textContent = msg("camera-start");
  }
  function cameraFailed() {
    stopCamera();
    cameraStatus.textContent = msg("camera-off");
    cameraStatus.hidden = false;
    input.focus();
  }
  function startCamera() {
    cameraStatus.hidden = true;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.jsQR) {
      cameraFailed();
      return;
    }
    cameraRequests += 1;
    var mine = cameraRequests;
    cameraRequest = mine;
    cameraButton.textContent = msg("camera-stop");
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (s) {
      // Stopped (or hidden) while the browser was still asking: this camera must not stay on.
      if (mine !== cameraRequest) { s.getTracks().forEach(function (t) { t.stop(); }); return; }
      stream = s;
      video.srcObject = s;
      video.hidden = false;
      var playing = video.play();
      if (playing && playing.catch) { playing.catch(function () { /* frames are read anyway */ }); }
      var canvas = document.createElement("canvas");
      var context = canvas.getContext("2d");
      (function scanFrame() {
        if (stream !== s) { return; }
        if (video.readyState === video.HAVE_ENOUGH_DATA) {
          canvas.width = video.videoWidth;
          canvas.height = video.videoHeight;
          context.drawImage(video, 0, 0);
          var image = context.getImageData(0, 0, canvas.width, canvas.height);
          var code = window.jsQR(image.data, image.width, image.height);
          if (code && code.data && code.data.trim()) {
            stopCamera();
            input.focus();
            check({ qr: code.data.trim() });
            return;
          }
        }
        window.requestAnimationFrame(scanFrame);
      }());
    }, function () {
      if (mine === cameraRequest) { cameraFailed(); }
    });
  }
  // A click while the browser is still asking for the camera means "stop", not a second start.
  cameraButton.addEventListener("click", function () {
    if (cameraRequest) { stopCamera(); } else { startCamera(); }
  });

  // -- leaving the page ------------------------------------------------------------------------
  function leave() {
    forgetResult();
    stopCamera();
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { leave(); }
  });
  window.addEventListener("pagehide", leave);
}());
