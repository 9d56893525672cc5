//! The Debian packages the gateway and its tests use, installed only when missing.

use std::process::Stdio;

use anyhow::{Context as _, Result};

use crate::step;

/// A Debian package and, where another install of the same tool is as good
/// (node and git may come from /usr/local), the command that stands for it.
struct Package {
    name: &'static str,
    command: Option<&'static str>,
}

impl Package {
    /// Present only when dpkg has it installed.
    const fn debian(name: &'static str) -> Self {
        Self {
            name,
            command: None,
        }
    }

    /// Present when dpkg has it installed or `command` is on PATH.
    const fn or_command(name: &'static str, command: &'static str) -> Self {
        Self {
            name,
            command: Some(command),
        }
    }
}

const PACKAGES: [Package; 11] = [
    Package::or_command("nftables", "nft"),
    Package::or_command("iproute2", "ip"),
    Package::or_command("curl", "curl"),
    Package::or_command("python3", "python3"),
    Package::or_command("nodejs", "node"),
    Package::or_command("git", "git"),
    // The docker client alone is not enough: the tests start the daemon.
    Package::or_command("docker.io", "dockerd"),
    Package::debian("podman"),
    Package::debian("runc"),
    // The static build, so it can be copied into a bare container root.
    Package::debian("busybox-static"),
    // The approvals web page is tested in a real headless browser.
    Package::or_command("chromium", "chromium"),
];

/// Installs whichever of [`PACKAGES`] is missing; does not touch apt otherwise.
pub fn ensure() -> Result<()> {
    step::say("checking Debian packages");
    let installed = installed(PACKAGES.iter().map(|package| package.name))?;
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|package| {
            let by_dpkg = installed.iter().any(|name| name == package.name);
            let by_command = package
                .command
                .is_some_and(|command| step::find_program(command).is_some());
            !by_dpkg && !by_command
        })
        .map(|package| package.name)
        .collect();
    if missing.is_empty() {
        step::say("all Debian packages are present");
        return Ok(());
    }
    step::say(format_args!(
        "missing Debian packages: {}",
        missing.join(" ")
    ));
    let fix = "check that the Debian mirrors in /etc/apt/sources.list* are reachable, and that \
               no other apt or dpkg is running; then rerun `cargo xtask setup`";
    update(fix)?;
    step::run(
        apt_get().args(["-q", "install", "-y"]).args(&missing),
        "installing Debian packages",
        fix,
    )
}

/// `apt-get update`; `fix` says what to do if it fails.
pub fn update(fix: &str) -> Result<()> {
    step::run(
        apt_get().args(["-q", "update"]),
        "refreshing apt package lists",
        fix,
    )
}

/// `apt-get`, never asking anything.
pub fn apt_get() -> std::process::Command {
    let mut command = step::command("apt-get");
    command
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null());
    command
}

/// The names among `names` that dpkg reports as installed.
pub fn installed<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>> {
    let mut query = step::command("dpkg-query");
    query
        .args(["--show", "--showformat=${Package}\\t${Status}\\n"])
        .args(names)
        .stdin(Stdio::null())
        // dpkg-query complains on stderr (and exits 1) about packages it has
        // never heard of; that only means "not installed".
        .stderr(Stdio::null());
    let output = query.output().with_context(|| {
        format!(
            "checking Debian packages failed: could not start `{}`\nhow to fix: this set-up \
             expects a Debian-like system with dpkg and apt",
            step::describe(&query)
        )
    })?;
    Ok(parse_installed(&String::from_utf8_lossy(&output.stdout)))
}

fn parse_installed(report: &str) -> Vec<String> {
    report
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .filter(|(_, status)| status.trim() == "install ok installed")
        .map(|(name, _)| name.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fully_installed_packages_count() {
        let report = "curl\tinstall ok installed\npodman\tdeinstall ok config-files\n\
                      runc\tunknown ok not-installed\ngit\tinstall ok installed\n";
        assert_eq!(parse_installed(report), ["curl", "git"]);
    }
}
