//! A server that forks workers (nginx: a master and one worker per CPU)
//! is its processes together: its CPU time and memory are theirs summed.
//! Children are found by their parent pid in `/proc/*/stat`, which needs
//! no kernel option (unlike `/proc/PID/task/PID/children`).

use std::fs;

/// `pid`, then the live processes whose parent it is.
pub fn with_children(pid: u32) -> Vec<u32> {
    let mut pids = vec![pid];
    let Ok(entries) = fs::read_dir("/proc") else {
        return pids;
    };
    pids.extend(
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&candidate| parent_pid(candidate) == Some(pid)),
    );
    pids
}

/// The parent of a live process.
fn parent_pid(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: count fields after its ')'.
    parse_parent(&stat)
}

fn parse_parent(stat: &str) -> Option<u32> {
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    // state, then ppid.
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The command name of a live process (`comm`).
pub fn command_name(pid: u32) -> Option<String> {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_after_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (nginx: worker (x)) S 4241 4241 4200 0 -1 4194624";
        assert_eq!(parse_parent(stat), Some(4241));
    }

    #[test]
    fn finds_a_child_of_this_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("starting sleep");
        let pids = with_children(std::process::id());
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(pids[0], std::process::id());
        assert!(pids.contains(&child.id()), "{pids:?}");
    }
}
