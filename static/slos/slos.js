/* /ops/slos/: budget bars (widths from data-ratio: no inline style under the CSP) and the detail page's charts. */
(function () {
  "use strict";
  var charts = {};
  function bars(root) {
    root.querySelectorAll(".slo-bar-fill[data-ratio]").forEach(function (el) {
      var r = Math.max(0, Math.min(1, parseFloat(el.dataset.ratio) || 0));
      el.style.width = (r * 100).toFixed(1) + "%";
    });
  }
  function line(id, labels, values, label, color, extra) {
    var canvas = document.getElementById(id);
    if (!canvas || !window.Chart) return;
    // a swapped-out canvas is simply dropped: Chart.js's destroy() restores the old canvas's style
    // attribute, an inline style the CSP refuses
    if (charts[id] && charts[id].canvas === canvas) { return; }
    var fg = getComputedStyle(document.documentElement).getPropertyValue("--body-fg").trim() || "#333";
    var datasets = [{ label: label, data: values, borderColor: color, backgroundColor: color, pointRadius: 0, spanGaps: true, borderWidth: 1.5 }];
    if (extra) datasets.push(extra);
    charts[id] = new window.Chart(canvas, {
      type: "line", data: { labels: labels, datasets: datasets },
      options: { responsive: true, maintainAspectRatio: false, animation: false, color: fg,
        scales: { x: { ticks: { color: fg, maxTicksLimit: 8 } }, y: { ticks: { color: fg } } },
        plugins: { legend: { labels: { color: fg } } } }
    });
  }
  function draw() {
    bars(document);
    var source = document.getElementById("slo-chart-data");
    if (!source) return;
    var d = JSON.parse(source.textContent);
    var objective = d.labels.map(function () { return d.objective; });
    line("slo-sli-chart", d.labels, d.sli, "SLI %", "#1565c0",
         { label: "objective", data: objective, borderColor: "#b71c1c", borderDash: [4, 4], pointRadius: 0, borderWidth: 1 });
    line("slo-budget-chart", d.labels, d.budget, "budget remaining %", "#2e7d32");
    line("slo-burn-chart", d.labels, d.burn, "burn rate ×", "#ef6c00");
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSwap", draw);
  window.sloCharts = charts;
})();
