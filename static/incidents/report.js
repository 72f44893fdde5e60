/* /ops/incidents/report/: draw MTTA/MTTR bars with the vendored Chart.js from the page's JSON (json_script). */
(function () {
  "use strict";
  var canvas = document.getElementById("inc-report-chart");
  var source = document.getElementById("inc-report-data");
  if (!canvas || !source || !window.Chart) return;
  var data = JSON.parse(source.textContent);
  var style = getComputedStyle(document.documentElement);
  var fg = style.getPropertyValue("--body-fg").trim() || "#333";
  window.incidentReportChart = new window.Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: [
        { label: "MTTA (min)", data: data.mtta, backgroundColor: "#ef6c00" },
        { label: "MTTR (min)", data: data.mttr, backgroundColor: "#2e7d32" }
      ]
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      color: fg,
      scales: { y: { beginAtZero: true, title: { display: true, text: "minutes", color: fg }, ticks: { color: fg } },
                x: { ticks: { color: fg } } },
      plugins: { legend: { labels: { color: fg } } }
    }
  });
})();
