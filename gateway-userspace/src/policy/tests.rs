use std::{net::SocketAddr, path::Path};

use super::*;

fn policy(text: &str) -> Policy {
    Policy::parse(text, Path::new("test.toml")).unwrap()
}

fn dst(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn first_match_wins_and_default_denies() {
    let p = policy(
        r#"
[[rules]]
name = "no-db"
action = "deny"
hosts = ["10.0.0.5"]
ports = [5432]

[[rules]]
name = "lan"
action = "allow"
hosts = ["10.0.0.0/8"]
"#,
    );
    assert_eq!(p.decide(dst("10.0.0.5:5432")).rule.as_ref(), "no-db");
    assert_eq!(p.decide(dst("10.0.0.5:5432")).action, Action::Deny);
    assert_eq!(p.decide(dst("10.0.0.5:80")).action, Action::Allow);
    let other = p.decide(dst("192.0.2.1:80"));
    assert_eq!(
        (other.action, other.rule.as_ref()),
        (Action::Deny, "default")
    );
}

#[test]
fn port_ranges_and_ipv6() {
    let p = policy(
        r#"
[[rules]]
name = "r"
action = "allow"
hosts = ["fd00::/8", "127.0.0.1"]
ports = [80, "8000-8100"]
"#,
    );
    assert_eq!(p.decide(dst("[fd00::1]:8050")).action, Action::Allow);
    assert_eq!(p.decide(dst("[fd00::1]:8101")).action, Action::Deny);
    assert_eq!(p.decide(dst("127.0.0.1:80")).action, Action::Allow);
    // A v4-mapped address is the IPv4 address.
    assert_eq!(p.decide(dst("[::ffff:127.0.0.1]:80")).action, Action::Allow);
}

#[test]
fn names_never_match_raw_addresses() {
    let p = policy(
        "[[rules]]\nname = \"n\"\naction = \"allow\"\nhosts = [\"*.example.com\", \"example.com\"]\n",
    );
    assert_eq!(p.decide(dst("192.0.2.1:443")).action, Action::Deny);
}

#[test]
fn bad_host_reports_line_and_column() {
    let err = Policy::parse(
        "[[rules]]\nname = \"r\"\naction = \"allow\"\nhosts = [\"10.0.0.1\", \"10.0.0.300\"]\n",
        Path::new("p.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("line 4, column 22"), "{err}");
    assert!(err.contains("10.0.0.300"), "{err}");
}

#[test]
fn syntax_error_reports_line() {
    let err = Policy::parse(
        "[[rules]]\nname = \"r\"\naction = \"maybe\"\nhosts = []\n",
        Path::new("p.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn bad_port_range() {
    assert!("9-1".parse::<PortRange>().is_err());
    assert!("x".parse::<PortRange>().is_err());
    assert_eq!(
        "1-2".parse::<PortRange>().unwrap(),
        PortRange { first: 1, last: 2 }
    );
}
