// Counter webcam capture for the photo step. Progressive enhancement: without a camera, or when
// the browser refuses it, the plain file input below still works.
(function () {
  "use strict";
  var box = document.getElementById("camera");
  var video = document.getElementById("camera-video");
  var take = document.getElementById("camera-take");
  var status = document.getElementById("camera-status");
  var form = document.getElementById("photo-form");
  if (!box || !video || !take || !form) { return; }
  var input = form.querySelector("input[type=file]");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.DataTransfer) {
    return;
  }
  navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 960 }, height: { ideal: 1280 } } })
    .then(function (stream) {
      video.srcObject = stream;
      box.hidden = false;
      take.focus();
      take.addEventListener("click", function () {
        var canvas = document.createElement("canvas");
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        canvas.getContext("2d").drawImage(video, 0, 0);
        canvas.toBlob(function (blob) {
          if (!blob) { status.textContent = "The photo could not be taken; choose a file instead."; return; }
          var transfer = new DataTransfer();
          transfer.items.add(new File([blob], "camera.jpg", { type: "image/jpeg" }));
          input.files = transfer.files;
          stream.getTracks().forEach(function (track) { track.stop(); });
          status.textContent = "Photo taken; sending.";
          form.submit();
        }, "image/jpeg", 0.92);
      });
    })
    .catch(function () {
      status.textContent = "No camera available: choose a photo file instead.";
    });
}());
