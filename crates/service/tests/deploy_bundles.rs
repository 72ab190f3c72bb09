//! Bundle deploys through the service layer: every rejection leaves no deployment and no
//! blob behind; accepted bundles are stored once, content-addressed, with their variants.

use tmahost_service::model::{DeploymentStatus, TokenScope};
use tmahost_service::{Actor, DeployOptions, Limits, Need, Platform, ServiceError};
use tmahost_testkit::bundles::{self, TarEntry};
use tmahost_testkit::platform::TestPlatform;

struct Env {
    p: Platform,
    _dir: tempfile::TempDir,
}

async fn env(limits: Limits) -> Env {
    let TestPlatform { p, dir } = tmahost_testkit::platform::open(|c| c.uploads = limits).await;
    Env { p, _dir: dir }
}

impl Env {
    async fn deploy(&self, archive: &[u8]) -> Result<tmahost_service::DeployReport, ServiceError> {
        self.deploy_as(&Actor::local_admin(), archive).await
    }

    async fn deploy_as(&self, actor: &Actor, archive: &[u8]) -> Result<tmahost_service::DeployReport, ServiceError> {
        let f = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(f.path(), archive).expect("write");
        let app = self.p.app(actor, "demo_bot", "main", Need::Deploy).await?;
        self.p.deploy_archive(&app, f.path(), DeployOptions { activate: true, message: None }).await
    }

    /// Asserts the upload was refused with `code` and that nothing was stored.
    async fn assert_refused(&self, archive: &[u8], code: &str) {
        let err = self.deploy(archive).await.expect_err("must be refused");
        assert_eq!(err.code(), code, "{err}");
        assert!((400..500).contains(&err.status()), "{code} must be a client error, got {}", err.status());
        assert_eq!(
            self.p.db_for_tests().count_deployments().await.expect("count"),
            0,
            "{code}: a deployment was left behind"
        );
        assert_eq!(self.p.db_for_tests().count_blobs().await.expect("count"), 0, "{code}: a blob row was left behind");
        assert_eq!(
            self.p.blobs_for_tests().count_objects().await.expect("count"),
            0,
            "{code}: an object was left behind"
        );
        let leftovers = std::fs::read_dir(self.p.work_dir()).expect("work dir").count();
        assert_eq!(leftovers, 0, "{code}: temp files were left behind");
    }
}

fn files(list: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
    list.iter().map(|(n, d)| ((*n).to_owned(), d.to_vec())).collect()
}

const INDEX: (&str, &[u8]) = ("index.html", b"<!doctype html>");

#[tokio::test]
async fn absolute_paths_are_rejected_and_nothing_is_stored() {
    let e = env(Limits::default()).await;
    e.assert_refused(&bundles::zip(&files(&[INDEX, ("/etc/cron.d/x", b"x")])), "absolute_path").await;
    e.assert_refused(
        &bundles::tar_gz_entries(&[TarEntry::file("index.html", b"x"), TarEntry::file("/etc/passwd", b"x")]),
        "absolute_path",
    )
    .await;
}

#[tokio::test]
async fn entries_with_parent_dirs_are_rejected_and_nothing_is_stored() {
    let e = env(Limits::default()).await;
    e.assert_refused(&bundles::zip(&files(&[INDEX, ("../evil.js", b"x")])), "path_traversal").await;
    e.assert_refused(
        &bundles::tar_gz_entries(&[TarEntry::file("index.html", b"x"), TarEntry::file("a/../../x", b"x")]),
        "path_traversal",
    )
    .await;
}

#[tokio::test]
async fn links_and_devices_are_rejected_and_nothing_is_stored() {
    let e = env(Limits::default()).await;
    e.assert_refused(&bundles::zip_with_symlink(&files(&[INDEX]), "passwd", "/etc/passwd"), "special_file").await;
    for (kind, link) in [
        (tar::EntryType::Symlink, Some("/etc/passwd")),
        (tar::EntryType::Link, Some("index.html")),
        (tar::EntryType::Char, None),
        (tar::EntryType::Block, None),
        (tar::EntryType::Fifo, None),
    ] {
        let archive =
            bundles::tar_gz_entries(&[TarEntry::file("index.html", b"x"), TarEntry::special("x", kind, link)]);
        e.assert_refused(&archive, "special_file").await;
    }
}

#[tokio::test]
async fn control_characters_in_names_are_rejected_and_nothing_is_stored() {
    let e = env(Limits::default()).await;
    e.assert_refused(
        &bundles::tar_gz_entries(&[TarEntry::file("index.html", b"x"), TarEntry::raw(b"a\x01b.js", b"x")]),
        "invalid_path",
    )
    .await;
    e.assert_refused(&bundles::zip(&files(&[INDEX, ("a\nb.js", b"x")])), "invalid_path").await;
    e.assert_refused(
        &bundles::tar_gz_entries(&[TarEntry::file("index.html", b"x"), TarEntry::raw(b"caf\xe9.js", b"x")]),
        "invalid_path",
    )
    .await;
}

#[tokio::test]
async fn duplicate_paths_are_rejected_and_nothing_is_stored() {
    let e = env(Limits::default()).await;
    e.assert_refused(
        &bundles::tar_gz_entries(&[TarEntry::file("index.html", b"a"), TarEntry::file("index.html", b"b")]),
        "duplicate_path",
    )
    .await;
    e.assert_refused(&bundles::zip(&files(&[INDEX, ("a.js", b"1"), ("./a.js", b"2")])), "duplicate_path").await;
    // Two zip entries of one name (the zip crate's index keeps only the last): refused as tar's are.
    let twice = bundles::zip_with_repeated_name(&files(&[("a.html", b"first"), INDEX]), b"second");
    e.assert_refused(&twice, "duplicate_path").await;
    // `a` cannot be both a file and a folder.
    e.assert_refused(&bundles::zip(&files(&[INDEX, ("a", b"1"), ("a/b.js", b"2")])), "duplicate_path").await;
}

#[tokio::test]
async fn count_and_size_limits_are_enforced_and_nothing_is_stored() {
    let limits = Limits {
        max_files: 3,
        max_file_bytes: 2000,
        max_total_bytes: 3000,
        max_archive_bytes: 20_000,
        ..Limits::default()
    };
    let e = env(limits).await;
    let four = files(&[INDEX, ("a.js", b"1"), ("b.js", b"2"), ("c.js", b"3")]);
    e.assert_refused(&bundles::zip(&four), "too_many_files").await;
    // Folder entries count too: an archive of (nearly) nothing but folders is bounded alike.
    let dirs = files(&[INDEX, ("a/", b""), ("b/", b""), ("c/", b"")]);
    e.assert_refused(&bundles::zip(&dirs), "too_many_files").await;
    let mut tar_dirs = vec![TarEntry::file("index.html", b"<!doctype html>")];
    tar_dirs.extend(["a/", "b/", "c/"].map(|d| TarEntry::special(d, tar::EntryType::Directory, None)));
    e.assert_refused(&bundles::tar_gz_entries(&tar_dirs), "too_many_files").await;
    let big = vec![b'x'; 2001];
    e.assert_refused(&bundles::tar_gz(&files(&[INDEX, ("big.js", &big)])), "file_too_large").await;
    let part = vec![b'y'; 1600];
    e.assert_refused(&bundles::zip(&files(&[INDEX, ("a.js", &part), ("b.js", &part)])), "bundle_too_large").await;
    let noise: Vec<u8> = (0..30_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    e.assert_refused(&noise_zip(&noise), "archive_too_large").await;
    // At the limit: a folder and its file make three entries with index.html.
    let with_dir = files(&[INDEX, ("a/", b""), ("a/x.js", b"1")]);
    assert!(e.deploy(&bundles::zip(&with_dir)).await.is_ok(), "within the limit: 3 entries");
}

fn noise_zip(noise: &[u8]) -> Vec<u8> {
    let mut z = bundles::zip(&files(&[INDEX]));
    z.extend_from_slice(noise);
    z
}

#[tokio::test]
async fn decompression_bombs_are_rejected_and_nothing_is_stored() {
    let e = env(Limits::default()).await;
    let zeros = vec![0u8; 4 * 1024 * 1024];
    e.assert_refused(&bundles::zip(&files(&[INDEX, ("bomb.js", &zeros)])), "compression_ratio").await;
    e.assert_refused(&bundles::tar_gz(&files(&[INDEX, ("bomb.js", &zeros)])), "compression_ratio").await;
}

/// Bombs made of what is not a file: a PAX extended header and a GNU long name, which the tar
/// reader reads into memory whole (64 MB each here, from about 64 KB of gzip). The inflated
/// stream is bounded as a whole, so they are refused as bombs as soon as they inflate past the
/// ratio, before they cost the memory or the time.
#[tokio::test]
async fn tar_bombs_of_headers_alone_are_rejected_and_nothing_is_stored() {
    let e = env(Limits::default()).await;
    let pax = TarEntry { name: b"pax".to_vec(), kind: tar::EntryType::XHeader, data: vec![0; 64 << 20], link: None };
    e.assert_refused(&bundles::tar_gz_entries(&[pax, TarEntry::file("index.html", b"x")]), "compression_ratio").await;
    let long_name = TarEntry {
        name: b"././@LongLink".to_vec(),
        kind: tar::EntryType::GNULongName,
        data: vec![b'a'; 64 << 20],
        link: None,
    };
    e.assert_refused(&bundles::tar_gz_entries(&[long_name, TarEntry::file("index.html", b"x")]), "compression_ratio")
        .await;
}

#[tokio::test]
async fn bundles_without_index_html_or_files_are_rejected() {
    let e = env(Limits::default()).await;
    e.assert_refused(&bundles::zip(&files(&[("app.js", b"x")])), "missing_index").await;
    // Two top-level folders: nothing to unwrap.
    e.assert_refused(&bundles::zip(&files(&[("a/index.html", b"x"), ("b/x.js", b"x")])), "missing_index").await;
    e.assert_refused(&bundles::zip(&[]), "empty_archive").await;
}

#[tokio::test]
async fn unknown_or_corrupt_archives_are_rejected() {
    let e = env(Limits::default()).await;
    e.assert_refused(b"<html>not an archive</html>", "unsupported_archive").await;
    e.assert_refused(b"PK\x03\x04 truncated garbage", "corrupt_archive").await;
    e.assert_refused(b"\x1f\x8b\x08\x00garbage", "corrupt_archive").await;
}

#[tokio::test]
async fn a_dist_folder_is_unwrapped_and_os_litter_dropped() {
    let e = env(Limits::default()).await;
    let archive = bundles::zip(&files(&[
        ("dist/index.html", b"<!doctype html>"),
        ("dist/assets/app.js", b"x"),
        ("__MACOSX/dist/._index.html", b"junk"),
        ("dist/.DS_Store", b"junk"),
    ]));
    let r = e.deploy(&archive).await.expect("deploy");
    let files = async {
        e.p.deployment_files(
            &e.p.deployment(&e.p.app(&Actor::local_admin(), "demo_bot", "main", Need::See).await?, &r.deployment.id)
                .await?,
        )
        .await
    }
    .await
    .expect("files");
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["assets/app.js", "index.html"]);
}

#[tokio::test]
async fn files_get_hashes_content_types_and_precompressed_variants() {
    let e = env(Limits::default()).await;
    let r = e.deploy(&bundles::tar_gz(&bundles::sample_app("v1"))).await.expect("deploy");
    assert_eq!(r.deployment.status, DeploymentStatus::Active);
    assert_eq!(r.deployment.file_count, 4);
    let files = || async {
        let app = e.p.app(&Actor::local_admin(), "demo_bot", "main", Need::See).await.expect("app");
        e.p.deployment_files(&e.p.deployment(&app, "v1").await.expect("v1")).await.expect("files")
    };
    // Active at once, with gzip; brotli at maximum effort is left for later.
    let now = files().await;
    let js = now.iter().find(|f| f.path == "assets/index-BXk3f9a1.js").expect("js");
    assert_eq!(js.content_type, "text/javascript; charset=utf-8");
    assert!(js.gz_size.expect("gzip") < js.size);
    assert_eq!((js.br_size, js.brotli_pending()), (None, true));
    let ico = now.iter().find(|f| f.path == "favicon.ico").expect("ico");
    assert_eq!((ico.gz_size, ico.brotli_pending()), (None, false), "8-byte files get no variant");
    let objects = e.p.blobs_for_tests().count_objects().await.expect("count");
    assert_eq!(objects as i64, 4 + 2, "4 originals, gz for the js and the css");

    // The worker's pass (what `serve` runs in the background) makes the two brotli variants.
    assert_eq!(e.p.make_pending_brotli().await.expect("brotli"), 2);
    let later = files().await;
    let js = later.iter().find(|f| f.path == "assets/index-BXk3f9a1.js").expect("js");
    assert!(js.br_size.expect("brotli") < js.gz_size.expect("gzip"), "{js:?}");
    assert!(later.iter().all(|f| !f.brotli_pending()));
    let objects = e.p.blobs_for_tests().count_objects().await.expect("count");
    assert_eq!(objects as i64, 4 + 2 * 2, "4 originals, br+gz for the js and the css");
    assert_eq!(e.p.make_pending_brotli().await.expect("nothing left"), 0);
}

#[tokio::test]
async fn an_identical_bundle_stores_no_new_blob_and_a_changed_file_stores_one() {
    let e = env(Limits::default()).await;
    let first = e.deploy(&bundles::zip(&bundles::sample_app("v1"))).await.expect("v1");
    assert_eq!((first.new_blobs, first.reused_blobs), (4, 0));
    let objects = e.p.blobs_for_tests().count_objects().await.expect("count");
    let rows = e.p.db_for_tests().count_blobs().await.expect("count");

    // The same files as tar.gz this time: still nothing new.
    let again = e.deploy(&bundles::tar_gz(&bundles::sample_app("v1"))).await.expect("v2");
    assert_eq!((again.new_blobs, again.reused_blobs), (0, 4));
    assert_eq!(again.deployment.version, 2);
    assert_eq!(e.p.blobs_for_tests().count_objects().await.expect("count"), objects);
    assert_eq!(e.p.db_for_tests().count_blobs().await.expect("count"), rows);

    let mut changed = bundles::sample_app("v1");
    changed[3].1.push(1); // favicon.ico
    let third = e.deploy(&bundles::zip(&changed)).await.expect("v3");
    assert_eq!((third.new_blobs, third.reused_blobs), (1, 3));
}

#[tokio::test]
async fn an_index_pointing_outside_the_bundle_gets_a_base_path_warning() {
    let e = env(Limits::default()).await;
    let archive = bundles::zip(&files(&[
        (
            "index.html",
            b"<script src=\"/my-repo/assets/a.js\"></script><script src=\"https://telegram.org/js/x.js\"></script>",
        ),
        ("assets/a.js", b"x"),
    ]));
    let r = e.deploy(&archive).await.expect("deploy still succeeds");
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(r.warnings[0].contains("/my-repo/"), "{}", r.warnings[0]);
}

#[tokio::test]
async fn a_token_scoped_to_another_bot_cannot_deploy_here() {
    let e = env(Limits::default()).await;
    // The fixture registered `Other_Bot` too.
    let other = e.p.bot(&Actor::local_admin(), "other_bot", Need::See).await.expect("other bot").bot;
    let outsider =
        Actor { token_id: None, scope: TokenScope::Bots(vec![other.bot_id()]), label: "outsider".into(), roles: None };
    let err = e.deploy_as(&outsider, &bundles::zip(&bundles::sample_app("x"))).await.expect_err("refused");
    assert_eq!(err.status(), 404, "another tenant's bot is indistinguishable from a missing one");
    assert_eq!(e.p.db_for_tests().count_deployments().await.expect("count"), 0);
}

#[tokio::test]
async fn an_upload_interrupted_by_a_crash_is_failed_at_the_next_start() {
    let e = env(Limits::default()).await;
    e.deploy(&bundles::zip(&bundles::sample_app("v1"))).await.expect("v1");
    let app = e.p.app(&Actor::local_admin(), "demo_bot", "main", Need::See).await.expect("app");
    let crashed = e.p.db_for_tests().create_deployment(&app.app.id, "test", None).await.expect("uploading");
    assert_eq!(e.p.fail_stale_uploads(true).await.expect("fail"), 1);
    let d = e.p.deployment(&app, &crashed.id).await.expect("get").deployment;
    assert_eq!(d.status, DeploymentStatus::Failed);
    let active = e.p.db_for_tests().active_deployment(&app.app.id).await.expect("active").expect("v1 still active");
    assert_eq!(active.version, 1);
}

/// A caller who may deploy to several bots (an admin, an owner of two) can have digest deploys
/// of the same bytes open on two bots at once: one upload of a content provides it to each
/// that declared it, and both finalize. A caller scoped to one bot provides it to that bot
/// only, whatever another bot has open.
#[tokio::test]
async fn one_upload_provides_a_content_to_every_bot_of_the_caller_that_declared_it() {
    let e = env(Limits::default()).await;
    let admin = Actor::local_admin();
    let page = b"<!doctype html><title>shared</title>".to_vec();
    let sha = sha_of(&page);
    let declared =
        vec![tmahost_service::DeclaredFile { path: "index.html".into(), sha256: sha.clone(), size: page.len() as u64 }];
    let opts = || DeployOptions { activate: true, message: None };
    let mut open = Vec::new();
    for bot in ["demo_bot", "other_bot"] {
        let app = e.p.app(&admin, bot, "main", Need::Deploy).await.expect("app");
        let plan = e.p.begin_upload(&app, declared.clone(), opts()).await.expect("opened");
        assert_eq!(plan.missing, std::slice::from_ref(&sha), "{bot} has not provided it");
        open.push((app, plan.deployment.id));
    }
    e.p.put_blob(&admin, &sha, page.clone().into()).await.expect("stored");
    for (app, id) in &open {
        e.p.finalize_upload(app, id).await.expect("finalized: the one upload provided it");
    }

    // A token scoped to `demo_bot` uploads a new content while an admin's deploy of it is open
    // on `other_bot`: only `demo_bot` gets it.
    let page = b"<!doctype html><title>second</title>".to_vec();
    let sha = sha_of(&page);
    let declared =
        vec![tmahost_service::DeclaredFile { path: "index.html".into(), sha256: sha.clone(), size: page.len() as u64 }];
    let demo = e.p.bot(&admin, "demo_bot", Need::See).await.expect("bot").bot;
    let scoped =
        Actor { token_id: None, scope: TokenScope::Bots(vec![demo.bot_id()]), label: "ci".into(), roles: None };
    let mine = e.p.app(&scoped, "demo_bot", "main", Need::Deploy).await.expect("app");
    let theirs = e.p.app(&admin, "other_bot", "main", Need::Deploy).await.expect("app");
    let mine_id = e.p.begin_upload(&mine, declared.clone(), opts()).await.expect("opened").deployment.id;
    let theirs_id = e.p.begin_upload(&theirs, declared, opts()).await.expect("opened").deployment.id;
    e.p.put_blob(&scoped, &sha, page.into()).await.expect("stored");
    e.p.finalize_upload(&mine, &mine_id).await.expect("finalized");
    let refused = e.p.finalize_upload(&theirs, &theirs_id).await.expect_err("other_bot never provided it");
    assert_eq!(refused.code(), "missing_blobs", "{refused}");
}

fn sha_of(bytes: &[u8]) -> tmahost_service::model::Sha256 {
    use sha2::Digest;
    tmahost_service::model::Sha256::from_digest(&sha2::Sha256::digest(bytes))
}
