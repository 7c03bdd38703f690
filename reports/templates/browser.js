// Sample browser: filters and pages the rows in #samples-gz (gzipped JSON, base64), 50 at a
// time. Every value from the run is written with textContent, never as HTML.
(function () {
  "use strict";
  var info = document.getElementById("page-info");

  function unpack(id) {
    var text = document.getElementById(id).textContent.trim();
    var bytes = Uint8Array.from(atob(text), function (c) { return c.charCodeAt(0); });
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(JSON.parse);
  }

  info.textContent = "loading samples…";
  unpack("samples-gz").then(start, function (e) { info.textContent = "cannot read the samples: " + e; });

function start(rows) {
  var images = JSON.parse(document.getElementById("images").textContent);
  var list = document.getElementById("rows");
  var task = document.getElementById("f-task");
  var search = document.getElementById("f-search");
  var flags = Array.prototype.slice.call(document.querySelectorAll("input[data-flag]"));
  var PAGE = 50, page = 0, shown = rows;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function field(parent, label, value) {
    if (value === undefined || value === null || value === "") return;
    var line = el("div", "field");
    line.appendChild(el("span", "label", label));
    line.appendChild(el("span", "value", value));
    parent.appendChild(line);
  }

  function badge(parent, ok, yes, no) {
    if (ok === true) parent.appendChild(el("span", "badge ok", yes));
    if (ok === false) parent.appendChild(el("span", "badge bad", no));
  }

  function outputs(parent, r) {
    field(parent, "output", r.raw === null ? "(no output)" : r.raw);
    field(parent, "parsed", r.status === "unparsed" ? "(unparsed)" : r.parsed);
    field(parent, "verdict", r.outcome);
    field(parent, "error", r.error);
  }

  function card(r) {
    var box = el("article", "sample");
    if (r.image && images[r.image]) {
      var img = el("img", "thumb");
      img.src = images[r.image];
      img.alt = "image " + r.image.slice(0, 12);
      box.appendChild(img);
    } else if (r.image) {
      box.appendChild(el("div", "thumb none", r.image_label || "no thumbnail"));
    }
    var body = el("div", "body");
    var head = el("div", "head");
    head.appendChild(el("span", "id", r.task + " · " + r.id + (r.variant ? " · " + r.variant : "")));
    if (r.runs) {
      r.runs.forEach(function (x) { badge(head, x.correct, x.run + " ✓", x.run + " ✗"); });
    } else {
      badge(head, r.correct, "correct", "wrong");
      if (r.status === "unparsed") head.appendChild(el("span", "badge warn", "unparsed"));
      if (r.hallucinated) head.appendChild(el("span", "badge bad", "hallucinated"));
      if (r.error) head.appendChild(el("span", "badge bad", "error"));
    }
    body.appendChild(head);
    field(body, "prompt", r.prompt);
    field(body, "target", r.target);
    if (r.runs) {  // side by side, however many runs
      var grid = el("div", "runs-grid");
      r.runs.forEach(function (x) {
        var part = el("div", "run-output");
        part.appendChild(el("div", "run-name", x.run));
        outputs(part, x);
        grid.appendChild(part);
      });
      body.appendChild(grid);
    } else {
      outputs(body, r);
    }
    box.appendChild(body);
    return box;
  }

  function matches(r) {
    if (task.value && r.task !== task.value) return false;
    for (var i = 0; i < flags.length; i++) {
      if (flags[i].checked && !r.flags[flags[i].getAttribute("data-flag")]) return false;
    }
    var q = search.value.trim().toLowerCase();
    if (q) {
      var text = [r.id, r.prompt, r.raw, r.target].concat(
        (r.runs || []).map(function (x) { return x.raw; })).join(" ").toLowerCase();
      if (text.indexOf(q) < 0) return false;
    }
    return true;
  }

  function render() {
    list.textContent = "";
    var pages = Math.max(1, Math.ceil(shown.length / PAGE));
    page = Math.min(page, pages - 1);
    shown.slice(page * PAGE, (page + 1) * PAGE).forEach(function (r) { list.appendChild(card(r)); });
    info.textContent = shown.length + " of " + rows.length + " rows · page " + (page + 1) + " of " + pages;
  }

  function refilter() { shown = rows.filter(matches); page = 0; render(); }

  Array.from(new Set(rows.map(function (r) { return r.task; }))).forEach(function (t) {
    task.appendChild(el("option", null, t));
  });
  task.addEventListener("change", refilter);
  search.addEventListener("input", refilter);
  flags.forEach(function (f) { f.addEventListener("change", refilter); });
  document.getElementById("prev").addEventListener("click", function () { page = Math.max(0, page - 1); render(); });
  document.getElementById("next").addEventListener("click", function () { page += 1; render(); });
  render();
}
})();
