//! The process's Prometheus metrics: one registry, counters bumped by the operations that own
//! them, rendered as OpenMetrics text for `GET /metrics`.

pub use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
pub use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
pub use prometheus_client::metrics::counter::{ConstCounter, Counter};
pub use prometheus_client::metrics::family::Family;
pub use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Metric;
use prometheus_client::registry::Registry;

type Labels = [(&'static str, &'static str); 1];

#[derive(Debug)]
pub struct Metrics {
    /// Locked only to register (at start) and to render (per scrape).
    registry: std::sync::Mutex<Registry>,
    blob_uploads: Family<Labels, Counter>,
    blob_upload_bytes: Counter,
    deploys: Family<Labels, Counter>,
    deploy_seconds: Histogram,
    change_lag: Histogram,
    brotli: Family<Labels, Counter>,
}

/// How a `PUT /api/v1/blobs/{sha256}` ended.
#[derive(Debug, Clone, Copy)]
pub enum BlobUpload {
    /// New content, verified and written.
    Stored,
    /// Someone stored it first; the body was not needed.
    AlreadyStored,
    /// Wrong hash or size, or nobody expects it.
    Rejected,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tmahost");
        let blob_uploads = Family::<Labels, Counter>::default();
        registry.register("blob_uploads", "Blob uploads of digest deploys, by result", blob_uploads.clone());
        let blob_upload_bytes = Counter::default();
        registry.register("blob_upload_bytes", "Bytes of blobs stored by digest deploys", blob_upload_bytes.clone());
        let deploys = Family::<Labels, Counter>::default();
        registry.register("deploys", "Deployments completed, by how they were uploaded", deploys.clone());
        // 50 ms .. ~7 min: a one-file redeploy up to a slow 500 MB upload.
        let deploy_seconds = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.05, 2.0, 14));
        registry.register(
            "deploy_duration_seconds",
            "From the start of an upload to its deployment being recorded",
            deploy_seconds.clone(),
        );
        // 1 ms .. ~16 s.
        let change_lag = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 15));
        registry.register(
            "change_notification_lag_seconds",
            "From a change in one process to its notification arriving in this one",
            change_lag.clone(),
        );
        let brotli = Family::<Labels, Counter>::default();
        registry.register(
            "brotli_variants",
            "Brotli variants made after deploys, by result (stored, or not smaller than the original)",
            brotli.clone(),
        );
        Self {
            registry: std::sync::Mutex::new(registry),
            blob_uploads,
            blob_upload_bytes,
            deploys,
            deploy_seconds,
            change_lag,
            brotli,
        }
    }
}

impl Metrics {
    pub fn blob_upload(&self, result: BlobUpload, bytes: u64) {
        let label = match result {
            BlobUpload::Stored => "stored",
            BlobUpload::AlreadyStored => "already_stored",
            BlobUpload::Rejected => "rejected",
        };
        self.blob_uploads.get_or_create(&[("result", label)]).inc();
        self.blob_upload_bytes.inc_by(bytes);
    }

    pub(crate) fn deployed(&self, how: &'static str, seconds: f64) {
        self.deploys.get_or_create(&[("upload", how)]).inc();
        self.deploy_seconds.observe(seconds);
    }

    pub(crate) fn brotli_made(&self, smaller: bool) {
        self.brotli.get_or_create(&[("result", if smaller { "stored" } else { "not_smaller" })]).inc();
    }

    pub(crate) fn change_heard(&self, lag_seconds: f64) {
        self.change_lag.observe(lag_seconds);
    }

    /// Adds a metric owned by another part of the process (the edge's, say); the name gets
    /// the `tmahost_` prefix.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry().register(name, help, metric);
    }

    /// Adds metrics read at scrape time (per-app counters the hot path keeps as atomics).
    pub fn register_collector(&self, collector: impl Collector) {
        self.registry().register_collector(Box::new(collector));
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry()).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_appear_in_the_exposition() {
        let m = Metrics::default();
        m.blob_upload(BlobUpload::Stored, 10);
        m.blob_upload(BlobUpload::Stored, 5);
        m.deployed("digest", 0.2);
        let text = m.render();
        assert!(text.contains("tmahost_blob_uploads_total{result=\"stored\"} 2"), "{text}");
        assert!(text.contains("tmahost_blob_upload_bytes_total 15"), "{text}");
        assert!(text.contains("tmahost_deploys_total{upload=\"digest\"} 1"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
