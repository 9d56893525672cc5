//! Large bodies stream through interception: a 1 GiB download and a 1 GiB
//! upload pass, byte-exact, without the gateway's memory growing with the
//! body (its peak RSS, `VmHWM`, grows by less than 64 MiB over the transfer).

use std::time::Instant;

use gateway_tests::gateway::config::Rule;
use gateway_tests::https_scenario::{API_HOST, HttpsScenario};
use gateway_tests::memory::peak_rss_kib;
use gateway_tests::tempdir::TempDir;

const GIB: u64 = 1024 * 1024 * 1024;
const MAX_GROWTH_KIB: u64 = 64 * 1024;

#[test]
fn one_gib_download_and_upload_stream_in_bounded_memory() {
    let s = HttpsScenario::start(
        "stream-1gib",
        &[Rule::allow("transfers", &[API_HOST]).paths(&["/download", "/upload", "/warmup"])],
    );
    // Warm up: TLS, the leaf certificate, the upstream connection.
    let warm = HttpsScenario::url(API_HOST, "/warmup");
    s.curl_reply(
        &s.agents
            .curl(&warm)
            .arg(&warm)
            .in_cgroup(s.agent.path())
            .run(),
    )
    .expect_echo();
    let pid = s.gateway.pid();
    let before = peak_rss_kib(pid);

    let url = HttpsScenario::url(API_HOST, &format!("/download?bytes={GIB}"));
    let started = Instant::now();
    let run = s
        .agents
        .curl(&url)
        .args(["-o", "/dev/null", "-w", "downloaded=%{size_download}\n"])
        .arg(&url)
        .in_cgroup(s.agent.path())
        .timeout(std::time::Duration::from_mins(2))
        .run()
        .expect_success("1 GiB download through the gateway");
    let download = started.elapsed();
    assert!(
        run.stdout.contains(&format!("downloaded={GIB}")),
        "the whole GiB should arrive: {run:#?}"
    );

    // A sparse file: no disk, and curl streams it with a Content-Length.
    let dir = TempDir::new("stream-upload");
    let file = dir.path().join("one-gib.bin");
    std::fs::File::create(&file)
        .and_then(|f| f.set_len(GIB))
        .expect("sparse upload file");
    let url = HttpsScenario::url(API_HOST, "/upload");
    let started = Instant::now();
    let run = s
        .agents
        .curl(&url)
        .args(["-X", "POST", "-T"])
        .arg(&file)
        .arg(&url)
        .in_cgroup(s.agent.path())
        .timeout(std::time::Duration::from_mins(2))
        .run();
    let upload = started.elapsed();
    assert_eq!(
        s.curl_reply(&run).expect_echo().body_len(),
        GIB,
        "the upstream should count the whole GiB"
    );

    let after = peak_rss_kib(pid);
    eprintln!(
        "1 GiB through interception: download {download:?}, upload {upload:?}; \
         gateway VmHWM {before} KiB -> {after} KiB"
    );
    assert!(
        after.saturating_sub(before) < MAX_GROWTH_KIB,
        "the gateway's peak memory grew by {} KiB (from {before} to {after} KiB) over \
         2 GiB of transfers: bodies must stream, not be buffered",
        after - before
    );
}
