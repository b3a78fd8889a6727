//! cgroup v2: one tree for every controller, with a single interface.
//!
//! A controller works in a cgroup only if its parent lists it in
//! `cgroup.subtree_control`, so each ancestor must hand it down. Some v1
//! values have a different shape here: swap is limited on its own (the
//! spec's `swap` is memory plus swap), and "unlimited" is spelled `max`.

use super::{write_file, Dir};
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxResources;

/// Hand the controllers down from the hierarchy's root to the container's
/// cgroup, enabling each in every ancestor's `cgroup.subtree_control`.
pub fn enable_controllers(d: &Dir, controllers: &[&str]) -> Result<()> {
    if controllers.is_empty() {
        return Ok(());
    }
    let mut ancestor = d.mount.clone();
    let levels: Vec<&str> = d.path.split('/').filter(|c| !c.is_empty()).collect();
    for level in &levels {
        let enabled =
            std::fs::read_to_string(ancestor.join("cgroup.subtree_control")).unwrap_or_default();
        let missing: Vec<String> = controllers
            .iter()
            .filter(|c| !enabled.split_whitespace().any(|e| e == **c))
            .map(|c| format!("+{c}"))
            .collect();
        if !missing.is_empty() {
            let here = Dir {
                path: ancestor
                    .strip_prefix(&d.mount)
                    .map(|p| format!("/{}", p.display()))
                    .unwrap_or_default(),
                ..d.clone()
            };
            write_file(
                &here,
                "cgroup.subtree_control",
                &missing.join(" "),
                "a controller works in a cgroup only if every ancestor hands it down",
            )?;
        }
        ancestor.push(level);
    }
    Ok(())
}

/// Write the `linux.resources` whose controllers live in this tree.
pub fn apply(d: &Dir, r: &LinuxResources, here: impl Fn(&str) -> bool, file: &str) -> Result<()> {
    if let (true, Some(m)) = (here("memory"), r.memory()) {
        if let Some(v) = m.limit() {
            let v = super::limit(v, "linux.resources.memory.limit", "max", file)?;
            write_file(d, "memory.max", &v, "linux.resources.memory.limit")?;
        }
        if let Some(v) = m.reservation() {
            let v = super::limit(v, "linux.resources.memory.reservation", "max", file)?;
            write_file(d, "memory.low", &v, "linux.resources.memory.reservation")?;
        }
        if let Some(swap) = m.swap() {
            let field = "linux.resources.memory.swap";
            // The spec's swap is memory + swap; v2 limits the swap alone.
            let value = match (swap, m.limit()) {
                (-1, _) | (_, Some(-1)) => "max".to_string(),
                (s, Some(l)) if s >= l && l >= 0 => (s - l).to_string(),
                (s, Some(l)) => {
                    return Err(Error::config(
                        file,
                        format!("{field} ({s}) is memory plus swap, so it must be at least linux.resources.memory.limit ({l})"),
                    ))
                }
                (s, None) => super::limit(s, field, "max", file)?,
            };
            write_file(d, "memory.swap.max", &value, field)?;
        }
        if m.disable_oom_killer() == Some(true) {
            crate::explain::warn(
                "linux.resources.memory.disableOOMKiller is ignored: cgroup v2 cannot turn off the OOM killer",
            );
        }
        if m.swappiness().is_some_and(|s| s != 60) {
            return Err(Error::config(
                file,
                "linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness",
            ));
        }
    }
    if let (true, Some(p)) = (here("pids"), r.pids()) {
        if p.limit() != 0 {
            let v = super::limit(p.limit(), "linux.resources.pids.limit", "max", file)?;
            write_file(d, "pids.max", &v, "linux.resources.pids.limit")?;
        }
    }
    Ok(())
}
