// The alert stream: ask for hits recorded since the cursor every few seconds and put them
// at the top of the list. Values are set with textContent only, never parsed as HTML.
(function () {
  "use strict";
  var section = document.getElementById("alerts");
  var rows = document.getElementById("alert-rows");
  if (!section || !rows) {
    return;
  }
  var cursor = section.getAttribute("data-cursor") || "";
  var every = parseInt(section.getAttribute("data-poll"), 10) || 3000;
  var state = document.getElementById("alert-state");
  var empty = document.getElementById("no-alerts");

  function cell(text, kind) {
    var td = document.createElement("td");
    if (kind === "code") {
      var code = document.createElement("code");
      code.textContent = text;
      td.appendChild(code);
    } else {
      td.textContent = text;
    }
    return td;
  }

  function row(alert) {
    var tr = document.createElement("tr");
    tr.className = "fresh";
    tr.appendChild(cell(alert.ts));
    var who = document.createElement("td");
    who.className = "indicator";
    var link = document.createElement("a");
    link.href = "/objects/" + encodeURIComponent(alert.indicator_id);
    link.textContent = alert.indicator_name || alert.indicator_id;
    who.appendChild(link);
    tr.appendChild(who);
    tr.appendChild(cell(alert.kind));
    var value = cell(alert.value, "code");
    value.className = "value";
    tr.appendChild(value);
    var record = cell(alert.record, "code");
    record.className = "record";
    tr.appendChild(record);
    return tr;
  }

  function poll() {
    fetch("/detection/alerts.json?after=" + encodeURIComponent(cursor), {
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("the server answered " + response.status);
      }
      return response.json();
    }).then(function (page) {
      page.alerts.forEach(function (alert) {
        rows.insertBefore(row(alert), rows.firstChild);
      });
      if (page.alerts.length && empty) {
        empty.hidden = true;
      }
      cursor = page.cursor;
      state.textContent = "";
    }).catch(function (err) {
      state.textContent = "Updates paused: " + err.message;
    }).then(function () {
      window.setTimeout(poll, every);
    });
  }

  window.setTimeout(poll, every);
}());
