//! Connection pools for the two supported engines and their embedded migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::StoreError;

/// Runs `$body` with `$pool` bound to the concrete pool of whichever engine `$db` is.
/// The body is compiled once per engine, so a query that does not suit both fails to build.
#[macro_export]
#[doc(hidden)]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::Db::Sqlite($pool) => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    };
}

/// Opens a write transaction: `BEGIN IMMEDIATE` on SQLite so two writers never deadlock while
/// upgrading read locks; a plain `BEGIN` on PostgreSQL, where row locks do that job.
#[macro_export]
#[doc(hidden)]
macro_rules! in_tx {
    ($db:expr, $tx:ident => $body:expr) => {
        match $db {
            $crate::Db::Sqlite(pool) => {
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::Db::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// The database: SQLite for one machine, PostgreSQL for many.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

impl Db {
    /// Connects to `sqlite://path` (created if missing) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new().max_connections(8).connect_with(opts).await?;
            Ok(Self::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool =
                PgPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(10)).connect(url).await?;
            Ok(Self::Postgres(pool))
        } else {
            Err(StoreError::BadUrl(redact_url(url), "use sqlite://PATH or postgres://…".into()))
        }
    }

    /// Opens an SQLite file read-only, as it is (no migration, no journal change): a backup
    /// being checked is not modified.
    pub async fn open_read_only(path: &std::path::Path) -> Result<Self, StoreError> {
        if !path.is_file() {
            return Err(StoreError::InvalidState(format!("{} is not a database file", path.display())));
        }
        let opts = SqliteConnectOptions::new().filename(path).read_only(true).busy_timeout(Duration::from_secs(10));
        Ok(Self::Sqlite(SqlitePoolOptions::new().max_connections(4).connect_with(opts).await?))
    }

    pub fn kind(&self) -> DbKind {
        match self {
            Self::Sqlite(_) => DbKind::Sqlite,
            Self::Postgres(_) => DbKind::Postgres,
        }
    }

    /// Applies the embedded migrations of this engine; idempotent.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await?,
            Self::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await?,
        }
        Ok(())
    }

    /// Cheap liveness probe for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_db!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ())?);
        Ok(())
    }

    /// Tells every process on this database that something the edges route by changed
    /// (PostgreSQL `NOTIFY`; the payload is the change's time in ms, for the lag metric).
    /// SQLite has one process per database, which learns of changes in memory: a no-op.
    pub async fn notify_change(&self, at_ms: i64) -> Result<(), StoreError> {
        if let Self::Postgres(p) = self {
            sqlx::query("SELECT pg_notify($1, $2)").bind(CHANGES_CHANNEL).bind(at_ms.to_string()).execute(p).await?;
        }
        Ok(())
    }

    /// Listens for [`Db::notify_change`] from other processes; `None` on SQLite.
    pub async fn listen_changes(&self) -> Result<Option<ChangeListener>, StoreError> {
        let Self::Postgres(p) = self else { return Ok(None) };
        let mut listener = sqlx::postgres::PgListener::connect_with(p).await?;
        listener.listen(CHANGES_CHANNEL).await?;
        Ok(Some(ChangeListener { listener }))
    }

    pub async fn close(&self) {
        on_db!(self, p => p.close().await);
    }
}

const CHANGES_CHANNEL: &str = "tmahost_changes";

/// A PostgreSQL `LISTEN` on the change channel.
#[derive(Debug)]
pub struct ChangeListener {
    listener: sqlx::postgres::PgListener,
}

/// What the listener heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// A change made at this time (ms) by some process.
    Change { at_ms: Option<i64> },
    /// The connection dropped and was re-established: changes may have been missed.
    Reconnected,
}

impl ChangeListener {
    /// Waits for the next notification. Reconnects by itself after a dropped connection and
    /// says so, since notifications sent meanwhile are lost; an error means the database is
    /// unreachable right now (call again later).
    pub async fn next(&mut self) -> Result<Heard, StoreError> {
        match self.listener.try_recv().await? {
            Some(n) => Ok(Heard::Change { at_ms: n.payload().parse().ok() }),
            None => Ok(Heard::Reconnected),
        }
    }
}

/// Hides the password of a database URL before it reaches an error or a log line.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(super::redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact_url("sqlite://x.db"), "sqlite://x.db");
    }

    /// A migration once applied never changes (sqlx would refuse to start on a database that
    /// applied the old text): every file is listed in `migrations/CHECKSUMS` with its hash.
    #[test]
    fn migrations_are_append_only() {
        use sha2::Digest;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let listed = std::fs::read_to_string(root.join("CHECKSUMS")).expect("migrations/CHECKSUMS");
        let listed: std::collections::BTreeMap<&str, &str> = listed
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| l.split_once("  ").map(|(h, p)| (p, h)).expect("`hash  path` lines"))
            .collect();
        let mut found = 0;
        for engine in ["sqlite", "postgres"] {
            for entry in std::fs::read_dir(root.join(engine)).expect("migrations dir").flatten() {
                let name = format!("{engine}/{}", entry.file_name().to_string_lossy());
                let hash = hex::encode(sha2::Sha256::digest(std::fs::read(entry.path()).expect("read")));
                match listed.get(name.as_str()) {
                    Some(want) => {
                        assert_eq!(*want, hash, "{name} changed after it was released; add a new migration instead")
                    }
                    None => panic!("{name} is not in migrations/CHECKSUMS: append `{hash}  {name}`"),
                }
                found += 1;
            }
        }
        assert_eq!(found, listed.len(), "migrations/CHECKSUMS lists a file that is gone");
    }
}
