//! Proves the S3 test harness: LocalStack starts, and the SDK client can write, list and read
//! objects.

use crate::support::{block_on, localstack};

#[test]
fn put_list_get_round_trip() {
    let ls = localstack();
    let local = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(local.path().join("2026/01")).unwrap();
    std::fs::write(local.path().join("2026/01/x.log"), "x\n").unwrap();
    std::fs::write(local.path().join("top.log"), "top\n").unwrap();

    block_on(async {
        let bucket = ls.unique_bucket("smoke");
        ls.create_bucket(&bucket).await;
        ls.put_object(&bucket, "logs/a.log", b"alpha\n".to_vec())
            .await;
        ls.put_object(&bucket, "logs/b.log", b"beta\n".to_vec())
            .await;
        let uploaded = ls.upload_dir(&bucket, "dir", local.path()).await;
        assert_eq!(uploaded, ["dir/2026/01/x.log", "dir/top.log"]);

        assert_eq!(
            ls.list_keys(&bucket, "").await,
            [
                "dir/2026/01/x.log",
                "dir/top.log",
                "logs/a.log",
                "logs/b.log"
            ]
        );
        assert_eq!(
            ls.list_keys(&bucket, "logs/").await,
            ["logs/a.log", "logs/b.log"]
        );

        let client = ls.client().await;
        for (key, want) in [("logs/b.log", "beta\n"), ("dir/2026/01/x.log", "x\n")] {
            let got = client
                .get_object()
                .bucket(&bucket)
                .key(key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes();
            assert_eq!(got, want.as_bytes(), "body of `{key}`");
        }
    });
}
