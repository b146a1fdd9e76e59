// Behaviour every page shares, kept out of the HTML so the Content-Security-Policy can forbid
// inline scripts and on* handlers.
(function () {
  // <form data-confirm="Question?">: ask before a plain (non-htmx) form is sent.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
})();
