"""The run page's inline style and script (html_page.py puts them in the page: nothing is fetched).

The script reads the run's data from the page's `run-data` element and draws one absolutely placed div
per database (its steps are bands of its background, not elements, so 1,000 databases stay light); every
text it shows goes through textContent or title, never markup. It marks the timeline with
data-rendered="<bars drawn>".
"""

from __future__ import annotations

STYLE = """
*{box-sizing:border-box}
body{margin:0;font:13px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f6f7f9}
header{padding:12px 16px;background:#1d2330;color:#fff}
header h1{margin:0 0 4px;font-size:16px;font-weight:600}
header .state{opacity:.85}
#summary{display:flex;flex-wrap:wrap;gap:8px;padding:10px 16px;background:#fff;border-bottom:1px solid #dde1e7}
.chip{padding:3px 9px;border-radius:12px;background:#eef0f3;white-space:nowrap}
.chip b{font-size:15px;margin-right:4px}
.chip i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
main{display:grid;grid-template-columns:minmax(0,1fr) 320px;gap:16px;padding:12px 16px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px}
h2{margin:0 0 8px;font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:#5a6272}
#axis{position:relative;height:18px;margin-left:110px;border-bottom:1px solid #c9ced6;color:#5a6272;font-size:11px}
#axis span{position:absolute;top:0;transform:translateX(-50%);white-space:nowrap}
.lane{display:flex;align-items:center;border-bottom:1px solid #f0f2f5}
.lane-label{width:110px;flex:none;font-size:11px;color:#5a6272;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;padding-right:6px}
.track{position:relative;flex:1;height:22px}
.bar{position:absolute;top:3px;height:16px;min-width:2px;border-radius:2px;cursor:default}
.bar:hover{outline:2px solid #1d2330;z-index:2}
.bar.earlier{top:8px;height:6px;opacity:.7}
.o-migrated{background-color:#2e9e5b}.o-up_to_date{background-color:#9ccfb0}.o-created{background-color:#2a8fa8}
.o-failed{background-color:#d64545}.o-busy{background-color:#ee8a2a}.o-locked{background-color:#8a5cc7}
.o-interrupted{background-color:#e0b431}.o-skipped,.o-not_started{background-color:#b9bec7}
.o-drifted,.o-missing{background-color:#8d6a4f}.o-unknown{background-color:#4d6fa8}
.o-none{min-width:6px;background-color:#59606d;background-image:repeating-linear-gradient(45deg,transparent 0 4px,rgba(255,255,255,.35) 4px 8px)}
ol,ul{margin:0;padding-left:18px}
li{margin:2px 0;word-break:break-word}
li .d{font-variant-numeric:tabular-nums;color:#5a6272;margin-right:6px}
li.failure .e{display:block;color:#9b2c2c;font-size:12px}
#legend{display:flex;flex-wrap:wrap;gap:10px;margin-top:8px;font-size:11px;color:#5a6272}
#legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.muted{color:#5a6272}
"""

SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("run-data").textContent);
  var OK = {migrated: 1, up_to_date: 1, created: 1, skipped: 1};
  var span = Math.max(data.end, 0.001);
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function pct(t) { return (100 * Math.max(0, t) / span).toFixed(3) + "%"; }
  function secs(s) { return s < 10 ? s.toFixed(2) + "s" : s < 600 ? s.toFixed(1) + "s" : (s / 60).toFixed(1) + "min"; }
  function outcome(db) { return db.outcome ? db.outcome.replace(/_/g, " ") : "no outcome recorded"; }
  function name(db) {
    var who = db.tenant === null ? "(reserved)" : db.tenant;
    return who + "  " + db.orm + (db.alias === null ? "" : "/" + db.alias);
  }
  function tip(db) {
    var lines = [name(db), outcome(db) + " \u00b7 " + secs(db.end - db.start) + " \u00b7 " + db.lane];
    if (db.error) lines.push((db.step ? db.step + ": " : "") + db.error);
    if (db.earlier.length) lines.push(db.earlier.length + " earlier attempt(s) ended busy");
    var shown = db.steps.slice(0, 12);
    shown.forEach(function (s) { lines.push("  " + s[0] + "  " + secs(s[2] - s[1])); });
    if (db.steps.length > shown.length) lines.push("  \u2026 " + (db.steps.length - shown.length) + " more steps");
    return lines.join("\n");
  }
  function bands(db) {
    var dur = db.end - db.start;
    if (!db.steps.length || dur <= 0) return "";
    var stops = ["transparent 0%"];
    db.steps.forEach(function (s, i) {
      var a = (100 * (s[1] - db.start) / dur).toFixed(2), b = (100 * (s[2] - db.start) / dur).toFixed(2);
      var c = i % 2 ? "rgba(255,255,255,.32)" : "rgba(0,0,0,.14)";
      stops.push("transparent " + a + "%", c + " " + a + "%", c + " " + b + "%", "transparent " + b + "%");
    });
    stops.push("transparent 100%");
    return "linear-gradient(to right," + stops.join(",") + ")";
  }
  var colours = ["migrated", "up_to_date", "created", "failed", "busy", "locked", "interrupted", "skipped",
                 "not_started", "drifted", "missing", "unknown", "none"];
  var summary = document.getElementById("summary");
  var total = el("span", "chip");
  total.appendChild(el("b", "", String(data.databases.length)));
  total.appendChild(document.createTextNode("databases in " + secs(data.end) + " on " + data.lanes.length + " lane(s)"));
  summary.appendChild(total);
  Object.keys(data.counts).sort().forEach(function (status) {
    var chip = el("span", "chip");
    chip.appendChild(el("i", "o-" + (status === "no outcome" ? "none" : status)));
    chip.appendChild(el("b", "", String(data.counts[status])));
    chip.appendChild(document.createTextNode(status === "no outcome" ? "no outcome recorded" : status.replace(/_/g, " ")));
    summary.appendChild(chip);
  });
  if (data.not_reached.length) summary.appendChild(el("span", "chip", data.not_reached.length + " never started"));

  var axis = document.getElementById("axis");
  for (var k = 0; k <= 5; k++) { var tick = el("span", "", secs(span * k / 5)); tick.style.left = (20 * k) + "%"; axis.appendChild(tick); }
  var timeline = document.getElementById("timeline"), tracks = {};
  var frag = document.createDocumentFragment();
  data.lanes.forEach(function (lane) {
    var row = el("div", "lane"), label = el("div", "lane-label", lane), track = el("div", "track");
    label.title = lane;
    row.appendChild(label); row.appendChild(track); frag.appendChild(row);
    tracks[lane] = track;
  });
  var drawn = 0;
  data.databases.forEach(function (db) {
    db.earlier.forEach(function (a) {
      var old = el("div", "bar earlier o-busy");
      old.style.left = pct(a.start); old.style.width = pct(a.end - a.start);
      old.title = name(db) + "\nbusy, requeued \u00b7 " + secs(a.end - a.start) + (a.error ? "\n" + a.error : "");
      (tracks[a.lane] || tracks[db.lane]).appendChild(old);
    });
    var bar = el("div", "bar o-" + (db.outcome || "none"));
    bar.style.left = pct(db.start);
    bar.style.width = pct(db.end - db.start);
    var image = bands(db);
    if (image && db.outcome) bar.style.backgroundImage = image;
    bar.title = tip(db);
    tracks[db.lane].appendChild(bar);
    drawn++;
  });
  timeline.appendChild(frag);
  timeline.setAttribute("data-rendered", String(drawn));

  var legend = document.getElementById("legend");
  colours.forEach(function (c) {
    var item = el("span"); item.appendChild(el("i", "o-" + c));
    item.appendChild(document.createTextNode(c === "none" ? "no outcome recorded" : c.replace(/_/g, " ")));
    legend.appendChild(item);
  });

  function entry(db, cls) {
    var li = el("li", cls);
    li.appendChild(el("span", "d", secs(db.end - db.start)));
    li.appendChild(document.createTextNode(name(db) + " \u2014 " + outcome(db)));
    li.title = tip(db);
    return li;
  }
  var slowest = data.databases.slice().sort(function (a, b) { return (b.end - b.start) - (a.end - a.start); });
  var list = document.getElementById("slowest");
  slowest.slice(0, 15).forEach(function (db) { list.appendChild(entry(db, "")); });
  var failures = data.databases.filter(function (db) { return !OK[db.outcome]; });
  var fails = document.getElementById("failures"), limit = 300;
  failures.sort(function (a, b) { return a.end - b.end; }).slice(0, limit).forEach(function (db) {
    var li = entry(db, "failure");
    if (db.error) li.appendChild(el("span", "e", (db.step ? db.step + ": " : "") + db.error));
    fails.appendChild(li);
  });
  if (failures.length > limit) fails.appendChild(el("li", "muted", "\u2026 and " + (failures.length - limit) + " more"));
  if (!failures.length) fails.appendChild(el("li", "muted", "none"));
  document.getElementById("failure-count").textContent = String(failures.length);
})();
"""
