//! The edge as a static host: hosts, paths, representations, `_headers` and `_redirects`,
//! deploys and previews, public paths, disabled bots.

mod common;

#[allow(unused_imports)]
use common::*;

#[tokio::test]
async fn unknown_hosts_get_a_404_that_names_nothing() {
    let e = env().await;
    e.public().await;
    e.deploy(&bundles::sample_app("v1")).await;
    let known = e.get("demo-bot", "/", &[]).await;
    assert_eq!(known.status, StatusCode::OK);
    // Every answer has a request id: a proxy's sane one is kept, anything else replaced.
    let (a, b) = (known.header("x-request-id"), e.get("demo-bot", "/", &[]).await.header("x-request-id").to_owned());
    assert!(!a.is_empty() && a != b, "fresh ids differ: {a} {b}");
    let kept = e.get("demo-bot", "/", &[("x-request-id", "proxy-42_a")]).await;
    assert_eq!(kept.header("x-request-id"), "proxy-42_a");
    let replaced = e.get("demo-bot", "/", &[("x-request-id", "no spaces <allowed>")]).await;
    assert_ne!(replaced.header("x-request-id"), "no spaces <allowed>");
    let mut bodies = Vec::new();
    for label in ["nobody-bot", "shop--demo-bot", "x.demo-bot", "0123456789ab--demo-bot"] {
        let r = e.get(label, "/", &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{label}");
        bodies.push(r.text());
    }
    let r = e.http.get(format!("{}/", e.base)).header(header::HOST, "example.com").send().await.expect("req");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    bodies.push(r.text().await.expect("text"));
    assert!(bodies.iter().all(|b| b == &bodies[0]), "every unknown host gets the same answer: {bodies:?}");
    assert!(!bodies[0].to_lowercase().contains("bot"), "{}", bodies[0]);

    // A TLS proxy's on-demand `ask`: yes only for names the edge serves.
    let ask = |domain: &str| e.http.get(format!("{}/_tma/tls-ask?domain={domain}", e.base)).send();
    assert_eq!(ask("demo-bot.localhost").await.expect("ask").status(), StatusCode::OK);
    for unknown in ["nobody-bot.localhost", "example.com", ""] {
        assert_eq!(ask(unknown).await.expect("ask").status(), StatusCode::NOT_FOUND, "{unknown}");
    }
}

#[tokio::test]
async fn paths_resolve_like_static_hosts_do() {
    let e = env().await;
    e.public().await;
    e.deploy(&files(&[
        ("index.html", "<h1>home</h1>"),
        ("about.html", "<h1>about</h1>"),
        ("docs/index.html", "<h1>docs</h1>"),
        ("404.html", "<h1>not here</h1>"),
        ("blog/404.html", "<h1>no such post</h1>"),
        ("robots.txt", "User-agent: *"),
    ]))
    .await;
    let cases = [
        ("/", 200, "<h1>home</h1>"),
        ("/index.html", 200, "<h1>home</h1>"),
        ("/about", 200, "<h1>about</h1>"),
        ("/about.html", 200, "<h1>about</h1>"),
        ("/docs/", 200, "<h1>docs</h1>"),
        ("/settings/profile", 200, "<h1>home</h1>"),
        ("/missing.js", 404, "<h1>not here</h1>"),
        ("/blog/2024/missing.png", 404, "<h1>no such post</h1>"),
    ];
    for (path, status, body) in cases {
        let r = e.get("demo-bot", path, &[]).await;
        assert_eq!((r.status.as_u16(), r.text().as_str()), (status, body), "{path}");
        assert_eq!(r.header("cache-control"), "public, no-cache", "{path}");
        assert_eq!(r.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(r.header("content-security-policy"), e.platform_csp(), "{path}");
        assert!(r.headers.get("x-frame-options").is_none());
    }
    let r = e.get("demo-bot", "/docs", &[]).await;
    assert_eq!((r.status, r.header("location")), (StatusCode::MOVED_PERMANENTLY, "/docs/"));

    // Without SPA fallback, app routes get the nearest 404 page.
    e.settings("demo_bot", AppSettings { access: Access::Public, spa_fallback: false, ..AppSettings::default() }).await;
    let r = e.get("demo-bot", "/settings/profile", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::NOT_FOUND, "<h1>not here</h1>"));
    let r = e.get("demo-bot", "/", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = e.send(Method::POST, "demo-bot", "/", &[], None).await;
    assert_eq!((r.status, r.header("allow")), (StatusCode::METHOD_NOT_ALLOWED, "GET, HEAD, OPTIONS"));
}

#[tokio::test]
async fn representations_validators_and_ranges() {
    let e = env().await;
    e.public().await;
    let app = bundles::sample_app("v1");
    let js = app.iter().find(|(p, _)| p.ends_with(".js")).expect("js").1.clone();
    e.deploy(&app).await;
    let path = "/assets/index-BXk3f9a1.js";
    let browser = [("accept-encoding", "gzip, deflate, br, zstd")];

    // The deploy is live with gzip before its brotli variants exist.
    let first = e.get("demo-bot", path, &browser).await;
    assert_eq!((first.status, first.header("content-encoding")), (StatusCode::OK, "gzip"));
    // Once the platform has made them (the worker's pass), the edge finds them by itself.
    assert_eq!(e.p.make_pending_brotli().await.expect("brotli"), 2);
    let deadline = Instant::now() + Duration::from_secs(10);
    let br = loop {
        let r = e.get("demo-bot", path, &browser).await;
        if r.header("content-encoding") != "gzip" {
            break r;
        }
        assert!(Instant::now() < deadline, "the edge still serves gzip after 10 s");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!((br.status, br.header("content-encoding")), (StatusCode::OK, "br"));
    assert!(br.body.len() < js.len() / 4, "brotli variant is served");
    assert_eq!(br.header("vary"), "Accept-Encoding");
    assert_eq!(br.header("cache-control"), "public, max-age=31536000, immutable");
    let gz = e.get("demo-bot", path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.header("content-encoding"), "gzip");
    let no_br = e.get("demo-bot", path, &[("accept-encoding", "br;q=0, gzip;q=0.5")]).await;
    assert_eq!(no_br.header("content-encoding"), "gzip");
    let plain = e.get("demo-bot", path, &[]).await;
    assert_eq!((plain.header("content-encoding"), plain.body.as_slice()), ("", js.as_slice()));
    assert_eq!(plain.header("vary"), "Accept-Encoding");
    let tags = [br.header("etag"), gz.header("etag"), plain.header("etag")];
    assert!(tags.iter().all(|t| t.starts_with('"') && t.ends_with('"')), "strong ETags: {tags:?}");
    assert!(tags[0] != tags[1] && tags[1] != tags[2], "one ETag per representation: {tags:?}");

    // Revalidation.
    let r = e.get("demo-bot", path, &[("if-none-match", plain.header("etag"))]).await;
    assert_eq!((r.status, r.body.len()), (StatusCode::NOT_MODIFIED, 0));
    assert_eq!(r.header("etag"), plain.header("etag"));
    assert_eq!((r.header("vary"), r.header("cache-control")), (plain.header("vary"), plain.header("cache-control")));
    assert_eq!((r.header("content-type"), r.header("accept-ranges")), ("", ""), "a 304 has no representation metadata");
    let r = e.get("demo-bot", path, &[("accept-encoding", "br"), ("if-none-match", br.header("etag"))]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = e.get("demo-bot", path, &[("if-none-match", "\"0000\"")]).await;
    assert_eq!(r.status, StatusCode::OK);

    // Ranges come from the original bytes, whatever the client accepts.
    let r = e.get("demo-bot", path, &[("range", "bytes=0-9"), ("accept-encoding", "br")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body.as_slice(), &js[..10]);
    assert_eq!(r.header("content-range"), format!("bytes 0-9/{}", js.len()));
    assert_eq!(r.header("content-encoding"), "");
    let r = e.get("demo-bot", path, &[("range", "bytes=-5")]).await;
    assert_eq!(r.body.as_slice(), &js[js.len() - 5..]);
    let r = e.get("demo-bot", path, &[("range", &format!("bytes={}-", js.len() + 10))]).await;
    assert_eq!(
        (r.status, r.header("content-range")),
        (StatusCode::RANGE_NOT_SATISFIABLE, format!("bytes */{}", js.len()).as_str())
    );
    let r = e.get("demo-bot", path, &[("range", "bytes=0-9"), ("if-range", "\"stale\"")]).await;
    assert_eq!((r.status, r.body.len()), (StatusCode::OK, js.len()), "a stale If-Range gets the whole file");

    // HEAD: the same headers, no body.
    let r = e.send(Method::HEAD, "demo-bot", path, &[], None).await;
    assert_eq!((r.status, r.body.len()), (StatusCode::OK, 0));
    assert_eq!(r.header("content-length"), js.len().to_string());
    assert_eq!(r.header("etag"), plain.header("etag"));

    // HTML is revalidated every time; non-fingerprinted assets too.
    assert_eq!(e.get("demo-bot", "/", &[]).await.header("cache-control"), "public, no-cache");
    assert_eq!(e.get("demo-bot", "/favicon.ico", &[]).await.header("cache-control"), "public, no-cache");
}

#[tokio::test]
async fn headers_and_redirects_files_apply_and_are_checked_at_upload() {
    let e = env().await;
    e.public().await;
    let headers = "/*\n  X-Robots-Tag: noindex\n  ! X-Request-Id\n\n/embed/*\n  Content-Security-Policy: frame-ancestors *\n  ! Referrer-Policy\n  X-Request-Id: forged\n";
    let redirects = "/blog/:year/:slug /posts/:slug.html 302\n/app/* /app.html 200\n/index.html /moved 301!\n/go/* https://example.com/:splat\n";
    e.deploy(&files(&[
        ("index.html", "home"),
        ("app.html", "the app"),
        ("embed/widget.html", "widget"),
        ("_headers", headers),
        ("_redirects", redirects),
    ]))
    .await;
    let r = e.get("demo-bot", "/embed/widget.html", &[]).await;
    assert_eq!(r.header("content-security-policy"), "frame-ancestors *");
    assert_eq!(r.header("x-robots-tag"), "noindex");
    assert!(r.headers.get("referrer-policy").is_none());
    // The request id stays the edge's: `_headers` can neither replace nor remove it.
    let ids: Vec<_> = r.headers.get_all("x-request-id").iter().collect();
    assert!(ids.len() == 1 && ids[0] != "forged", "{ids:?}");
    let r = e.get("demo-bot", "/", &[]).await;
    assert_eq!(r.header("content-security-policy"), e.platform_csp());
    assert_eq!(r.header("x-robots-tag"), "noindex");
    assert_eq!(r.headers.get_all("x-request-id").iter().count(), 1);

    let r = e.get("demo-bot", "/blog/2024/hello?ref=tg", &[]).await;
    assert_eq!((r.status, r.header("location")), (StatusCode::FOUND, "/posts/hello.html?ref=tg"));
    let r = e.get("demo-bot", "/app/settings/x", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "the app"));
    let r = e.get("demo-bot", "/index.html", &[]).await;
    assert_eq!((r.status, r.header("location")), (StatusCode::MOVED_PERMANENTLY, "/moved"), "forced rule");
    let r = e.get("demo-bot", "/go/a/b", &[]).await;
    assert_eq!(r.header("location"), "https://example.com/a/b");
    assert_eq!(e.get("demo-bot", "/_headers", &[]).await.text(), "home", "rule files are not served (SPA index)");

    // A line that cannot be used is left out and reported with its number; the rest deploys.
    for (name, text) in [("_redirects", "/a /b\n/c\n/d /e 418\n"), ("_headers", "/*\n  Content-Length: 1\n  X-A: 1\n")]
    {
        let report = e.deploy_to("demo_bot", "main", &files(&[("index.html", "x"), (name, text)]), true).await;
        let report = report.expect(name);
        let lines: Vec<&String> = report.warnings.iter().filter(|w| w.starts_with(name)).collect();
        match name {
            "_redirects" => assert!(
                lines.len() == 2 && lines[0].contains("line 2") && lines[1].contains("line 3"),
                "{:?}",
                report.warnings
            ),
            _ => assert!(lines.len() == 1 && lines[0].contains("line 2"), "{:?}", report.warnings),
        }
    }
    // What would be unsafe to leave out or apply is refused, with the line, and nothing is
    // deployed.
    let before = e.p.db_for_tests().count_deployments().await.expect("count");
    for (name, text, code) in [
        ("_redirects", "/a /b\n/admin/* 200! Role=admin\n", "invalid_redirects"),
        ("_headers", "/*\n  Basic-Auth: me:secret\n", "invalid_headers"),
    ] {
        let err =
            e.deploy_to("demo_bot", "main", &files(&[("index.html", "x"), (name, text)]), true).await.expect_err(name);
        assert_eq!(err.code(), code);
        assert_eq!(err.status(), 422);
        assert!(err.to_string().contains("line 2"), "{err}");
    }
    assert_eq!(e.p.db_for_tests().count_deployments().await.expect("count"), before);
}

/// The two `Location`s issue 21's new user got wrong: the request's query went after the
/// destination's fragment, and an empty or slash-led splat made a scheme-relative URL.
#[tokio::test]
async fn redirect_locations_keep_the_query_before_the_fragment_and_stay_on_site() {
    let e = env().await;
    e.public().await;
    let redirects = "/bar https://foobar.com/#heading 301\n/foo/* /:splat 302\n/own /b?x=1#f 302\n";
    e.deploy(&files(&[("index.html", "home"), ("_redirects", redirects)])).await;
    let r = e.get("demo-bot", "/bar?test=abc", &[]).await;
    assert_eq!(
        (r.status, r.header("location")),
        (StatusCode::MOVED_PERMANENTLY, "https://foobar.com/?test=abc#heading")
    );
    let r = e.get("demo-bot", "/own?y=2", &[]).await;
    assert_eq!(r.header("location"), "/b?x=1#f", "a destination's own query replaces the request's");
    for path in ["/foo//google.com", "/foo/%2F%2Fgoogle.com", "/foo/%2F%5Cgoogle.com", "/foo/\\google.com"] {
        let r = e.get("demo-bot", path, &[]).await;
        let location = r.header("location");
        assert_eq!(r.status, StatusCode::FOUND, "{path}");
        assert!(
            location.starts_with('/') && !location.starts_with("//") && !location.starts_with("/\\"),
            "{path}: {location}"
        );
        assert!(location.ends_with("google.com"), "{path}: {location}");
    }
    let r = e.get("demo-bot", "/foo/", &[]).await;
    assert_eq!(r.header("location"), "/", "an empty splat");
}

#[tokio::test]
async fn old_assets_survive_deploys_and_activation_is_visible_within_a_second() {
    let e = env().await;
    e.public().await;
    let version = |v: u32| {
        files(&[
            ("index.html", &format!("<script src=\"/assets/app-{v}AbCdEf.js\"></script>v{v}")),
            (&format!("assets/app-{v}AbCdEf.js"), &format!("console.log({v})")),
            (&format!("page-{v}.html"), "old page"),
            (&format!("data-{v}.json"), "{}"),
        ])
    };
    e.deploy(&version(1)).await;
    for v in 2..=4 {
        e.deploy_to("demo_bot", "main", &version(v), true).await.expect("deploy");
        // No explicit refresh: the in-process notification must get there within a second.
        let start = Instant::now();
        loop {
            let r = e.get("demo-bot", "/", &[]).await;
            if r.text().ends_with(&format!("v{v}")) {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(1), "activation of v{v} not visible after 1 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // v4 is active; v1..v3 are the 3 previous deployments.
    let r = e.get("demo-bot", "/assets/app-1AbCdEf.js", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "console.log(1)"), "served from v1");
    assert_eq!(e.get("demo-bot", "/data-2.json", &[]).await.status, StatusCode::OK, "any non-HTML asset");
    let r = e.get("demo-bot", "/page-1.html", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "old pages do not come back");

    e.deploy(&version(5)).await;
    e.edge.refresh().await.expect("refresh");
    assert_eq!(
        e.get("demo-bot", "/assets/app-1AbCdEf.js", &[]).await.status,
        StatusCode::NOT_FOUND,
        "v1 is now 4 back"
    );
    assert_eq!(e.get("demo-bot", "/assets/app-2AbCdEf.js", &[]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn preview_hosts_serve_one_deployment() {
    let e = env().await;
    e.public().await;
    let live = e.deploy(&files(&[("index.html", "live")])).await;
    let staged = e.deploy_to("demo_bot", "main", &files(&[("index.html", "staged")]), false).await.expect("staged");
    let short = |r: &DeployReport| r.deployment.id.rsplit('-').next().expect("short").to_owned();
    assert_eq!(e.get("demo-bot", "/", &[]).await.text(), "live");
    assert_eq!(e.get(&format!("{}--main--demo-bot", short(&staged)), "/", &[]).await.text(), "staged");
    assert_eq!(e.get(&format!("{}--main--demo-bot", short(&live)), "/", &[]).await.text(), "live");
    assert_eq!(e.get("0123456789ab--main--demo-bot", "/", &[]).await.status, StatusCode::NOT_FOUND);
    // Another bot's deployment is not reachable through this bot's host.
    let other = e.deploy_to("other_bot", "main", &files(&[("index.html", "other")]), true).await.expect("other");
    e.edge.refresh().await.expect("refresh");
    assert_eq!(e.get(&format!("{}--main--demo-bot", short(&other)), "/", &[]).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn public_paths_skip_the_gate_and_the_manifest_allows_any_origin() {
    let e = env().await;
    let mut app = bundles::sample_app("v1");
    app.extend(files(&[
        ("tonconnect-manifest.json", r#"{"url":"https://demo","name":"Demo"}"#),
        (".well-known/assetlinks.json", "[]"),
        ("robots.txt", "User-agent: *"),
    ]));
    e.deploy(&app).await;
    let r = e.get("demo-bot", "/tonconnect-manifest.json", &[("origin", "https://wallet.example")]).await;
    assert_eq!((r.status, r.header("access-control-allow-origin")), (StatusCode::OK, "*"));
    assert_eq!(r.json()["name"], "Demo");
    assert_eq!(r.header("cache-control"), "public, no-cache", "public paths are cacheable by anyone");
    let r = e
        .send(
            Method::OPTIONS,
            "demo-bot",
            "/tonconnect-manifest.json",
            &[("origin", "https://wallet.example"), ("access-control-request-method", "GET")],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("access-control-allow-origin"), "*");
    assert!(r.header("access-control-allow-methods").contains("GET"));
    for path in ["/.well-known/assetlinks.json", "/robots.txt", "/favicon.ico"] {
        assert_eq!(e.get("demo-bot", path, &[]).await.status, StatusCode::OK, "{path}");
    }
    assert_eq!(e.get("demo-bot", "/index.html", &[]).await.status, StatusCode::UNAUTHORIZED, "the rest stays gated");
    assert!(e.get("demo-bot", "/index.html", &[]).await.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_disabled_bot_shows_an_unavailable_page() {
    let e = env().await;
    e.public().await;
    e.deploy(&bundles::sample_app("v1")).await;
    async {
        e.p.set_bot_status(&e.p.bot(&Actor::local_admin(), "demo_bot", Need::See).await?, BotStatus::Disabled).await
    }
    .await
    .expect("disable");
    e.edge.refresh().await.expect("refresh");
    let r = e.get("demo-bot", "/", &[]).await;
    assert_eq!((r.status, r.header("cache-control")), (StatusCode::FORBIDDEN, "no-store"));
    assert!(r.text().contains("unavailable"));
    assert_eq!(e.session("demo-bot", &launch(TOKEN_A, 1, false, now())).await.status, StatusCode::FORBIDDEN);
    async {
        e.p.set_bot_status(&e.p.bot(&Actor::local_admin(), "demo_bot", Need::See).await?, BotStatus::Active).await
    }
    .await
    .expect("enable");
    e.edge.refresh().await.expect("refresh");
    assert_eq!(e.get("demo-bot", "/", &[]).await.status, StatusCode::OK);
}
