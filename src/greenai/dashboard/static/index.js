// The runs list reloads itself every 10 s while any run is running.
"use strict";

(() => {
  const script = document.getElementById("index-script");
  if (script && script.dataset.refresh === "yes") setTimeout(() => window.location.reload(), 10000);
})();
