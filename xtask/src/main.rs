//! `cargo xtask`: the developer tasks of the gateway workspace.
//!
//! Every task is a sequence of announced steps that shell out to the real
//! tools (apt-get, rustup, cargo, mount); a failing step says which one it was
//! and how to fix it.

mod apt;
mod bench;
mod bpf_linker;
mod bpffs;
mod build;
mod cgroup;
mod gateway_config;
mod llvm_prefix;
mod mounts;
mod root;
mod run;
mod setup;
mod step;
mod test;
mod toolchain;
mod workspace;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Developer tasks for the gateway workspace"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what this machine lacks (apt packages, nightly rust-src, bpf-linker, bpffs). Idempotent.
    Setup,
    /// Set up, then build target/release/gateway (the eBPF programs are built into it).
    Build,
    /// Build, create the agent cgroups named in the config, then run the gateway in the foreground.
    Run {
        /// Gateway config file (default: policies/gateway.toml in the repository).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Build, then rustfmt check, clippy and the whole test suite (what CI runs).
    Test,
    /// Run one benchmark by name.
    Bench {
        /// Benchmark name.
        name: String,
    },
    /// A benchmark's client workload, run by `bench` inside a cgroup.
    #[command(hide = true)]
    BenchClient(bench::client::Args),
    /// The HTTPS benchmark's upstream or one of its client workloads.
    #[command(hide = true)]
    BenchHttpsWorker(bench::https::worker::Args),
}

fn main() -> ExitCode {
    let task = Cli::parse().task;
    match run(task) {
        Ok(code) => code,
        Err(error) => {
            // Printed by hand so that the message and its causes stay readable
            // even when RUST_BACKTRACE is set (anyhow would add a backtrace).
            eprintln!("xtask: error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> anyhow::Result<ExitCode> {
    match task {
        Task::Setup => setup::run().map(|()| ExitCode::SUCCESS),
        Task::Build => build::run().map(|_| ExitCode::SUCCESS),
        Task::Run { config } => run::run(config).map(|()| ExitCode::SUCCESS),
        Task::Test => test::run(),
        Task::Bench { name } => bench::run(&name).map(|()| ExitCode::SUCCESS),
        Task::BenchClient(args) => bench::client::run(&args).map(|()| ExitCode::SUCCESS),
        Task::BenchHttpsWorker(args) => {
            bench::https::worker::run(&args).map(|()| ExitCode::SUCCESS)
        }
    }
}
