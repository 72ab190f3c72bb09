// An app on @tma.js/sdk 3.x, as its React template sets it up, without a bundler.
(function () {
  var sdk = window.tmajs.sdk;
  function out(id, text) { document.getElementById(id).textContent = text; }
  function count(id) { var el = document.getElementById(id); el.textContent = String(Number(el.textContent) + 1); }

  fetch("/_tma/me", { credentials: "same-origin" })
    .then(function (r) { return r.text(); })
    .then(function (t) { out("me", t); });

  var lp;
  try {
    lp = sdk.retrieveLaunchParams();
    out("lp", "ok");
  } catch (e) {
    out("lp", "error: " + ((e && e.name) || String(e)));
    return;
  }
  var user = lp.tgWebAppData && lp.tgWebAppData.user;
  out("name", user ? user.first_name || user.firstName : "no user");
  out("platform", lp.tgWebAppPlatform);

  if (window.self === window.top) {
    // A dev link in a tab: launch data, but no Telegram to talk to.
    out("env", "tab");
    return;
  }
  out("env", "frame");
  // @tma.js/sdk posts to https://web.telegram.org only; framed by another Telegram (the
  // platform's emulator in development), it must be told the parent's origin.
  var parent = location.ancestorOrigins && location.ancestorOrigins[0];
  if (parent && parent !== "https://web.telegram.org") sdk.setTargetOrigin(parent);

  sdk.init();
  sdk.themeParams.mount();
  sdk.themeParams.bindCssVars();
  out("bg", sdk.themeParams.bgColor() || "");
  sdk.themeParams.bgColor.sub(function (c) { out("bg", c || ""); });

  sdk.mainButton.mount();
  sdk.mainButton.setParams({ text: "Order", isVisible: true, isEnabled: true });
  sdk.mainButton.onClick(function () { count("main-clicks"); });

  sdk.backButton.mount();
  sdk.backButton.show();
  sdk.backButton.onClick(function () { count("back-clicks"); });

  document.getElementById("show-popup").addEventListener("click", function () {
    sdk.popup
      .show({ title: "Confirm", message: "Place the order?", buttons: [{ id: "yes", type: "default", text: "Yes" }, { id: "no", type: "destructive", text: "No" }] })
      .then(function (id) { out("popup", id || "none"); });
  });

  var greeting = "hello " + (user ? user.first_name || user.firstName : "");
  sdk.cloudStorage
    .setItem("greeting", greeting)
    .then(function () { return sdk.cloudStorage.getItem("greeting"); })
    .then(function (v) { out("cloud", v); }, function (e) { out("cloud", "error: " + e); });

  sdk.miniApp.mount();
  sdk.miniApp.ready();
})();
