/* Keywarden: keep a request's status panel current while the request is open.
   Polls the panel's fragment URL (data-live-url) every 2 s and swaps the panel's content;
   stops once the fragment says the request is no longer open (data-open="false"). */
(function () {
  "use strict";
  var INTERVAL_MS = 2000;
  var panel = document.querySelector("[data-live-url]");
  if (!panel) {
    return;
  }
  var url = panel.getAttribute("data-live-url");

  function isOpen() {
    var body = panel.querySelector("[data-open]");
    return body !== null && body.getAttribute("data-open") === "true";
  }

  function schedule() {
    if (isOpen()) {
      window.setTimeout(refresh, INTERVAL_MS);
    }
  }

  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var parsed = new DOMParser().parseFromString(html, "text/html");
        var fresh = parsed.body.querySelector("[data-open]");
        if (fresh) {
          panel.replaceChildren(document.importNode(fresh, true));
        }
        schedule();
      })
      .catch(schedule);
  }

  schedule();
})();
