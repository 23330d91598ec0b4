/* Keywarden: after a refused form, move keyboard and screen-reader focus to the list of
   errors (each entry links to its field), so nobody has to hunt for what went wrong. */
(function () {
  "use strict";
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }
})();
