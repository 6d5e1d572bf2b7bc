//! Processes as `/proc` shows them: which run a binary, whose child each is, what runs below
//! one, and whether one is stopped (an instance the local Lambda service froze between
//! invocations) or running.

use std::path::Path;

/// PIDs of the processes running `exe` (also once a rebuild has replaced the file).
pub fn running(exe: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let replaced = format!("{} (deleted)", exe.display());
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_ok_and(|running| running == exe || running.to_str() == Some(&replaced))
        })
        .collect()
}

/// The state letter of `/proc/PID/stat` (`R`, `S`, `T` stopped, …).
pub fn state(pid: u32) -> Option<char> {
    stat_fields(pid)?.first()?.chars().next()
}

/// The parent's PID.
pub fn parent(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// Whether `pid` is gone or can run no more (stopped, zombie, dead).
pub fn stopped_or_gone(pid: u32) -> bool {
    matches!(state(pid), Some('T' | 't' | 'Z' | 'X') | None)
}

/// The children of `parent` running `exe` that are not stopped: the instances of a local Lambda
/// service (which freezes an idle instance) that hold an invocation, or are starting for one.
pub fn busy_children(parent_pid: u32, exe: &Path) -> Vec<u32> {
    running(exe)
        .into_iter()
        .filter(|pid| parent(*pid) == Some(parent_pid) && !stopped_or_gone(*pid))
        .collect()
}

/// The PIDs of every process below `pid`, from `/proc/<pid>/task/*/children`.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut pending = vec![pid];
    while let Some(parent) = pending.pop() {
        let tasks = Path::new("/proc").join(parent.to_string()).join("task");
        let Ok(entries) = std::fs::read_dir(tasks) else {
            continue;
        };
        for entry in entries.flatten() {
            let children =
                std::fs::read_to_string(entry.path().join("children")).unwrap_or_default();
            for child in children
                .split_whitespace()
                .filter_map(|pid| pid.parse().ok())
            {
                found.push(child);
                pending.push(child);
            }
        }
    }
    found
}

/// The fields of `/proc/PID/stat` after the command name (which may hold spaces): state,
/// parent, …
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_runs_its_binary_and_is_not_stopped() {
        let me = std::process::id();
        let exe = std::env::current_exe().unwrap();
        assert!(running(&exe).contains(&me));
        assert!(!stopped_or_gone(me));
        assert_eq!(parent(me), Some(std::os::unix::process::parent_id()));
    }

    #[test]
    fn a_stopped_child_is_not_busy_and_a_running_one_is() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let sleep = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        assert_eq!(busy_children(std::process::id(), &sleep), vec![pid]);
        std::process::Command::new("kill")
            .args(["-s", "STOP", &pid.to_string()])
            .status()
            .unwrap();
        let started = std::time::Instant::now();
        while state(pid) != Some('T') && started.elapsed().as_secs() < 5 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(busy_children(std::process::id(), &sleep).is_empty());
        let _ = child.kill();
        let _ = child.wait();
        assert!(stopped_or_gone(pid));
    }
}
