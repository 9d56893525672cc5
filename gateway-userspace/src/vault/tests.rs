use std::path::PathBuf;

use zeroize::Zeroizing;

use super::*;
use crate::vault::{key::KeySource, placeholder::LEN, record::FORMAT_VERSION};

pub fn key(byte: u8) -> VaultKey {
    VaultKey::from_bytes(&[byte; 32], KeySource::Env)
}

pub fn secret(text: &str) -> SecretValue {
    SecretValue::from_input(Zeroizing::new(text.as_bytes().to_vec())).expect("valid secret")
}

fn bearer(hosts: &[&str], agents: &[&str]) -> Binding {
    Binding {
        hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        position: Position::Header {
            name: "Authorization".into(),
            format: "Bearer {}".into(),
        },
        agents: AgentScope::Only(agents.iter().map(|a| (*a).to_owned()).collect()),
    }
    .validated()
    .expect("valid binding")
}

#[test]
fn a_record_opens_with_its_key_only() {
    let binding = bearer(&["api.example.com"], &["a"]);
    let record = SealedRecord::seal(&key(1), "TOKEN", &binding, &secret("s3cret-value")).unwrap();
    assert!(!record.ciphertext.contains("s3cret"));
    assert_eq!(record.open(&key(1)).unwrap().expose(), b"s3cret-value");
    assert!(matches!(
        record.open(&key(2)),
        Err(RecordError::KeyMismatch { .. })
    ));
}

#[test]
fn tampering_with_a_record_is_detected() {
    let k = key(1);
    let binding = bearer(&["api.example.com"], &["a"]);
    let one = SealedRecord::seal(&k, "ONE", &binding, &secret("first-secret")).unwrap();
    let two = SealedRecord::seal(&k, "TWO", &binding, &secret("second-secret")).unwrap();

    let mut edited_host = one.clone();
    edited_host.binding.hosts = vec!["evil.example.net".into()];
    let mut edited_agents = one.clone();
    edited_agents.binding.agents = AgentScope::Any;
    let mut renamed = one.clone();
    renamed.name = "TWO".into();
    let mut swapped = two.clone();
    swapped.ciphertext.clone_from(&one.ciphertext);
    swapped.nonce.clone_from(&one.nonce);
    let mut flipped = one.clone();
    let mut bytes = flipped.ciphertext.into_bytes();
    bytes[2] = if bytes[2] == b'A' { b'B' } else { b'A' };
    flipped.ciphertext = String::from_utf8(bytes).unwrap();

    for (what, record) in [
        ("edited host", edited_host),
        ("edited agents", edited_agents),
        ("renamed", renamed),
        ("swapped ciphertext", swapped),
        ("flipped bit", flipped),
    ] {
        assert_eq!(
            record.open(&k).map(|_| ()),
            Err(RecordError::Authentication),
            "{what}"
        );
    }
    assert_eq!(two.open(&k).unwrap().expose(), b"second-secret");
}

#[test]
fn secret_values_never_print() {
    let value = secret("printable-secret");
    assert_eq!(format!("{value:?} {value}"), "[redacted] [redacted]");
    let opened = Opened {
        secrets: vec![Secret {
            name: "X".into(),
            binding: bearer(&["a.example"], &["a"]),
            value,
        }],
        failures: Vec::new(),
    };
    assert!(!format!("{opened:?}").contains("printable-secret"));
}

#[test]
fn secret_input_is_checked() {
    let input = |s: &str| SecretValue::from_input(Zeroizing::new(s.as_bytes().to_vec()));
    assert_eq!(input("abcdefgh\n").unwrap().expose(), b"abcdefgh");
    assert_eq!(input("abcdefgh\r\n").unwrap().expose(), b"abcdefgh");
    assert!(input("short").is_err());
    assert!(input("two\nlines-here").is_err());
    assert!(input("tab\there-too").is_err());
}

#[test]
fn placeholders_are_per_agent_and_secret_and_stable() {
    let k = key(7);
    let a = Placeholder::derive(&k, "a", "TOKEN");
    assert_eq!(a, Placeholder::derive(&key(7), "a", "TOKEN"));
    assert_ne!(a, Placeholder::derive(&k, "b", "TOKEN"));
    assert_ne!(a, Placeholder::derive(&k, "a", "OTHER"));
    assert_ne!(a, Placeholder::derive(&key(8), "a", "TOKEN"));
    assert_ne!(
        Placeholder::derive(&k, "ab", "C"),
        Placeholder::derive(&k, "a", "BC")
    );
    let text = a.as_str();
    assert_eq!(text.len(), LEN);
    assert!(text.starts_with("gwph-"));
    assert!(
        text[5..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
}

#[test]
fn placeholders_are_found_anywhere() {
    let p = Placeholder::derive(&key(7), "a", "TOKEN");
    let upper = format!("gwph-{}", p.as_str()[5..].to_ascii_uppercase());
    let text = format!("x={p}&y=gwph-short&z={upper}.evil.example");
    let found: Vec<Placeholder> = Placeholder::find_all(text.as_bytes())
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    assert_eq!(found, vec![p.clone(), p]);
}

#[test]
fn hosts_match_exactly_or_below_a_wildcard() {
    let b = bearer(&["API.example.com.", "*.example.org"], &["a"]);
    assert_eq!(b.hosts, ["api.example.com", "*.example.org"]);
    assert!(b.allows_host("api.example.com"));
    assert!(!b.allows_host("example.com"));
    assert!(!b.allows_host("api.example.com.evil.net"));
    assert!(b.allows_host("x.example.org"));
    assert!(b.allows_host("a.b.example.org"));
    assert!(!b.allows_host("example.org"));
    assert!(!b.allows_host("badexample.org"));
    assert!(b.allows_agent("a") && !b.allows_agent("b"));
}

#[test]
fn bindings_and_names_are_validated() {
    let with = |position| Binding {
        hosts: vec!["a.example".into()],
        position,
        agents: AgentScope::Any,
    };
    for bad in [
        with(Position::Header {
            name: "Authorization".into(),
            format: "Bearer".into(),
        }),
        with(Position::Header {
            name: "host".into(),
            format: "{}".into(),
        }),
        with(Position::Path {
            template: "bot{}".into(),
        }),
        with(Position::Query { key: "a=b".into() }),
        with(Position::BasicAuth { user: "a:b".into() }),
        Binding {
            agents: AgentScope::Only(Vec::new()),
            ..with(Position::Query { key: "k".into() })
        },
    ] {
        assert!(bad.clone().validated().is_err(), "{bad:?}");
    }
    assert!(validate_name("GITHUB_TOKEN").is_ok());
    assert!(validate_name("1X").is_err());
    assert!(validate_name("A-B").is_err());
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gw-vault-unit-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn an_unreadable_record_is_kept_verbatim_and_reported() {
    let dir = temp_dir("verbatim");
    let path = vault_path(&dir);
    let k = key(3);
    let good = SealedRecord::seal(
        &k,
        "GOOD",
        &bearer(&["a.example"], &["a"]),
        &secret("good-secret"),
    )
    .unwrap();
    let text = serde_json::json!({
        "format": FORMAT_VERSION,
        "records": [good, {"name": "BROKEN", "binding": 42}],
    });
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&path, text.to_string()).unwrap();
    let mut file = VaultFile::read(&path).unwrap();
    let opened = file.open_all(&k);
    assert_eq!(opened.secrets.len(), 1);
    assert_eq!(opened.failures.len(), 1);
    assert_eq!(opened.failures[0].0, "BROKEN");
    file.entries.retain(|e| e.name() != Some("GOOD"));
    file.write(&path).unwrap();
    let again: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        again["records"][0],
        serde_json::json!({"name": "BROKEN", "binding": 42})
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    std::fs::write(&path, "{not json").unwrap();
    assert!(matches!(
        VaultFile::read(&path),
        Err(VaultError::Corrupt { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_key_file_is_created_private_and_refused_when_exposed() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = temp_dir("keyfile");
    let created = VaultKey::load_or_create(&dir).unwrap();
    let file = dir.join("vault.key");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // The file alone, whatever GATEWAY_VAULT_KEY says in this process.
    assert_eq!(VaultKey::load_file(&dir).unwrap().id(), created.id());
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        VaultKey::load_file(&dir),
        Err(KeyError::Exposed { .. })
    ));
    std::fs::remove_file(&file).unwrap();
    assert!(matches!(
        VaultKey::load_file(&dir),
        Err(KeyError::Missing { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_vault_sealed_with_another_key_is_refused_whole() {
    let dir = temp_dir("otherkey");
    let sealing = VaultKey::load_or_create(&dir).unwrap();
    let binding = bearer(&["api.example.com"], &["a"]);
    let record = SealedRecord::seal(&sealing, "TOKEN", &binding, &secret("s3cret-value")).unwrap();
    VaultFile {
        entries: vec![Entry::Sealed(record)],
    }
    .write(&vault_path(&dir))
    .unwrap();
    let placeholder = Placeholder::derive(&sealing, "a", "TOKEN");
    let opened = store::VaultStore::open(dir.clone(), vec!["a".into()]).unwrap();
    assert!(
        opened.current().lookup(&placeholder).is_some(),
        "the right key opens it"
    );
    // Another key where the gateway looks for it: not one record is used,
    // and the start says why (a reload keeps the last good vault).
    std::fs::remove_file(dir.join("vault.key")).unwrap();
    VaultKey::load_or_create(&dir).unwrap();
    assert!(matches!(
        store::VaultStore::open(dir.clone(), vec!["a".into()]),
        Err(VaultError::KeyMismatch { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
