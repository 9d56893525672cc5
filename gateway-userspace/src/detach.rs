//! `gateway detach`: remove a gateway's pinned programs.

use std::{path::Path, process::ExitCode};

use crate::{
    bpf::pins,
    config::{Config, DEFAULT_PIN_DIR},
    privileges::require_root,
};

pub fn detach(config: Option<&Path>, pin_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    require_root()?;
    let dir = match (config, pin_dir) {
        (Some(config), _) => Config::load(config)?.pin_dir,
        (None, Some(dir)) => dir.to_owned(),
        (None, None) => DEFAULT_PIN_DIR.into(),
    };
    let removed = pins::detach_all(&dir)?;
    if removed.is_empty() {
        println!("nothing attached under {}", dir.display());
    } else {
        for pin in &removed {
            println!("detached {}", pin.display());
        }
        println!(
            "removed {} links; the agents of {} now reach the network directly",
            removed.len(),
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
