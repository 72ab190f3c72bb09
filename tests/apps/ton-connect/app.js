// A Mini App with TON Connect UI, as its docs have it: the server's proof payload goes in the
// connect request, and the wallet's answer goes back to the server, here the platform's
// `/_tma/ton/proof`. The connector is built by hand only to read the wallets list from the
// app (config.ton.org is out of reach in tests) and to keep analytics off the network.
var TC = window.TON_CONNECT_UI;
var connector = new TC.TonConnect({
  manifestUrl: location.origin + "/tonconnect-manifest.json",
  walletsListSource: "/wallets-v2.json",
  analytics: { mode: "off" },
});
var ui = new TC.TonConnectUI({ connector: connector, buttonRootId: "ton-connect" });

function show(id, text) {
  document.getElementById(id).textContent = text;
}

ui.setConnectRequestParameters({ state: "loading" });
fetch("/_tma/ton/proof-payload", { credentials: "same-origin" })
  .then(function (r) { return r.json(); })
  .then(function (p) {
    ui.setConnectRequestParameters({ state: "ready", value: { tonProof: p.payload } });
    show("proof", "ready");
  });

ui.onStatusChange(function (wallet) {
  if (!wallet) return;
  var item = wallet.connectItems && wallet.connectItems.tonProof;
  if (!item || !item.proof) {
    show("proof", "no proof: " + JSON.stringify(item));
    return;
  }
  fetch("/_tma/ton/proof", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ account: wallet.account, ton_proof: item }),
  })
    .then(function (r) { return r.text().then(function (t) { show("proof", r.status + " " + t); }); })
    .then(function () { return fetch("/_tma/me", { credentials: "same-origin" }); })
    .then(function (r) { return r.text(); })
    .then(function (t) { show("me", t); });
});
