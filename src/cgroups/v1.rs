//! cgroup v1: one hierarchy per controller, each with its own files
//! (`memory.limit_in_bytes`, `pids.max`...).
//!
//! The spec's values map almost one to one onto v1's files, which is the
//! interface the spec was first written for.

use super::{write_file, Dir};
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxResources;

/// Write the `linux.resources` that belong to this hierarchy.
pub fn apply(d: &Dir, r: &LinuxResources, file: &str) -> Result<()> {
    if let (true, Some(m)) = (d.has("memory"), r.memory()) {
        // limit before swap: memory+swap may never be below memory.
        if let Some(v) = m.limit() {
            let v = super::limit(v, "linux.resources.memory.limit", "-1", file)?;
            write_file(
                d,
                "memory.limit_in_bytes",
                &v,
                "linux.resources.memory.limit",
            )?;
        }
        if let Some(v) = m.reservation() {
            let v = super::limit(v, "linux.resources.memory.reservation", "-1", file)?;
            write_file(
                d,
                "memory.soft_limit_in_bytes",
                &v,
                "linux.resources.memory.reservation",
            )?;
        }
        if let Some(v) = m.swap() {
            let field = "linux.resources.memory.swap";
            if !d.host_path().join("memory.memsw.limit_in_bytes").exists() {
                return Err(Error::Other(format!(
                    "{field}: this kernel does not account swap (no memory.memsw.limit_in_bytes; boot with swapaccount=1)"
                )));
            }
            write_file(
                d,
                "memory.memsw.limit_in_bytes",
                &super::limit(v, field, "-1", file)?,
                field,
            )?;
        }
        if let Some(v) = m.swappiness() {
            let field = "linux.resources.memory.swappiness";
            if v > 100 {
                return Err(Error::config(
                    file,
                    format!("{field} is {v}; it must be 0 to 100"),
                ));
            }
            write_file(d, "memory.swappiness", &v.to_string(), field)?;
        }
        if m.disable_oom_killer() == Some(true) {
            write_file(
                d,
                "memory.oom_control",
                "1",
                "linux.resources.memory.disableOOMKiller",
            )?;
        }
    }
    if let (true, Some(p)) = (d.has("pids"), r.pids()) {
        if p.limit() != 0 {
            let v = super::limit(p.limit(), "linux.resources.pids.limit", "max", file)?;
            write_file(d, "pids.max", &v, "linux.resources.pids.limit")?;
        }
    }
    Ok(())
}

/// A new v1 cpuset cgroup starts with no cpus and no memory nodes, and a
/// process cannot join it until it has some: give it its parent's.
pub fn inherit_cpuset(d: &Dir) -> Result<()> {
    let dir = d.host_path();
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        if own.trim().is_empty() {
            let from_parent = std::fs::read_to_string(parent.join(file)).unwrap_or_default();
            write_file(
                d,
                file,
                from_parent.trim(),
                "a new cpuset takes its parent's cpus and mems",
            )?;
        }
    }
    Ok(())
}
