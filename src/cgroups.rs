//! Control groups: the kernel's accounting and limits for groups of
//! processes (memory, cpu, pids, io...).
//!
//! Hosts come in three layouts. Pure v2: one `cgroup2` tree at
//! `/sys/fs/cgroup`. Pure v1: one tree per controller, `/sys/fs/cgroup/cpu`,
//! `/sys/fs/cgroup/memory`... Hybrid: the v1 trees plus a `cgroup2` tree at
//! `/sys/fs/cgroup/unified`. A `cgroup` entry in `mounts` asks for the
//! container's view of whatever the host has; in a new cgroup namespace the
//! kernel roots each tree at the container's own cgroup.
//!
//! Placing the container in its own cgroup and applying
//! `linux.resources` (the `cgroupsPath`, v1 and v2 writers, `update`,
//! `pause`) is the next step of the setup sequence; until it lands the
//! container shares the runtime's cgroup and `create` warns that
//! `linux.resources` are not enforced.

use crate::error::Result;
use crate::explain;
use crate::mounts::{self, Options};
use nix::mount::MsFlags;
use std::os::fd::BorrowedFd;
use std::path::Path;

/// One cgroup hierarchy mounted on the host.
struct Hierarchy {
    /// Directory name under /sys/fs/cgroup ("" for a pure v2 host).
    name: String,
    fstype: &'static str,
    /// The controllers (v1 super options such as "cpu" or "name=systemd").
    data: String,
}

/// The host's cgroup hierarchies, from /proc/self/mountinfo.
fn host_hierarchies() -> Vec<Hierarchy> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mountpoint = left.split(' ').nth(4).unwrap_or("");
        let mut r = right.split(' ');
        let fstype = r.next().unwrap_or("");
        let superopts = r.nth(1).unwrap_or("");
        let name = match mountpoint.strip_prefix("/sys/fs/cgroup") {
            Some("") => String::new(),
            Some(rest) if rest.starts_with('/') && !rest[1..].contains('/') => {
                rest[1..].to_string()
            }
            _ => continue,
        };
        let fstype = match fstype {
            "cgroup" => "cgroup",
            "cgroup2" => "cgroup2",
            _ => continue,
        };
        let data = superopts
            .split(',')
            .filter(|o| !matches!(*o, "rw" | "ro") && (fstype == "cgroup"))
            .collect::<Vec<_>>()
            .join(",");
        out.push(Hierarchy { name, fstype, data });
    }
    out
}

/// Mount the container's view of the host's cgroup trees at `dest`.
pub fn mount_cgroup_tree(root: BorrowedFd, dest: &Path, opts: &Options) -> Result<()> {
    let hier = host_hierarchies();
    let target = mounts::make_inside(root, dest, false)?;
    let flags = opts.flags & !MsFlags::MS_RDONLY;
    if hier
        .iter()
        .any(|h| h.name.is_empty() && h.fstype == "cgroup2")
    {
        return bind_own_cgroup("/sys/fs/cgroup", "", root, dest, opts.flags);
    }
    // v1 or hybrid: a tmpfs holding one bind mount per hierarchy.
    mount_fs(&mounts::fd_path(&target), dest, "tmpfs", "mode=755", flags)?;
    for h in &hier {
        let host = format!("/sys/fs/cgroup/{}", h.name);
        bind_own_cgroup(&host, &h.data, root, &dest.join(&h.name), opts.flags)?;
    }
    if opts.flags.contains(MsFlags::MS_RDONLY) {
        let top = mounts::open_inside(root, dest)?;
        explain::kernel(
            "mount",
            format_args!("{} (MS_REMOUNT|MS_RDONLY)", dest.display()),
            "the tmpfs holding the cgroup trees is read-only too",
            || {
                nix::mount::mount(
                    None::<&str>,
                    mounts::fd_path(&top).as_str(),
                    None::<&str>,
                    MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags,
                    None::<&str>,
                )
            },
        )?;
    }
    Ok(())
}

/// One cgroup tree, seen from the container's own cgroup: a bind mount of
/// the host's subtree for that hierarchy (`controllers` as in
/// /proc/self/cgroup: "cpu", "name=systemd", or "" for v2). A fresh mount
/// would show the same in a cgroup namespace, but a fresh cgroup2 mount
/// stalled for 15 ms in every other create here while the kernel retired
/// the previous superblock, and a user namespace may not mount cgroup v1
/// at all; a bind mount costs microseconds and works in both.
fn bind_own_cgroup(
    host_mount: &str,
    controllers: &str,
    root: BorrowedFd,
    dest: &Path,
    flags: MsFlags,
) -> Result<()> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let path = own
        .lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, c, p) = (f.next()?, f.next()?, f.next()?);
            (c == controllers).then_some(p)
        })
        .unwrap_or("/")
        .trim_end();
    let source = format!("{host_mount}{}", if path == "/" { "" } else { path });
    let target = mounts::make_inside(root, dest, false)?;
    explain::kernel(
        "mount",
        format_args!("{source} on {} (MS_BIND|MS_REC)", dest.display()),
        "the container's own part of this cgroup tree",
        || {
            nix::mount::mount(
                Some(source.as_str()),
                mounts::fd_path(&target).as_str(),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
        },
    )?;
    let extra = flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
    if extra.is_empty() {
        return Ok(());
    }
    let top = mounts::open_inside(root, dest)?;
    mounts::remount(&mounts::fd_path(&top), dest, extra)
}

fn mount_fs(target: &str, shown: &Path, fstype: &str, data: &str, flags: MsFlags) -> Result<()> {
    explain::kernel(
        "mount",
        format_args!("{fstype} on {} ({data})", shown.display()),
        "the container's own view of the cgroup tree",
        || {
            nix::mount::mount(
                Some(fstype),
                target,
                Some(fstype),
                flags,
                (!data.is_empty()).then_some(data),
            )
        },
    )
}
