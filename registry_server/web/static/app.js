// Small enhancements; every page works without them.
"use strict";

// The search box updates the results as you type (on the list page only).
(function () {
  const box = document.getElementById("q");
  const results = document.getElementById("results");
  if (!box || !results) return;
  let timer = null;
  let latest = 0;
  box.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(async function () {
      const ticket = ++latest;
      const url = "/?" + new URLSearchParams({ q: box.value });
      const response = await fetch(url, { headers: { "X-Fragment": "results" } });
      if (!response.ok || ticket !== latest) return;
      const holder = document.createElement("div");
      holder.innerHTML = await response.text();
      document.getElementById("results").replaceWith(holder.firstElementChild);
      history.replaceState(null, "", url);
    }, 200);
  });
})();

// Deleting a tag asks first.
document.querySelectorAll("form.delete-tag").forEach(function (form) {
  form.addEventListener("submit", function (event) {
    const tag = form.querySelector("input[name=tag]").value;
    if (!window.confirm("Delete the tag " + tag + "?")) event.preventDefault();
  });
});

// Copy the pull command.
document.querySelectorAll("button.copy").forEach(function (button) {
  button.addEventListener("click", async function () {
    try {
      await navigator.clipboard.writeText(button.dataset.copy);
      button.textContent = "Copied";
    } catch (error) {
      button.textContent = "Select it";
    }
  });
});
