// The test's wallet, injected as a wallet's in-app browser injects one: TON Connect's JS bridge
// at window[jsBridgeKey].tonconnect, marked as the browser the page runs in (so TON Connect
// UI connects to it without a wallet list). It holds no key: connect() leaves the request in
// `window.tmahostTestWallet.request`, and the test, playing the wallet outside the page,
// fetches the manifest, signs with its key and calls `window.tmahostTestWallet.answer(event)`.
window.tmahostTestWallet = {
  request: null,
  answer: null,
  tonconnect: {
    protocolVersion: 2,
    isWalletBrowser: true,
    deviceInfo: {
      platform: "browser",
      appName: "tmahosttestwallet",
      appVersion: "1.0.0",
      maxProtocolVersion: 2,
      features: ["SendTransaction", { name: "SendTransaction", maxMessages: 4 }],
    },
    walletInfo: {
      name: "tmahost test wallet",
      app_name: "tmahosttestwallet",
      image: "/icon.png",
      about_url: "https://example.com/test-wallet",
      platforms: ["chrome"],
    },
    connect: function (protocolVersion, request) {
      return new Promise(function (resolve) {
        window.tmahostTestWallet.request = { protocolVersion: protocolVersion, request: request };
        window.tmahostTestWallet.answer = resolve;
      });
    },
    restoreConnection: function () {
      return Promise.resolve({ event: "connect_error", id: 0, payload: { code: 0, message: "not connected" } });
    },
    send: function (request) {
      return Promise.resolve({ id: request.id, error: { code: 400, message: "the test wallet only connects" } });
    },
    listen: function () {
      return function () {};
    },
  },
};
