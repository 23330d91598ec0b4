/* Keywarden: on a phone the main navigation folds behind the Menu button (the stylesheet
   hides it while the button says it is collapsed); without this script it simply wraps. */
(function () {
  "use strict";
  var toggle = document.querySelector(".nav-toggle");
  if (!toggle) {
    return;
  }
  document.documentElement.classList.add("has-nav-toggle");
  toggle.addEventListener("click", function () {
    var open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });
})();
