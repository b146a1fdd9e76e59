// The upload form: a drop zone, a check before sending, and a progress bar. htmx sends the form
// (hx-post, multipart) and swaps in the form again with the reasons when the server refuses the
// file (400 or 413), or follows HX-Redirect to the new version. Without JavaScript the form
// still posts normally.
(function () {
  const RE_RENDERED = [400, 413]; // the server answers these with the form and its messages

  function megabytes(bytes) {
    return (bytes / 1e6).toFixed(1) + " MB";
  }

  function setup(form) {
    const zone = form.querySelector(".dropzone");
    const input = form.querySelector("input[type=file]");
    const chosen = form.querySelector(".chosen");
    const bar = form.querySelector(".upload-progress");
    const fill = bar.querySelector(".fill");
    const label = bar.querySelector(".label");
    const err = form.querySelector(".client-error");
    const maxBytes = parseInt(form.dataset.maxBytes, 10);
    let shown = 0;
    if (!zone || !input) return;

    function show(file) {
      chosen.textContent = file ? file.name + " (" + megabytes(file.size) + ")" : "";
      const name = form.querySelector("input[name=name]");
      if (file && name && !name.value) name.value = file.name.replace(/\.jsonl?$/i, "");
    }
    function progress(pct, text) {
      fill.style.width = pct + "%";
      bar.querySelector("[role=progressbar]").setAttribute("aria-valuenow", pct);
      label.textContent = text;
    }
    function failed(text) {
      bar.hidden = true;
      err.textContent = text;
    }

    zone.addEventListener("click", () => input.click());
    zone.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
    });
    input.addEventListener("change", () => show(input.files[0]));
    ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
    ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.remove("over"); }));
    zone.addEventListener("drop", (e) => {
      if (e.dataTransfer.files.length) { input.files = e.dataTransfer.files; show(input.files[0]); }
    });

    // Before htmx sends anything: a file must be chosen and fit under the limit.
    form.addEventListener("htmx:confirm", (e) => {
      const file = input.files[0];
      err.textContent = "";
      if (!file) {
        e.preventDefault();
        err.textContent = "Choose a file first: drop it on the box or click the box.";
      } else if (maxBytes && file.size > maxBytes) {
        e.preventDefault();
        err.textContent = "The file is " + megabytes(file.size) + "; the limit is " + (maxBytes / 1e6).toFixed(0) + " MB.";
      }
    });
    form.addEventListener("htmx:beforeRequest", () => {
      shown = 0;
      bar.hidden = false;
      progress(0, "Starting the upload\u2026");
    });
    form.addEventListener("htmx:xhr:progress", (e) => {
      if (!e.detail.lengthComputable || !e.detail.total) return;
      // Upload and download both report progress: the bar only ever moves forward.
      shown = Math.max(shown, Math.round((e.detail.loaded / e.detail.total) * 100));
      progress(shown, shown < 100 ? "Uploading\u2026 " + shown + "%" : "Uploaded. Checking every line\u2026");
    });
    form.addEventListener("htmx:beforeSwap", (e) => {
      if (RE_RENDERED.includes(e.detail.xhr.status)) {
        e.detail.shouldSwap = true;
        e.detail.isError = false;
      }
    });
    form.addEventListener("htmx:responseError", (e) => failed("The upload failed (" + e.detail.xhr.status + "). Try again."));
    form.addEventListener("htmx:sendError", () => failed("The connection broke during the upload. Try again."));
  }

  // On the first page and on every form htmx swaps in.
  htmx.onLoad((root) => {
    if (root.matches && root.matches("form.upload")) setup(root);
    else root.querySelectorAll("form.upload").forEach(setup);
  });
})();
