/* Keywarden: keep a request's status and actions current while the request is open.
   Polls the fragment URL in #live[data-live-url] every 2 s. The fragment's root carries
   data-open (keep polling?), data-version (did anything change?) and data-state-label (read
   out through the polite #live-announcer region when the state changes). Content is swapped
   only when the version changes, so a comment being typed survives quiet polls. The holder's
   data-live-subject names what is announced (default "Request status"). */
(function () {
  "use strict";
  var INTERVAL_MS = 2000;
  var holder = document.getElementById("live");
  var announcer = document.getElementById("live-announcer");
  if (!holder || !holder.getAttribute("data-live-url")) {
    return;
  }
  var url = holder.getAttribute("data-live-url");
  var subject = holder.getAttribute("data-live-subject") || "Request status";

  function current() {
    return holder.querySelector("[data-version]");
  }

  function schedule() {
    var body = current();
    if (body && body.getAttribute("data-open") === "true") {
      window.setTimeout(refresh, INTERVAL_MS);
    }
  }

  function swap(fresh) {
    var before = current();
    if (before && before.getAttribute("data-version") === fresh.getAttribute("data-version")) {
      return;
    }
    var oldLabel = before ? before.getAttribute("data-state-label") : "";
    var newLabel = fresh.getAttribute("data-state-label");
    holder.replaceChildren(document.importNode(fresh, true));
    if (announcer && newLabel !== oldLabel) {
      announcer.textContent = subject + ": " + newLabel;
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
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-version]");
        if (fresh) {
          swap(fresh);
        }
        schedule();
      })
      .catch(function () {
        window.setTimeout(refresh, INTERVAL_MS * 5);
      });
  }

  schedule();
})();
