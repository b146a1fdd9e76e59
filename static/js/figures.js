// The one way a page draws a plotly figure: an element with data-figure-source="ID" is drawn from
// the JSON block {{ figure|json_script:"ID" }}, on load and again after every htmx swap (the job
// page polls while the job runs, so its curve grows). data-figure-modebar="off" hides the tool bar.
(function () {
  function draw() {
    if (!window.Plotly) return;
    document.querySelectorAll("[data-figure-source]").forEach(function (el) {
      var source = document.getElementById(el.dataset.figureSource);
      if (!source || !source.textContent.trim()) return;
      if (source.textContent === el.dataset.drawn) return; // unchanged since the last poll
      var figure = JSON.parse(source.textContent);
      var config = {responsive: true, displaylogo: false};
      if (el.dataset.figureModebar === "off") config.displayModeBar = false;
      window.Plotly.react(el, figure.data, figure.layout, config);
      el.dataset.drawn = source.textContent;
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
