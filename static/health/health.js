/* /ops/health/: a small line chart per probe from the fragment's JSON (json_script), redrawn after each htmx swap. */
(function () {
  "use strict";
  var COLORS = { ok: "#2e7d32", warn: "#ef6c00", fail: "#c62828" };

  function draw(scope) {
    if (!window.Chart) return;
    var source = scope.querySelector ? scope.querySelector("#health-history") : null;
    if (!source) return;
    var data = JSON.parse(source.textContent);
    scope.querySelectorAll("canvas[data-check]").forEach(function (canvas) {
      var series = data[canvas.dataset.check];
      if (!series) return;
      var old = window.Chart.getChart(canvas);
      if (old) old.destroy();
      var last = series.statuses[series.statuses.length - 1] || "ok";
      new window.Chart(canvas, {
        type: "line",
        data: {
          labels: series.at,
          datasets: [{
            data: series.values,
            borderColor: COLORS[last] || "#6c757d",
            borderWidth: 1.5,
            pointRadius: 1.5,
            pointBackgroundColor: series.statuses.map(function (s) { return COLORS[s] || "#6c757d"; }),
            tension: 0.2,
            spanGaps: true
          }]
        },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          plugins: { legend: { display: false } },
          scales: { x: { display: false }, y: { display: false, beginAtZero: true } }
        }
      });
    });
    window.healthCharts = (window.healthCharts || 0) + 1;
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (!window.Chart || !e.target.querySelectorAll) return;
    e.target.querySelectorAll("canvas[data-check]").forEach(function (c) {
      var chart = window.Chart.getChart(c);
      if (chart) chart.destroy();
    });
  });
  document.addEventListener("htmx:afterSwap", function (e) { draw(e.target); });
})();
