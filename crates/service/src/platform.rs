//! [`Platform`]: the handle every front door holds: configuration, stores, keys, the change
//! signal and background parts' health. The operations live by domain: `bots`, `apps`,
//! `members`, `tokens`, `audit`, `deployments`, `uploads`, `domains`, `staff`, `login`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tmahost_store::{BlobStore, Db, Heard, KeyPurpose, MasterKey, SecretBytes, now_ms};

use crate::auth::TokenSigner;
use crate::{Config, ServiceError, telegram_api};

/// Shared state of all operations; cheap to clone.
#[derive(Debug, Clone)]
pub struct Platform {
    inner: Arc<Inner>,
}

/// How long the change log keeps a change: an edge further behind reads everything.
pub const KEEP_CHANGES_MS: i64 = 3_600_000;
const PRUNE_CHANGES_EVERY_MS: i64 = 600_000;

#[derive(Debug)]
struct Inner {
    config: Config,
    db: Db,
    blobs: BlobStore,
    master: MasterKey,
    signer: TokenSigner,
    /// Signs `Tma-Identity` for app backends.
    identity: crate::identity::IdentityKeys,
    /// Issues and checks TON Connect proof payloads (the same key on every edge).
    ton_payloads: tmahost_types::ton::PayloadKey,
    http: reqwest::Client,
    work_dir: PathBuf,
    /// Bumped after every change the edge must see (routing, settings, activations).
    changes: tokio::sync::watch::Sender<u64>,
    /// When this process last pruned the change log (ms).
    changes_pruned_at: std::sync::atomic::AtomicI64,
    /// The control bot's username once `getMe` told it (a failed ask is retried next time).
    control_username: tokio::sync::OnceCell<Option<String>>,
    metrics: crate::metrics::Metrics,
    /// Checks custom-domain proofs; `None` when no DNS configuration exists.
    resolver: Option<Resolver>,
    /// Background parts' states for `/readyz`.
    parts: crate::health::Parts,
    /// Wakes the brotli worker when a deploy left variants to make.
    brotli_wanted: Arc<tokio::sync::Notify>,
}

/// The DNS resolver (hickory's has no `Debug`).
struct Resolver(hickory_resolver::TokioResolver);

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

/// A handle that does not keep the platform alive (background tasks).
#[derive(Debug, Clone)]
pub(crate) struct WeakPlatform(std::sync::Weak<Inner>);

impl Platform {
    /// Opens the database (running migrations), the blob store and the master key.
    pub async fn open(config: Config) -> Result<Self, ServiceError> {
        let io = |what: &str, e: std::io::Error| ServiceError::invalid("startup", format!("{what}: {e}"));
        std::fs::create_dir_all(&config.storage.data_dir)
            .map_err(|e| io(&format!("cannot create {}", config.storage.data_dir.display()), e))?;
        let work_dir = config.storage.data_dir.join("tmp");
        std::fs::create_dir_all(&work_dir).map_err(|e| io("cannot create the temp dir", e))?;

        let master = match &config.storage.master_key {
            Some(k) => MasterKey::parse(k.expose())?,
            None => MasterKey::load_or_create(&config.storage.data_dir.join("master.key"))?,
        };
        let db = Db::connect(&config.database_url()).await?;
        db.migrate().await?;
        let blobs = match config.storage_url() {
            Some(url) => BlobStore::from_url(url)?,
            None => BlobStore::local(&config.storage.data_dir.join("objects"))?,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(ServiceError::internal)?;
        let signer = TokenSigner::new(&master);
        let identity =
            crate::identity::IdentityKeys::derive(&master, config.proxy.identity_key_version, config.api_url())?;
        let ton_payloads = tmahost_types::ton::PayloadKey::new(master.derive(KeyPurpose::TonProofPayload).expose());
        let (changes, _) = tokio::sync::watch::channel(0);
        let control_username = tokio::sync::OnceCell::new();
        let resolver = crate::domains::resolver(&config).map(Resolver);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                db,
                blobs,
                master,
                signer,
                identity,
                ton_payloads,
                http,
                work_dir,
                changes,
                changes_pruned_at: std::sync::atomic::AtomicI64::new(0),
                control_username,
                metrics: Default::default(),
                resolver,
                parts: Default::default(),
                brotli_wanted: Default::default(),
            }),
        })
    }

    /// Tells this process's brotli worker that there is work (a permit is kept if it is busy).
    pub(crate) fn brotli_wanted(&self) {
        self.inner.brotli_wanted.notify_one();
    }

    /// What [`Platform::brotli_wanted`] notifies, for the worker to wait on without keeping the
    /// platform alive.
    pub(crate) fn brotli_signal(&self) -> Arc<tokio::sync::Notify> {
        self.inner.brotli_wanted.clone()
    }

    pub(crate) fn downgrade(&self) -> WeakPlatform {
        WeakPlatform(Arc::downgrade(&self.inner))
    }
    pub(crate) fn upgrade(weak: &WeakPlatform) -> Option<Self> {
        weak.0.upgrade().map(|inner| Self { inner })
    }
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }
    pub(crate) fn signer(&self) -> &TokenSigner {
        &self.inner.signer
    }
    pub(crate) fn resolver(&self) -> Option<&hickory_resolver::TokioResolver> {
        self.inner.resolver.as_ref().map(|r| &r.0)
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }
    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }
    pub(crate) fn blobs(&self) -> &BlobStore {
        &self.inner.blobs
    }
    /// The database, for tests that check what an operation left behind or set up what no
    /// operation allows. Front doors never see it: every read and write is an operation here.
    #[cfg(feature = "testing")]
    pub fn db_for_tests(&self) -> &Db {
        &self.inner.db
    }
    /// The blob store, for tests (see [`Platform::db_for_tests`]).
    #[cfg(feature = "testing")]
    pub fn blobs_for_tests(&self) -> &BlobStore {
        &self.inner.blobs
    }
    /// Which stores this process uses, for the start-up log: `(database, object store)`.
    pub fn describe_stores(&self) -> (String, String) {
        (format!("{:?}", self.inner.db.kind()), self.inner.blobs.description().to_owned())
    }
    /// Closes the database's connections (at shutdown, after every server stopped).
    pub async fn close(&self) {
        self.inner.db.close().await;
    }
    /// This process's Prometheus metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }
    /// Scratch space for uploads in flight (on the data volume, so renames are cheap).
    pub fn work_dir(&self) -> &Path {
        &self.inner.work_dir
    }

    /// The keys of the identity tokens the edge gives app backends, and their JWKS.
    pub fn identity(&self) -> &crate::identity::IdentityKeys {
        &self.inner.identity
    }

    /// The key of TON Connect proof payloads.
    pub fn ton_payloads(&self) -> &tmahost_types::ton::PayloadKey {
        &self.inner.ton_payloads
    }

    /// Records a TON Connect proof payload as used; `false` if a proof used it already (on
    /// any edge).
    pub async fn use_ton_proof_payload(&self, payload: &tmahost_types::ton::Payload) -> Result<bool, ServiceError> {
        Ok(self.db().use_ton_proof_payload(&payload.nonce, payload.expires_at.saturating_mul(1000)).await?)
    }

    /// The key for `purpose`, derived from the master key (which never leaves this crate).
    pub fn key_for(&self, purpose: KeyPurpose<'_>) -> SecretBytes {
        self.inner.master.derive(purpose)
    }

    /// The master key itself: bot tokens are encrypted with it, and backups hold it.
    pub(crate) fn master_key(&self) -> &MasterKey {
        &self.inner.master
    }

    /// Fires after each change to bots, apps or active deployments made through this process.
    /// The edge rebuilds its routing table on it (and on a timer, for changes made elsewhere).
    pub fn subscribe_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// The control bot's username (for the Login Widget), asked of Telegram once; `None`
    /// without a control bot or while Telegram cannot tell.
    pub async fn control_bot_username(&self) -> Option<String> {
        let token = self.config().control_bot()?;
        let (http, base) = (&self.inner.http, &self.config().telegram.api_url);
        let found = self
            .inner
            .control_username
            .get_or_try_init(|| async {
                // Asked while a page renders: an unreachable Telegram must not hold the page up.
                match tokio::time::timeout(Duration::from_secs(2), telegram_api::get_me(http, base, &token)).await {
                    Ok(Ok(Some(me))) => Ok(me.username),
                    _ => Err(()),
                }
            })
            .await;
        found.ok().cloned().flatten()
    }

    /// The control bot running in this process tells its username once `getMe` answered, so
    /// pages need not ask Telegram again.
    pub fn remember_control_bot_username(&self, username: Option<String>) {
        let _ = self.inner.control_username.set(username);
    }

    /// Announces a change the edges must see: at once in this process, and to other processes
    /// through the database (PostgreSQL `NOTIFY`; edges also poll, so a lost one only delays).
    pub(crate) fn changed(&self) {
        self.inner.changes.send_modify(|n| *n += 1);
        let db = self.inner.db.clone();
        let now = now_ms();
        let pruned = &self.inner.changes_pruned_at;
        let prune = now - pruned.load(std::sync::atomic::Ordering::Relaxed) > PRUNE_CHANGES_EVERY_MS;
        if prune {
            pruned.store(now, std::sync::atomic::Ordering::Relaxed);
        }
        tokio::spawn(async move {
            if let Err(e) = db.notify_change(now).await {
                tracing::warn!(error = %e, "could not notify other processes of a change; they will poll");
            }
            if prune && let Err(e) = db.prune_changes(now - KEEP_CHANGES_MS).await {
                tracing::warn!(error = %e, "could not prune the change log; the next change tries again");
            }
        });
    }

    /// Relays changes announced by other processes to [`Platform::subscribe_changes`] (on
    /// PostgreSQL; a no-op on SQLite, where one process owns the database). Runs until the
    /// platform is dropped, reconnecting after database outages.
    pub fn follow_remote_changes(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut listener = None;
            loop {
                let Some(inner) = weak.upgrade() else { return };
                if listener.is_none() {
                    match inner.db.listen_changes().await {
                        Ok(Some(l)) => {
                            listener = Some(l);
                            // Announcements made while nobody listened are lost: look again.
                            inner.changes.send_modify(|n| *n += 1);
                        }
                        Ok(None) => return,
                        Err(e) => {
                            tracing::debug!(error = %e, "cannot listen for changes yet");
                            drop(inner);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    }
                }
                drop(inner);
                let heard = match listener.as_mut() {
                    Some(l) => l.next().await,
                    None => continue,
                };
                let Some(inner) = weak.upgrade() else { return };
                match heard {
                    Ok(Heard::Change { at_ms }) => {
                        if let Some(at) = at_ms {
                            inner.metrics.change_heard((now_ms() - at).max(0) as f64 / 1000.0);
                        }
                        inner.changes.send_modify(|n| *n += 1);
                    }
                    // Whatever was announced while the connection was down is read by a refresh.
                    Ok(Heard::Reconnected) => inner.changes.send_modify(|n| *n += 1),
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the change notifications; polling until the database is back");
                        listener = None;
                        drop(inner);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }

    /// What `/readyz` answers: both stores probed, plus the background parts' states.
    pub async fn readiness(&self) -> crate::health::Readiness {
        crate::health::check(self, &self.inner.parts).await
    }

    /// A background part (the control bot) reports how it stands, for `/readyz`.
    pub fn report(&self, part: &'static str, state: crate::health::PartState) {
        self.inner.parts.set(part, state);
    }
}
