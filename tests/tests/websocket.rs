//! WebSocket upgrades are intercepted like any request: allowed where the
//! policy allows the host and path (and then relayed both ways), refused
//! with the 403 JSON elsewhere.

use gateway_tests::gateway::config::Rule;
use gateway_tests::https_clients::WsOutcome;
use gateway_tests::https_scenario::{API_HOST, HttpsScenario};

#[test]
fn websocket_upgrade_is_allowed_only_where_the_policy_allows() {
    let s = HttpsScenario::start(
        "ws-policy",
        &[Rule::allow("chat-socket", &[API_HOST])
            .methods(&["GET"])
            .paths(&["/ws/chat"])],
    );
    let run = s
        .agents
        .websocket(API_HOST, 443, "/ws/chat", "hello through the gateway")
        .in_cgroup(s.agent.path())
        .run();
    let ws = WsOutcome::parse(&run);
    assert_eq!(ws.status(), Some(101), "{run:#?}\n{}", s.gateway.dump());
    assert_eq!(ws.0["accept_ok"], true, "{run:#?}");
    assert_eq!(ws.0["echo"], "hello through the gateway", "{run:#?}");
    s.gateway
        .wait_for_request("request allowed", "GET", API_HOST, "/ws/chat");
    s.upstream
        .wait_for_request("/ws/chat", std::time::Duration::from_secs(5));

    let run = s
        .agents
        .websocket(API_HOST, 443, "/ws/admin", "let me in")
        .in_cgroup(s.agent.path())
        .run();
    let ws = WsOutcome::parse(&run);
    let refusal = ws.reply().expect_refusal(403, "denied");
    assert_eq!(refusal.rule.as_deref(), Some("default"));
    assert!(ws.0.get("echo").is_none(), "{run:#?}");
    s.upstream
        .assert_no_request_to("/ws/admin", "a refused upgrade must not reach the upstream");
}
