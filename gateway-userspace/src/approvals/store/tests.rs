use std::{sync::Arc, time::Duration};

use super::{Admission, ApprovalStore, StoreError};
use crate::{
    approvals::{
        ApprovalSettings,
        desk::{ApprovalDesk as _, ApprovalStatus, DeskError, Verdict},
        snapshot::{NewApproval, RequestSnapshot},
    },
    audit::{AuditKind, AuditLog},
};

fn open(db: &sled::Db, settings: ApprovalSettings) -> (Arc<ApprovalStore>, AuditLog) {
    let audit = AuditLog::open(db).unwrap();
    (
        ApprovalStore::open(db, audit.clone(), settings).unwrap(),
        audit,
    )
}

fn temp() -> (Arc<ApprovalStore>, AuditLog) {
    let db = sled::Config::new().temporary(true).open().unwrap();
    open(&db, ApprovalSettings::default())
}

fn request(agent: &str, path: &str, body: &[u8]) -> NewApproval {
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", "Bearer sk-secret".parse().unwrap());
    NewApproval::new(&RequestSnapshot {
        agent,
        method: "POST",
        scheme: "https",
        host: "api.example.com",
        port: 443,
        path_and_query: path,
        headers: &headers,
        body,
        rule: "pay",
        reason: "payments need a person",
        request_id: "r-1",
    })
}

fn created(admission: Admission) -> String {
    match admission {
        Admission::Wait {
            approval,
            created: true,
        } => approval.id,
        other => panic!("expected a new approval, got {other:?}"),
    }
}

#[test]
fn identical_requests_share_one_pending_approval() {
    let (store, _) = temp();
    let id = created(store.admit(&request("a", "/pay", b"10")).unwrap());
    assert_eq!(id.len(), 16);
    match store.admit(&request("a", "/pay", b"10")).unwrap() {
        Admission::Wait {
            approval,
            created: false,
        } => assert_eq!(approval.id, id),
        other => panic!("{other:?}"),
    }
    let other = created(store.admit(&request("a", "/pay", b"11")).unwrap());
    assert_ne!(other, id, "another body is another approval");
    let shown = store.show(&id).unwrap();
    assert!(!format!("{shown:?}").contains("sk-secret"), "{shown:?}");
}

#[test]
fn an_approval_covers_one_identical_request_once() {
    let (store, audit) = temp();
    let id = created(store.admit(&request("a", "/pay", b"10")).unwrap());
    let decided = store
        .decide(&id, Verdict::Approve, "root", "cli", None)
        .unwrap();
    assert_eq!(decided.status, ApprovalStatus::Approved);
    assert!(matches!(
        store.decide(&id, Verdict::Deny, "root", "cli", None),
        Err(DeskError::AlreadyDecided {
            status: ApprovalStatus::Approved,
            ..
        })
    ));
    assert!(
        matches!(
            store.admit(&request("a", "/pay", b"11")).unwrap(),
            Admission::Wait { created: true, .. }
        ),
        "a changed body is not covered"
    );
    match store.admit(&request("a", "/pay", b"10")).unwrap() {
        Admission::Go(used) => assert_eq!(
            (used.id.as_str(), used.status),
            (id.as_str(), ApprovalStatus::Used)
        ),
        other => panic!("{other:?}"),
    }
    let again = created(store.admit(&request("a", "/pay", b"10")).unwrap());
    assert_ne!(again, id, "the second retry needs a new approval");
    assert!(
        store.consume(&id, "r-2").unwrap().is_none(),
        "used once only"
    );
    let mut kinds = Vec::new();
    audit.sync_blocking();
    audit
        .export(0, |r| {
            kinds.push(r.event.kind);
            Ok(())
        })
        .unwrap();
    assert_eq!(
        kinds,
        [
            AuditKind::ApprovalRequested,
            AuditKind::Approved,
            AuditKind::ApprovalRequested,
            AuditKind::ApprovalUsed,
            AuditKind::ApprovalRequested
        ]
    );
}

#[test]
fn a_denial_stands_for_the_approvals_lifetime() {
    let (store, _) = temp();
    let id = created(store.admit(&request("a", "/pay", b"10")).unwrap());
    store
        .decide(&id, Verdict::Deny, "root", "cli", Some("no"))
        .unwrap();
    match store.admit(&request("a", "/pay", b"10")).unwrap() {
        Admission::Denied(view) => {
            assert_eq!(view.id, id);
            assert_eq!(view.decision_reason.as_deref(), Some("no"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn pending_approvals_expire_and_free_the_request() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let settings = ApprovalSettings {
        expire: Duration::from_millis(100),
        ..ApprovalSettings::default()
    };
    let (store, _) = open(&db, settings);
    let id = created(store.admit(&request("a", "/pay", b"10")).unwrap());
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(store.expire_due().unwrap(), 1);
    assert_eq!(store.show(&id).unwrap().status, ApprovalStatus::Expired);
    assert!(matches!(
        store.decide(&id, Verdict::Approve, "root", "cli", None),
        Err(DeskError::AlreadyDecided {
            status: ApprovalStatus::Expired,
            ..
        })
    ));
    let fresh = created(store.admit(&request("a", "/pay", b"10")).unwrap());
    assert_ne!(fresh, id);
}

#[test]
fn pending_approvals_are_capped_per_agent() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let settings = ApprovalSettings {
        max_pending_per_agent: 3,
        ..ApprovalSettings::default()
    };
    let (store, _) = open(&db, settings);
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(created(
            store.admit(&request("a", &format!("/{n}"), b"")).unwrap(),
        ));
    }
    assert!(matches!(
        store.admit(&request("a", "/3", b"")),
        Err(StoreError::TooManyPending { limit: 3, .. })
    ));
    created(store.admit(&request("b", "/3", b"")).unwrap());
    store
        .decide(&ids[0], Verdict::Deny, "root", "cli", None)
        .unwrap();
    created(store.admit(&request("a", "/3", b"")).unwrap());
}

#[test]
fn approvals_and_counts_survive_reopening() {
    let dir = std::env::temp_dir().join(format!("gateway-store-reopen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let settings = ApprovalSettings {
        max_pending_per_agent: 2,
        ..ApprovalSettings::default()
    };
    let (first, second) = {
        let db = sled::open(&dir).unwrap();
        let (store, _) = open(&db, settings.clone());
        let first = created(store.admit(&request("a", "/1", b"")).unwrap());
        let second = created(store.admit(&request("a", "/2", b"")).unwrap());
        store
            .decide(&second, Verdict::Approve, "root", "cli", None)
            .unwrap();
        (first, second)
    };
    std::thread::sleep(Duration::from_millis(300));
    let db = sled::open(&dir).unwrap();
    let (store, audit) = open(&db, settings);
    assert_eq!(store.show(&first).unwrap().status, ApprovalStatus::Pending);
    assert_eq!(
        store.show(&second).unwrap().status,
        ApprovalStatus::Approved
    );
    assert!(matches!(
        store.admit(&request("a", "/2", b"")).unwrap(),
        Admission::Go(_)
    ));
    created(store.admit(&request("a", "/3", b"")).unwrap());
    assert!(matches!(
        store.admit(&request("a", "/4", b"")),
        Err(StoreError::TooManyPending { .. })
    ));
    assert!(audit.verify().is_ok());
    drop((store, audit, db));
    let _ = std::fs::remove_dir_all(&dir);
}

mod holding {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::{created, request, temp};
    use crate::approvals::{
        ApprovalSettings,
        desk::{ApprovalDesk as _, ApprovalStatus, Verdict},
        hold::hold,
    };
    use crate::audit::AuditKind;

    #[tokio::test]
    async fn a_decision_ends_the_hold_at_once() {
        let (store, _) = temp();
        let id = created(store.admit(&request("a", "/pay", b"1")).unwrap());
        let decider = {
            let (store, id) = (std::sync::Arc::clone(&store), id.clone());
            tokio::task::spawn_blocking(move || {
                std::thread::sleep(Duration::from_millis(100));
                store
                    .decide(&id, Verdict::Approve, "root", "cli", None)
                    .unwrap();
            })
        };
        let started = Instant::now();
        let now = hold(&store, &id, Instant::now() + Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(now.status, ApprovalStatus::Approved);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        decider.await.unwrap();
    }

    #[tokio::test]
    async fn the_hold_ends_pending_at_its_deadline_or_expired_at_expiry() {
        let (store, _) = temp();
        let id = created(store.admit(&request("a", "/pay", b"1")).unwrap());
        let now = hold(&store, &id, Instant::now() + Duration::from_millis(200))
            .await
            .unwrap();
        assert_eq!(now.status, ApprovalStatus::Pending);

        let db = sled::Config::new().temporary(true).open().unwrap();
        let settings = ApprovalSettings {
            expire: Duration::from_millis(300),
            ..ApprovalSettings::default()
        };
        let (store, _) = super::open(&db, settings);
        let id = created(store.admit(&request("a", "/pay", b"1")).unwrap());
        let started = Instant::now();
        let now = hold(&store, &id, Instant::now() + Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(now.status, ApprovalStatus::Expired);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(store.show(&id).unwrap().status, ApprovalStatus::Expired);
    }

    /// A held request is woken only once the decision is in the audit log,
    /// so the log never shows an approval used before it was approved.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_held_request_wakes_only_after_the_decision_is_recorded() {
        let (store, audit) = temp();
        let mut ids = Vec::new();
        for round in 0..20u8 {
            let id = created(store.admit(&request("a", "/pay", &[round])).unwrap());
            let decider = {
                let (store, id) = (std::sync::Arc::clone(&store), id.clone());
                tokio::task::spawn_blocking(move || {
                    store.decide(&id, Verdict::Approve, "root", "web", None)
                })
            };
            let now = hold(&store, &id, Instant::now() + Duration::from_secs(30))
                .await
                .unwrap();
            assert_eq!(now.status, ApprovalStatus::Approved);
            // What the intercepted request does next.
            let used = {
                let (store, id) = (std::sync::Arc::clone(&store), id.clone());
                tokio::task::spawn_blocking(move || store.consume(&id, "r-1"))
            };
            assert!(used.await.unwrap().unwrap().is_some());
            decider.await.unwrap().unwrap();
            ids.push(id);
        }
        audit.sync().await;
        let mut order = Vec::new();
        audit
            .export(0, |r| {
                order.push((
                    r.event.approval_id.clone().unwrap_or_default(),
                    r.event.kind,
                ));
                Ok(())
            })
            .unwrap();
        for id in ids {
            let kinds: Vec<AuditKind> = order
                .iter()
                .filter(|(of, _)| *of == id)
                .map(|(_, kind)| *kind)
                .collect();
            assert_eq!(
                kinds,
                [
                    AuditKind::ApprovalRequested,
                    AuditKind::Approved,
                    AuditKind::ApprovalUsed
                ],
                "approval {id}"
            );
        }
    }
}
