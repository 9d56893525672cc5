//! The story's send request approved on the real gateway's web page, in a
//! real headless Chromium: the page is open before the agent asks, the
//! pending send appears live, a person clicks Approve, and the agent's held
//! request completes with Gmail's answer, sent with the real token.
//!
//! The page listens on the host's 127.0.0.1 only; the browser is kept in a
//! namespace with only `lo` (nothing it does leaves the machine) and reaches
//! the page through a byte-for-byte relay at the same address there.

use std::time::Duration;

use base64::Engine as _;
use gateway_tests::approval_flow::{shown_status, wait_held};
use gateway_tests::chromium::Chromium;
use gateway_tests::client::TimedCommand;
use gateway_tests::gmail_standin::SEND_PATH;
use gateway_tests::gmail_story::{GmailStory, SECRET};
use gateway_tests::https_clients::curl_reply;
use gateway_tests::loopback_relay::LoopbackRelay;
use gateway_tests::netns::NetNs;
use gateway_tests::secrets::{assert_no_secret_in, assert_no_secret_in_text};
use gateway_tests::unique;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);

fn row(id: &str) -> String {
    format!(
        "document.querySelector({})",
        json!(format!("tr[data-id=\"{id}\"]"))
    )
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one person's way through the page, step by step, reads best in order"
)]
fn the_held_send_is_approved_on_the_gateways_page_in_chromium() {
    let web_port = unique::free_listen_port();
    let s = GmailStory::start("story-web", Some(web_port));
    let link = TimedCommand::new(gateway_tests::preflight::gateway_bin())
        .args(["approvals", "web-url", "--config"])
        .arg(s.gateway.config_path())
        .run()
        .expect_success("gateway approvals web-url");
    let link = link.stdout.trim().to_owned();
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{web_port}/?token=")),
        "{link}"
    );

    // The page is open, live and empty before the agent asks.
    let ns = NetNs::new(&unique::name("story-web"));
    let _relay = LoopbackRelay::start(&ns, web_port);
    let mut browser = Chromium::start_in(&ns);
    browser.navigate(&link);
    browser.wait_until(
        "the live, empty list",
        "document.getElementById('live').textContent === 'live' \
         && document.getElementById('count').textContent === '0'",
        WAIT,
    );
    browser.evaluate("window.notReloaded = true");

    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode("To: bob@example.com\r\nSubject: Lunch\r\n\r\nNoon at the usual place?\r\n");
    let body = json!({ "raw": raw }).to_string();
    let held = s.send_held(&body);
    let id = wait_held(&s.gateway, 1);

    // It appears without a reload; its details are the request as it would go out.
    browser.wait_until(
        "the send request in the list, live",
        &format!(
            "{} !== null && window.notReloaded === true \
             && document.getElementById('live').textContent === 'live'",
            row(&id)
        ),
        WAIT,
    );
    let path = browser.evaluate(&format!(
        "{}.querySelector('td.path').textContent",
        row(&id)
    ));
    assert_eq!(path, json!(SEND_PATH));
    browser.evaluate(&format!("{}.click()", row(&id)));
    let request = browser.wait_until(
        "the send request's details",
        &format!(
            "document.getElementById('detail').dataset.id === {} \
             && document.getElementById('d-request').textContent",
            json!(id)
        ),
        WAIT,
    );
    let request = request.as_str().unwrap_or_default().to_owned();
    assert!(
        request.starts_with(&format!("POST {SEND_PATH} HTTP/1.1\n")),
        "{request}"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains("authorization: [redacted]")
            && request.contains(&body),
        "{request}"
    );
    assert!(!request.contains(&s.placeholder), "{request}");
    assert!(!held.is_finished(), "the send waits for the person");
    assert!(s.gmail.requests_to("POST", SEND_PATH).is_empty());

    browser.evaluate(
        "(() => { const who = document.getElementById('who'); who.value = 'Ada'; \
         who.dispatchEvent(new Event('change')); document.getElementById('approve').click(); })()",
    );
    let run = held.join().expect("the agent's thread");
    assert!(run.success(), "{run:#?}\n{}", s.gateway.dump());
    assert_no_secret_in_text("the agent's output", &run.stdout, SECRET);
    let sent = curl_reply(&run);
    assert_eq!(sent.status, 200, "{sent:#?}\n{}", s.gateway.dump());
    assert_eq!(sent.json()["labelIds"], json!(["SENT"]));
    let at_gmail = s.gmail.wait_for("POST", SEND_PATH, 1);
    assert_eq!(at_gmail.authorization, Some(format!("Bearer {SECRET}")));
    assert_eq!(at_gmail.body, body.as_bytes());
    browser.wait_until(
        "the page to show the approval",
        &format!(
            "document.getElementById('d-result').textContent === 'Approved.' && {} === null",
            row(&id)
        ),
        WAIT,
    );
    assert_eq!(shown_status(&s.gateway, &id), "used");

    // The audit log: approved by Ada through the web page, then used.
    let export = s.gateway.cli(&["audit", "export"]);
    assert!(export.success(), "{export:#?}");
    let records: Vec<Value> = export
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let kinds: Vec<(&str, &str, &str)> = records
        .iter()
        .filter(|r| r["approval_id"] == id.as_str())
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or_default(),
                r["by"].as_str().unwrap_or_default(),
                r["via"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("approval_requested", "", ""),
            ("approved", "Ada", "web"),
            ("approval_used", "", ""),
        ],
        "{records:#?}"
    );

    let page = browser.evaluate("document.documentElement.outerHTML");
    let page = page.as_str().unwrap_or_default();
    assert_no_secret_in_text("the page", page, SECRET);
    assert_no_secret_in_text("the audit export", &export.stdout, SECRET);
    assert_no_secret_in_text("the gateway's log", &s.gateway.dump(), SECRET);
    let scanned = assert_no_secret_in(&[s.vault.state_dir.as_path(), s.dir.path()], SECRET);
    assert!(scanned >= 5, "{scanned} files scanned");
    let violations: Vec<&String> = browser
        .console
        .iter()
        .filter(|l| l.contains("Content Security Policy") || l.starts_with("exception"))
        .collect();
    assert!(violations.is_empty(), "{violations:#?}");
}
