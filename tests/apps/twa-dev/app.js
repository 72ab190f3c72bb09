// An app on @twa-dev/sdk: `import WebApp from "@twa-dev/sdk"` is `exports.WebApp` here.
(function () {
  var WebApp = exports.WebApp;
  function out(id, text) { document.getElementById(id).textContent = text; }
  fetch("/_tma/me", { credentials: "same-origin" })
    .then(function (r) { return r.text(); })
    .then(function (t) { out("me", t); });
  var user = WebApp.initDataUnsafe && WebApp.initDataUnsafe.user;
  out("name", user ? user.first_name : "no user");
  out("bg", WebApp.themeParams.bg_color || "");
  WebApp.onEvent("themeChanged", function () { out("bg", WebApp.themeParams.bg_color || ""); });
  WebApp.MainButton.setText("Order");
  WebApp.MainButton.show();
  WebApp.MainButton.onClick(function () {
    var el = document.getElementById("main-clicks");
    el.textContent = String(Number(el.textContent) + 1);
  });
  document.getElementById("show-popup").addEventListener("click", function () {
    WebApp.showPopup(
      { title: "Confirm", message: "Place the order?", buttons: [{ id: "yes", type: "default", text: "Yes" }, { id: "no", type: "destructive", text: "No" }] },
      function (id) { out("popup", id || "none"); }
    );
  });
  WebApp.ready();
})();
