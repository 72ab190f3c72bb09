// Upload form: drag-and-drop onto the drop zone, progress while sending, the server's
// validation errors shown as they come. Without JavaScript the form posts normally.
"use strict";
(function () {
  const form = document.getElementById("upload");
  if (!form) return;
  const input = form.querySelector("input[type=file]");
  const drop = form.querySelector("[data-drop]");
  const bar = form.querySelector("progress");
  const problem = form.querySelector("[data-problem]");
  const button = form.querySelector("button[type=submit]");

  const show = (text) => { problem.textContent = text; problem.hidden = !text; };
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length !== 1) { show("Drop one .zip or .tar.gz archive."); return; }
    input.files = e.dataTransfer.files;
    drop.textContent = e.dataTransfer.files[0].name;
    show("");
  });
  input.addEventListener("change", () => { if (input.files[0]) drop.textContent = input.files[0].name; });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!input.files[0]) { show("Choose an archive first."); return; }
    show("");
    button.disabled = true;
    bar.hidden = false;
    bar.value = 0;
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (ev) => {
      if (ev.lengthComputable) bar.value = Math.round((ev.loaded / ev.total) * 100);
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300 && body && body.location) {
        window.location.assign(body.location);
        return;
      }
      button.disabled = false;
      bar.hidden = true;
      show(body && body.error ? body.error.message : "The upload failed (HTTP " + xhr.status + ").");
    });
    xhr.addEventListener("error", () => {
      button.disabled = false;
      bar.hidden = true;
      show("The upload did not reach the server; check the connection and try again.");
    });
    xhr.send(new FormData(form));
  });
})();
