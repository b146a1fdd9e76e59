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

  // <div data-keep-picks> that htmx swaps: a choice made in one of its selects while the request
  // was on its way is kept when the new content offers it. On a slow server the launch form's
  // base models arrived after the user had picked one and silently put the list's default back.
  function picksIn(target) {
    var values = {};
    target.querySelectorAll("select[name]").forEach(function (select) {
      values[select.name] = select.value;
    });
    return values;
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    if (target instanceof Element && target.hasAttribute("data-keep-picks")) target.fineweb_sent = picksIn(target);
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.fineweb_sent) return;
    var sent = target.fineweb_sent, now = picksIn(target), changed = {};
    Object.keys(now).forEach(function (name) {
      if (now[name] !== sent[name]) changed[name] = now[name];
    });
    target.fineweb_sent = null;
    target.fineweb_changed = changed;
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target, changed = target && target.fineweb_changed;
    if (!changed) return;
    target.fineweb_changed = null;
    Object.keys(changed).forEach(function (name) {
      var select = target.querySelector('select[name="' + CSS.escape(name) + '"]');
      var offered = select && Array.prototype.some.call(select.options, function (o) { return o.value === changed[name]; });
      if (offered && select.value !== changed[name]) {
        select.value = changed[name];
        select.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
  });
})();
