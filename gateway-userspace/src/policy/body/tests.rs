use serde_json::json;

use super::{BodyProblem, FieldPath, parse, render};

#[test]
fn nested_fields_and_array_indexes() {
    let body = parse(Some(br#"{"message": {"to": ["a@x", "b@y"], "n": 3}}"#)).unwrap();
    let find = |path: &str| FieldPath::new(path).unwrap().find(&body).map(render);
    assert_eq!(find("message.to.1").as_deref(), Some("b@y"));
    assert_eq!(find("message.n").as_deref(), Some("3"));
    assert_eq!(find("message.to").as_deref(), Some(r#"["a@x","b@y"]"#));
    assert_eq!(find("message.cc"), None);
    assert_eq!(find("message.to.x"), None);
    assert_eq!(find("message.n.deeper"), None);
}

#[test]
fn rendering_strings_raw_and_the_rest_as_json() {
    assert_eq!(render(&json!("a\"b")), "a\"b");
    assert_eq!(render(&json!(false)), "false");
    assert_eq!(render(&json!(1.5)), "1.5");
    assert_eq!(render(&json!(null)), "null");
}

#[test]
fn bodies_without_fields() {
    assert_eq!(parse(None), Err(BodyProblem::Absent));
    assert_eq!(parse(Some(b"")), Err(BodyProblem::Absent));
    assert_eq!(parse(Some(b"[1, 2]")), Err(BodyProblem::NotObject));
    assert!(matches!(
        parse(Some(b"to=a@x")),
        Err(BodyProblem::NotJson(_))
    ));
    // Cut short at the prefix limit: not JSON.
    assert!(matches!(
        parse(Some(br#"{"to": "a@x", "body": "..."#)),
        Err(BodyProblem::NotJson(_))
    ));
}

#[test]
fn duplicate_keys_are_refused_at_any_depth() {
    let twice = br#"{"to": "ok@example.com", "to": "evil@x"}"#;
    assert!(matches!(parse(Some(twice)), Err(BodyProblem::NotJson(e)) if e.contains("duplicate")));
    let nested = br#"{"m": [{"a": 1, "a": 2}]}"#;
    assert!(parse(Some(nested)).is_err());
}

#[test]
fn invalid_field_paths() {
    for path in ["", ".a", "a..b", "a."] {
        assert!(FieldPath::new(path).is_err(), "{path:?}");
    }
}
