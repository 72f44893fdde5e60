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
  function line(name, labels, values, label, color, extra) {
    // canvases carry data-slo-chart, not an id: on a swap htmx "settles" elements whose id matches an old
    // one by copying the old element's attributes onto the new one first, and the old canvas's style
    // attribute (Chart.js sizing) copied with setAttribute is an inline style the CSP refuses
    var canvas = document.querySelector('canvas[data-slo-chart="' + name + '"]');
    if (!canvas || !window.Chart) return;
    if (charts[name] && charts[name].canvas === canvas) { return; }
    if (charts[name]) { charts[name].destroy(); }  // its canvas was swapped out
    var fg = getComputedStyle(document.documentElement).getPropertyValue("--body-fg").trim() || "#333";
    var datasets = [{ label: label, data: values, borderColor: color, backgroundColor: color, pointRadius: 0, spanGaps: true, borderWidth: 1.5 }];
    if (extra) datasets.push(extra);
    charts[name] = new window.Chart(canvas, {
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
    line("sli", d.labels, d.sli, "SLI %", "#1565c0",
         { label: "objective", data: objective, borderColor: "#b71c1c", borderDash: [4, 4], pointRadius: 0, borderWidth: 1 });
    line("budget", d.labels, d.budget, "budget remaining %", "#2e7d32");
    line("burn", d.labels, d.burn, "burn rate ×", "#ef6c00");
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSwap", draw);
  window.sloCharts = charts;
})();
