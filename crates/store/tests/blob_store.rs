//! The blob-store contract, run on local files and on a real S3 API (`moto_server`, started by
//! the test harness): content addresses, variants, idempotent puts, missing keys, readiness.

use bytes::Bytes;
use tmahost_store::model::Sha256;
use tmahost_store::{BlobKey, BlobStore, Encoding, StoreError};

fn sha(n: u8) -> Sha256 {
    Sha256::parse(&format!("{n:02x}").repeat(32)).expect("sha")
}

async fn contract(store: BlobStore) {
    store.ping().await.expect("an empty store answers");
    assert_eq!(store.count_objects().await.expect("count"), 0);
    let original = BlobKey::Original(sha(1));
    let br = BlobKey::Variant(sha(1), Encoding::Br);
    assert!(matches!(store.get(&original).await, Err(StoreError::NotFound)));
    assert!(!store.exists(&original).await.expect("exists"));

    store.put(&br, Bytes::from_static(b"compressed")).await.expect("variant");
    store.put(&original, Bytes::from_static(b"original bytes")).await.expect("original");
    // Content-addressed: putting the same content again is harmless (racing uploaders do).
    store.put(&original, Bytes::from_static(b"original bytes")).await.expect("again");
    assert_eq!(store.get(&original).await.expect("get"), Bytes::from_static(b"original bytes"));
    assert_eq!(store.get(&br).await.expect("get br"), Bytes::from_static(b"compressed"));
    assert!(store.exists(&br).await.expect("exists"));
    assert!(matches!(store.get(&BlobKey::Variant(sha(1), Encoding::Gzip)).await, Err(StoreError::NotFound)));
    assert_eq!(store.count_objects().await.expect("count"), 2);

    // A large object survives the round trip byte for byte.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    store.put(&BlobKey::Original(sha(2)), Bytes::from(big.clone())).await.expect("big");
    assert_eq!(store.get(&BlobKey::Original(sha(2))).await.expect("big back").as_ref(), big.as_slice());

    store.delete(&br).await.expect("delete");
    assert!(!store.exists(&br).await.expect("gone"));
    assert_eq!(store.count_objects().await.expect("count"), 2);
}

#[tokio::test]
async fn local_files() {
    let dir = tempfile::tempdir().expect("dir");
    contract(BlobStore::from_url(&format!("file://{}", dir.path().display())).expect("store")).await;
}

#[tokio::test]
async fn s3() {
    let Some(s3) = tmahost_testkit::s3::S3Server::start("blobs-suite").await else { return };
    let store = BlobStore::from_url_with(&format!("s3://{}", s3.bucket), &s3.env()).expect("store");
    contract(store).await;
}
