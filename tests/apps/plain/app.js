// An app on Telegram's own telegram-web-app.js, as core.telegram.org/bots/webapps shows it.
(function () {
  var tg = window.Telegram.WebApp;
  function out(id, text) { document.getElementById(id).textContent = text; }
  fetch("/_tma/me", { credentials: "same-origin" })
    .then(function (r) { return r.text(); })
    .then(function (t) { out("me", t); });
  out("name", tg.initDataUnsafe.user ? tg.initDataUnsafe.user.first_name : "no user");
  out("bg", tg.themeParams.bg_color || "");
  tg.onEvent("themeChanged", function () { out("bg", tg.themeParams.bg_color || ""); });
  tg.MainButton.setParams({ text: "Order", is_visible: true });
  tg.MainButton.onClick(function () {
    var el = document.getElementById("main-clicks");
    el.textContent = String(Number(el.textContent) + 1);
  });
  // showConfirm is a popup with OK and Cancel: the answer is true or false.
  document.getElementById("show-popup").addEventListener("click", function () {
    tg.showConfirm("Place the order?", function (ok) { out("popup", ok ? "ok" : "cancel"); });
  });
  tg.expand();
  tg.ready();
})();
