// The compare screen: one server-sent event stream per column, all at once; stop; votes; held-out prompts.
// No inline script (the Content-Security-Policy): data comes from json_script elements.
(function () {
  "use strict";

  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // --- the playground form: fill in a held-out prompt of the job's validation split ---------
  var heldOut = document.getElementById("held-out");
  if (heldOut) {
    var prompts = readJSON(heldOut.dataset.prompts) || [];
    heldOut.addEventListener("change", function () {
      var p = prompts[Number(heldOut.value)];
      if (!p) return;
      var form = heldOut.form;
      form.querySelector("textarea[name=message]").value = p.message;
      form.querySelectorAll("textarea[data-system-prompt]").forEach(function (t) { t.value = p.system; });
    });
  }

  // --- the conversation screen ---------------------------------------------------------------
  var root = document.getElementById("compare");
  if (!root) return;
  var streams = readJSON(root.dataset.streams) || [];
  var open = [];
  var finished = 0;

  function cell(replyId) {
    return root.querySelector('[data-reply="' + replyId + '"]');
  }

  function seconds(value) {
    return value === null || value === undefined ? "–" : value.toFixed(2) + " s";
  }

  function show(el, data) {
    el.dataset.status = data.status;
    var badge = el.querySelector('[data-role="status"]');
    badge.textContent = data.status_label;
    badge.className = "badge " + data.status;
    el.querySelector('[data-role="text"]').textContent = data.text;
    var error = el.querySelector('[data-role="error"]');
    error.textContent = data.error || "";
    error.hidden = !data.error;
    el.querySelector('[data-stat="first_token_s"]').textContent = seconds(data.first_token_s);
    el.querySelector('[data-stat="total_s"]').textContent = seconds(data.total_s);
    el.querySelector('[data-stat="tokens"]').textContent =
      (data.prompt_tokens === null ? "–" : data.prompt_tokens) + " / " +
      (data.completion_tokens === null ? "–" : data.completion_tokens);
    el.querySelector('[data-stat="tokens_per_second"]').textContent =
      data.tokens_per_second === null ? "–" : data.tokens_per_second.toFixed(1);
    el.querySelector('[data-stat="stop_reason"]').textContent = data.stop_reason || "–";
    el.querySelector('[data-stat="cost"]').textContent = data.cost;
    el.dataset.promptTokens = data.prompt_tokens === null ? "" : String(data.prompt_tokens);
  }

  // "Prompt tokens saved" against the column with the longest prompt of the same turn.
  function savings(turn) {
    var cells = Array.prototype.slice.call(turn.querySelectorAll("[data-reply]"));
    var counts = cells.map(function (c) { return Number(c.dataset.promptTokens || 0); });
    var known = counts.filter(function (n) { return n > 0; });
    if (known.length < 2) return;
    var longest = Math.max.apply(null, known);
    cells.forEach(function (c, i) {
      var box = c.querySelector('[data-role="saving"]');
      var saved = longest - counts[i];
      if (counts[i] > 0 && saved > 0) {
        box.textContent = "Prompt tokens saved: " + saved + " (" + Math.round((100 * saved) / longest) + "%)";
        box.hidden = false;
      }
    });
  }

  function allDone() {
    var stop = document.getElementById("stop-all");
    if (stop) stop.hidden = true;
    var followUp = root.querySelector("[data-follow-up]");
    if (followUp) followUp.disabled = false;
    if (root.dataset.blind === "1") {
      var cells = root.querySelectorAll(".turn:last-of-type [data-reply]");
      var complete = Array.prototype.every.call(cells, function (c) { return c.dataset.status === "complete"; });
      root.querySelectorAll("[data-vote]").forEach(function (b) { b.disabled = !complete; });
    }
  }

  function finish(source) {
    source.close();
    finished += 1;
    if (finished === streams.length) allDone();
  }

  streams.forEach(function (s) {
    var el = cell(s.reply);
    if (!el) return;
    var text = el.querySelector('[data-role="text"]');
    var source = new EventSource(s.url);
    open.push(source);
    var badge = el.querySelector('[data-role="status"]');
    badge.textContent = "streaming";
    badge.className = "badge streaming";
    el.dataset.pieces = "0";
    source.addEventListener("token", function (event) {
      text.appendChild(document.createTextNode(JSON.parse(event.data).text));
      el.dataset.pieces = String(Number(el.dataset.pieces) + 1);
    });
    function end(event) {
      var data = JSON.parse(event.data);
      if (data.status) show(el, data);
      savings(el.closest(".turn"));
      finish(source);
    }
    source.addEventListener("done", end);
    source.addEventListener("error", function (event) {
      if (event.data) {
        end(event); // our own "error" event: the column's sentence
      }
      // else: the connection dropped; EventSource reconnects and the server sends the result.
    });
  });

  var stopButton = document.getElementById("stop-all");
  if (stopButton) {
    stopButton.addEventListener("click", function () {
      stopButton.disabled = true;
      // The server marks every reply stopped; each stream then ends with its partial text.
      fetch(root.dataset.stopUrl, {
        method: "POST",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
        credentials: "same-origin",
      });
    });
  }
})();
