//! `gateway run`: serve a configuration until stopped.

use std::{path::Path, process::ExitCode};

use anyhow::Context as _;

use crate::{
    bpf::KernelLogLevel, cgroup::CgroupRoot, config::Config, gateway, privileges::require_root,
};

pub fn run(config_path: &Path) -> anyhow::Result<ExitCode> {
    require_root()?;
    let config = Config::load(config_path)?;
    let root = CgroupRoot::discover()?;
    let kernel_log = KernelLogLevel::from_env().map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let running = gateway::start(&config, &root, kernel_log)?;
        tracing::info!(
            listen_port = running.listen_port,
            pin_dir = %running.pin_dir.display(),
            web = ?running.web_addr,
            agents = config.agents.len(),
            "gateway ready"
        );
        wait_for_stop_signal().await?;
        tracing::info!(
            pin_dir = %running.pin_dir.display(),
            "stopping; agents stay attached and their connections fail until `gateway detach`"
        );
        running.stop().await;
        Ok(ExitCode::SUCCESS)
    })
}

async fn wait_for_stop_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
