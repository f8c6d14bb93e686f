// wflow UI: refreshes the page's <main> in place while what it shows is running
// (data-live="1"), by polling the same URL. No other script runs in the pages.
"use strict";
(function () {
  var POLL_MS = 1500;
  function live() {
    var main = document.querySelector("main");
    return main && main.getAttribute("data-live") === "1";
  }
  function refresh() {
    fetch(window.location.href, { cache: "no-store", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) { return schedule(); }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.querySelector("main");
        var main = document.querySelector("main");
        if (next && main) {
          var logs = document.querySelectorAll("pre.log");
          var atEnd = Array.prototype.map.call(logs, function (p) {
            return p.scrollTop + p.clientHeight >= p.scrollHeight - 4;
          });
          main.replaceWith(document.importNode(next, true));
          // Keep following the end of a log that was scrolled to its end.
          Array.prototype.forEach.call(document.querySelectorAll("pre.log"), function (p, i) {
            if (atEnd[i] !== false) { p.scrollTop = p.scrollHeight; }
          });
        }
        schedule();
      })
      .catch(schedule);
  }
  function schedule() {
    if (live()) { window.setTimeout(refresh, POLL_MS); }
  }
  document.addEventListener("DOMContentLoaded", schedule);
})();
