// A tenant's app aiming at the emulator's page (the platform's dashboard origin) through the
// bridge, with raw messages no SDK would send.
(function () {
  function post(type, data) { window.parent.postMessage(JSON.stringify({ eventType: type, eventData: data }), "*"); }
  document.getElementById("attack").addEventListener("click", function () {
    post("web_app_open_link", { url: "javascript:document.title='owned'" });
    post("web_app_open_tg_link", { path_full: "//evil.example/x" });
    post("web_app_set_header_color", { color: "red;background-image:url(https://evil.example/x)" });
    post("web_app_setup_main_button", { is_visible: true, is_active: true, text: "<img src=x id=injected>", color: "url(x)" });
    post("web_app_invoke_custom_method", { req_id: "1", method: "saveStorageValue", params: { key: "../x", value: "v" } });
    post("web_app_open_popup", { title: "<b>t</b>", message: "<img src=x id=injected2>", buttons: [{ id: "a", type: "default", text: "<i>ok</i>" }] });
    document.getElementById("done").textContent = "sent";
  });
})();
