// The About page's visitor counter: one POST /insights/hits per load (the counter counts the
// view and answers the totals), shown in the page. No bundle, no dependency.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="counter-api"]');
  var base = ((meta && meta.getAttribute("content")) || "").replace(/\/+$/, "");
  var status = document.getElementById("counter");
  var views = document.getElementById("views");
  var visitors = document.getElementById("visitors-today");

  function show(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  fetch(base + "/insights/hits", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ path: "/about" }),
    credentials: "omit",
  })
    .then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    })
    .then(function (counts) {
      views.textContent = Number(counts.views).toLocaleString();
      visitors.textContent = Number(counts.visitors_today).toLocaleString();
      show("ready", "This page has been viewed " + Number(counts.views).toLocaleString() +
        " times; " + Number(counts.visitors_today).toLocaleString() + " visitors today.");
    })
    .catch(function () {
      show("error", "The visitor counter is not reachable right now.");
    });
})();
