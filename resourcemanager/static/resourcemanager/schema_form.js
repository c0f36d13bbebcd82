// The add forms whose fields follow a choice made on them (a resource's provider, a
// consumer's builder; templates/admin/schema_change_form.html): when a field named in the
// button's data-rm-reload-on changes, the page is loaded again for that choice, so that its
// properties show as fields. What was typed in the fields named in data-rm-choose and in
// the property fields is kept, except secrets, which never go into a URL. Without
// JavaScript the button does the same (SchemaAddAdmin.add_view).
"use strict";

(function () {
  const button = document.querySelector("button[data-rm-choose]");
  if (!button) {
    return;
  }
  const form = button.form;
  const kept = button.dataset.rmChoose.split(" ");
  const propertyPrefix = "property_";
  button.remove();  // Enter saves, as elsewhere

  function reload() {
    const query = new URLSearchParams();
    for (const field of form.elements) {
      const wanted = (kept.includes(field.name) || field.name.startsWith(propertyPrefix))
        && field.type !== "password" && (field.type !== "checkbox" || field.checked);
      if (wanted && field.value) {
        query.append(field.name, field.value);
      }
    }
    window.location.search = query.toString();
  }

  for (const name of button.dataset.rmReloadOn.split(" ")) {
    const field = form.elements[name];
    if (field && field.tagName === "SELECT") {
      field.addEventListener("change", reload);
    }
  }
})();
