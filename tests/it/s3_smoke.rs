//! Proves the S3 test harness: LocalStack starts, and the SDK client can write and list objects.

use crate::support::{block_on, localstack};

#[test]
fn put_and_list_round_trip() {
    let ls = localstack();
    block_on(async {
        let bucket = ls.unique_bucket("smoke");
        let t = std::time::Instant::now();
        ls.create_bucket(&bucket).await;
        eprintln!("create {:?}", t.elapsed());
        ls.put_object(&bucket, "logs/2026/01/a.log", b"alpha\n".to_vec())
            .await;
        ls.put_object(&bucket, "logs/2026/01/b.log", b"beta\n".to_vec())
            .await;
        ls.put_object(&bucket, "other/c.log", b"gamma\n".to_vec())
            .await;

        assert_eq!(
            ls.list_keys(&bucket, "logs/").await,
            ["logs/2026/01/a.log", "logs/2026/01/b.log"]
        );
        eprintln!("puts+list {:?}", t.elapsed());
        assert_eq!(ls.list_keys(&bucket, "").await.len(), 3);
        eprintln!("list {:?}", t.elapsed());

        let client = ls.client().await;
        let got = client
            .get_object()
            .bucket(&bucket)
            .key("logs/2026/01/b.log")
            .send()
            .await
            .expect("get object")
            .body
            .collect()
            .await
            .expect("read body")
            .into_bytes();
        assert_eq!(&got[..], b"beta\n");
    });
}
