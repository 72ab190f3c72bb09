// Upload form: an archive or a whole build folder (dropped or chosen), sent with a progress
// bar; the server's validation errors are shown as they come. A folder is packed here as a
// .tar.gz (ustar + the browser's gzip); the server checks it like any uploaded archive.
// Without JavaScript the form posts the chosen archive normally.
"use strict";
(function () {
  const form = document.getElementById("upload");
  if (!form) return;
  const input = form.querySelector("#archive");
  const folderInput = form.querySelector("[data-folder]");
  const drop = form.querySelector("[data-drop]");
  const bar = form.querySelector("progress");
  const problem = form.querySelector("[data-problem]");
  const button = form.querySelector("button[type=submit]");
  let folder = null; // [{path, file}] when a folder was chosen or dropped

  const show = (text) => { problem.textContent = text; problem.hidden = !text; };

  // ----- folders -> .tar.gz -----
  const enc = new TextEncoder();
  function header(path, size, mtime) {
    const h = new Uint8Array(512);
    let name = path, prefix = "";
    if (enc.encode(name).length > 100) {
      const cut = path.lastIndexOf("/", path.length - 1);
      prefix = path.slice(0, cut);
      name = path.slice(cut + 1);
      if (cut < 0 || enc.encode(name).length > 100 || enc.encode(prefix).length > 155) {
        throw new Error("The path " + path + " is too long for an archive; upload a .zip instead.");
      }
    }
    const put = (text, at, len) => h.set(enc.encode(text).slice(0, len), at);
    const octal = (n, len) => (n.toString(8).padStart(len - 1, "0") + "\0");
    put(name, 0, 100);
    put(octal(0o644, 8), 100, 8);
    put(octal(0, 8), 108, 8);
    put(octal(0, 8), 116, 8);
    put(octal(size, 12), 124, 12);
    put(octal(mtime, 12), 136, 12);
    put("        ", 148, 8); // checksum placeholder: spaces
    put("0", 156, 1);
    put("ustar\0" + "00", 257, 8);
    put(prefix, 345, 155);
    let sum = 0;
    for (const b of h) sum += b;
    put(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
    return h;
  }
  async function packFolder(entries) {
    const parts = [];
    for (const { path, file } of entries) {
      const data = new Uint8Array(await file.arrayBuffer());
      parts.push(header(path, data.length, Math.floor(file.lastModified / 1000)), data);
      const pad = (512 - (data.length % 512)) % 512;
      if (pad) parts.push(new Uint8Array(pad));
    }
    parts.push(new Uint8Array(1024));
    const gz = new Blob(parts).stream().pipeThrough(new CompressionStream("gzip"));
    return new File([await new Response(gz).blob()], "folder.tar.gz", { type: "application/gzip" });
  }
  function readEntry(entry, out) {
    if (entry.isFile) {
      return new Promise((ok, bad) => entry.file((f) => { out.push({ path: entry.fullPath.replace(/^\//, ""), file: f }); ok(); }, bad));
    }
    const reader = entry.createReader();
    return new Promise((ok, bad) => {
      const batch = () => reader.readEntries(async (list) => {
        if (!list.length) { ok(); return; }
        for (const e of list) await readEntry(e, out);
        batch();
      }, bad);
      batch();
    });
  }
  const chooseFolder = (entries) => {
    folder = entries;
    input.value = "";
    drop.textContent = entries.length + " files from a folder";
    show("");
  };

  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const items = [...e.dataTransfer.items].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
    if (items.length === 1 && items[0].isDirectory) {
      const out = [];
      await readEntry(items[0], out);
      chooseFolder(out);
      return;
    }
    if (e.dataTransfer.files.length !== 1) { show("Drop one .zip or .tar.gz archive, or one folder."); return; }
    folder = null;
    input.files = e.dataTransfer.files;
    drop.textContent = e.dataTransfer.files[0].name;
    show("");
  });
  input.addEventListener("change", () => { if (input.files[0]) { folder = null; drop.textContent = input.files[0].name; } });
  folderInput.addEventListener("change", () => {
    chooseFolder([...folderInput.files].map((f) => ({ path: f.webkitRelativePath || f.name, file: f })));
    folderInput.value = "";
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!folder && !input.files[0]) { show("Choose an archive or a folder first."); return; }
    show("");
    button.disabled = true;
    const data = new FormData(form);
    data.delete("file");
    try {
      data.append("file", folder ? await packFolder(folder) : input.files[0]);
    } catch (err) {
      button.disabled = false;
      show(err.message);
      return;
    }
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
    xhr.send(data);
  });
})();
