//! Where every benchmark leaves its figures: `target/bench/<name>.json`,
//! and the verdict line that ends its report.

use std::{fs, path::PathBuf};

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::workspace;

/// Writes `outcome` as pretty JSON to `target/bench/<name>.json`.
pub fn write_json(name: &str, outcome: &impl Serialize) -> Result<PathBuf> {
    let dir = workspace::target_dir().join("bench");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{name}.json"));
    let json = serde_json::to_string_pretty(outcome).context("serialising the results")?;
    fs::write(&path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `all targets met`, or the targets missed.
pub fn print_verdict(missed: &[&str]) {
    if missed.is_empty() {
        println!("\nall targets met");
    } else {
        println!("\nFAIL: target missed: {}", missed.join("; "));
    }
}
