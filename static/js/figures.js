// The one way a page draws a plotly figure: an element with data-figure-source="ID" is drawn from
// the JSON block {{ figure|json_script:"ID" }}, on load and again after every htmx swap (the job
// page polls while the job runs, so its curve grows). data-figure-modebar="off" hides the tool bar.
//
// Loss curves have controls beside them (data-curve-controls="<the figure element's id>"):
// smoothing (an exponential moving average, debiased as TensorBoard does it, with the raw curve
// faint behind it; 0 turns it off), the x-axis (step, epoch, tokens seen: each trace's `meta`
// carries steps_per_epoch and tokens_per_step) and a log scale for the loss. All of it is done
// here, from the data the page already sent.
(function () {
  var RAW_OPACITY = 0.25;
  var AXIS_TITLES = {step: "step", epoch: "epoch", tokens: "tokens seen"};
  var FACTORS = {epoch: "steps_per_epoch", tokens: "tokens_per_step"};

  // plotly.js typed arrays ({dtype: "f8", bdata: base64}) or plain lists, as plain number lists.
  function numbers(values) {
    if (values && typeof values === "object" && values.bdata !== undefined) {
      var text = atob(values.bdata);
      var bytes = new Uint8Array(text.length);
      for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
      return Array.prototype.slice.call(new Float64Array(bytes.buffer));
    }
    return Array.prototype.slice.call(values || []);
  }

  // Exponential moving average with the start-up bias removed: out[i] = s_i / (1 - w^(i+1)),
  // s_i = w * s_(i-1) + (1 - w) * v_i, s_(-1) = 0. w = 0 gives the values back.
  function ema(values, weight) {
    var out = [];
    var last = 0;
    for (var i = 0; i < values.length; i++) {
      last = last * weight + (1 - weight) * values[i];
      out.push(weight > 0 ? last / (1 - Math.pow(weight, i + 1)) : values[i]);
    }
    return out;
  }

  function options(controls) {
    if (!controls) return null;
    var smoothing = controls.querySelector("[name=smoothing]");
    var xaxis = controls.querySelector("[name=xaxis]");
    var log = controls.querySelector("[name=log]");
    return {
      smoothing: smoothing ? Math.min(0.999, Math.max(0, parseFloat(smoothing.value) || 0)) : 0,
      xaxis: xaxis ? xaxis.value : "step",
      log: log ? log.checked : false,
    };
  }

  // Offer an x-axis only where every run can be put on it.
  function offerAxes(controls, figure) {
    var select = controls && controls.querySelector("[name=xaxis]");
    if (!select) return;
    Array.prototype.forEach.call(select.options, function (option) {
      var factor = FACTORS[option.value];
      option.disabled = !!factor && !figure.data.every(function (t) { return t.meta && t.meta[factor]; });
      if (option.disabled && option.selected) select.value = "step";
    });
  }

  function transform(figure, opts) {
    var data = [];
    var raw = [];
    figure.data.forEach(function (trace) {
      var x = numbers(trace.x);
      var y = numbers(trace.y);
      var factor = FACTORS[opts.xaxis];
      if (factor && trace.meta && trace.meta[factor]) {
        var f = trace.meta[factor];
        x = x.map(opts.xaxis === "epoch" ? function (s) { return s / f; } : function (s) { return s * f; });
      }
      if (opts.smoothing > 0) {
        raw.push(Object.assign({}, trace, {
          x: x, y: y, opacity: RAW_OPACITY, showlegend: false, hoverinfo: "skip",
          name: trace.name + " (raw)", meta: Object.assign({}, trace.meta, {raw: true}),
          line: Object.assign({}, trace.line, {width: 1}),
        }));
        y = ema(y, opts.smoothing);
      }
      data.push(Object.assign({}, trace, {x: x, y: y}));
    });
    var layout = JSON.parse(JSON.stringify(figure.layout));
    var bottom = layout.xaxis2 || (layout.xaxis = layout.xaxis || {});
    bottom.title = {text: AXIS_TITLES[opts.xaxis] || "step"};
    layout.yaxis = Object.assign(layout.yaxis || {}, {type: opts.log ? "log" : "linear"});
    return {data: raw.concat(data), layout: layout};
  }

  function draw(force) {
    if (!window.Plotly) return;
    document.querySelectorAll("[data-figure-source]").forEach(function (el) {
      var source = document.getElementById(el.dataset.figureSource);
      if (!source || !source.textContent.trim()) return;
      var controls = el.id ? document.querySelector('[data-curve-controls="' + el.id + '"]') : null;
      var opts = options(controls);
      var key = source.textContent + JSON.stringify(opts);
      if (force !== true && key === el.dataset.drawn) return; // unchanged since the last poll
      var figure = JSON.parse(source.textContent);
      if (opts) {
        offerAxes(controls, figure);
        opts = options(controls);
        figure = transform(figure, opts);
      }
      var config = {responsive: true, displaylogo: false};
      if (el.dataset.figureModebar === "off") config.displayModeBar = false;
      window.Plotly.react(el, figure.data, figure.layout, config);
      el.dataset.drawn = key;
    });
  }

  function controlsChanged(event) {
    var controls = event.target.closest && event.target.closest("[data-curve-controls]");
    if (!controls) return;
    var shown = controls.querySelector("[data-smoothing-value]");
    var smoothing = controls.querySelector("[name=smoothing]");
    if (shown && smoothing) shown.textContent = parseFloat(smoothing.value) > 0 ? parseFloat(smoothing.value).toFixed(2) : "off";
    draw(true);
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
  document.addEventListener("input", controlsChanged);
  document.addEventListener("change", controlsChanged);
})();
