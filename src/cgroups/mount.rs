//! The container's view of the cgroup trees: a `cgroup` entry in `mounts`.
//!
//! The container should see its own cgroup as the root of each tree, as a
//! fresh mount inside its cgroup namespace would show it. Puncker
//! bind-mounts the container's own directory of each host hierarchy
//! instead: a fresh cgroup2 mount stalled for 15 ms in every other create
//! here while the kernel retired the previous superblock, and a user
//! namespace may not mount cgroup v1 at all; a bind mount costs
//! microseconds and works in both. Pure v2: one bind at the destination.
//! v1 and hybrid: a tmpfs holding one bind per hierarchy, named as on the
//! host (`memory`, `cpu,cpuacct`, `unified`...).

use super::{Cgroup, Dir};
use crate::error::Result;
use crate::explain;
use crate::mounts::{self, Options};
use nix::mount::MsFlags;
use std::os::fd::BorrowedFd;
use std::path::Path;

/// Mount the container's view of its cgroup at `dest`.
pub fn mount_cgroup_tree(root: BorrowedFd, dest: &Path, opts: &Options, cg: &Cgroup) -> Result<()> {
    let target = mounts::make_inside(root, dest, false)?;
    let flags = opts.flags & !MsFlags::MS_RDONLY;
    let name_of = |d: &Dir| {
        d.mount
            .strip_prefix("/sys/fs/cgroup")
            .map(|p| p.to_path_buf())
            .unwrap_or_default()
    };
    if let [only] = cg.dirs.as_slice() {
        if only.is_v2() && name_of(only).as_os_str().is_empty() {
            return bind_own_cgroup(only, root, dest, opts.flags);
        }
    }
    mount_fs(&mounts::fd_path(&target), dest, "tmpfs", "mode=755", flags)?;
    for d in &cg.dirs {
        bind_own_cgroup(d, root, &dest.join(name_of(d)), opts.flags)?;
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

/// One cgroup tree, seen from the container's own cgroup.
fn bind_own_cgroup(d: &Dir, root: BorrowedFd, dest: &Path, flags: MsFlags) -> Result<()> {
    let source = d.host_path();
    let source = source.to_string_lossy();
    let target = mounts::make_inside(root, dest, false)?;
    explain::kernel(
        "mount",
        format_args!("{source} on {} (MS_BIND|MS_REC)", dest.display()),
        "the container's own part of this cgroup tree",
        || {
            nix::mount::mount(
                Some(source.as_ref()),
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
