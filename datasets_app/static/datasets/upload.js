// Drop zone + upload with a real progress bar (XMLHttpRequest upload events). Without JavaScript
// the form still posts normally.
(function () {
  function setup(form) {
    const zone = form.querySelector(".dropzone");
    const input = form.querySelector("input[type=file]");
    const chosen = form.querySelector(".chosen");
    const bar = form.querySelector(".upload-progress");
    const maxBytes = parseInt(form.dataset.maxBytes, 10);
    if (!zone || !input) return;

    function show(file) {
      chosen.textContent = file ? file.name + " (" + (file.size / 1e6).toFixed(1) + " MB)" : "";
      const name = form.querySelector("input[name=name]");
      if (file && name && !name.value) name.value = file.name.replace(/\.jsonl?$/i, "");
    }
    zone.addEventListener("click", () => input.click());
    zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
    input.addEventListener("change", () => show(input.files[0]));
    ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
    ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.remove("over"); }));
    zone.addEventListener("drop", (e) => {
      if (e.dataTransfer.files.length) { input.files = e.dataTransfer.files; show(input.files[0]); }
    });

    form.addEventListener("submit", (e) => {
      const file = input.files[0];
      const err = form.querySelector(".client-error");
      err.textContent = "";
      if (!file) { e.preventDefault(); err.textContent = "Choose a file first: drop it on the box or click the box."; return; }
      if (maxBytes && file.size > maxBytes) {
        e.preventDefault();
        err.textContent = "The file is " + (file.size / 1e6).toFixed(1) + " MB; the limit is " + (maxBytes / 1e6).toFixed(0) + " MB.";
        return;
      }
      e.preventDefault();
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-Upload", "xhr");
      const fill = bar.querySelector("div > div");
      const label = bar.querySelector(".label");
      bar.hidden = false;
      form.querySelector("button[type=submit]").disabled = true;
      xhr.upload.addEventListener("progress", (ev) => {
        if (!ev.lengthComputable) return;
        const pct = Math.round((ev.loaded / ev.total) * 100);
        fill.style.width = pct + "%";
        bar.querySelector("[role=progressbar]").setAttribute("aria-valuenow", pct);
        label.textContent = pct < 100 ? "Uploading\u2026 " + pct + "%" : "Uploaded. Checking every line\u2026";
      });
      xhr.addEventListener("load", () => {
        let data = {};
        try { data = JSON.parse(xhr.responseText); } catch (_) { /* not JSON: a server error page */ }
        if (data.redirect) { window.location = data.redirect; return; }
        if (data.form_html) {
          const holder = document.getElementById("upload-form-holder");
          holder.innerHTML = data.form_html;
          setup(holder.querySelector("form"));
          return;
        }
        bar.hidden = true;
        form.querySelector("button[type=submit]").disabled = false;
        err.textContent = "The upload failed (" + xhr.status + "). Try again.";
      });
      xhr.addEventListener("error", () => {
        bar.hidden = true;
        form.querySelector("button[type=submit]").disabled = false;
        err.textContent = "The connection broke during the upload. Try again.";
      });
      xhr.send(new FormData(form));
    });
  }
  document.addEventListener("DOMContentLoaded", () => document.querySelectorAll("form.upload").forEach(setup));
})();
