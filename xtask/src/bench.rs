//! `cargo xtask bench <name>`: benchmarks, one module each.
//!
//! Adding one is one match arm below calling into its own module, e.g.
//! `"redirect" => redirect::run(),` with the code in `src/bench/redirect.rs`.
//! The other modules under `src/bench/` are the parts benchmarks share.

mod approvals;
mod bench_cgroup;
mod bench_gateway;
mod bpf_stats;
mod child_stop;
pub mod client;
mod cpu_affinity;
mod echo_server;
mod gateway_log;
pub mod https;
mod interrupt;
mod machine;
mod machine_load;
mod percentile;
mod process_tree;
mod redirect;
mod results;
mod scratch_files;
mod table;

use anyhow::{Result, bail};

pub fn run(name: &str) -> Result<()> {
    match name {
        "redirect" => redirect::run(),
        "https" => https::run(),
        "approvals" => approvals::run(),
        unknown => {
            bail!(
                "unknown benchmark {unknown:?}; known: redirect, https, approvals (see xtask/src/bench.rs)"
            )
        }
    }
}
