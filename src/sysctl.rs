//! `linux.sysctl`: kernel settings under `/proc/sys`, for the container.
//!
//! Most sysctls are global: writing one from inside a container would
//! change the whole machine. A few belong to a namespace instead, and each
//! namespace has its own copy: the IPC limits (`kernel.msg*`, `kernel.sem`,
//! `kernel.shm*`, `fs.mqueue.*`) to the ipc namespace, `kernel.hostname`
//! and `kernel.domainname` to the uts namespace, and `net.*` to the network
//! namespace. So a key is accepted only if it is one of those, and only if
//! the container has that namespace of its own (new, or joined by path but
//! not the runtime's); anything else fails `create`, naming the key.
//!
//! The init writes them through the container's `/proc`, after
//! `pivot_root` and before `linux.readonlyPaths` makes `/proc/sys`
//! read-only.

use crate::error::{Error, Result};
use crate::explain;
use crate::namespaces::Plan;
use nix::sched::CloneFlags;
use oci_spec::runtime::Linux;
use std::os::unix::fs::MetadataExt;

/// The namespace that owns `key`'s value, if any (by its components).
fn owner(parts: &[&str]) -> Option<(CloneFlags, &'static str)> {
    const IPC_KERNEL: [&str; 11] = [
        "msgmax",
        "msgmnb",
        "msgmni",
        "msg_next_id",
        "sem",
        "sem_next_id",
        "shmall",
        "shmmax",
        "shmmni",
        "shm_next_id",
        "shm_rmid_forced",
    ];
    match parts {
        ["kernel", "hostname" | "domainname"] => Some((CloneFlags::CLONE_NEWUTS, "uts")),
        ["kernel", k] if IPC_KERNEL.contains(k) => Some((CloneFlags::CLONE_NEWIPC, "ipc")),
        ["fs", "mqueue", _] => Some((CloneFlags::CLONE_NEWIPC, "ipc")),
        ["net", _, ..] => Some((CloneFlags::CLONE_NEWNET, "network")),
        _ => None,
    }
}

/// A key's components: `a.b.c`, or `a/b/c` when a component has dots in
/// it (an interface such as `eth0.100`), as sysctl(8) takes them.
fn components(key: &str) -> Option<Vec<&str>> {
    let parts: Vec<&str> = if key.contains('/') {
        key.split('/').collect()
    } else {
        key.split('.').collect()
    };
    let ok = parts
        .iter()
        .all(|p| !p.is_empty() && *p != "." && *p != "..");
    ok.then_some(parts)
}

/// Whether the container has a namespace of its own of this kind: a new
/// one, or one joined by path that is not the runtime's.
fn owns(plan: &Plan, flag: CloneFlags, name: &str) -> bool {
    if plan.clone_flags.contains(flag) {
        return true;
    }
    let proc_name = if name == "network" { "net" } else { name };
    let mine = std::fs::metadata(format!("/proc/self/ns/{proc_name}")).ok();
    plan.join.iter().any(|(f, path)| {
        *f == flag
            && match (std::fs::metadata(path), &mine) {
                (Ok(theirs), Some(mine)) => {
                    (theirs.dev(), theirs.ino()) != (mine.dev(), mine.ino())
                }
                _ => true,
            }
    })
}

/// Refuse, before anything is made, any key that would reach the host.
pub fn check(linux: &Linux, plan: &Plan, file: &str) -> Result<()> {
    for key in linux.sysctl().iter().flatten().map(|(k, _)| k) {
        let bad = |msg: String| Error::config(file, format!("linux.sysctl: {key:?}: {msg}"));
        let parts = components(key).ok_or_else(|| bad("not a sysctl name".into()))?;
        let Some((flag, ns)) = owner(&parts) else {
            return Err(bad(
                "not namespaced: setting it would change the host, not the container".into(),
            ));
        };
        if !owns(plan, flag, ns) {
            return Err(bad(format!(
                "belongs to the {ns} namespace, and the container shares the host's (add {{\"type\": \"{ns}\"}} to linux.namespaces)"
            )));
        }
    }
    Ok(())
}

/// Write each key under `/proc/sys`, inside the container's namespaces.
pub fn write_all(linux: &Linux) -> Result<()> {
    for (key, value) in linux.sysctl().iter().flatten() {
        let Some(parts) = components(key) else {
            continue; // refused by check() in create
        };
        let path = format!("/proc/sys/{}", parts.join("/"));
        explain::kernel(
            "write",
            format_args!("{path} = {value:?}"),
            "linux.sysctl: a kernel setting of the container's own namespace",
            || {
                std::fs::write(&path, value)
                    .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)))
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_namespace_owns_a_key() {
        let o = |k: &str| owner(&components(k).unwrap()).map(|(_, n)| n);
        assert_eq!(o("net.ipv4.ip_forward"), Some("network"));
        assert_eq!(o("net/ipv4/conf/eth0.100/forwarding"), Some("network"));
        assert_eq!(o("kernel.shmmax"), Some("ipc"));
        assert_eq!(o("fs.mqueue.queues_max"), Some("ipc"));
        assert_eq!(o("kernel.domainname"), Some("uts"));
        assert_eq!(o("kernel.pid_max"), None);
        assert_eq!(o("vm.swappiness"), None);
        assert!(components("net..ipv4").is_none());
        assert!(components("net/../../etc").is_none());
    }
}
