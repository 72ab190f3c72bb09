//! The gate: sessions from launch data, access rules, staff codes, live sessions following
//! changes, traffic counts, rate limits per client.

mod common;

#[allow(unused_imports)]
use common::*;
use percent_encoding::NON_ALPHANUMERIC;

/// Bot A's app ("v1") and bot B's ("b"), both live.
async fn two_bots() -> Env {
    let e = env().await;
    e.deploy(&bundles::sample_app("v1")).await;
    e.deploy_to("other_bot", "main", &bundles::sample_app("b"), true).await.expect("deploy b");
    e.edge.refresh().await.expect("refresh");
    e
}

#[tokio::test]
async fn sessions_open_only_with_valid_launch_data() {
    let e = two_bots().await;
    let html = [("accept", "text/html,application/xhtml+xml")];

    // No session: navigations get the gate, everything else a JSON 401.
    let gate = e.get("demo-bot", "/", &html).await;
    assert_eq!((gate.status, gate.header("cache-control")), (StatusCode::UNAUTHORIZED, "no-store"));
    assert!(gate.text().contains("/_tma/session") && gate.text().contains("tgWebAppData"));
    assert!(!gate.text().contains("src=\"http"), "the gate makes no external requests");
    let r = e.get("demo-bot", "/assets/index-BXk3f9a1.js", &[]).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("session_required")));

    // Valid launch data -> cookie with every attribute the iframe case needs.
    let ok = e.session("demo-bot", &launch(TOKEN_A, 42, false, now() - 10)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let set = ok.header("set-cookie").to_owned();
    for attr in ["__Host-tma_session=", "Path=/", "Secure", "HttpOnly", "SameSite=None", "Partitioned", "Max-Age=86400"]
    {
        assert!(set.contains(attr), "{attr} missing from {set}");
    }
    assert_eq!(ok.json()["user"]["id"], 42);
    let cookie = cookie_of(&ok);
    let r = e.get("demo-bot", "/", &[("cookie", &cookie), html[0]]).await;
    assert_eq!((r.status, r.header("cache-control")), (StatusCode::OK, "private, no-cache"));
    let r = e.get("demo-bot", "/assets/index-BXk3f9a1.js", &[("cookie", &cookie)]).await;
    assert_eq!(r.header("cache-control"), "private, max-age=31536000, immutable");
    let me = e.get("demo-bot", "/_tma/me", &[("cookie", &cookie)]).await.json();
    assert_eq!((me["user"]["id"].as_i64(), me["user"]["first_name"].as_str()), (Some(42), Some("Ann")));
    assert_eq!(
        (me["chat_type"].as_str(), me["start_param"].as_str(), me["via"].as_str()),
        (Some("private"), Some("promo"), Some("cookie"))
    );

    // The cookie is found among the app's own cookies, and only as a whole cookie-pair.
    let among = format!("theme=dark; x{cookie}; {cookie}; lang=en");
    assert_eq!(e.get("demo-bot", "/_tma/me", &[("cookie", &among)]).await.status, StatusCode::OK);
    let value = cookie.split_once('=').expect("pair").1;
    let r = e.get("demo-bot", "/_tma/me", &[("cookie", &format!("x__Host-tma_session={value}"))]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Launch data bodies are small: an oversized one is refused in the edge's error shape.
    let big = launch(TOKEN_A, 42, false, now()) + &"&x=".repeat(12_000);
    let r = e.session("demo-bot", &big).await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );

    // The cookie is worthless on another bot's host.
    let r = e.get("other-bot", "/", &[("cookie", &cookie), html[0]]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(e.get("other-bot", "/_tma/me", &[("cookie", &cookie)]).await.status, StatusCode::UNAUTHORIZED);

    // Refusals, each with its own code.
    let mut tampered = launch(TOKEN_A, 42, false, now());
    tampered = tampered.replacen("42", "43", 1);
    let refusals = [
        (tampered, "init_data_bad_signature"),
        (launch(TOKEN_B, 42, false, now()), "init_data_bad_signature"),
        (launch(TOKEN_A, 42, false, now() - 7200), "init_data_expired"),
        (launch(TOKEN_A, 42, false, now() + 3600), "init_data_from_the_future"),
        ("auth_date=1&auth_date=2&hash=00".to_owned(), "init_data_malformed"),
        (format!("auth_date={}", now()), "init_data_bad_signature"),
    ];
    for (data, code) in refusals {
        let r = e.session("demo-bot", &data).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{code}");
        assert_eq!(r.json()["error"]["code"], code, "{}", r.text());
        assert!(!r.json()["error"]["message"].as_str().unwrap_or_default().is_empty());
        assert!(r.headers.get("set-cookie").is_none());
    }
    let r = e
        .http
        .post(format!("{}/_tma/session", e.base))
        .header(header::HOST, e.host("demo-bot"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("init_data={}", launch(TOKEN_A, 42, false, now())))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "form posts (cross-site) are refused");

    // `Authorization: tma` instead of a cookie.
    let auth = format!("tma {}", launch(TOKEN_A, 7, false, now()));
    let r = e.get("demo-bot", "/assets/index-BXk3f9a1.js", &[("authorization", &auth)]).await;
    assert_eq!(r.status, StatusCode::OK);
    let me = e.get("demo-bot", "/_tma/me", &[("authorization", &auth)]).await.json();
    assert_eq!((me["user"]["id"].as_i64(), me["via"].as_str()), (Some(7), Some("authorization")));
    let bad = format!("tma {}", launch(TOKEN_B, 7, false, now()));
    let r = e.get("demo-bot", "/assets/index-BXk3f9a1.js", &[("authorization", &bad)]).await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("init_data_bad_signature"))
    );

    // Logout expires the cookie.
    let r = e.send(Method::POST, "demo-bot", "/_tma/logout", &[("cookie", &cookie)], None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.header("set-cookie").starts_with("__Host-tma_session=;") && r.header("set-cookie").contains("Max-Age=0"));
}

/// The gate page's first try: launch data in `__Host-tma_launch`, then the same URL again.
/// That navigation gets the app and the session cookie at once; only the page's own,
/// same-origin navigation counts, and the cookie is cleared whatever happens.
#[tokio::test]
async fn the_gate_pages_launch_cookie_opens_the_session_on_the_navigation_back() {
    let e = two_bots().await;
    let launch_cookie = |data: &str| {
        format!("theme=dark; __Host-tma_launch={}", percent_encoding::utf8_percent_encode(data, NON_ALPHANUMERIC))
    };
    let navigation = |site: &'static str| {
        [
            ("accept", "text/html"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "document"),
            ("sec-fetch-site", site),
        ]
    };
    let set_cookies = |r: &Reply| -> Vec<String> {
        r.headers.get_all("set-cookie").iter().map(|v| v.to_str().expect("ascii").to_owned()).collect()
    };
    let cleared = |cookies: &[String]| {
        cookies.iter().any(|c| c.starts_with("__Host-tma_launch=;") && c.contains("Max-Age=0") && c.contains("Path=/"))
    };

    let ok = launch_cookie(&launch(TOKEN_A, 42, false, now() - 5));
    let [a, b, c, d] = navigation("same-origin");
    let r = e.get("demo-bot", "/", &[("cookie", &ok), a, b, c, d]).await;
    assert_eq!((r.status, r.header("cache-control")), (StatusCode::OK, "private, no-cache"));
    assert!(r.text().contains("<div id=\"app\">v1</div>"), "the app itself: {}", r.text());
    let cookies = set_cookies(&r);
    assert!(cleared(&cookies), "{cookies:?}");
    let session = cookies.iter().find(|c| c.starts_with("__Host-tma_session=")).expect("a session cookie");
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=None", "Partitioned", "Max-Age=86400"] {
        assert!(session.contains(attr), "{attr} missing from {session}");
    }
    let session = session.split(';').next().expect("pair");
    let me = e.get("demo-bot", "/_tma/me", &[("cookie", session)]).await.json();
    assert_eq!((me["user"]["id"].as_i64(), me["via"].as_str()), (Some(42), Some("cookie")));
    assert_eq!(e.get("demo-bot", "/assets/index-BXk3f9a1.js", &[("cookie", session)]).await.status, StatusCode::OK);

    // Refused: the gate page again (its POST says why), the launch cookie cleared, no session.
    let refused = [
        ("same-origin", launch_cookie(&launch(TOKEN_B, 42, false, now())), "another bot's launch data"),
        ("same-origin", launch_cookie(&launch(TOKEN_A, 42, false, now() - 7200)), "expired launch data"),
        ("same-origin", "__Host-tma_launch=%ZZ".to_owned(), "not percent-encoded UTF-8"),
        ("same-site", ok.clone(), "a navigation from another app under the same domain"),
        ("cross-site", ok.clone(), "a navigation from another site"),
    ];
    for (site, cookie, why) in refused {
        let [a, b, c, d] = navigation(site);
        let r = e.get("demo-bot", "/", &[("cookie", &cookie), a, b, c, d]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{why}");
        assert!(r.text().contains("/_tma/session"), "{why}: the gate page");
        let cookies = set_cookies(&r);
        assert!(cleared(&cookies) && cookies.len() == 1, "{why}: {cookies:?}");
    }
    // The cookie of bot A's app is nothing on bot B's host, even in the same browser.
    let [a, b, c, d] = navigation("same-origin");
    let r = e.get("other-bot", "/", &[("cookie", &ok), a, b, c, d]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(set_cookies(&r).iter().all(|c| !c.starts_with("__Host-tma_session=")));
    // Not a navigation (a script, a fetch, a client without Fetch Metadata): not looked at.
    for headers in [
        vec![("cookie", ok.as_str()), ("sec-fetch-mode", "no-cors"), ("sec-fetch-site", "same-origin")],
        vec![("cookie", ok.as_str()), ("accept", "text/html")],
    ] {
        let r = e.get("demo-bot", "/", &headers).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert!(set_cookies(&r).is_empty(), "{headers:?}");
    }
    // The app's backends and files cannot set the platform's launch cookie either (the rule
    // for `tma_session` covers it): see the `_headers` and backend rows of the isolation suite.
}

#[tokio::test]
async fn access_rules_allow_lists_and_premium() {
    let e = env().await;
    e.deploy(&bundles::sample_app("v1")).await;
    e.settings("demo_bot", AppSettings { allowed_user_ids: Some(vec![42]), ..AppSettings::default() }).await;
    assert_eq!(e.session("demo-bot", &launch(TOKEN_A, 42, false, now())).await.status, StatusCode::OK);
    let r = e.session("demo-bot", &launch(TOKEN_A, 43, false, now())).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("user_not_allowed")));
    let auth = format!("tma {}", launch(TOKEN_A, 43, false, now()));
    assert_eq!(e.get("demo-bot", "/", &[("authorization", &auth)]).await.status, StatusCode::FORBIDDEN);

    e.settings("demo_bot", AppSettings { premium_only: true, ..AppSettings::default() }).await;
    let r = e.session("demo-bot", &launch(TOKEN_A, 43, false, now())).await;
    assert_eq!(r.json()["error"]["code"], "premium_required");
    assert_eq!(e.session("demo-bot", &launch(TOKEN_A, 43, true, now())).await.status, StatusCode::OK);

    // A stricter max age for creating sessions.
    e.settings("demo_bot", AppSettings { max_init_data_age_secs: 60, ..AppSettings::default() }).await;
    let r = e.session("demo-bot", &launch(TOKEN_A, 42, false, now() - 120)).await;
    assert_eq!(r.json()["error"]["code"], "init_data_expired");
}

#[tokio::test]
async fn launch_data_from_the_control_bot_opens_no_app() {
    // The control bot's buttons put its signed launch data in the tenant app's URL, where the
    // app's JavaScript reads it: accepted anywhere, it would open every app its user is staff
    // of (admins: all of them).
    const CONTROL: &str = tmahost_testkit::CONTROL_TOKEN;
    let e = env_with(|c| {
        c.telegram.control_bot_token = Some(Secret::new(CONTROL));
        c.telegram.admin_ids = vec![1001];
    })
    .await;
    e.deploy(&bundles::sample_app("v1")).await;
    async {
        e.p.grant_member(&e.p.bot(&Actor::local_admin(), "demo_bot", Need::Manage).await?, 4242, Role::Developer).await
    }
    .await
    .expect("grant");
    e.edge.refresh().await.expect("refresh");
    for user in [1001, 4242, 7] {
        let data = launch(CONTROL, user, false, now());
        for label in ["demo-bot", "other-bot"] {
            let r = e.session(label, &data).await;
            assert_eq!(
                (r.status, r.json()["error"]["code"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("init_data_bad_signature"))
            );
            let auth = format!("tma {data}");
            assert_eq!(e.get(label, "/", &[("authorization", &auth)]).await.status, StatusCode::UNAUTHORIZED);
        }
    }
}

/// Splits a staff link into (host label, path and query).
fn staff_target(url: &str) -> (String, String) {
    let rest = url.split_once("://").expect("scheme").1;
    let (host, path) = rest.split_once('/').expect("path");
    (host.split_once(".localhost").expect("localhost host").0.to_owned(), format!("/{path}"))
}

#[tokio::test]
async fn a_staff_code_opens_one_deployment_once_for_its_recipient_while_staff() {
    let e = env().await;
    let admin = Actor::local_admin();
    e.deploy(&bundles::sample_app("v1")).await;
    let cursor = e.p.notice_cursor().await.expect("cursor");
    let staged = e.deploy_to("demo_bot", "main", &bundles::sample_app("v2"), false).await.expect("stage");
    async { e.p.grant_member(&e.p.bot(&admin, "demo_bot", Need::Manage).await?, 4242, Role::Developer).await }
        .await
        .expect("grant");
    async { e.p.grant_member(&e.p.bot(&admin, "other_bot", Need::Manage).await?, 5151, Role::Owner).await }
        .await
        .expect("grant");
    // An allow-list that names none of the staff: it binds users, not the team.
    e.settings("demo_bot", AppSettings { allowed_user_ids: Some(vec![42]), ..AppSettings::default() }).await;
    let notices = e.p.deploy_notices_after(cursor, 10).await.expect("notices");
    let notice = notices.iter().find(|n| n.deployment.id == staged.deployment.id).expect("staged notice");
    let link = e.p.staff_link(notice, 4242).await.expect("link");
    let (preview, path) = staff_target(&link);
    assert!(preview.ends_with("--main--demo-bot") && path.starts_with("/_tma/staff?code="), "{link}");

    // A code is refused (and not used up) on every other app and host: another bot, the app's
    // own host (which serves v1), a made-up preview.
    for label in ["other-bot", "demo-bot", "000000000000--main--demo-bot"] {
        let r = e.get(label, &path, &[]).await;
        let refusal = (r.status, r.json()["error"]["code"].as_str().map(str::to_owned));
        assert_eq!(refusal, (StatusCode::FORBIDDEN, Some("staff_code_refused".to_owned())), "{label}");
    }
    let r = e.get(&preview, &path, &[]).await;
    assert_eq!((r.status, r.header("location")), (StatusCode::SEE_OTHER, "/"));
    let cookie = cookie_of(&r);
    let page = e.get(&preview, "/", &[("cookie", &cookie)]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("v2"), "the staged version: {}", page.text());
    assert_eq!(e.get("other-bot", "/", &[("cookie", &cookie)]).await.status, StatusCode::UNAUTHORIZED);
    // Used once: the same code again is refused, as is a forged one.
    assert_eq!(e.get(&preview, &path, &[]).await.status, StatusCode::FORBIDDEN);
    let forged = "/_tma/staff?code=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_eq!(e.get(&preview, forged, &[]).await.status, StatusCode::FORBIDDEN);
    // A code for someone who is not staff of this bot opens nothing.
    let outsider = e.p.staff_link(notice, 5151).await.expect("link");
    assert_eq!(e.get(&preview, &staff_target(&outsider).1, &[]).await.status, StatusCode::FORBIDDEN);

    // The session lives as long as its holder is staff.
    async { e.p.revoke_member(&e.p.bot(&admin, "demo_bot", Need::Manage).await?, 4242).await }.await.expect("revoke");
    e.edge.refresh().await.expect("refresh");
    assert_eq!(e.get(&preview, "/", &[("cookie", &cookie)]).await.status, StatusCode::UNAUTHORIZED);
}

async fn reads_asset(e: &Env, cookie: &str) -> StatusCode {
    e.get("demo-bot", "/assets/index-BXk3f9a1.js", &[("cookie", cookie)]).await.status
}

#[tokio::test]
async fn live_sessions_follow_access_changes_and_logout() {
    let e = env().await;
    e.deploy(&bundles::sample_app("v1")).await;
    let cookie = cookie_of(&e.session("demo-bot", &launch(TOKEN_A, 42, false, now())).await);
    assert_eq!(reads_asset(&e, &cookie).await, StatusCode::OK);
    let rules = [
        AppSettings { allowed_user_ids: Some(vec![43]), ..AppSettings::default() },
        AppSettings { premium_only: true, ..AppSettings::default() },
    ];
    for rule in rules {
        e.settings("demo_bot", rule.clone()).await;
        assert_eq!(reads_asset(&e, &cookie).await, StatusCode::UNAUTHORIZED, "{rule:?}");
        e.settings("demo_bot", AppSettings::default()).await;
        assert_eq!(reads_asset(&e, &cookie).await, StatusCode::OK);
    }
    async {
        e.p.set_bot_status(&e.p.bot(&Actor::local_admin(), "demo_bot", Need::See).await?, BotStatus::Disabled).await
    }
    .await
    .expect("disable");
    e.edge.refresh().await.expect("refresh");
    assert_eq!(reads_asset(&e, &cookie).await, StatusCode::FORBIDDEN);
    async {
        e.p.set_bot_status(&e.p.bot(&Actor::local_admin(), "demo_bot", Need::See).await?, BotStatus::Active).await
    }
    .await
    .expect("enable");
    e.edge.refresh().await.expect("refresh");

    // Logging out ends the session itself, not just this browser's copy, on every edge.
    let other_edge = Edge::start(e.p.clone()).await.expect("second edge");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let other = format!("http://{}/assets/index-BXk3f9a1.js", listener.local_addr().expect("addr"));
    let server = other_edge.clone().server(listener).expect("server");
    let other_handle = server.handle();
    tokio::spawn(server);
    let on_other = |cookie: &str| e.http.get(&other).header("host", e.host("demo-bot")).header("cookie", cookie).send();
    assert_eq!(on_other(&cookie).await.expect("other edge").status(), StatusCode::OK);
    let r = e.send(Method::POST, "demo-bot", "/_tma/logout", &[("cookie", &cookie)], None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.header("set-cookie").contains("Max-Age=0"));
    assert_eq!(reads_asset(&e, &cookie).await, StatusCode::UNAUTHORIZED);
    assert_eq!(e.get("demo-bot", "/_tma/me", &[("cookie", &cookie)]).await.status, StatusCode::UNAUTHORIZED);
    other_edge.refresh().await.expect("refresh");
    assert_eq!(on_other(&cookie).await.expect("other edge").status(), StatusCode::UNAUTHORIZED);
    drop(other_handle.stop(false));
    // A new session for the same user works again.
    let fresh = cookie_of(&e.session("demo-bot", &launch(TOKEN_A, 42, false, now())).await);
    assert_eq!(reads_asset(&e, &fresh).await, StatusCode::OK);
}

#[tokio::test]
async fn traffic_is_counted_per_app_and_day_for_the_dashboard() {
    let e = env().await;
    e.deploy(&bundles::sample_app("v1")).await;
    for _ in 0..3 {
        e.get("demo-bot", "/favicon.ico", &[]).await;
    }
    for user in [42, 42, 43] {
        assert_eq!(e.session("demo-bot", &launch(TOKEN_A, user, false, now())).await.status, StatusCode::OK);
    }
    e.session("demo-bot", "hash=00&auth_date=1").await; // refused: a request, not a session
    e.get("other-bot", "/", &[]).await;
    e.edge.flush_stats().await.expect("flush");
    let admin = Actor::local_admin();
    let days = async { e.p.app_analytics(&e.p.app(&admin, "demo_bot", "main", Need::See).await?, 7).await }
        .await
        .expect("analytics");
    assert_eq!(days.len(), 7, "one entry per day, zeros included");
    let today = days.last().expect("today");
    assert_eq!((today.requests, today.sessions, today.users), (7, 3, 2));
    assert!(days[..6].iter().all(|d| d.requests == 0));
    // Counts add up across flushes and table rebuilds.
    e.edge.refresh().await.expect("refresh");
    e.get("demo-bot", "/favicon.ico", &[]).await;
    e.edge.flush_stats().await.expect("flush");
    let today = *async { e.p.app_analytics(&e.p.app(&admin, "demo_bot", "main", Need::See).await?, 1).await }
        .await
        .expect("analytics")
        .last()
        .expect("today");
    assert_eq!((today.requests, today.users), (8, 2));
    let other = async { e.p.app_analytics(&e.p.app(&admin, "other_bot", "main", Need::See).await?, 1).await }
        .await
        .expect("other");
    assert_eq!(other[0].requests, 1, "each app its own counters");
}

#[tokio::test]
async fn session_creation_is_rate_limited_per_address_and_app() {
    let e = env_with(|c| c.edge.session_rate_per_minute = 5).await;
    e.deploy(&bundles::sample_app("v1")).await;
    e.deploy_to("other_bot", "main", &bundles::sample_app("b"), true).await.expect("deploy b");
    e.edge.refresh().await.expect("refresh");
    for _ in 0..5 {
        assert_eq!(e.session("demo-bot", "hash=00&auth_date=1").await.status, StatusCode::UNAUTHORIZED);
    }
    let r = e.session("demo-bot", &launch(TOKEN_A, 42, false, now())).await;
    assert_eq!((r.status, r.header("retry-after")), (StatusCode::TOO_MANY_REQUESTS, "60"));
    assert_eq!(r.json()["error"]["code"], "rate_limited");
    // Hammering one app does not lock the same address out of another app.
    assert_eq!(e.session("other-bot", &launch(TOKEN_B, 42, false, now())).await.status, StatusCode::OK);
    // The peer (127.0.0.1) is no trusted proxy: what it claims to forward changes nothing.
    let spoofed = e.session_from("demo-bot", &[("x-forwarded-for", "198.51.100.77")], TOKEN_A).await;
    assert_eq!(spoofed, StatusCode::TOO_MANY_REQUESTS, "X-Forwarded-For from an untrusted peer is ignored");
    let spoofed = e.session_from("demo-bot", &[("forwarded", "for=198.51.100.78")], TOKEN_A).await;
    assert_eq!(spoofed, StatusCode::TOO_MANY_REQUESTS, "Forwarded from an untrusted peer is ignored");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_bucket() {
    let e = env_with(|c| {
        c.edge.session_rate_per_minute = 3;
        c.server.trusted_proxies = vec!["127.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    e.deploy(&bundles::sample_app("v1")).await;
    // One abusive client behind the proxy uses up its own bucket...
    let abuser = [("x-forwarded-for", "198.51.100.1")];
    for _ in 0..3 {
        assert_eq!(e.session_from("demo-bot", &abuser, TOKEN_A).await, StatusCode::OK);
    }
    assert_eq!(e.session_from("demo-bot", &abuser, TOKEN_A).await, StatusCode::TOO_MANY_REQUESTS);
    // ...and cannot escape it by writing other addresses to the left of the one the proxy
    // appended (the proxy adds the real peer on the right).
    let spoof = [("x-forwarded-for", "203.0.113.5, 198.51.100.1")];
    assert_eq!(e.session_from("demo-bot", &spoof, TOKEN_A).await, StatusCode::TOO_MANY_REQUESTS);
    let spoof = [("x-forwarded-for", "203.0.113.5"), ("x-forwarded-for", "198.51.100.1")];
    assert_eq!(e.session_from("demo-bot", &spoof, TOKEN_A).await, StatusCode::TOO_MANY_REQUESTS);
    // Everyone else behind the same proxy still signs in: IPv4 clients, RFC 7239 `Forwarded`.
    for others in [
        [("x-forwarded-for", "198.51.100.2")],
        [("x-forwarded-for", "198.51.100.1, 198.51.100.3")],
        [("forwarded", "for=\"[2001:db8:5::1]:4711\";proto=https")],
    ] {
        assert_eq!(e.session_from("demo-bot", &others, TOKEN_A).await, StatusCode::OK, "{others:?}");
    }
    // IPv6 clients are counted per /64: new interface ids inside it buy nothing.
    for host in ["2001:db8:5::2", "2001:db8:5::3"] {
        let v6 = [("x-forwarded-for", host)];
        assert_eq!(e.session_from("demo-bot", &v6, TOKEN_A).await, StatusCode::OK, "{host}");
    }
    let same_64 = [("x-forwarded-for", "2001:db8:5::ffff:4")];
    assert_eq!(e.session_from("demo-bot", &same_64, TOKEN_A).await, StatusCode::TOO_MANY_REQUESTS);
    let next_64 = [("x-forwarded-for", "2001:db8:5:1::1")];
    assert_eq!(e.session_from("demo-bot", &next_64, TOKEN_A).await, StatusCode::OK);
}
