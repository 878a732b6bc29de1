use crate::support::cli::{blobtier, run, tree_digest, tree_digest_excluding};
use crate::support::{block_on, localstack};
use std::path::Path;

#[test]
fn parallel_a() {
    let ls = localstack();
    eprintln!("A endpoint {}", ls.endpoint());
    std::thread::sleep(std::time::Duration::from_millis(300));
    block_on(async {
        let b = ls.unique_bucket("pa");
        ls.create_bucket(&b).await;
    });
}

#[test]
fn parallel_b() {
    let ls = localstack();
    eprintln!("B endpoint {}", ls.endpoint());
    block_on(async {
        let b = ls.unique_bucket("pb");
        ls.create_bucket(&b).await;
    });
}

#[test]
fn cli_helpers() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("out/x")).unwrap();
    std::fs::write(d.path().join("out/x/f"), "1").unwrap();
    std::fs::write(d.path().join("output"), "2").unwrap();
    std::fs::write(d.path().join("a"), "3").unwrap();
    let all = tree_digest(d.path());
    eprintln!("{all:?}");
    assert_eq!(all.len(), 3);
    let ex = tree_digest_excluding(d.path(), &[Path::new("out")]);
    assert_eq!(ex.len(), 2);
    let o = run(blobtier()
        .arg("--definitely-not-a-flag")
        .env("RUST_LOG", "x"));
    eprintln!("code {:?}", o.status.code());
}

#[test]
fn hold() {
    let ls = localstack();
    eprintln!("HOLD up at {}", ls.endpoint());
    std::thread::sleep(std::time::Duration::from_secs(60));
}
