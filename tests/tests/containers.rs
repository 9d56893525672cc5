//! Containers whose cgroup is below the agent cgroup are covered, with the
//! host's network or a private one (the gateway opens a listener inside it).
//! Image: busybox-static from the host. If a runtime cannot run here, the
//! test fails and says so: it never skips.

use std::net::IpAddr;
use std::time::Duration;

use gateway_tests::client::{Run, TimedCommand};
use gateway_tests::container::{Dockerd, ULIMITS, busybox_rootfs, rootfs_tarball};
use gateway_tests::scenario::{Scenario, allow_upstream};
use gateway_tests::tcp_clients::Greeting;
use gateway_tests::tempdir::TempDir;

/// The command run inside the container: print its cgroup, then fetch `url`.
fn fetch_script(url: &str) -> String {
    format!("cat /proc/self/cgroup && wget -q -O - {url}")
}

/// Checks that the container ran below the agent cgroup and was relayed.
fn assert_container_relayed(s: &Scenario, run: &Run, private_netns: bool) {
    let cgroup = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_else(|| panic!("container did not print its cgroup: {run:#?}"));
    assert!(
        cgroup.starts_with(&format!("{}/", s.agent.relative())),
        "the container's cgroup {cgroup} is not below the agent cgroup {}",
        s.agent.relative()
    );
    let greeting = Greeting::expect_in(run);
    let dst = s.upstream_v4();
    // Plain HTTP is intercepted: the gateway logs the request.
    let line = s
        .gateway
        .wait_for_request("request allowed", "GET", &dst.ip().to_string(), "/");
    assert_eq!(line.field("rule").as_deref(), Some("upstream"), "{line:?}");
    assert_eq!(greeting.peer.ip(), IpAddr::V4(s.topo.host_v4()));
    assert_eq!(greeting.local, dst, "to the original destination");
    if private_netns {
        s.gateway.wait_for_log(
            "\"netns listener opened\"",
            |l| l.message() == "netns listener opened",
            Duration::from_secs(5),
        );
    }
}

fn podman_run(s: &Scenario, network: &str) -> Run {
    let dir = TempDir::new("podman-rootfs");
    let rootfs = busybox_rootfs(dir.path());
    let dst = s.upstream_v4();
    let url = format!("http://{dst}/");
    let run = TimedCommand::new("podman")
        .args(["--runtime", "runc", "run", "--rm"])
        .arg(format!("--cgroup-parent={}", s.agent.relative()))
        .args(ULIMITS)
        .arg(format!("--network={network}"))
        .arg("--rootfs")
        .arg(&rootfs)
        .args(["/bin/sh", "-c", &fetch_script(&url)])
        .timeout(Duration::from_mins(1))
        .run();
    assert!(
        !run.stderr.contains("OCI runtime") && !run.stderr.contains("Error: "),
        "podman could not run a container here: {run:#?}"
    );
    run
}

#[test]
fn podman_container_on_host_network_is_relayed() {
    let s = Scenario::start("containers-podman-host", allow_upstream);
    let run = podman_run(&s, "host");
    assert_container_relayed(&s, &run, false);
}

#[test]
fn podman_container_with_private_network_is_relayed() {
    let s = Scenario::start("containers-podman-none", allow_upstream);
    let run = podman_run(&s, "none");
    assert_container_relayed(&s, &run, true);
}

#[test]
fn docker_container_with_private_network_is_relayed() {
    let s = Scenario::start("containers-docker-none", allow_upstream);
    let dockerd = Dockerd::start("dockerd");
    let dir = TempDir::new("docker-rootfs");
    let tarball = rootfs_tarball(&busybox_rootfs(dir.path()));
    let image = format!("{}:latest", gateway_tests::unique::name("busybox"));
    let import = dockerd
        .command()
        .arg("import")
        .arg(&tarball)
        .arg(&image)
        .run();
    assert!(
        import.success(),
        "docker import failed: {import:#?}\ndockerd log:\n{}",
        dockerd.log()
    );
    let url = format!("http://{}/", s.upstream_v4());
    let run = dockerd
        .command()
        .args(["run", "--rm"])
        .arg(format!("--cgroup-parent={}", s.agent.relative()))
        .args(ULIMITS)
        .args([
            "--network",
            "none",
            &image,
            "/bin/sh",
            "-c",
            &fetch_script(&url),
        ])
        .run();
    assert!(
        !run.stderr.contains("Error response from daemon"),
        "docker could not run a container here: {run:#?}\ndockerd log:\n{}",
        dockerd.log()
    );
    assert_container_relayed(&s, &run, true);
}
