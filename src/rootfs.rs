//! The root filesystem: from a directory on the host to the container's `/`.
//!
//! 1. Make every mount in the new mount namespace a *slave* of the host's
//!    (or as `linux.rootfsPropagation` says), so mounts made for the
//!    container never propagate back to the host.
//! 2. Bind the rootfs onto itself: `pivot_root` needs a mount point.
//! 3. Mount `mounts`, create devices (see [`crate::mounts`], [`crate::devices`]).
//! 4. `pivot_root(".", ".")` inside the rootfs: the rootfs becomes `/`, the
//!    old root is stacked on top of it, and a lazy unmount of `.` drops
//!    the old root, and with it every path back to the host's files.
//!    With `--no-pivot` (a ramfs root cannot be pivoted away from) the
//!    rootfs is moved onto `/` and `chroot` is used instead.
//! 5. Mask `linux.maskedPaths`, make `linux.readonlyPaths` read-only, and
//!    remount `/` read-only for `root.readonly`.

use crate::error::{Error, Result};
use crate::explain;
use crate::mounts;
use nix::mount::MsFlags;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// The flag for `linux.rootfsPropagation`; rslave when unset.
pub fn propagation_flag(value: Option<&str>) -> Result<MsFlags> {
    Ok(match value.unwrap_or("rslave") {
        "shared" | "rshared" => MsFlags::MS_SHARED,
        "slave" | "rslave" => MsFlags::MS_SLAVE,
        "private" | "rprivate" => MsFlags::MS_PRIVATE,
        "unbindable" | "runbindable" => MsFlags::MS_UNBINDABLE,
        other => {
            return Err(Error::config(
                "config.json",
                format!("linux.rootfsPropagation: unknown value {other:?}"),
            ))
        }
    })
}

/// Steps 1 and 2; returns a directory fd of the rootfs for later steps.
pub fn prepare_rootfs(rootfs: &Path, propagation: MsFlags) -> Result<OwnedFd> {
    // Shared is applied after pivot_root; until then nothing may propagate out.
    let first = if propagation == MsFlags::MS_SHARED {
        MsFlags::MS_SLAVE
    } else {
        propagation
    };
    explain::kernel(
        "mount",
        format_args!("/ ({}|MS_REC)", mounts::flag_names(first)),
        "cut the host's view off from the mounts the container is about to make",
        || {
            nix::mount::mount(
                None::<&str>,
                "/",
                None::<&str>,
                first | MsFlags::MS_REC,
                None::<&str>,
            )
        },
    )?;
    explain::kernel(
        "mount",
        format_args!("{} on itself (MS_BIND|MS_REC)", rootfs.display()),
        "pivot_root needs the new root to be a mount point",
        || {
            nix::mount::mount(
                Some(rootfs),
                rootfs,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
        },
    )?;
    // The new root's parent must not be shared, or pivot_root refuses.
    explain::kernel(
        "mount",
        format_args!("{} (MS_PRIVATE)", rootfs.display()),
        "pivot_root refuses a new root with shared propagation",
        || {
            nix::mount::mount(
                None::<&str>,
                rootfs,
                None::<&str>,
                MsFlags::MS_PRIVATE,
                None::<&str>,
            )
        },
    )?;
    open_dir(rootfs)
}

fn open_dir(path: &Path) -> Result<OwnedFd> {
    explain::kernel(
        "open",
        format_args!("{} (O_DIRECTORY)", path.display()),
        "every later path is resolved below this fd, never through the host",
        || {
            nix::fcntl::open(
                path,
                nix::fcntl::OFlag::O_DIRECTORY
                    | nix::fcntl::OFlag::O_CLOEXEC
                    | nix::fcntl::OFlag::O_PATH,
                nix::sys::stat::Mode::empty(),
            )
        },
    )
}

/// Step 4: make the rootfs `/` and detach the host's root.
pub fn pivot_into_rootfs(root: BorrowedFd) -> Result<()> {
    explain::kernel(
        "fchdir",
        format_args!("(rootfs)"),
        "pivot_root(\".\", \".\") works on the current directory",
        || nix::unistd::fchdir(root),
    )?;
    explain::kernel(
        "pivot_root",
        format_args!("(\".\", \".\")"),
        "the rootfs becomes / ; the old root is stacked on the same mount point",
        crate::sys::pivot_root_here,
    )?;
    explain::kernel(
        "mount",
        format_args!("old root (MS_SLAVE|MS_REC)"),
        "so unmounting the old root cannot propagate to the host",
        || {
            nix::mount::mount(
                None::<&str>,
                ".",
                None::<&str>,
                MsFlags::MS_SLAVE | MsFlags::MS_REC,
                None::<&str>,
            )
        },
    )?;
    explain::kernel(
        "umount2",
        format_args!("(old root, MNT_DETACH)"),
        "drop the host's file tree: nothing outside the rootfs is reachable now",
        || nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH),
    )?;
    explain::kernel(
        "chdir",
        format_args!("/"),
        "start from the new root",
        || nix::unistd::chdir("/"),
    )
}

/// Step 4 without pivot_root, for roots that cannot be pivoted (ramfs).
pub fn chroot_into_rootfs(rootfs: &Path) -> Result<()> {
    explain::kernel(
        "chdir",
        format_args!("{}", rootfs.display()),
        "move to the rootfs",
        || nix::unistd::chdir(rootfs),
    )?;
    explain::kernel(
        "mount",
        format_args!("{} on / (MS_MOVE)", rootfs.display()),
        "--no-pivot: move the rootfs over / instead of pivoting",
        || nix::mount::mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>),
    )?;
    explain::kernel(
        "chroot",
        format_args!("."),
        "--no-pivot: confine path lookups to the rootfs",
        || nix::unistd::chroot("."),
    )?;
    explain::kernel(
        "chdir",
        format_args!("/"),
        "start from the new root",
        || nix::unistd::chdir("/"),
    )
}

/// Open the (new) `/` to resolve paths in it.
pub fn open_root() -> Result<OwnedFd> {
    open_dir(Path::new("/"))
}

/// Step 5a: hide each masked path: a file behind /dev/null, a directory
/// behind an empty read-only tmpfs. Missing paths are skipped.
pub fn mask_paths(root: BorrowedFd, paths: &[String]) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let null = verified_null_device(root)?;
    let null_path = mounts::fd_path(&null);
    for p in paths {
        let Ok(fd) = crate::sys::open_in_root(root, &c_path(p)?, libc::O_PATH | libc::O_NOFOLLOW)
        else {
            continue;
        };
        let target = mounts::fd_path(&fd);
        let is_dir = nix::sys::stat::fstat(fd.as_fd())
            .map(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR)
            .unwrap_or(false);
        if is_dir {
            explain::kernel(
                "mount",
                format_args!("tmpfs on {p} (ro, empty)"),
                "linux.maskedPaths: the container must not see this directory",
                || {
                    nix::mount::mount(
                        Some("tmpfs"),
                        target.as_str(),
                        Some("tmpfs"),
                        MsFlags::MS_RDONLY,
                        None::<&str>,
                    )
                },
            )?;
        } else {
            explain::kernel(
                "mount",
                format_args!("/dev/null on {p} (MS_BIND)"),
                "linux.maskedPaths: the container must not read this file",
                || {
                    nix::mount::mount(
                        Some(null_path.as_str()),
                        target.as_str(),
                        None::<&str>,
                        MsFlags::MS_BIND,
                        None::<&str>,
                    )
                },
            )?;
        }
    }
    Ok(())
}

/// The container's `/dev/null`, checked to be the real null device (char
/// 1:3): with no fresh `/dev` in the config it comes from the image, which
/// could make it a link to the very file it is meant to mask.
fn verified_null_device(root: BorrowedFd) -> Result<OwnedFd> {
    let fd = crate::sys::open_in_root(root, c"/dev/null", libc::O_PATH | libc::O_NOFOLLOW)
        .map_err(|errno| Error::Kernel {
            call: "openat2".into(),
            target: "/dev/null (to mask linux.maskedPaths)".into(),
            errno,
        })?;
    let st = nix::sys::stat::fstat(fd.as_fd()).map_err(|errno| Error::Kernel {
        call: "fstat".into(),
        target: "/dev/null".into(),
        errno,
    })?;
    let is_null =
        st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == nix::sys::stat::makedev(1, 3);
    if !is_null {
        return Err(Error::Other(
            "linux.maskedPaths: the container's /dev/null is not the null device (char 1:3); refusing to mask with it".into(),
        ));
    }
    Ok(fd)
}

/// Step 5b: bind each read-only path onto itself, then remount it read-only.
pub fn make_paths_readonly(root: BorrowedFd, paths: &[String]) -> Result<()> {
    for p in paths {
        // A symlink is followed, but inside the root only (RESOLVE_IN_ROOT):
        // what becomes read-only is what the container reaches at that path.
        let Ok(fd) = crate::sys::open_in_root(root, &c_path(p)?, libc::O_PATH) else {
            continue;
        };
        let target = mounts::fd_path(&fd);
        explain::kernel(
            "mount",
            format_args!("{p} on itself (MS_BIND|MS_REC)"),
            "linux.readonlyPaths: a mount of its own, to make read-only",
            || {
                nix::mount::mount(
                    Some(target.as_str()),
                    target.as_str(),
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
            },
        )?;
        let top = mounts::open_inside(root, Path::new(p))?;
        mounts::remount(
            &mounts::fd_path(&top),
            Path::new(p),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        )?;
    }
    Ok(())
}

/// Step 5c: `root.readonly`.
pub fn remount_root_readonly() -> Result<()> {
    mounts::remount("/", Path::new("/"), MsFlags::MS_RDONLY)
}

/// `linux.rootfsPropagation`, applied to the new root and everything below.
pub fn apply_root_propagation(flag: MsFlags) -> Result<()> {
    mounts::set_propagation("/", Path::new("/"), flag | MsFlags::MS_REC)
}

fn c_path(p: &str) -> Result<std::ffi::CString> {
    std::ffi::CString::new(p)
        .map_err(|_| Error::config("config.json", format!("path {p:?} contains a NUL byte")))
}
