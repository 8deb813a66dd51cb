// The dashboard's charts: ECharts draws the figures of the JSON document in
// #dashboard-data (read with textContent, never as markup). Tooltips are DOM nodes filled
// with textContent, so a crawled shop or party name is always shown as text; the tables
// under each chart carry the same figures.
(function () {
  "use strict";
  var node = document.getElementById("dashboard-data");
  if (!node || typeof window.echarts === "undefined") { return; }
  var d = JSON.parse(node.textContent);
  var charts = [];

  function line(text, className) {
    var el = document.createElement("div");
    if (className) { el.className = className; }
    el.textContent = text;
    return el;
  }

  function tooltip(params) {
    var list = Array.isArray(params) ? params : [params];
    var box = document.createElement("div");
    if (!list.length) { return box; }
    var head = list[0].axisValueLabel !== undefined ? list[0].axisValueLabel : list[0].name;
    box.appendChild(line(String(head), "tip-head"));
    list.forEach(function (p) {
      var value = Array.isArray(p.value) ? p.value[p.value.length - 1] : p.value;
      var label = p.seriesName && p.seriesName !== head ? p.seriesName : p.name;
      box.appendChild(line(String(label) + "：" + String(value)));
    });
    return box;
  }

  function draw(name, option, height) {
    var el = document.querySelector('[data-chart="' + name + '"]');
    if (!el) { return; }
    if (height) { el.style.height = height + "px"; }  // CSSOM, which the CSP allows
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    option.tooltip = Object.assign(
      { trigger: "axis", axisPointer: { type: "shadow" }, formatter: tooltip, confine: true },
      option.tooltip || {}
    );
    option.animation = false;
    chart.setOption(option);
    charts.push(chart);
  }

  function bars(name, rows, seriesName) {
    if (!rows.length) { return; }
    var top = rows.slice(0, 15).reverse();
    draw(name, {
      grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: {
        type: "category",
        data: top.map(function (r) { return r.label; }),
        axisLabel: { width: 180, overflow: "truncate" }
      },
      series: [{ name: seriesName, type: "bar", data: top.map(function (r) { return r.count; }) }]
    }, 40 + 32 * top.length);
  }

  function perDay(name, series, stack) {
    if (!series.length) { return; }
    draw(name, {
      legend: { type: "scroll", top: 0 },
      grid: { left: 8, right: 24, top: 32, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: d.days },
      yAxis: { type: "value", minInterval: 1 },
      series: series.map(function (s) {
        return { name: s.label, type: stack ? "bar" : "line", stack: stack, data: s.per_day };
      })
    });
  }

  perDay("days", d.category_days, "leads");
  bars("category", d.by_category, "线索数");
  bars("unit", d.by_unit, "线索数");
  bars("bureau", d.by_bureau, "线索数");
  bars("severity", d.by_severity, "线索数");
  bars("parties", d.top_parties, "线索数");
  if (d.decisions.length) {
    draw("decisions", {
      legend: { top: 0 },
      grid: { left: 8, right: 24, top: 32, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: d.decisions.map(function (r) { return r.label; }) },
      yAxis: [{ type: "value", minInterval: 1 }, { type: "value", min: 0, max: 100, name: "%" }],
      series: [
        { name: "确认类", type: "bar", stack: "d", data: d.decisions.map(function (r) { return r.confirmed; }) },
        { name: "排除", type: "bar", stack: "d", data: d.decisions.map(function (r) { return r.dismissed; }) },
        {
          name: "准确率（%）", type: "line", yAxisIndex: 1,
          data: d.decisions.map(function (r) { return r.precision === null ? null : Math.round(r.precision * 1000) / 10; })
        }
      ]
    });
  }
  perDay("reviewers", d.reviewers, null);
  if (d.runs.length) {
    var runs = d.runs.slice().reverse();
    draw("runs", {
      legend: { top: 0 },
      grid: { left: 8, right: 24, top: 32, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: runs.map(function (r) { return r.run_id; }) },
      yAxis: [{ type: "value", minInterval: 1 }, { type: "value", name: "秒" }],
      series: [
        { name: "页面", type: "bar", data: runs.map(function (r) { return r.pages; }) },
        { name: "商品", type: "bar", data: runs.map(function (r) { return r.items; }) },
        { name: "错误", type: "bar", data: runs.map(function (r) { return r.errors; }) },
        { name: "用时（秒）", type: "line", yAxisIndex: 1, data: runs.map(function (r) { return r.duration_s; }) }
      ]
    });
  }
  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.resize(); });
  });
})();
