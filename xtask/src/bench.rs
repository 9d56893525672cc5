//! `cargo xtask bench <name>`: benchmarks, one module each.
//!
//! Adding one is one match arm below calling into its own module, e.g.
//! `"redirect" => bench_redirect::run(),` with the code in `src/bench_redirect.rs`.

use anyhow::{Result, bail};

#[expect(
    clippy::match_single_binding,
    reason = "benchmarks are added as arms of this match; drop this once one exists"
)]
pub fn run(name: &str) -> Result<()> {
    match name {
        unknown => {
            bail!("unknown benchmark {unknown:?}: none are defined yet (see xtask/src/bench.rs)")
        }
    }
}
