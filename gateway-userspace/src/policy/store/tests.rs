use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use super::{super::Action, Policy, PolicyStore, Reload, spawn_reloader};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gw-policy-store-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("packs")).unwrap();
    dir
}

fn allowing(cidr: &str) -> String {
    format!("[[rules]]\nname = \"r\"\naction = \"allow\"\nhosts = [\"{cidr}\"]\n")
}

fn allows(store: &PolicyStore, dst: &str) -> bool {
    let dst: SocketAddr = dst.parse().unwrap();
    store.current().decide(dst).action == Action::Allow
}

fn store_for(path: &Path) -> Arc<PolicyStore> {
    PolicyStore::new(path.to_owned(), Policy::load(path).unwrap())
}

#[test]
fn change_bad_file_and_restore() {
    let dir = temp_dir("cycle");
    let path = dir.join("policy.toml");
    std::fs::write(&path, allowing("10.0.0.1")).unwrap();
    let store = store_for(&path);
    assert_eq!(store.poll(), Reload::Unchanged);
    assert!(allows(&store, "10.0.0.1:80"));

    std::fs::write(&path, allowing("10.0.0.2")).unwrap();
    assert_eq!(store.poll(), Reload::Reloaded);
    assert!(allows(&store, "10.0.0.2:80"));
    assert!(!allows(&store, "10.0.0.1:80"));

    // Invalid: the last good policy stays, and it is reported once.
    std::fs::write(&path, "[[rules]]\nname = \"r\"\naction = \"sometimes\"\n").unwrap();
    assert_eq!(store.poll(), Reload::Failed);
    assert_eq!(store.poll(), Reload::Unchanged);
    assert!(allows(&store, "10.0.0.2:80"));

    // Gone for a moment (an editor replacing it): still the last good.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(store.poll(), Reload::Failed);
    assert!(allows(&store, "10.0.0.2:80"));

    std::fs::write(&path, allowing("10.0.0.3")).unwrap();
    assert_eq!(store.poll(), Reload::Reloaded);
    assert!(allows(&store, "10.0.0.3:80"));
}

#[test]
fn a_policy_held_by_a_connection_survives_a_reload() {
    let dir = temp_dir("held");
    let path = dir.join("policy.toml");
    std::fs::write(&path, allowing("10.0.0.1")).unwrap();
    let store = store_for(&path);
    let held = store.current();
    std::fs::write(&path, allowing("10.0.0.2")).unwrap();
    assert_eq!(store.poll(), Reload::Reloaded);
    assert_eq!(
        held.decide("10.0.0.1:80".parse().unwrap()).action,
        Action::Allow
    );
}

#[test]
fn pack_changes_are_picked_up_and_a_missing_pack_is_retried() {
    let dir = temp_dir("pack");
    let path = dir.join("policy.toml");
    let pack = dir.join("packs/svc.toml");
    let pack_text = |method: &str| {
        format!(
            "name = \"svc\"\ndescription = \"d\"\nhosts = [\"10.0.0.0/8\"]\n[[read]]\nmethods = [\"{method}\"]\n"
        )
    };
    std::fs::write(
        &path,
        "[[rules]]\nname = \"s\"\npack = \"svc\"\nread = \"allow\"\n",
    )
    .unwrap();
    // The pack does not exist yet: loading fails, and the store starts
    // from the empty policy.
    let store = PolicyStore::new(path.clone(), Policy::default());
    assert_eq!(store.poll(), Reload::Failed);
    assert_eq!(store.poll(), Reload::Unchanged);
    std::fs::write(&pack, pack_text("GET")).unwrap();
    assert_eq!(
        store.poll(),
        Reload::Reloaded,
        "creating the pack is a change"
    );
    assert_eq!(store.current().rule_count(), 1);
    std::fs::write(&pack, pack_text("GE T")).unwrap();
    assert_eq!(store.poll(), Reload::Failed, "editing the pack is a change");
    assert_eq!(store.current().rule_count(), 1);
}

#[test]
fn a_store_started_with_another_policy_loads_its_file() {
    let dir = temp_dir("initial");
    let path = dir.join("policy.toml");
    std::fs::write(&path, allowing("10.0.0.1")).unwrap();
    let store = PolicyStore::new(path, Policy::default());
    assert!(!allows(&store, "10.0.0.1:80"));
    assert_eq!(store.poll(), Reload::Reloaded);
    assert!(allows(&store, "10.0.0.1:80"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reloader_polls() {
    let dir = temp_dir("task");
    let path = dir.join("policy.toml");
    std::fs::write(&path, allowing("10.0.0.1")).unwrap();
    let store = store_for(&path);
    let reloader = spawn_reloader(vec![Arc::clone(&store)], Duration::from_millis(10));
    std::fs::write(&path, allowing("10.0.0.2")).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !allows(&store, "10.0.0.2:80") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reload within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    reloader.abort();
}
