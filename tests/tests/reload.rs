//! Policy hot reload: an edit applies to the next request, also on a
//! keep-alive connection that was open during the reload (which is not
//! dropped); an invalid edit is refused and the last good policy stays.

use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use gateway_tests::client::Run;
use gateway_tests::gateway::config::{Rule, policy_toml};
use gateway_tests::https_clients::{Step, expect_replies};
use gateway_tests::https_scenario::{API_HOST, HttpsScenario};

const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

fn allow_api() -> Vec<Rule> {
    vec![Rule::allow("api-v1", &[API_HOST]).paths(&["/v1/**"])]
}

fn deny_api() -> Vec<Rule> {
    vec![Rule::deny("api-locked", &[API_HOST])]
}

/// Waits for `file` to exist (the client's signal), or panics.
fn wait_for_file(file: &Path, client: &JoinHandle<Run>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !file.exists() {
        assert!(
            !client.is_finished(),
            "the client ended before signalling {}",
            file.display()
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the client did not signal {}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for_reloads(s: &HttpsScenario, message: &str, count: usize) {
    let deadline = std::time::Instant::now() + RELOAD_TIMEOUT;
    loop {
        let seen = s
            .gateway
            .logs()
            .iter()
            .filter(|l| l.message() == message)
            .count();
        if seen >= count {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway did not log {message:?} {count} time(s) within {RELOAD_TIMEOUT:?}\n{}",
            s.gateway.dump()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn edit_applies_on_an_open_keep_alive_connection() {
    let s = HttpsScenario::start("reload-keepalive", &allow_api());
    let first_done = s.dir.path().join("first-done");
    let go = s.dir.path().join("go");
    let second_done = s.dir.path().join("second-done");
    let go_again = s.dir.path().join("go-again");
    let url = HttpsScenario::url(API_HOST, "/v1/item");
    let client = s
        .agents
        .python(
            "http.client",
            &[
                Step::new("GET", &url).signal(&first_done),
                Step::new("GET", &url).wait_for(&go).signal(&second_done),
                Step::new("GET", &url).wait_for(&go_again),
            ],
        )
        .in_cgroup(s.agent.path());
    let client = std::thread::spawn(move || client.run());

    wait_for_file(&first_done, &client);
    s.write_policy(&policy_toml(&deny_api()));
    wait_for_reloads(&s, "policy reloaded", 1);
    std::fs::write(&go, "").expect("go");

    wait_for_file(&second_done, &client);
    s.write_policy(&policy_toml(&allow_api()));
    wait_for_reloads(&s, "policy reloaded", 2);
    std::fs::write(&go_again, "").expect("go again");

    let run = client.join().expect("client thread");
    let replies = expect_replies(&run, 3);
    replies[0].expect_echo();
    let refusal = replies[1].expect_refusal(403, "denied");
    assert_eq!(refusal.rule.as_deref(), Some("api-locked"), "{replies:#?}");
    replies[2].expect_echo();
    assert!(
        replies.iter().all(|r| r.sockname == replies[0].sockname),
        "all three requests should use the one connection: {replies:#?}"
    );
    assert_eq!(
        s.upstream.requests_to("/v1/item").len(),
        2,
        "the request made under the deny policy must not reach the upstream"
    );
}

#[test]
fn invalid_edit_keeps_the_last_good_policy() {
    let s = HttpsScenario::start("reload-invalid", &allow_api());
    let url = HttpsScenario::url(API_HOST, "/v1/still");
    let request = || {
        let run = s
            .agents
            .python("urllib", &[Step::new("GET", &url)])
            .in_cgroup(s.agent.path())
            .run();
        expect_replies(&run, 1).remove(0)
    };
    request().expect_echo();

    s.write_policy(
        "[[rules]]\nname = \"broken\"\naction = \"allow\"\nhosts = [\"api.test.example\"\n",
    );
    wait_for_reloads(&s, "policy reload failed; keeping the last good policy", 1);
    let failed = s
        .gateway
        .logs()
        .into_iter()
        .find(|l| l.message() == "policy reload failed; keeping the last good policy")
        .expect("logged");
    assert!(
        failed.raw.contains("line"),
        "the reload error should give the line: {failed:?}"
    );
    request().expect_echo();
    let allowed: Vec<String> = s
        .gateway
        .logs()
        .iter()
        .filter(|l| l.message() == "request allowed")
        .filter_map(|l| l.field("rule"))
        .collect();
    assert_eq!(allowed, vec!["api-v1", "api-v1"], "{}", s.gateway.dump());

    s.write_policy(&policy_toml(&deny_api()));
    wait_for_reloads(&s, "policy reloaded", 1);
    let refusal = request().expect_refusal(403, "denied");
    assert_eq!(refusal.rule.as_deref(), Some("api-locked"));
}
