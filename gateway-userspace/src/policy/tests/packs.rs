//! Packs: expansion in place, errors, and the packs shipped in
//! policies/packs classifying real requests.

use std::path::PathBuf;

use super::*;

const SHIPPED: [&str; 8] = [
    "gmail",
    "google-calendar",
    "github",
    "slack",
    "openai",
    "anthropic",
    "stripe",
    "aws",
];

fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

/// A policy beside the shipped packs: reads allowed, writes approved.
fn shipped(pack: &str) -> Policy {
    let text = format!(
        "[[rules]]\nname = {pack:?}\npack = {pack:?}\nread = \"allow\"\nwrite = \"approve\"\nreason = \"writes need a human\"\n"
    );
    Policy::parse(&text, &shipped_dir().join("test-policy.toml")).unwrap()
}

fn side(policy: &Policy, method: &str, url: &str) -> String {
    let (_, rule) = decide(policy, &req(method, url));
    rule.rsplit_once('/')
        .map_or(rule.clone(), |(_, side)| side.to_owned())
}

#[test]
fn every_shipped_pack_parses_and_is_required() {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(shipped_dir().join("packs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let policy = shipped(&name);
            assert!(policy.rule_count() > 0, "{name}");
            let used = &policy.packs()[0];
            assert_eq!(
                (&*used.name, used.rules),
                (name.as_str(), policy.rule_count())
            );
            assert!(!used.description.is_empty(), "{name}");
            found.push(name);
        }
    }
    for required in SHIPPED {
        assert!(
            found.iter().any(|f| f == required),
            "missing pack {required}"
        );
    }
}

#[test]
fn gmail() {
    let p = shipped("gmail");
    let g = |m, path: &str| side(&p, m, &format!("https://gmail.googleapis.com{path}"));
    assert_eq!(g("GET", "/gmail/v1/users/me/messages"), "read");
    assert_eq!(
        g("GET", "/gmail/v1/users/me/messages/18c1f/attachments/a1"),
        "read"
    );
    assert_eq!(g("GET", "/gmail/v1/users/me/threads/abc"), "read");
    assert_eq!(g("POST", "/gmail/v1/users/me/messages/send"), "write");
    assert_eq!(
        g("POST", "/upload/gmail/v1/users/me/messages/send"),
        "write"
    );
    assert_eq!(g("POST", "/gmail/v1/users/me/messages/abc/trash"), "write");
    assert_eq!(g("DELETE", "/gmail/v1/users/me/messages/abc"), "write");
    assert_eq!(g("GET", "/drive/v3/files"), "default");
    let d = p.decide_request(
        &req(
            "POST",
            "https://gmail.googleapis.com/gmail/v1/users/me/messages/send",
        )
        .facts(),
    );
    assert_eq!(
        (d.action, &*d.rule, d.reason.as_deref()),
        (Action::Approve, "gmail/write", Some("writes need a human"))
    );
    // The reason is for the approver: the allowed side does not carry it.
    let url = "https://gmail.googleapis.com/gmail/v1/users/me/messages";
    let read = p.decide_request(&req("GET", url).facts());
    assert_eq!(
        (read.action, &*read.rule, read.reason),
        (Action::Allow, "gmail/read", None)
    );
    assert_eq!(
        side(
            &p,
            "GET",
            "https://www.googleapis.com/gmail/v1/users/me/labels"
        ),
        "read"
    );
    assert_eq!(
        side(&p, "GET", "https://www.googleapis.com/calendar/v3/colors"),
        "default"
    );
}

#[test]
fn google_calendar() {
    let p = shipped("google-calendar");
    let c = |m, path: &str| {
        side(
            &p,
            m,
            &format!("https://www.googleapis.com/calendar/v3{path}"),
        )
    };
    assert_eq!(c("GET", "/calendars/primary/events"), "read");
    assert_eq!(c("GET", "/users/me/calendarList"), "read");
    assert_eq!(c("POST", "/freeBusy"), "read");
    assert_eq!(c("POST", "/calendars/primary/events"), "write");
    assert_eq!(c("PATCH", "/calendars/primary/events/e1"), "write");
    assert_eq!(c("DELETE", "/calendars/primary/events/e1"), "write");
    assert_eq!(c("POST", "/calendars/primary/events/watch"), "write");
}

#[test]
fn github() {
    let p = shipped("github");
    let g = |m, path: &str| side(&p, m, &format!("https://api.github.com{path}"));
    assert_eq!(g("GET", "/repos/o/r/issues"), "read");
    assert_eq!(g("GET", "/user"), "read");
    assert_eq!(g("POST", "/repos/o/r/issues"), "write");
    assert_eq!(g("PATCH", "/repos/o/r/pulls/1"), "write");
    assert_eq!(g("PUT", "/repos/o/r/contents/README.md"), "write");
    assert_eq!(g("POST", "/graphql"), "write");
    let git = |m, url: &str| side(&p, m, &format!("https://github.com{url}"));
    assert_eq!(
        git("GET", "/o/r.git/info/refs?service=git-upload-pack"),
        "read"
    );
    assert_eq!(git("POST", "/o/r.git/git-upload-pack"), "read");
    assert_eq!(
        git("GET", "/o/r/info/refs?service=git-receive-pack"),
        "write"
    );
    assert_eq!(git("POST", "/o/r.git/git-receive-pack"), "write");
    assert_eq!(git("GET", "/o/r"), "default");
    assert_eq!(
        side(
            &p,
            "POST",
            "https://uploads.github.com/repos/o/r/releases/1/assets"
        ),
        "write"
    );
}

#[test]
fn slack() {
    let p = shipped("slack");
    let s = |m, method: &str| side(&p, m, &format!("https://slack.com/api/{method}"));
    assert_eq!(s("POST", "chat.postMessage"), "write");
    assert_eq!(s("GET", "chat.postMessage"), "write");
    assert_eq!(s("GET", "conversations.history"), "read");
    assert_eq!(s("POST", "conversations.history"), "read");
    assert_eq!(s("POST", "users.lookupByEmail"), "read");
    assert_eq!(s("POST", "conversations.archive"), "write");
    assert_eq!(s("POST", "files.completeUploadExternal"), "write");
    assert_eq!(
        side(&p, "GET", "https://files.slack.com/files-pri/T1-F1/a.png"),
        "read"
    );
}

#[test]
fn openai_model_calls_are_writes() {
    let p = shipped("openai");
    let o = |m, path: &str| side(&p, m, &format!("https://api.openai.com{path}"));
    assert_eq!(o("GET", "/v1/models"), "read");
    assert_eq!(o("GET", "/v1/files/file-abc/content"), "read");
    assert_eq!(o("POST", "/v1/chat/completions"), "write");
    assert_eq!(o("POST", "/v1/responses"), "write");
    assert_eq!(o("POST", "/v1/embeddings"), "write");
    assert_eq!(o("GET", "/v1/realtime"), "write");
    assert_eq!(o("DELETE", "/v1/files/file-abc"), "write");
}

#[test]
fn anthropic() {
    let p = shipped("anthropic");
    let a = |m, path: &str| side(&p, m, &format!("https://api.anthropic.com{path}"));
    assert_eq!(a("GET", "/v1/models"), "read");
    assert_eq!(a("GET", "/v1/messages/batches/b1/results"), "read");
    assert_eq!(a("POST", "/v1/messages"), "write");
    assert_eq!(a("POST", "/v1/messages/count_tokens"), "write");
}

#[test]
fn stripe() {
    let p = shipped("stripe");
    let s = |m, path: &str| side(&p, m, &format!("https://api.stripe.com{path}"));
    assert_eq!(s("GET", "/v1/charges"), "read");
    assert_eq!(s("GET", "/v1/customers/search?query=email:'a@b.c'"), "read");
    assert_eq!(s("POST", "/v1/refunds"), "write");
    assert_eq!(s("POST", "/v1/customers/cus_1"), "write");
    assert_eq!(s("DELETE", "/v1/customers/cus_1"), "write");
}

#[test]
fn aws() {
    let p = shipped("aws");
    let get = |url: &str| side(&p, "GET", url);
    assert_eq!(
        get("https://ec2.us-east-1.amazonaws.com/?Action=DescribeInstances&Version=2016-11-15"),
        "read"
    );
    assert_eq!(
        get("https://ec2.us-east-1.amazonaws.com/?Action=TerminateInstances&InstanceId.1=i-1"),
        "write"
    );
    assert_eq!(
        get(
            "https://ec2.us-east-1.amazonaws.com/?Action=DescribeInstances&Action=TerminateInstances"
        ),
        "write"
    );
    assert_eq!(get("https://bucket.s3.amazonaws.com/key.txt"), "read");
    assert_eq!(
        side(&p, "PUT", "https://bucket.s3.amazonaws.com/key.txt"),
        "write"
    );
    assert_eq!(
        side(
            &p,
            "POST",
            "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/f/invocations"
        ),
        "write"
    );
    let target = |t: &'static str| {
        let r = req("POST", "https://dynamodb.us-east-1.amazonaws.com/").header("x-amz-target", t);
        decide(&p, &r).1
    };
    assert_eq!(target("DynamoDB_20120810.GetItem"), "aws/read");
    assert_eq!(target("DynamoDB_20120810.Query"), "aws/read");
    assert_eq!(target("DynamoDB_20120810.PutItem"), "aws/write");
    assert_eq!(target("secretsmanager.GetSecretValue"), "aws/read");
    // Query-protocol POSTs carry the action in a form body: write.
    let form = req("POST", "https://ec2.us-east-1.amazonaws.com/").body("Action=DescribeInstances");
    assert_eq!(decide(&p, &form).1, "aws/write");
    assert_eq!(side(&p, "GET", "https://amazonaws.com/"), "default");
}

/// Writes `packs/<name>.toml` in `dir`.
fn write_pack(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join("packs").join(format!("{name}.toml")), text).unwrap();
}

const SVC_PACK: &str = r#"
name = "svc"
description = "test service"
hosts = ["svc.example.com"]

[[write]]
methods = ["POST"]
paths = ["/items/*/archive"]

[[read]]
methods = ["GET", "POST"]
paths = ["/items/**"]
"#;

#[test]
fn packs_expand_in_place_in_file_order() {
    let dir = temp_dir("pack-order");
    write_pack(&dir, "svc", SVC_PACK);
    let text = r#"
[[rules]]
name = "first"
action = "deny"
hosts = ["svc.example.com"]
paths = ["/items/secret"]

[[rules]]
name = "svc"
pack = "svc"
read = "allow"
write = "approve"
reason = "archiving needs a human"

[[rules]]
name = "after"
action = "allow"
hosts = ["svc.example.com"]
"#;
    let p = Policy::parse(text, &dir.join("policy.toml")).unwrap();
    assert_eq!(p.rule_count(), 4);
    let d = |m, path: &str| decide(&p, &req(m, &format!("https://svc.example.com{path}"))).1;
    assert_eq!(d("GET", "/items/secret"), "first");
    // The pack's write entry comes before its read entry in its file.
    assert_eq!(d("POST", "/items/1/archive"), "svc/write");
    assert_eq!(d("POST", "/items/1"), "svc/read");
    assert_eq!(d("DELETE", "/items/1"), "after");
}

#[test]
fn an_omitted_side_falls_through() {
    let dir = temp_dir("pack-side");
    write_pack(&dir, "svc", SVC_PACK);
    let text = "[[rules]]\nname = \"svc\"\npack = \"svc\"\nread = \"allow\"\n";
    let p = Policy::parse(text, &dir.join("policy.toml")).unwrap();
    assert_eq!(p.rule_count(), 1);
    let post = req("POST", "https://svc.example.com/items/1/archive");
    assert_eq!(
        decide(&p, &post).1,
        "svc/read",
        "without a write side, the read entry matches"
    );
    assert_eq!(
        decide(&p, &req("DELETE", "https://svc.example.com/items/1")).1,
        "default"
    );
}

#[test]
fn pack_rules_never_match_raw_tcp() {
    let dir = temp_dir("pack-raw");
    write_pack(
        &dir,
        "lan",
        "name = \"lan\"\ndescription = \"d\"\nhosts = [\"10.0.0.0/8\"]\n[[read]]\nmethods = [\"GET\"]\n",
    );
    let text = "[[rules]]\nname = \"lan\"\npack = \"lan\"\nread = \"allow\"\n";
    let p = Policy::parse(text, &dir.join("policy.toml")).unwrap();
    assert_eq!(p.decide(dst("10.0.0.1:80")).rule.as_ref(), "default");
    assert_eq!(decide(&p, &req("GET", "http://10.0.0.1/")).1, "lan/read");
}

#[test]
fn a_missing_pack_names_the_file_looked_for() {
    let dir = temp_dir("pack-missing");
    let text = "[[rules]]\nname = \"m\"\npack = \"gmial\"\nread = \"allow\"\n";
    let err = Policy::parse(text, &dir.join("policy.toml"))
        .unwrap_err()
        .to_string();
    let file = dir.join("packs").join("gmial.toml");
    assert!(err.contains("line 3, column 8"), "{err}");
    assert!(
        err.contains(&format!(
            "pack \"gmial\" not found: there is no file {}",
            file.display()
        )),
        "{err}"
    );
}

#[test]
fn pack_names_cannot_leave_the_packs_directory() {
    let dir = temp_dir("pack-escape");
    let text = "[[rules]]\nname = \"m\"\npack = \"../policy\"\nread = \"allow\"\n";
    let err = Policy::parse(text, &dir.join("policy.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid pack name"), "{err}");
}

#[test]
fn an_error_in_a_pack_says_where_in_both_files() {
    let dir = temp_dir("pack-bad");
    write_pack(
        &dir,
        "svc",
        "name = \"svc\"\ndescription = \"d\"\nhosts = [\"svc.example.com\"]\n[[read]]\npaths = [\"/a/**x\"]\n",
    );
    let text = "\n[[rules]]\nname = \"svc\"\npack = \"svc\"\nread = \"allow\"\n";
    let err = Policy::parse(text, &dir.join("policy.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("policy.toml: line 4, column 8: pack \"svc\""),
        "{err}"
    );
    assert!(
        err.contains("svc.toml: line 5, column 10: invalid path glob"),
        "{err}"
    );
}

#[test]
fn pack_file_checks() {
    let dir = temp_dir("pack-checks");
    let policy = |pack: &str| {
        write_pack(&dir, "svc", pack);
        let text = "[[rules]]\nname = \"svc\"\npack = \"svc\"\nread = \"allow\"\n";
        Policy::parse(text, &dir.join("policy.toml"))
            .unwrap_err()
            .to_string()
    };
    let err = policy(
        "name = \"other\"\ndescription = \"d\"\nhosts = [\"a.com\"]\n[[read]]\nmethods = [\"GET\"]\n",
    );
    assert!(err.contains("must be named \"svc\""), "{err}");
    let err = policy("name = \"svc\"\ndescription = \"d\"\nhosts = [\"a.com\"]\n");
    assert!(err.contains("no [[read]] or [[write]]"), "{err}");
    let err = policy(
        "name = \"svc\"\ndescription = \"d\"\nhosts = [\"a.com\"]\n[[read]]\nports = [443]\n",
    );
    assert!(err.contains("needs methods or paths"), "{err}");
}

#[test]
fn pack_approve_needs_a_reason_and_names_do_not_collide() {
    let dir = temp_dir("pack-names");
    write_pack(&dir, "svc", SVC_PACK);
    let parse = |text: &str| Policy::parse(text, &dir.join("policy.toml"));
    let err = parse("[[rules]]\nname = \"svc\"\npack = \"svc\"\nwrite = \"approve\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("approve rule svc needs a reason shown to the approver"),
        "{err}"
    );
    assert!(err.contains("line 4, column 9"), "{err}");
    let err = parse(
        "[[rules]]\nname = \"svc/read\"\naction = \"deny\"\nhosts = [\"a.com\"]\n\
         [[rules]]\nname = \"svc\"\npack = \"svc\"\nread = \"allow\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("\"svc/read\" is used twice"), "{err}");
    // The same pack twice: read once, counted once.
    let p = parse(
        "[[rules]]\nname = \"a\"\npack = \"svc\"\nread = \"allow\"\n\
         [[rules]]\nname = \"b\"\npack = \"svc\"\nwrite = \"deny\"\n",
    )
    .unwrap();
    assert_eq!(p.packs().len(), 1);
    assert_eq!(p.packs()[0].rules, 2);
}
