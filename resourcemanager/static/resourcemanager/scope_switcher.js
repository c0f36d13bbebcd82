// The header's scope switcher (templates/admin/base_site.html): choosing a scope submits
// the form at once, so the "Switch" button is only for browsers without JavaScript.
"use strict";

(function () {
  const form = document.getElementById("rm-scope-switcher");
  if (!form) {
    return;
  }
  form.querySelector("[data-rm-scope-submit]").hidden = true;
  form.elements.scope.addEventListener("change", function () {
    form.requestSubmit();
  });
})();
