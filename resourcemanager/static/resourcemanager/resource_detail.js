// The resource page's "Show secrets" and "Copy" buttons (templates/admin/resourcemanager/
// resource/change_form.html). Secrets are masked in the page; they are fetched with a POST
// (CSRF token from the page) the first time they are shown or copied. No inline handlers,
// so the page works under a Content-Security-Policy without 'unsafe-inline'.
"use strict";

(function () {
  const panel = document.getElementById("rm-detail");
  if (!panel) {
    return;
  }
  const status = document.getElementById("rm-copy-status");
  const toggle = panel.querySelector("[data-rm-toggle]");
  const masked = new Map();
  for (const element of panel.querySelectorAll("[data-rm-secret]")) {
    masked.set(element.id, element.value);
  }
  let secrets = null;
  let shown = false;

  function announce(text) {
    if (status) {
      status.textContent = text;
    }
  }

  async function loadSecrets() {
    if (secrets === null) {
      const token = panel.querySelector("input[name=csrfmiddlewaretoken]").value;
      const response = await fetch(panel.dataset.rmCredentialsUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {"X-CSRFToken": token, "Accept": "application/json"},
      });
      if (!response.ok) {
        throw new Error(`the server answered ${response.status}`);
      }
      secrets = (await response.json()).values;
    }
    return secrets;
  }

  function fill(values) {
    for (const [id, value] of Object.entries(values)) {
      const element = document.getElementById(id);
      if (element) {
        element.value = value;
      }
    }
  }

  async function writeClipboard(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return;
      } catch (error) {
        // Refused (no permission, or the page lost focus): try the old way below.
      }
    }
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    const copied = document.execCommand("copy");
    area.remove();
    if (!copied) {
      throw new Error("the browser refused");
    }
  }

  if (toggle) {
    toggle.addEventListener("click", async () => {
      try {
        fill(shown ? Object.fromEntries(masked) : await loadSecrets());
        shown = !shown;
        toggle.textContent = shown ? "Hide secrets" : "Show secrets";
        toggle.setAttribute("aria-pressed", String(shown));
      } catch (error) {
        announce(`Could not load the credentials: ${error.message}`);
      }
    });
  }

  for (const button of panel.querySelectorAll("[data-rm-copy]")) {
    button.addEventListener("click", async () => {
      const target = document.getElementById(button.dataset.rmCopy);
      const label = target.labels.length ? target.labels[0].textContent : target.id;
      try {
        const text = target.hasAttribute("data-rm-secret")
          ? (await loadSecrets())[target.id]
          : target.value;
        await writeClipboard(text);
        button.textContent = "Copied";
        window.setTimeout(() => { button.textContent = "Copy"; }, 2000);
        announce(`Copied: ${label}`);
      } catch (error) {
        announce(`Could not copy ${label}: ${error.message}`);
      }
    });
  }
})();
