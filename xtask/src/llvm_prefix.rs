//! An LLVM "installation prefix" made of the nightly's own libLLVM, for
//! building bpf-linker.
//!
//! bpf-linker must use the same LLVM as the rustc that emits the bitcode it
//! links. The nightly ships that LLVM as one shared library in its sysroot, so
//! the prefix is only symlinks to it plus an `llvm-config` that reports its
//! version. It lives in a stable place because the bpf-linker binary keeps a
//! RUNPATH to its `lib/` directory: removing the prefix breaks bpf-linker.

use std::fs;
use std::io::{self, Read as _};
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::step;
use crate::toolchain::{self, NightlyRustc};

/// A ready prefix.
pub struct LlvmPrefix {
    pub dir: PathBuf,
    pub llvm_major: u32,
}

/// Creates (or repairs) the prefix for the installed nightly; quick when it is already right.
pub fn ensure() -> Result<LlvmPrefix> {
    let rustc = NightlyRustc::query()?;
    let llvm_major = rustc.llvm_major()?;
    let sysroot_lib = toolchain::nightly_sysroot()?.join("lib");
    let library = find_libllvm(&sysroot_lib, llvm_major)?;
    let file_name = library
        .file_name()
        .context("the libLLVM path has no file name")?
        .to_owned();

    let dir = toolchain::home_dir()?
        .join(".local/share/gateway-toolchain")
        .join(format!("llvm-{llvm_major}-{}", rustc.version_string()));
    step::say(format_args!(
        "LLVM prefix {} -> {}",
        dir.display(),
        library.display()
    ));
    let bin = dir.join("bin");
    let lib = dir.join("lib");
    for created in [&bin, &lib] {
        fs::create_dir_all(created)
            .with_context(|| format!("creating the LLVM prefix directory {}", created.display()))?;
    }
    write_llvm_config(&bin.join("llvm-config"), &rustc.llvm_version)?;
    ensure_symlink(&lib.join("libLLVM.so"), &library)?;
    ensure_symlink(&lib.join(file_name), &library)?;
    Ok(LlvmPrefix { dir, llvm_major })
}

/// Finds `libLLVM.so.<major>.<minor>-rust-…`, the real shared library, in the
/// sysroot's `lib/`. (Beside it, `libLLVM-<major>-rust-….so` is a small linker
/// script, not the library.)
fn find_libllvm(sysroot_lib: &Path, llvm_major: u32) -> Result<PathBuf> {
    let entries = fs::read_dir(sysroot_lib)
        .with_context(|| format!("listing the nightly sysroot {}", sysroot_lib.display()))?;
    let wanted = format!("libLLVM.so.{llvm_major}.");
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry
            .with_context(|| format!("listing the nightly sysroot {}", sysroot_lib.display()))?;
        let name = entry.file_name();
        let is_candidate = name
            .to_str()
            .is_some_and(|name| name.starts_with(&wanted) && name.contains("-rust-"));
        if is_candidate && is_elf(&entry.path())? {
            found.push(entry.path());
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => bail!(
            "no {wanted}*-rust-* shared library in {}; the nightly should ship its LLVM there \
             (reinstall it with `rustup toolchain uninstall nightly && rustup toolchain install nightly`)",
            sysroot_lib.display()
        ),
        _ => bail!(
            "several LLVM libraries in {}: {found:?}; reinstall the nightly",
            sysroot_lib.display()
        ),
    }
}

fn is_elf(path: &Path) -> Result<bool> {
    let mut magic = [0_u8; 4];
    let mut file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    match file.read_exact(&mut magic) {
        Ok(()) => Ok(&magic == b"\x7fELF"),
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// bpf-linker's build only asks `llvm-config` for the version.
fn write_llvm_config(path: &Path, llvm_version: &str) -> Result<()> {
    let script = format!("#!/bin/sh\necho {llvm_version}\n");
    if fs::read_to_string(path).ok().as_deref() != Some(script.as_str()) {
        fs::write(path, script).with_context(|| format!("writing {}", path.display()))?;
    }
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

fn ensure_symlink(link: &Path, target: &Path) -> Result<()> {
    if fs::read_link(link).is_ok_and(|current| current == target) {
        return Ok(());
    }
    match fs::remove_file(link) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(error).with_context(|| format!("removing the stale {}", link.display()));
        }
    }
    symlink(target, link)
        .with_context(|| format!("linking {} to {}", link.display(), target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn picks_the_elf_library_not_the_linker_script() {
        let dir = scratch_dir("libllvm");
        fs::write(
            dir.join("libLLVM-22-rust-1.97.0-nightly.so"),
            "INPUT(libLLVM.so.22.1-rust-1.97.0-nightly)\n",
        )
        .unwrap();
        fs::write(
            dir.join("libLLVM.so.22.1-rust-1.97.0-nightly"),
            b"\x7fELF rest",
        )
        .unwrap();
        fs::write(dir.join("librustc_driver-0123.so"), b"\x7fELF rest").unwrap();

        let found = find_libllvm(&dir, 22).unwrap();
        assert_eq!(found, dir.join("libLLVM.so.22.1-rust-1.97.0-nightly"));
        assert!(find_libllvm(&dir, 23).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn symlink_is_replaced_when_it_points_elsewhere() {
        let dir = scratch_dir("symlink");
        let link = dir.join("libLLVM.so");
        ensure_symlink(&link, Path::new("/old/libLLVM.so.21.1")).unwrap();
        ensure_symlink(&link, Path::new("/new/libLLVM.so.22.1")).unwrap();
        assert_eq!(
            fs::read_link(&link).unwrap(),
            Path::new("/new/libLLVM.so.22.1")
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
