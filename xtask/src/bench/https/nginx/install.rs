//! Which nginx binary `bench https` runs: `BENCH_NGINX=/path/to/nginx`
//! if given; else the one on PATH (the sbin directories included); else
//! a copy unpacked from Debian's package into `target/bench/nginx` (once;
//! later runs reuse it). `BENCH_NGINX=fetched` skips PATH and uses (or
//! makes) that copy, which is how to try the fetching on a machine that
//! has nginx installed. Nothing is installed system-wide and no nginx
//! service is started: `apt-get download` and `dpkg-deb -x` only.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context as _, Result, bail};

use crate::apt::apt_get;
use crate::{step, workspace};

/// Debian packages that may hold `/usr/sbin/nginx`, in the order tried:
/// since bookworm `nginx` does, and `nginx-light` is a transitional
/// package depending on it; before, `nginx-light` held its own build.
const PACKAGES: [&str; 2] = ["nginx", "nginx-light"];
/// The value of `BENCH_NGINX` that asks for the copy in `target/bench/nginx`.
const FETCHED: &str = "fetched";

/// The nginx to run and what it is.
pub struct Installed {
    pub binary: PathBuf,
    /// `nginx/1.22.1`.
    pub version: String,
    /// `nginx -V`'s configure arguments.
    configure: String,
}

impl Installed {
    /// Whether the build has the HTTP module `name` (e.g. `fastcgi`): the
    /// directives of a module left out at build time are unknown.
    pub fn has_http_module(&self, name: &str) -> bool {
        !self
            .configure
            .contains(&format!("--without-http_{name}_module"))
    }
}

/// Finds or fetches nginx and says which and what version.
pub fn ensure_installed() -> Result<Installed> {
    let chosen = std::env::var("BENCH_NGINX").unwrap_or_default();
    let fetched_dir = workspace::target_dir().join("bench").join("nginx");
    let fetched_binary = fetched_dir.join("usr").join("sbin").join("nginx");
    let binary = match chosen.as_str() {
        "" => match step::find_program("nginx") {
            Some(binary) => binary,
            None => fetch_unless_present(&fetched_dir, &fetched_binary)?,
        },
        FETCHED => fetch_unless_present(&fetched_dir, &fetched_binary)?,
        path => {
            let binary = PathBuf::from(path);
            if !binary.is_file() {
                bail!(
                    "BENCH_NGINX={path}: no such file; give an nginx binary, `{FETCHED}` for the copy \
                     in target/bench/nginx, or unset it for the nginx on PATH"
                );
            }
            binary
        }
    };
    if binary.starts_with(&fetched_dir) {
        check_libraries(&binary, &fetched_dir)?;
    }
    let installed = describe(binary)?;
    step::say(format_args!(
        "nginx: {} at {}",
        installed.version,
        installed.binary.display()
    ));
    Ok(installed)
}

fn fetch_unless_present(dir: &Path, binary: &Path) -> Result<PathBuf> {
    if binary.is_file() {
        return Ok(binary.to_owned());
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for package in PACKAGES {
        let deb = download(dir, package)?;
        step::run(
            step::command("dpkg-deb").arg("-x").arg(&deb).arg(dir),
            &format!("unpacking {package} into {}", dir.display()),
            "check that dpkg-deb works and the disk has room; remove target/bench/nginx to start over",
        )?;
        if binary.is_file() {
            return Ok(binary.to_owned());
        }
    }
    bail!(
        "none of the Debian packages {} holds usr/sbin/nginx; install nginx (`apt-get install nginx-light`) \
         or point BENCH_NGINX at a binary",
        PACKAGES.join(", ")
    )
}

/// `apt-get download package` into `dir`, after `apt-get update` only if
/// the first try fails; the path of the `.deb`.
fn download(dir: &Path, package: &str) -> Result<PathBuf> {
    for old in debs_of(dir, package)? {
        fs::remove_file(&old).with_context(|| format!("removing {}", old.display()))?;
    }
    let fix = "check that the Debian mirrors in /etc/apt/sources.list* are reachable and no other apt \
               is running, or install nginx (`apt-get install nginx-light`)";
    let step = format!("downloading the Debian package {package}");
    let status = step::status(
        apt_get().args(["-q", "download", package]).current_dir(dir),
        &step,
        fix,
    )?;
    if !status.success() {
        crate::apt::update(fix)?;
        step::run(
            apt_get().args(["-q", "download", package]).current_dir(dir),
            &step,
            fix,
        )?;
    }
    match debs_of(dir, package)?.as_slice() {
        [deb] => Ok(deb.clone()),
        debs => bail!(
            "`apt-get download {package}` left {} .deb files in {}, not one",
            debs.len(),
            dir.display()
        ),
    }
}

/// The `.deb` files of `package` in `dir` (`<package>_<version>_<arch>.deb`).
fn debs_of(dir: &Path, package: &str) -> Result<Vec<PathBuf>> {
    let prefix = format!("{package}_");
    let entries = fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    Ok(entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension().is_some_and(|extension| extension == "deb")
                && path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with(&prefix))
        })
        .collect())
}

/// The shared libraries of an unpacked nginx must be on the system (the
/// package's dependencies were not installed with it); if some are not,
/// says which and which library packages its `.deb` depends on are missing.
fn check_libraries(binary: &Path, dir: &Path) -> Result<()> {
    let Ok(output) = step::command("ldd").arg(binary).output() else {
        step::say("warning: no ldd, so nginx's shared libraries are not checked");
        return Ok(());
    };
    let missing: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains("not found"))
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages = Vec::new();
    for package in PACKAGES {
        for deb in debs_of(dir, package)? {
            let depends = step::stdout(
                step::command("dpkg-deb")
                    .args(["-f"])
                    .arg(&deb)
                    .arg("Depends"),
                "reading nginx's package dependencies",
                "remove target/bench/nginx to start over",
            )?;
            let groups = library_packages(&depends);
            let installed = crate::apt::installed(groups.iter().flatten().map(String::as_str))?;
            packages.extend(
                groups
                    .into_iter()
                    .filter(|group| !group.iter().any(|name| installed.contains(name)))
                    .map(|group| group.join(" | ")),
            );
        }
    }
    bail!(
        "the nginx unpacked in {} lacks the shared libraries {}; not installed among the library \
         packages it depends on: {}; install them (`apt-get install {}`) or nginx itself \
         (`apt-get install nginx-light`)",
        dir.display(),
        missing.join(", "),
        if packages.is_empty() {
            "none (check `ldd` yourself)".to_owned()
        } else {
            packages.join(", ")
        },
        packages.join(" ")
    )
}

/// The library packages (Debian names them `lib…`, and zlib `zlib1g`) of
/// a `Depends` field, each a group of alternatives.
fn library_packages(depends: &str) -> Vec<Vec<String>> {
    depends
        .split(',')
        .map(|group| {
            group
                .split('|')
                .filter_map(|alternative| alternative.split_whitespace().next())
                .map(|name| name.split(':').next().unwrap_or(name).to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|group| {
            group
                .iter()
                .any(|name| name.starts_with("lib") || name.starts_with("zlib"))
        })
        .collect()
}

/// `nginx -V` (which prints to standard error): version and build.
fn describe(binary: PathBuf) -> Result<Installed> {
    let output = step::command(&binary)
        .arg("-V")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running `{} -V`", binary.display()))?;
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        bail!(
            "`{} -V` failed ({}): {text}\nhow to fix: point BENCH_NGINX at a working nginx, or remove \
             target/bench/nginx to fetch it again",
            binary.display(),
            output.status
        );
    }
    let version = text
        .lines()
        .find_map(|line| line.strip_prefix("nginx version: "))
        .unwrap_or("nginx ?")
        .trim()
        .to_owned();
    let configure = text
        .lines()
        .find_map(|line| line.strip_prefix("configure arguments: "))
        .unwrap_or_default()
        .to_owned();
    Ok(Installed {
        binary,
        version,
        configure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_dependencies_of_bookworms_nginx() {
        let depends = "libc6 (>= 2.34), libcrypt1 (>= 1:4.1.0), libpcre2-8-0 (>= 10.22), \
                       libssl3 (>= 3.0.0), zlib1g (>= 1:1.1.4), iproute2, \
                       nginx-common (<< 1.22.1-9+deb12u11.1~), nginx-common (>= 1.22.1-9+deb12u11)";
        let names: Vec<String> = library_packages(depends)
            .into_iter()
            .map(|group| group.join(" | "))
            .collect();
        assert_eq!(
            names,
            ["libc6", "libcrypt1", "libpcre2-8-0", "libssl3", "zlib1g"]
        );
    }

    #[test]
    fn alternatives_stay_together() {
        let groups = library_packages("libssl3 | libssl1.1:amd64 (>= 1.1), perl");
        assert_eq!(groups, [vec!["libssl3".to_owned(), "libssl1.1".to_owned()]]);
    }

    #[test]
    fn modules_left_out_at_build_time() {
        let installed = Installed {
            binary: PathBuf::from("nginx"),
            version: "nginx/1.22.1".to_owned(),
            configure: "--with-http_ssl_module --without-http_uwsgi_module".to_owned(),
        };
        assert!(installed.has_http_module("fastcgi"));
        assert!(!installed.has_http_module("uwsgi"));
    }
}
