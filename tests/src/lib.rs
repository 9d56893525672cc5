//! Harness for the gateway's integration tests.
//!
//! Every piece is a guard that undoes what it set up when dropped: cgroups,
//! network namespaces, upstream servers, the gateway process and its pinned
//! links. The tests themselves live in `tests/tests/*.rs`; see `tests/README.md`.

#![expect(
    clippy::must_use_candidate,
    reason = "a test harness: every getter would need the attribute, and an unused result is a test bug the test itself shows"
)]

pub mod approval_flow;
pub mod approval_web;
pub mod cgroup;
pub mod chromium;
pub mod client;
pub mod container;
pub mod dns_server;
pub mod gateway;
pub mod gateway_ca;
pub mod git_repo;
pub mod gmail_standin;
pub mod gmail_story;
pub mod https_clients;
pub mod https_scenario;
pub mod https_upstream;
pub mod loopback_relay;
pub mod memory;
pub mod netns;
pub mod preflight;
pub mod scenario;
pub mod secrets;
pub mod tcp_clients;
pub mod tempdir;
pub mod test_ca;
pub mod topology;
pub mod unique;
pub mod upstream;
