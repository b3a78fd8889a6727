//! Device nodes: the files in `/dev` through which a process talks to a
//! driver, each named by a type (char or block) and a major:minor number.
//!
//! The container's `/dev` is a fresh tmpfs, so the runtime creates what
//! the spec promises every container: `null`, `zero`, `full`, `random`,
//! `urandom`, `tty` (all char devices, mode 0666), `ptmx` as a symlink to
//! the container's own `pts/ptmx`, and the `fd`, `stdin`, `stdout`,
//! `stderr` (and `core`) symlinks into `/proc`. Then each `linux.devices`
//! entry. Nodes are made with `mknod`; where that is refused (inside a
//! user namespace) the host's node is bind-mounted over an empty file.

use crate::error::{Error, Result};
use crate::explain;
use crate::mounts;
use nix::sys::stat::{Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

struct Node {
    path: PathBuf,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: Option<u32>,
    gid: Option<u32>,
}

fn default_nodes() -> Vec<Node> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(name, major, minor)| Node {
        path: Path::new("/dev").join(name),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: None,
        gid: None,
    })
    .collect()
}

fn kind_name(kind: SFlag) -> &'static str {
    match kind {
        SFlag::S_IFBLK => "block",
        SFlag::S_IFIFO => "fifo",
        _ => "char",
    }
}

fn node_of(d: &LinuxDevice) -> Result<Node> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(Error::config(
                "config.json",
                format!(
                    "linux.devices: {}: type \"a\" is only for cgroup rules",
                    d.path().display()
                ),
            ))
        }
    };
    Ok(Node {
        path: d.path().clone(),
        kind,
        major: d.major() as u64,
        minor: d.minor() as u64,
        mode: d.file_mode().unwrap_or(0o666),
        uid: d.uid(),
        gid: d.gid(),
    })
}

/// Make the default devices (when the config gives the container a fresh
/// `/dev`) and every `linux.devices` entry, inside the rootfs.
pub fn create_devices(
    root: BorrowedFd,
    fresh_dev: bool,
    extra: &[LinuxDevice],
    in_userns: bool,
) -> Result<()> {
    let mut nodes = if fresh_dev {
        default_nodes()
    } else {
        Vec::new()
    };
    for d in extra {
        nodes.push(node_of(d)?);
    }
    for n in &nodes {
        make_node(root, n, in_userns)?;
    }
    if fresh_dev {
        make_dev_symlinks(root)?;
    }
    Ok(())
}

fn make_node(root: BorrowedFd, n: &Node, in_userns: bool) -> Result<()> {
    let parent = n.path.parent().unwrap_or(Path::new("/"));
    let name = n.path.file_name().ok_or_else(|| {
        Error::config(
            "config.json",
            format!("linux.devices: {:?} is not a file path", n.path),
        )
    })?;
    let dir = mounts::make_inside(root, parent, false)?;
    // O_PATH fds cannot be used with mknodat: reopen the directory for real.
    let dir = nix::fcntl::openat(
        dir.as_fd(),
        ".",
        nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| Error::Kernel {
        call: "openat".into(),
        target: format!("rootfs{}", parent.display()),
        errno,
    })?;
    let dev = nix::sys::stat::makedev(n.major, n.minor);
    // An existing node (the image shipped one) is replaced.
    let _ = nix::unistd::unlinkat(dir.as_fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir);
    let r = explain::kernel(
        "mknod",
        format_args!(
            "{} ({} {}:{}, mode {:o})",
            n.path.display(),
            kind_name(n.kind),
            n.major,
            n.minor,
            n.mode
        ),
        "a device node: the kernel driver behind it is named by major:minor",
        || {
            nix::sys::stat::mknodat(
                dir.as_fd(),
                name,
                n.kind,
                Mode::from_bits_truncate(n.mode),
                dev,
            )
        },
    );
    match r {
        Ok(()) => {}
        Err(e) if in_userns && e.errno() == Some(nix::errno::Errno::EPERM) => {
            bind_host_node(root, &n.path)?;
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    // mknod's mode is filtered by the umask: set it exactly.
    nix::sys::stat::fchmodat(
        dir.as_fd(),
        name,
        Mode::from_bits_truncate(n.mode),
        nix::sys::stat::FchmodatFlags::NoFollowSymlink,
    )
    .or_else(|_| {
        nix::sys::stat::fchmodat(
            dir.as_fd(),
            name,
            Mode::from_bits_truncate(n.mode),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
    })
    .map_err(|errno| Error::Kernel {
        call: "fchmodat".into(),
        target: n.path.display().to_string(),
        errno,
    })?;
    if n.uid.is_some() || n.gid.is_some() {
        explain::kernel(
            "fchownat",
            format_args!("{} ({:?}:{:?})", n.path.display(), n.uid, n.gid),
            "the device's owner from linux.devices",
            || {
                nix::unistd::fchownat(
                    dir.as_fd(),
                    name,
                    n.uid.map(nix::unistd::Uid::from_raw),
                    n.gid.map(nix::unistd::Gid::from_raw),
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )
            },
        )?;
    }
    Ok(())
}

/// Inside a user namespace mknod is refused: show the host's node instead.
fn bind_host_node(root: BorrowedFd, path: &Path) -> Result<()> {
    let target = mounts::make_inside(root, path, true)?;
    explain::kernel(
        "mount",
        format_args!("{} on {} (MS_BIND)", path.display(), path.display()),
        "a user namespace may not mknod, but may bind the host's device node",
        || {
            nix::mount::mount(
                Some(path),
                mounts::fd_path(&target).as_str(),
                None::<&str>,
                nix::mount::MsFlags::MS_BIND,
                None::<&str>,
            )
        },
    )
}

fn make_dev_symlinks(root: BorrowedFd) -> Result<()> {
    let dev = mounts::open_inside(root, Path::new("/dev"))?;
    let dev = nix::fcntl::openat(
        dev.as_fd(),
        ".",
        nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| Error::Kernel {
        call: "openat".into(),
        target: "rootfs/dev".into(),
        errno,
    })?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("pts/ptmx", "ptmx"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (to, name) in links {
        let _ = nix::unistd::unlinkat(dev.as_fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        explain::kernel(
            "symlinkat",
            format_args!("/dev/{name} -> {to}"),
            "the standard /dev links every container is promised",
            || nix::unistd::symlinkat(to, dev.as_fd(), name),
        )?;
    }
    Ok(())
}
