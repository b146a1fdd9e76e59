// Draws every loss-curve figure on the page from the JSON block its data-figure-source names,
// and redraws after htmx swaps in fresh data (the job page polls while the job runs).
(function () {
  function draw() {
    document.querySelectorAll("[data-figure-source]").forEach(function (el) {
      var source = document.getElementById(el.dataset.figureSource);
      if (!source || !source.textContent.trim() || !window.Plotly) return;
      if (source.textContent === el.dataset.drawn) return;
      var figure = JSON.parse(source.textContent);
      window.Plotly.react(el, figure.data, figure.layout, {responsive: true, displaylogo: false});
      el.dataset.drawn = source.textContent;
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
