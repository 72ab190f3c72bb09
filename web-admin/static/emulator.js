// The Telegram side of the Mini App bridge, as Telegram Web runs it: the app lives in an
// iframe and posts `{"eventType", "eventData"}` JSON to its parent; the parent answers with
// events the same way. Everything the framed app sends is untrusted (it is a tenant's code):
// it is shown as text, colours must be #rrggbb, links must be http(s), and sizes are bounded.
(function () {
  "use strict";
  var root = document.getElementById("emulator");
  if (!root) return;

  var $ = function (id) { return document.getElementById(id); };
  var appOrigin = root.dataset.origin;
  var themes = { light: JSON.parse(root.dataset.light), dark: JSON.parse(root.dataset.dark) };
  var theme = root.dataset.theme === "dark" ? "dark" : "light";
  var frame = $("tg-frame");
  var log = $("tg-log");
  var MAX_MESSAGE = 64 * 1024;
  var MAX_LOG = 500;
  var COLOR = /^#[0-9a-fA-F]{6}$/;

  var state = {
    closingConfirmation: false,
    popup: null,
    expanded: false,
    fullscreen: false,
    headerColor: null,
    backgroundColor: null,
    bottomBarColor: null,
    main: {},
    secondary: {}
  };

  // ---- the log ----------------------------------------------------------------------------
  function describe(data) {
    if (data === undefined || data === null || data === "") return "";
    var text;
    try { text = typeof data === "string" ? data : JSON.stringify(data); } catch (e) { text = String(data); }
    return text.length > 300 ? text.slice(0, 300) + "…" : text;
  }

  // `dir`: "from-app" (a method the app called), "to-app" (an event sent), "note" (what the
  // emulator did about it, or why it did nothing).
  function record(dir, type, data) {
    var li = document.createElement("li");
    li.className = "tg-log-" + dir;
    li.dataset.dir = dir;
    li.dataset.event = type;
    var arrow = dir === "from-app" ? "← " : dir === "to-app" ? "→ " : "· ";
    var name = document.createElement("code");
    name.textContent = type;
    li.appendChild(document.createTextNode(arrow));
    li.appendChild(name);
    var detail = describe(data);
    if (detail) li.appendChild(document.createTextNode(" " + detail));
    log.insertBefore(li, log.firstChild);
    while (log.childNodes.length > MAX_LOG) log.removeChild(log.lastChild);
  }

  // ---- talking to the app -----------------------------------------------------------------
  function send(type, data) {
    var msg = data === undefined ? { eventType: type } : { eventType: type, eventData: data };
    // The app's origin only: if the frame was navigated elsewhere, nothing is delivered.
    if (frame.contentWindow) frame.contentWindow.postMessage(JSON.stringify(msg), appOrigin);
    record("to-app", type, data);
  }

  function viewport() {
    var h = frame.clientHeight;
    return { height: h, width: frame.clientWidth, is_expanded: true, is_state_stable: true };
  }

  var ZERO_INSETS = { top: 0, bottom: 0, left: 0, right: 0 };

  // ---- CloudStorage, per bot and test user, in this browser --------------------------------
  var storageKey = "tmahost.emulator.cloud." + root.dataset.bot + "." + root.dataset.user;
  var KEY = /^[A-Za-z0-9_-]{1,128}$/;
  function cloud() {
    try { return JSON.parse(localStorage.getItem(storageKey) || "{}") || {}; } catch (e) { return {}; }
  }
  function saveCloud(items) { localStorage.setItem(storageKey, JSON.stringify(items)); }
  function keysOf(params) {
    var keys = params && params.keys;
    if (!Array.isArray(keys) || keys.length === 0) throw "KEYS_INVALID";
    keys.forEach(function (k) { if (typeof k !== "string" || !KEY.test(k)) throw "KEY_INVALID"; });
    return keys;
  }
  // Telegram's limits: keys of 1-128 characters of A-Z a-z 0-9 _ -, values up to 4096
  // characters, up to 1024 keys per user.
  var customMethods = {
    saveStorageValue: function (params) {
      var key = params && params.key, value = params && params.value;
      if (typeof key !== "string" || !KEY.test(key)) throw "KEY_INVALID";
      if (typeof value !== "string" || value.length > 4096) throw "VALUE_INVALID";
      var items = cloud();
      if (!(key in items) && Object.keys(items).length >= 1024) throw "STORAGE_KEYS_TOO_MANY";
      items[key] = value;
      saveCloud(items);
      return true;
    },
    getStorageValues: function (params) {
      var items = cloud(), out = {};
      keysOf(params).forEach(function (k) { out[k] = Object.prototype.hasOwnProperty.call(items, k) ? items[k] : ""; });
      return out;
    },
    deleteStorageValues: function (params) {
      var items = cloud();
      keysOf(params).forEach(function (k) { delete items[k]; });
      saveCloud(items);
      return true;
    },
    getStorageKeys: function () { return Object.keys(cloud()); }
  };

  // ---- device storage (Bot API 9.0), per bot and test user, in this browser ----------------
  var deviceKey = "tmahost.emulator.device." + root.dataset.bot + "." + root.dataset.user;
  function device() {
    try { return JSON.parse(localStorage.getItem(deviceKey) || "{}") || {}; } catch (e) { return {}; }
  }

  // ---- the bottom bar and the header -------------------------------------------------------
  function color(value, fallback) { return typeof value === "string" && COLOR.test(value) ? value : fallback; }

  function paintButton(el, params, defaults) {
    var visible = !!params.is_visible && typeof params.text === "string" && params.text.trim() !== "";
    el.hidden = !visible;
    if (!visible) return;
    el.textContent = params.text.slice(0, 64) + (params.is_progress_visible ? " …" : "");
    el.disabled = params.is_active === false;
    el.style.backgroundColor = color(params.color, defaults.bg);
    el.style.color = color(params.text_color, defaults.fg);
    el.classList.toggle("tg-shine", !!params.has_shine_effect);
  }

  function paintBottom() {
    var t = themes[theme];
    paintButton($("tg-main"), state.main, { bg: t.button_color, fg: t.button_text_color });
    paintButton($("tg-secondary"), state.secondary, { bg: t.bottom_bar_bg_color || t.secondary_bg_color, fg: t.button_color });
    var pos = state.secondary.position;
    var bar = $("tg-bottom");
    bar.dataset.position = pos === "left" || pos === "right" || pos === "top" || pos === "bottom" ? pos : "left";
    bar.hidden = $("tg-main").hidden && $("tg-secondary").hidden;
    bar.style.backgroundColor = color(state.bottomBarColor, t.bottom_bar_bg_color || t.bg_color);
  }

  function paintChrome() {
    var t = themes[theme];
    var header = state.headerColor === "secondary_bg_color" ? t.secondary_bg_color
      : state.headerColor === "bg_color" || !state.headerColor ? (t.header_bg_color || t.bg_color)
      : color(state.headerColor, t.bg_color);
    $("tg-header").style.backgroundColor = header;
    $("tg-header").style.color = t.text_color;
    $("tg-phone").style.backgroundColor = color(state.backgroundColor, t.bg_color);
    root.dataset.theme = theme;
    paintBottom();
  }

  // ---- popups and invoices -----------------------------------------------------------------
  var BUTTON_TEXT = { ok: "OK", close: "Close", cancel: "Cancel" };

  function openDialog(title, message, buttons, onClose) {
    state.popup = onClose;
    $("tg-popup-title").textContent = title;
    $("tg-popup-message").textContent = message;
    var box = $("tg-popup-buttons");
    while (box.firstChild) box.removeChild(box.firstChild);
    buttons.forEach(function (b) {
      var el = document.createElement("button");
      el.type = "button";
      el.textContent = b.text;
      el.dataset.buttonId = b.id;
      if (b.type === "destructive") el.className = "tg-destructive";
      el.addEventListener("click", function () { closeDialog(b.id); });
      box.appendChild(el);
    });
    $("tg-popup").hidden = false;
    var first = box.querySelector("button");
    if (first) first.focus();
  }

  function closeDialog(id) {
    var done = state.popup;
    state.popup = null;
    $("tg-popup").hidden = true;
    if (done) done(id);
  }

  function openPopup(data) {
    var p = data || {};
    var message = typeof p.message === "string" ? p.message : "";
    var buttons = Array.isArray(p.buttons) && p.buttons.length ? p.buttons : [{ id: "", type: "close" }];
    if (state.popup) { record("note", "popup refused", "a popup is already open"); return; }
    if (!message || message.length > 256 || buttons.length > 3) {
      record("note", "popup refused", "Telegram needs a message of 1-256 characters and 1-3 buttons");
      return;
    }
    var shown = buttons.map(function (b) {
      var id = typeof b.id === "string" ? b.id.slice(0, 64) : "";
      var text = BUTTON_TEXT[b.type] || (typeof b.text === "string" ? b.text.slice(0, 64) : "");
      return { id: id, type: b.type, text: text || "OK" };
    });
    var title = typeof p.title === "string" ? p.title.slice(0, 64) : "";
    openDialog(title, message, shown, function (id) {
      send("popup_closed", id === undefined ? {} : { button_id: id });
    });
  }

  function openInvoice(data) {
    var slug = data && typeof data.slug === "string" ? data.slug.slice(0, 128) : "";
    if (state.popup) { record("note", "invoice refused", "a popup is already open"); return; }
    openDialog("Invoice", "Pay invoice " + slug + "? (nothing is charged: choose the outcome)", [
      { id: "paid", text: "Paid" }, { id: "cancelled", text: "Cancel" }, { id: "failed", text: "Fail", type: "destructive" }
    ], function (status) {
      send("invoice_closed", { slug: slug, status: status || "cancelled" });
    });
  }

  function openLink(url, what) {
    var parsed;
    try { parsed = new URL(url); } catch (e) { parsed = null; }
    if (!parsed || (parsed.protocol !== "https:" && parsed.protocol !== "http:")) {
      record("note", what + " refused", "only http(s) links open");
      return;
    }
    window.open(parsed.href, "_blank", "noopener,noreferrer");
    record("note", what + " opened", parsed.href);
  }

  // ---- closing -----------------------------------------------------------------------------
  function closeApp(why) {
    if (state.closingConfirmation && !window.confirm("Close the app? It asked to confirm first.")) {
      record("note", "close cancelled", "closing confirmation");
      return;
    }
    $("tg-closed-why").textContent = why;
    $("tg-closed").hidden = false;
    frame.removeAttribute("src");
    record("note", "closed", why);
  }

  function unsupported(failEvent) {
    return function (data) {
      var reply = { error: "UNSUPPORTED" };
      if (data && data.req_id) reply.req_id = data.req_id;
      send(failEvent, reply);
    };
  }

  // ---- the methods Telegram Web answers ----------------------------------------------------
  var handlers = {
    iframe_ready: function () { record("note", "bridge ready", "the app's SDK is listening"); },
    iframe_will_reload: function () {},
    web_app_ready: function () { $("tg-phone").classList.add("tg-ready"); },
    web_app_expand: function () { state.expanded = true; send("viewport_changed", viewport()); },
    web_app_close: function () { closeApp("The app called close()."); },
    web_app_request_theme: function () { send("theme_changed", { theme_params: themes[theme] }); },
    web_app_request_viewport: function () { send("viewport_changed", viewport()); },
    web_app_request_safe_area: function () { send("safe_area_changed", ZERO_INSETS); },
    web_app_request_content_safe_area: function () { send("content_safe_area_changed", ZERO_INSETS); },
    web_app_setup_main_button: function (d) { state.main = d || {}; paintBottom(); },
    web_app_setup_secondary_button: function (d) { state.secondary = d || {}; paintBottom(); },
    web_app_setup_back_button: function (d) { $("tg-back").hidden = !(d && d.is_visible); },
    web_app_setup_settings_button: function (d) { $("tg-settings").hidden = !(d && d.is_visible); },
    web_app_set_header_color: function (d) {
      state.headerColor = d && (d.color_key === "bg_color" || d.color_key === "secondary_bg_color") ? d.color_key : d && d.color;
      paintChrome();
    },
    web_app_set_background_color: function (d) { state.backgroundColor = d && d.color; paintChrome(); },
    web_app_set_bottom_bar_color: function (d) { state.bottomBarColor = d && d.color; paintChrome(); },
    web_app_setup_closing_behavior: function (d) { state.closingConfirmation = !!(d && d.need_confirmation); },
    web_app_open_popup: openPopup,
    web_app_open_invoice: openInvoice,
    web_app_open_link: function (d) { openLink(d && d.url, "link"); },
    web_app_open_tg_link: function (d) {
      // A path on t.me (`/bot?start=x`), never `//elsewhere`.
      var path = d && typeof d.path_full === "string" && /^\/[^\/\\]/.test(d.path_full) ? d.path_full : null;
      if (path) openLink("https://t.me" + path, "t.me link");
      else record("note", "t.me link refused", "path_full must be a path on t.me");
    },
    web_app_data_send: function () { closeApp("The app sent data to the bot (sendData) and Telegram closed it."); },
    web_app_request_write_access: function () { send("write_access_requested", { status: "allowed" }); },
    web_app_request_phone: function () { send("phone_requested", { status: "cancelled" }); },
    web_app_read_text_from_clipboard: function (d) {
      send("clipboard_text_received", { req_id: d && d.req_id });
    },
    web_app_invoke_custom_method: function (d) {
      var reqId = d && d.req_id, method = d && d.method;
      var fn = typeof method === "string" && Object.prototype.hasOwnProperty.call(customMethods, method) ? customMethods[method] : null;
      if (!fn) { send("custom_method_invoked", { req_id: reqId, error: "METHOD_NOT_SUPPORTED_IN_EMULATOR" }); return; }
      try {
        send("custom_method_invoked", { req_id: reqId, result: fn(d.params) });
      } catch (e) {
        send("custom_method_invoked", { req_id: reqId, error: typeof e === "string" ? e : "INTERNAL" });
      }
    },
    web_app_device_storage_save_key: function (d) {
      var items = device();
      if (!d || typeof d.key !== "string" || d.key.length > 128) { send("device_storage_failed", { req_id: d && d.req_id, error: "KEY_INVALID" }); return; }
      if (d.value === null || d.value === undefined) delete items[d.key]; else items[d.key] = String(d.value).slice(0, 4096);
      localStorage.setItem(deviceKey, JSON.stringify(items));
      send("device_storage_key_saved", { req_id: d.req_id });
    },
    web_app_device_storage_get_key: function (d) {
      var items = device(), key = d && d.key;
      send("device_storage_key_received", { req_id: d && d.req_id, value: typeof key === "string" && key in items ? items[key] : null });
    },
    web_app_device_storage_clear: function (d) {
      localStorage.removeItem(deviceKey);
      send("device_storage_cleared", { req_id: d && d.req_id });
    },
    web_app_secure_storage_save_key: unsupported("secure_storage_failed"),
    web_app_secure_storage_get_key: unsupported("secure_storage_failed"),
    web_app_secure_storage_restore_key: unsupported("secure_storage_failed"),
    web_app_secure_storage_clear: unsupported("secure_storage_failed"),
    web_app_biometry_get_info: function () { send("biometry_info_received", { available: false }); },
    web_app_request_fullscreen: function () { send("fullscreen_failed", { error: "UNSUPPORTED" }); },
    web_app_exit_fullscreen: function () { send("fullscreen_changed", { is_fullscreen: false }); },
    web_app_check_home_screen: function () { send("home_screen_checked", { status: "unsupported" }); },
    web_app_add_to_home_screen: function () { send("home_screen_failed", { error: "UNSUPPORTED" }); },
    web_app_check_location: function () { send("location_checked", { available: false }); },
    web_app_request_location: function () { send("location_requested", { available: false }); },
    web_app_start_accelerometer: unsupported("accelerometer_failed"),
    web_app_start_gyroscope: unsupported("gyroscope_failed"),
    web_app_start_device_orientation: unsupported("device_orientation_failed"),
    web_app_request_emoji_status_access: function () { send("emoji_status_access_requested", { status: "cancelled" }); },
    web_app_set_emoji_status: function () { send("emoji_status_failed", { error: "UNSUPPORTED" }); },
    web_app_open_scan_qr_popup: function () { send("scan_qr_popup_closed"); },
    web_app_request_file_download: function () { send("file_download_requested", { status: "cancelled" }); },
    web_app_send_prepared_message: function () { send("prepared_message_failed", { error: "UNSUPPORTED" }); }
  };
  // Telegram acts on these without answering; the log is all there is to see.
  [
    "web_app_trigger_haptic_feedback", "web_app_switch_inline_query", "web_app_setup_swipe_behavior",
    "web_app_close_scan_qr_popup", "web_app_hide_keyboard", "web_app_toggle_orientation_lock",
    "web_app_stop_accelerometer", "web_app_stop_gyroscope", "web_app_stop_device_orientation",
    "web_app_share_to_story", "web_app_open_location_settings", "web_app_biometry_open_settings"
  ].forEach(function (name) { handlers[name] = function () {}; });

  window.addEventListener("message", function (e) {
    // Only the framed app, on its own origin: a frame navigated elsewhere is not the app.
    if (e.source !== frame.contentWindow || e.origin !== appOrigin) return;
    if (typeof e.data !== "string" || e.data.length > MAX_MESSAGE) return;
    var msg;
    try { msg = JSON.parse(e.data); } catch (err) { return; }
    if (!msg || typeof msg.eventType !== "string" || msg.eventType.length > 64) return;
    var data = msg.eventData;
    if (typeof data === "string" && data !== "") {
      try { data = JSON.parse(data); } catch (err) { /* a plain string parameter */ }
    }
    record("from-app", msg.eventType, data);
    var handler = Object.prototype.hasOwnProperty.call(handlers, msg.eventType) ? handlers[msg.eventType] : null;
    if (handler) handler(data === "" ? undefined : data);
    else record("note", "not emulated", msg.eventType);
  });

  // ---- the emulator's own controls ---------------------------------------------------------
  $("tg-main").addEventListener("click", function () { send("main_button_pressed"); });
  $("tg-secondary").addEventListener("click", function () { send("secondary_button_pressed"); });
  $("tg-back").addEventListener("click", function () { send("back_button_pressed"); });
  $("tg-settings").addEventListener("click", function () { send("settings_button_pressed"); });
  $("tg-close").addEventListener("click", function () { closeApp("Closed from the header."); });
  $("tg-relaunch").addEventListener("click", function () { launch(); });
  $("tg-popup").addEventListener("keydown", function (e) { if (e.key === "Escape") closeDialog(undefined); });
  $("tg-clear-storage").addEventListener("click", function () {
    localStorage.removeItem(storageKey);
    localStorage.removeItem(deviceKey);
    record("note", "storage cleared", "CloudStorage and DeviceStorage of user " + root.dataset.user);
  });
  ["tg-theme-light", "tg-theme-dark"].forEach(function (id) {
    $(id).addEventListener("change", function (e) {
      theme = e.target.value === "dark" ? "dark" : "light";
      paintChrome();
      send("theme_changed", { theme_params: themes[theme] });
      var url = new URL(location.href);
      url.searchParams.set("theme", theme);
      history.replaceState(null, "", url.href);
    });
  });
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { send("viewport_changed", viewport()); }, 100);
  });

  // Each launch starts signed out of the app, so the frame's gate opens a session for this
  // page's test user (not one a previous launch left in the frame's partitioned cookie).
  function launch() {
    $("tg-closed").hidden = true;
    state.main = {}; state.secondary = {};
    $("tg-back").hidden = true; $("tg-settings").hidden = true;
    paintChrome();
    record("note", "launching", root.dataset.link.split("#")[0] + " as user " + root.dataset.user + " on " + root.dataset.platform);
    var go = function () { frame.src = root.dataset.link; };
    fetch(appOrigin + "/_tma/logout", { method: "POST", mode: "cors", credentials: "include" })
      .then(go, function () { record("note", "sign-out failed", "launching anyway"); go(); });
  }

  paintChrome();
  launch();
})();
