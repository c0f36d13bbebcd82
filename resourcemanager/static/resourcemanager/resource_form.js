// The resource add form (templates/admin/resourcemanager/resource/change_form.html): when
// the scope or the provider changes, the page is loaded again for that choice, so that the
// provider's properties show as fields. What was typed is kept, except secrets, which never
// go into a URL. Without JavaScript a button does the same (ResourceAdmin.add_view).
"use strict";

(function () {
  const form = document.getElementById("resource_form");
  if (!form) {
    return;
  }
  const kept = ["scope", "provider", "name", "tags_text"];
  const propertyPrefix = "property_";
  form.querySelector("[data-rm-choose-provider]").remove();  // Enter saves, as elsewhere

  function reload() {
    const query = new URLSearchParams();
    for (const field of form.elements) {
      const wanted = kept.includes(field.name) || (
        field.name.startsWith(propertyPrefix) && field.type !== "password"
        && (field.type !== "checkbox" || field.checked));
      if (wanted && field.value) {
        query.set(field.name, field.value);
      }
    }
    window.location.search = query.toString();
  }

  for (const name of ["scope", "provider"]) {
    const field = form.elements[name];
    if (field && field.tagName === "SELECT") {
      field.addEventListener("change", reload);
    }
  }
})();
