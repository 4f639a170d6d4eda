/// The HTML report's style sheet and script, inlined into every page.
enum ReportAssets {
    /// Light and dark (`prefers-color-scheme`), system fonts only: nothing to fetch.
    static let css = """
        :root { --bg: #ffffff; --fg: #1b1f24; --muted: #5b636d; --line: #d8dde3; --soft: #f3f5f7;
          --accent: #2563eb; --best: #15803d; --bad: #c2410c; --tick: rgba(37, 99, 235, 0.45); color-scheme: light dark; }
        @media (prefers-color-scheme: dark) {
          :root { --bg: #111418; --fg: #e6e9ed; --muted: #9aa4ae; --line: #2f363e; --soft: #1a1f25;
            --accent: #6ea8fe; --best: #4ade80; --bad: #fb923c; --tick: rgba(110, 168, 254, 0.5); }
        }
        * { box-sizing: border-box; }
        body { margin: 0 auto; max-width: 1100px; padding: 1rem 1.5rem 3rem; background: var(--bg); color: var(--fg);
          font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
        h1 { font-size: 1.6rem; margin: 0.5rem 0 0.25rem; }
        h2 { font-size: 1.25rem; margin: 2rem 0 0.5rem; border-bottom: 1px solid var(--line); padding-bottom: 0.25rem; }
        h3 { font-size: 1.05rem; margin: 1.5rem 0 0.4rem; }
        code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.92em; }
        a { color: var(--accent); }
        nav a { margin-right: 1rem; }
        .meta, .note, .muted { color: var(--muted); }
        .note { font-size: 0.92em; }
        table { border-collapse: collapse; margin: 0.5rem 0; font-variant-numeric: tabular-nums; }
        th, td { padding: 0.2rem 0.6rem; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
        th { font-weight: 600; background: var(--soft); }
        th[data-sort] { cursor: pointer; user-select: none; }
        th[aria-sort="ascending"]::after { content: " ▲"; }
        th[aria-sort="descending"]::after { content: " ▼"; }
        td.num { text-align: right; }
        .bad { color: var(--bad); font-weight: 600; }
        .good { color: var(--best); font-weight: 600; }
        tr.fastest td:first-child, .best { color: var(--best); font-weight: 600; }
        svg { display: block; max-width: 100%; height: auto; overflow: visible; }
        svg.glyph { display: inline-block; vertical-align: middle; }
        svg text { fill: var(--fg); font-size: 11px; }
        svg text.small, svg text.muted { fill: var(--muted); font-size: 10px; }
        svg text.best { fill: var(--best); font-weight: 600; }
        svg text.bad { fill: var(--bad); }
        .grid { stroke: var(--line); stroke-width: 1; }
        .range { stroke: var(--muted); stroke-width: 1.5; }
        .box { fill: var(--accent); }
        .ci { fill: var(--tick); }
        .mean { fill: var(--accent); stroke: var(--bg); stroke-width: 1; }
        .mean.best { fill: var(--best); }
        .median { stroke: var(--fg); stroke-width: 2; }
        .p95 { fill: var(--muted); }
        .tick { stroke: var(--tick); stroke-width: 1.5; }
        .marker { stroke: var(--fg); stroke-width: 1.5; stroke-dasharray: 3 2; }
        .dot { fill: var(--accent); }
        .fail { stroke: var(--bad); stroke-width: 1.8; fill: none; }
        article { margin-bottom: 1.5rem; }
        details { margin: 0.4rem 0; }
        footer { margin-top: 3rem; color: var(--muted); font-size: 0.85em; }

        """

    /// Sorting for `table.sortable`, and on a live page (`body[data-live]`) the refresh of
    /// every stream's figures from `streams` and of the service's counters from
    /// `healthz`, both relative to the page. Durations read as the server writes them
    /// (``ReadableDuration``).
    static let script = """
        (function () {
          "use strict";
          function value(cell, kind) {
            var v = cell.getAttribute("data-v");
            if (kind === "num") { return v === null || v === "null" ? null : parseFloat(v); }
            return (v !== null ? v : cell.textContent).toLowerCase();
          }
          document.querySelectorAll("table.sortable").forEach(function (table) {
            table.querySelectorAll("th[data-sort]").forEach(function (th) {
              var column = Array.prototype.indexOf.call(th.parentNode.children, th);
              function sort() {
                var kind = th.getAttribute("data-sort"), up = th.getAttribute("aria-sort") !== "ascending";
                table.querySelectorAll("th[aria-sort]").forEach(function (o) { o.removeAttribute("aria-sort"); });
                th.setAttribute("aria-sort", up ? "ascending" : "descending");
                var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
                rows.sort(function (a, b) {
                  var x = value(a.cells[column], kind), y = value(b.cells[column], kind);
                  if (x === y) { return 0; }
                  if (x === null) { return 1; }
                  if (y === null) { return -1; }
                  return (x < y ? -1 : 1) * (up ? 1 : -1);
                });
                rows.forEach(function (r) { body.appendChild(r); });
              }
              th.addEventListener("click", sort);
              th.addEventListener("keydown", function (e) {
                if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); }
              });
            });
          });

          var seconds = parseInt(document.body.getAttribute("data-live") || "0", 10);
          if (!seconds) { return; }
          var durations = { meanMs: 1, minMs: 1, p50Ms: 1, p90Ms: 1, p95Ms: 1, p99Ms: 1, maxMs: 1, stddevMs: 1 };
          function fixed(v, digits) {
            var scale = Math.pow(10, digits), n = Math.round(v * scale);
            return digits ? (n / scale).toFixed(digits) : String(n);
          }
          function two(v) { return v < 10 ? "0" + v : String(v); }
          function readable(ms) {
            if (ms === null) { return "\\u2013"; }
            var ns = Math.max(0, Math.round(ms * 1e6));
            if (ns < 1e3) { return ns + " ns"; }
            if (ns < 1e6) { return fixed(ns / 1e3, ns < 1e5 ? 1 : 0) + " \\u00b5s"; }
            if (ns < 1e9) { return fixed(ns / 1e6, ns < 1e8 ? 2 : 1) + " ms"; }
            if (ns < 60e9) { return fixed(ns / 1e9, 2) + " s"; }
            var seconds = ns / 1e9;
            if (ns < 3600e9) { var m = Math.floor(seconds / 60); return m + "m " + fixed(seconds - m * 60, 1) + "s"; }
            var whole = Math.floor(seconds);
            return Math.floor(whole / 3600) + "h " + two(Math.floor(whole / 60) % 60) + "m " + two(whole % 60) + "s";
          }
          function show(cell, field, v) {
            if (v === undefined) { return; }
            cell.setAttribute("data-v", v === null ? "null" : String(v));
            cell.textContent = durations[field] ? readable(v) : v === null ? "\\u2013" : String(v);
            if (field === "failures" || field === "abandoned") { cell.classList.toggle("bad", v > 0); }
          }
          function text(tag, content) { var e = document.createElement(tag); e.textContent = content; return e; }
          function added(body, s) {
            var row = document.createElement("tr");
            row.className = "sf";
            row.setAttribute("data-agent", s.agent);
            row.setAttribute("data-cli", s.cli);
            [s.agent, s.cli].forEach(function (name) {
              var cell = text("td", name);
              cell.setAttribute("data-v", name);
              row.appendChild(cell);
            });
            ["count", "failures", "inFlight", "abandoned", "meanMs", "p50Ms", "p95Ms"].forEach(function (field) {
              var cell = document.createElement("td");
              cell.className = "num";
              cell.setAttribute("data-field", field);
              row.appendChild(cell);
            });
            row.appendChild(text("td", "new since the page loaded"));
            body.appendChild(row);
            return row;
          }
          function stamp(id, content) { var e = document.getElementById(id); if (e) { e.textContent = content; } }
          function refresh() {
            fetch("streams", { cache: "no-store" }).then(function (r) {
              if (!r.ok) { throw new Error("HTTP " + r.status); }
              return r.json();
            }).then(function (streams) {
              var shown = {};
              document.querySelectorAll(".sf").forEach(function (e) {
                var k = e.getAttribute("data-agent") + "\\u0000" + e.getAttribute("data-cli");
                (shown[k] = shown[k] || []).push(e);
              });
              var body = document.querySelector("#overview-table tbody");
              streams.forEach(function (s) {
                var k = s.agent + "\\u0000" + s.cli;
                if (!shown[k] && body) { shown[k] = [added(body, s)]; }
                (shown[k] || []).forEach(function (e) {
                  e.querySelectorAll("[data-field]").forEach(function (cell) {
                    show(cell, cell.getAttribute("data-field"), s[cell.getAttribute("data-field")]);
                  });
                });
              });
              var count = document.querySelector("header [data-field=streams]");
              if (count) { count.setAttribute("data-v", String(streams.length)); count.textContent = String(streams.length); }
              document.body.setAttribute("data-refreshes", String(parseInt(document.body.getAttribute("data-refreshes") || "0", 10) + 1));
              stamp("updated", new Date().toISOString().slice(11, 19) + " UTC");
            }).catch(function (e) { stamp("updated", "failed (" + e.message + "), retrying"); });
            fetch("healthz", { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (h) {
              stamp("committed", String(h.committed));
              stamp("connections", String(h.openConnections));
            }).catch(function () { stamp("committed", "unknown"); });
          }
          refresh();
          setInterval(refresh, seconds * 1000);
        })();

        """
}
