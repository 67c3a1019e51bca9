// The workbench's one script: live checks in the editor, the examples on demand, a job's progress.
// Text from the server is put into the page with textContent; the only HTML taken from it is the
// highlighted source, which the server escapes (Pygments).
"use strict";

function post(url, csrf, body) {
  return fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
    body: JSON.stringify(body),
  }).then(function (r) { return r.json().then(function (j) { j._status = r.status; return j; }); });
}

function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function showFindings(result) {
  var list = document.getElementById("findings");
  var summary = document.getElementById("check-summary");
  if (result.error) { summary.textContent = result.error; return; }
  list.replaceChildren();
  summary.textContent = (result.ok ? "ok" : result.errors + " error(s)") +
    (result.warnings ? ", " + result.warnings + " warning(s)" : "");
  result.findings.forEach(function (f) {
    var li = el("li", f.severity);
    li.dataset.line = f.line;
    li.dataset.mine = f.mine ? "true" : "false";
    li.appendChild(el("span", "where", f.file + ":" + f.line + ":" + f.column));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(el("span", "sev", f.severity + " " + f.code));
    li.appendChild(document.createTextNode(": " + f.message));
    if (f.hint) li.appendChild(el("div", "hint", "hint: " + f.hint));
    list.appendChild(li);
  });
  document.getElementById("save").disabled = !result.ok;
}

function markLines(backdrop, html, findings) {
  // the server's highlighted lines, each line with a finding wrapped so that it stands out
  var bad = {};
  findings.forEach(function (f) { if (f.mine && f.line > 0) bad[f.line] = bad[f.line] === "error" ? "error" : f.severity; });
  var lines = html.split("\n");
  backdrop.innerHTML = lines.map(function (line, i) {
    var sev = bad[i + 1];
    return sev ? '<span class="flag-' + sev + '">' + line + '</span>' : line;
  }).join("\n") + "\n";
}

function goToLine(text, line) {
  var lines = text.value.split("\n"), at = 0;
  for (var i = 0; i < line - 1 && i < lines.length; i++) at += lines[i].length + 1;
  text.focus();
  text.setSelectionRange(at, at + (lines[line - 1] || "").length);
  var height = parseFloat(getComputedStyle(text).lineHeight) || 19.5;
  text.scrollTop = Math.max(0, (line - 4) * height);
}

function setupEditor() {
  var form = document.getElementById("editor-form");
  if (!form) return;
  var csrf = form.dataset.csrf;
  var text = document.getElementById("text");
  var file = document.getElementById("file");
  var backdrop = document.getElementById("backdrop");
  var timer = null, sent = 0;
  function sync() { backdrop.scrollTop = text.scrollTop; backdrop.scrollLeft = text.scrollLeft; }
  function check() {
    var mine = ++sent;
    post("/api/check", csrf, {file: file.value, text: text.value}).then(function (result) {
      if (mine !== sent) return;  // a newer edit is being checked
      if (result.html !== undefined) { markLines(backdrop, result.html, result.findings || []); sync(); }
      showFindings(result);
    });
  }
  function later() { clearTimeout(timer); timer = setTimeout(check, 250); }
  text.addEventListener("input", function () { later(); });
  text.addEventListener("scroll", sync);
  file.addEventListener("input", later);
  document.getElementById("findings").addEventListener("click", function (event) {
    var li = event.target.closest("li[data-line]");
    if (li && li.dataset.mine === "true" && +li.dataset.line > 0) { goToLine(text, +li.dataset.line); sync(); }
  });
  check();
  document.getElementById("run-examples").addEventListener("click", function () {
    var box = document.getElementById("examples");
    box.replaceChildren(el("p", "note", "running the examples ..."));
    post("/api/examples", csrf, {file: file.value, text: text.value}).then(function (result) {
      box.replaceChildren();
      if (result.error) { box.appendChild(el("p", "error", result.error)); return; }
      if (!result.ran) { box.appendChild(el("p", "error", "the examples run once the check passes")); return; }
      box.appendChild(el("h2", "", "Examples: " + result.passed + " passed, " + result.failed + " failed"));
      var ul = el("ul");
      result.examples.forEach(function (x) {
        var li = el("li", x.passed ? "pass" : "fail", (x.passed ? "pass " : "FAIL ") + x.name + "  " + x.at);
        x.failures.concat(x.notes).forEach(function (line) { li.appendChild(el("div", "failure", line)); });
        ul.appendChild(li);
      });
      box.appendChild(ul);
    });
  });
}

function setupJob() {
  var box = document.getElementById("job");
  if (!box) return;
  var id = box.dataset.job;
  function poll() {
    fetch("/jobs/" + id + ".json", {credentials: "same-origin"}).then(function (r) { return r.json(); })
      .then(function (job) {
        if (job.state !== "running") { window.location.reload(); return; }
        var bar = document.getElementById("job-progress");
        if (job.percent !== null) bar.value = job.percent;
        document.getElementById("job-text").textContent =
          "scoring: " + job.rows.toLocaleString("en") + " rows so far, " + job.seconds + " s";
        setTimeout(poll, 400);
      });
  }
  setTimeout(poll, 200);
}

document.addEventListener("DOMContentLoaded", function () { setupEditor(); setupJob(); });
