//! The freezer: stopping every process of a cgroup at once, for `pause`.
//!
//! A frozen process is taken off the CPU where it stands, in user or
//! kernel mode, and does not notice: unlike SIGSTOP, nothing in the
//! container can see or undo it. cgroup v1 has a `freezer` controller
//! (write FROZEN to `freezer.state`; it reads FREEZING until every task has
//! stopped); cgroup v2 builds it into every cgroup (write 1 to
//! `cgroup.freeze`; `cgroup.events` says `frozen 1` once done). Where both
//! exist (hybrid), the v1 freezer is used, as other runtimes do.

use super::{write_file, Cgroup, Dir};
use crate::error::{Error, Result};
use std::time::{Duration, Instant};

/// The directory and files that freeze this cgroup.
struct Freezer<'a> {
    dir: &'a Dir,
    v1: bool,
}

fn freezer(cg: &Cgroup) -> Option<Freezer<'_>> {
    if let Some(d) = cg.dirs.iter().find(|d| d.has("freezer")) {
        return Some(Freezer { dir: d, v1: true });
    }
    cg.v2().map(|d| Freezer { dir: d, v1: false })
}

/// Whether the container's cgroup is frozen (FREEZING counts: its
/// processes are being stopped).
pub fn is_frozen(cg: &Cgroup) -> bool {
    let Some(f) = freezer(cg) else {
        return false;
    };
    let dir = f.dir.host_path();
    if f.v1 {
        let s = std::fs::read_to_string(dir.join("freezer.state")).unwrap_or_default();
        matches!(s.trim(), "FROZEN" | "FREEZING")
    } else {
        std::fs::read_to_string(dir.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1")
    }
}

/// Freeze every process of the cgroup, and wait until they all stand still.
pub fn freeze(cg: &Cgroup) -> Result<()> {
    let f = freezer(cg).ok_or_else(no_freezer)?;
    let (file, value) = if f.v1 {
        ("freezer.state", "FROZEN")
    } else {
        ("cgroup.freeze", "1")
    };
    write_file(
        f.dir,
        file,
        value,
        "pause: freeze every process of the container",
    )?;
    let dir = f.dir.host_path();
    let done = || {
        if f.v1 {
            std::fs::read_to_string(dir.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")
        } else {
            std::fs::read_to_string(dir.join("cgroup.events"))
                .is_ok_and(|s| s.lines().any(|l| l == "frozen 1"))
        }
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        if Instant::now() > deadline {
            let _ = thaw(cg);
            return Err(Error::Other(format!(
                "the processes of {} did not all stop within 5 s; the container was left running",
                dir.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Let the cgroup's processes run again.
pub fn thaw(cg: &Cgroup) -> Result<()> {
    let f = freezer(cg).ok_or_else(no_freezer)?;
    let (file, value) = if f.v1 {
        ("freezer.state", "THAWED")
    } else {
        ("cgroup.freeze", "0")
    };
    write_file(
        f.dir,
        file,
        value,
        "resume: let the container's processes run again",
    )
}

fn no_freezer() -> Error {
    Error::Other(
        "this host has neither a cgroup v1 freezer nor cgroup v2: nothing can freeze the container"
            .into(),
    )
}
