//! Invalid policies: every error names line and column.

use super::*;

fn error(text: &str) -> String {
    Policy::parse(text, Path::new("p.toml"))
        .unwrap_err()
        .to_string()
}

fn assert_error(text: &str, at: &str, says: &str) {
    let err = error(text);
    assert!(err.contains(at), "expected {at:?} in: {err}");
    assert!(err.contains(says), "expected {says:?} in: {err}");
}

#[test]
fn unknown_action() {
    assert_error(
        "[[rules]]\nname = \"r\"\naction = \"maybe\"\nhosts = []\n",
        "line 3, column 10",
        "unknown action \"maybe\"",
    );
}

#[test]
fn invalid_host() {
    assert_error(
        "[[rules]]\nname = \"r\"\naction = \"allow\"\nhosts = [\"ex ample.com\"]\n",
        "line 4, column 10",
        "invalid host",
    );
    assert_error(
        "[[rules]]\nname = \"r\"\naction = \"allow\"\nhosts = [\"*.\"]\n",
        "line 4",
        "invalid host",
    );
}

#[test]
fn invalid_path_glob() {
    assert_error(
        "[[rules]]\nname = \"r\"\naction = \"allow\"\nhosts = [\"a.com\"]\npaths = [\"/ok\", \"/a/**b\"]\n",
        "line 5, column 17",
        "invalid path glob \"/a/**b\"",
    );
    assert_error(
        "[[rules]]\nname = \"r\"\naction = \"allow\"\nhosts = [\"a.com\"]\npaths = [\"no-slash\"]\n",
        "line 5, column 10",
        "must start with '/'",
    );
}

#[test]
fn invalid_method_header_and_body_field() {
    let rule = "[[rules]]\nname = \"r\"\naction = \"allow\"\nhosts = [\"a.com\"]\n";
    assert_error(
        &format!("{rule}methods = [\"GE T\"]\n"),
        "line 5, column 12",
        "invalid method",
    );
    assert_error(
        &format!("{rule}headers = {{ \"bad name\" = \"x\" }}\n"),
        "line 5",
        "invalid header name",
    );
    assert_error(
        &format!("{rule}body = {{ \"a..b\" = \"x\" }}\n"),
        "line 5",
        "invalid body field",
    );
    assert_error(
        &format!("{rule}query = {{ a = [1] }}\n"),
        "line 5",
        "expected a string glob",
    );
}

#[test]
fn rule_with_neither_action_nor_pack() {
    assert_error(
        "[[rules]]\nname = \"lonely\"\nhosts = [\"a.com\"]\n",
        "line 2, column 8",
        "rule \"lonely\" has neither `action` nor `pack`",
    );
}

#[test]
fn pack_with_action() {
    assert_error(
        "[[rules]]\nname = \"g\"\npack = \"gmail\"\naction = \"allow\"\n",
        "line 4, column 10",
        "`pack` and `action` do not go together",
    );
}

#[test]
fn pack_rule_with_conditions_or_no_sides() {
    assert_error(
        "[[rules]]\nname = \"g\"\npack = \"gmail\"\nread = \"allow\"\nhosts = [\"a.com\"]\n",
        "line 3, column 8",
        "a pack rule takes only name, pack, read, write and reason",
    );
    assert_error(
        "[[rules]]\nname = \"g\"\npack = \"gmail\"\n",
        "line 3, column 8",
        "sets neither `read` nor `write`",
    );
}

#[test]
fn read_or_write_without_pack() {
    assert_error(
        "[[rules]]\nname = \"r\"\naction = \"allow\"\nhosts = [\"a.com\"]\nwrite = \"deny\"\n",
        "line 5, column 9",
        "`read` and `write` go with `pack`",
    );
}

#[test]
fn missing_hosts() {
    assert_error(
        "[[rules]]\nname = \"r\"\naction = \"allow\"\n",
        "line 2",
        "needs `hosts`",
    );
}

#[test]
fn duplicate_rule_names() {
    assert_error(
        "[[rules]]\nname = \"r\"\naction = \"allow\"\nhosts = [\"a.com\"]\n\n\
         [[rules]]\nname = \"r\"\naction = \"deny\"\nhosts = [\"b.com\"]\n",
        "line 7, column 8",
        "the rule name \"r\" is used twice",
    );
}

#[test]
fn reserved_default_name() {
    assert_error(
        "[[rules]]\nname = \"default\"\naction = \"allow\"\nhosts = [\"a.com\"]\n",
        "line 2, column 8",
        "reserved",
    );
}

#[test]
fn approve_needs_a_reason() {
    assert_error(
        "[[rules]]\nname = \"send\"\naction = \"approve\"\nhosts = [\"a.com\"]\n",
        "line 3, column 10",
        "approve rule send needs a reason shown to the approver",
    );
}

#[test]
fn unknown_field_and_syntax_errors_have_a_position() {
    assert_error(
        "[[rules]]\nname = \"r\"\naction = \"allow\"\nhosts = [\"a.com\"]\nmethod = [\"GET\"]\n",
        "line 5, column 1",
        "unknown field `method`",
    );
    assert_error("[[rules]\nname = \"r\"\n", "line 1", "p.toml");
}
