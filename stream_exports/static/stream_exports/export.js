// The admin's export dialog. The form is a GET (its URL is the choice: "now" streams the
// file) until "in the background" is chosen: then a POST with the CSRF token, which a GET
// must never carry. "Link to this export" follows the choice; "Select all" and "Clear" tick
// the fields. Without JavaScript the page works the same, a step slower.
(function () {
  "use strict";
  const form = document.getElementById("export-dialog");
  if (!form) return;
  const csrf = form.elements.csrfmiddlewaretoken;
  const notify = form.elements.notify;
  const link = form.querySelector("[data-field=link]");
  const toggles = form.querySelector("[data-field=toggles]");

  function update() {
    const mode = form.querySelector("input[name=mode]:checked");
    const background = mode !== null && mode.value === "background";
    form.method = background ? "post" : "get";
    csrf.disabled = !background;
    notify.disabled = !background;
    const query = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {  // (disabled controls are left out)
      if (name !== "csrfmiddlewaretoken") query.append(name, value);
    }
    link.href = "?" + query.toString();
  }

  toggles.hidden = false;
  toggles.addEventListener("click", (event) => {
    const which = event.target.dataset.check;
    if (!which) return;
    for (const box of form.querySelectorAll("input[name=fields]")) box.checked = which === "all";
    update();
  });
  form.addEventListener("change", update);
  update();
})();
