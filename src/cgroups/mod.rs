//! Control groups: the kernel's accounting and limits for groups of
//! processes (memory, cpu, pids, io...).
//!
//! A cgroup is a directory in a cgroup file system: `mkdir` makes a group,
//! writing a pid to its `cgroup.procs` moves a process in, and the
//! controllers' files (`memory.max`, `pids.max`...) set its limits. Every
//! process is in exactly one cgroup of each hierarchy, and its children are
//! born where it is.
//!
//! Hosts come in three layouts. Pure v2: one `cgroup2` tree at
//! `/sys/fs/cgroup`, with every controller. Pure v1: one tree per
//! controller (`/sys/fs/cgroup/memory`, `/sys/fs/cgroup/pids`...). Hybrid:
//! the v1 trees plus a `cgroup2` tree at `/sys/fs/cgroup/unified`, which
//! holds no controller but still tracks membership.
//!
//! The spec asks for a cgroup at `linux.cgroupsPath` (absolute: from each
//! hierarchy's root; relative: from the runtime's own cgroup, as runc
//! does; empty: the container id, relative) with `linux.resources` applied,
//! and for every process of the container to be in it before `execve`.
//! Puncker makes the directory on every hierarchy ([`v1`], [`v2`]), records
//! the paths in the state before anything is made (so `delete` can always
//! find them), and places each process without the cost of moving it:
//!
//! - on cgroup v2, `clone3(CLONE_INTO_CGROUP)` makes the process inside its
//!   cgroup from birth;
//! - on cgroup v1, the process moves *itself*, writing "0" to each `tasks`
//!   file through descriptors the runtime opened. Moving another process
//!   (writing its pid to `cgroup.procs`) takes a global lock whose writer
//!   waits for an RCU grace period, 10–14 ms on the development machine; a
//!   single-threaded process moving its own thread skips that lock
//!   (0.15 ms for nine hierarchies). The descriptors carry the runtime's
//!   credentials, which the kernel checks, so this works inside a new user
//!   namespace too.
//!
//! [`mount`] gives the container its view of these trees; [`freezer`]
//! pauses it.

pub mod devices_bpf;
pub mod freezer;
pub mod mount;
mod v1;
mod v2;

use crate::error::{Error, Result};
use crate::explain;
use nix::errno::Errno;
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The container's cgroup: one directory per hierarchy on the host.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Cgroup {
    pub dirs: Vec<Dir>,
}

/// The container's directory in one hierarchy.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Dir {
    /// The hierarchy, named as /proc/self/cgroup names it: its v1
    /// controllers ("memory", "cpu,cpuacct", "name=systemd"), or "" for v2.
    pub controllers: String,
    /// Where the hierarchy is mounted on the host, e.g. /sys/fs/cgroup/memory.
    pub mount: PathBuf,
    /// The cgroup's path inside the hierarchy, e.g. /docker/abc.
    pub path: String,
}

impl Dir {
    pub fn is_v2(&self) -> bool {
        self.controllers.is_empty()
    }

    /// The directory on the host.
    pub fn host_path(&self) -> PathBuf {
        self.mount.join(self.path.trim_start_matches('/'))
    }

    pub(crate) fn has(&self, controller: &str) -> bool {
        self.controllers.split(',').any(|c| c == controller)
    }
}

/// One cgroup hierarchy mounted under /sys/fs/cgroup, and the part of it
/// that is the mount's root (not "/" when /sys/fs/cgroup is itself a
/// container's bind-mounted view).
struct Mounted {
    mount: PathBuf,
    root: String,
    v2: bool,
    options: Vec<String>,
}

fn mounted_hierarchies() -> Vec<Mounted> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<Mounted> = Vec::new();
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut l = left.split(' ');
        let (root, mountpoint) = (l.nth(3).unwrap_or(""), l.next().unwrap_or(""));
        let mut r = right.split(' ');
        let v2 = match r.next() {
            Some("cgroup") => false,
            Some("cgroup2") => true,
            _ => continue,
        };
        if !mountpoint.starts_with("/sys/fs/cgroup")
            || out.iter().any(|m| m.mount == Path::new(mountpoint))
        {
            continue;
        }
        let options = r
            .nth(1)
            .unwrap_or("")
            .split(',')
            .map(str::to_string)
            .collect();
        out.push(Mounted {
            mount: PathBuf::from(mountpoint),
            root: root.to_string(),
            v2,
            options,
        });
    }
    out
}

/// Work out the container's directory on every hierarchy the host has.
/// Pure computation: nothing is made until [`create`].
/// `systemd` is the global `--systemd-cgroup`: a manager asking systemd to
/// own the cgroup, which is not built yet.
pub fn resolve(cgroups_path: Option<&str>, id: &str, systemd: bool, file: &str) -> Result<Cgroup> {
    if systemd {
        if !Path::new("/run/systemd/system").exists() {
            return Err(Error::Other(
                "--systemd-cgroup: systemd is not running on this host (no /run/systemd/system), so it cannot own the container's cgroup; leave the flag out to have puncker make it".into(),
            ));
        }
        return Err(Error::Unsupported(
            "--systemd-cgroup (a systemd scope for the container's cgroup)".into(),
        ));
    }
    let wanted = cgroups_path.filter(|p| !p.is_empty()).unwrap_or(id);
    if wanted.split('/').any(|c| c == "..") || wanted.contains('\0') {
        return Err(Error::config(
            file,
            format!("linux.cgroupsPath {wanted:?} must not contain \"..\""),
        ));
    }
    if !wanted.starts_with('/') && wanted.contains(':') {
        return Err(Error::config(
            file,
            format!("linux.cgroupsPath {wanted:?} is in systemd's slice:prefix:name form, which only --systemd-cgroup (not built yet) understands; give a path instead"),
        ));
    }
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mounted = mounted_hierarchies();
    let mut dirs = Vec::new();
    for line in own.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(own_path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Some(m) = mounted.iter().find(|m| mounts_controllers(m, controllers)) else {
            continue; // a hierarchy nobody mounted (e.g. named, for a daemon)
        };
        let full = if wanted.starts_with('/') {
            wanted.trim_end_matches('/').to_string()
        } else {
            format!(
                "{}/{}",
                own_path.trim_end_matches('/'),
                wanted.trim_end_matches('/')
            )
        };
        // Paths are the kernel's, from the hierarchy's root; the mount may
        // show only a subtree of it.
        let under_mount = full
            .strip_prefix(m.root.trim_end_matches('/'))
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .ok_or_else(|| {
                Error::config(
                    file,
                    format!(
                        "linux.cgroupsPath {full:?} is outside {} (which shows only {})",
                        m.mount.display(),
                        m.root
                    ),
                )
            })?;
        dirs.push(Dir {
            controllers: controllers.to_string(),
            mount: m.mount.clone(),
            path: under_mount.to_string(),
        });
    }
    Ok(Cgroup { dirs })
}

fn mounts_controllers(m: &Mounted, controllers: &str) -> bool {
    if controllers.is_empty() {
        return m.v2;
    }
    !m.v2
        && controllers
            .split(',')
            .all(|c| m.options.iter().any(|o| o == c))
}

impl Cgroup {
    /// The v2 directory (pure v2 or the hybrid `unified` tree).
    pub(crate) fn v2(&self) -> Option<&Dir> {
        self.dirs.iter().find(|d| d.is_v2())
    }

    /// Where a controller lives: its v1 hierarchy, else the v2 tree when
    /// the host offers that controller there.
    fn with_controller(&self, controller: &str) -> Option<&Dir> {
        self.dirs.iter().find(|d| d.has(controller)).or_else(|| {
            let d = self.v2()?;
            let offered =
                std::fs::read_to_string(d.mount.join("cgroup.controllers")).unwrap_or_default();
            offered
                .split_whitespace()
                .any(|c| c == controller)
                .then_some(d)
        })
    }
}

/// Make the container's cgroup on every hierarchy and apply
/// `linux.resources`. Undone by [`remove`].
pub fn create(cg: &Cgroup, resources: Option<&LinuxResources>, file: &str) -> Result<()> {
    let wanted = resources.map(wanted_controllers).unwrap_or_default();
    let mut homes = Vec::new();
    for (controller, field) in &wanted {
        let dir = cg.with_controller(controller).ok_or_else(|| {
            Error::config(
                file,
                format!("{field} needs the {controller} cgroup controller, which this host does not have"),
            )
        })?;
        homes.push(dir);
    }
    for d in &cg.dirs {
        make_cgroup_dir(d)?;
        if d.is_v2() {
            let needed: Vec<&str> = wanted
                .iter()
                .zip(&homes)
                .filter(|(_, h)| h.is_v2())
                .map(|((c, _), _)| *c)
                .collect();
            v2::enable_controllers(d, &needed)?;
        } else if d.has("cpuset") {
            v1::inherit_cpuset(d)?;
        }
    }
    if let Some(r) = resources {
        for d in &cg.dirs {
            if d.is_v2() {
                v2::apply(
                    d,
                    r,
                    |c| cg.with_controller(c).is_some_and(Dir::is_v2),
                    file,
                )?;
            } else {
                v1::apply(d, r, file)?;
            }
        }
    }
    Ok(())
}

/// The controllers `linux.resources` needs, with the field that needs them.
fn wanted_controllers(r: &LinuxResources) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    if r.memory().as_ref().is_some_and(|m| {
        m.limit().is_some()
            || m.reservation().is_some()
            || m.swap().is_some()
            || m.swappiness().is_some()
            || m.disable_oom_killer().is_some()
    }) {
        out.push(("memory", "linux.resources.memory"));
    }
    if r.pids().as_ref().is_some_and(|p| p.limit() != 0) {
        out.push(("pids", "linux.resources.pids"));
    }
    out
}

/// `mkdir` each missing level: a cgroup is a directory, and making one
/// makes the group (the kernel fills it with the controllers' files).
fn make_cgroup_dir(d: &Dir) -> Result<()> {
    let target = d.host_path();
    let mut missing = Vec::new();
    let mut p = target.as_path();
    while !p.exists() && p != d.mount {
        missing.push(p.to_path_buf());
        p = p.parent().unwrap_or(&d.mount);
    }
    for dir in missing.iter().rev() {
        if d.has("cpuset") && dir != &target {
            // A v1 cpuset parent must have cpus and mems before a child can.
            mkdir(dir)?;
            v1::inherit_cpuset(&Dir {
                path: dir
                    .strip_prefix(&d.mount)
                    .map(|p| format!("/{}", p.display()))
                    .unwrap_or_default(),
                ..d.clone()
            })?;
        } else {
            mkdir(dir)?;
        }
    }
    Ok(())
}

fn mkdir(dir: &Path) -> Result<()> {
    explain::kernel(
        "mkdir",
        format_args!("{}", dir.display()),
        "making a directory in a cgroup file system makes a cgroup",
        || match nix::unistd::mkdir(dir, nix::sys::stat::Mode::from_bits_truncate(0o755)) {
            Err(Errno::EEXIST) => Ok(()),
            r => r,
        },
    )
}

/// Write one value to one of a cgroup's files, naming the spec field that
/// asked for it if the kernel refuses.
fn write_file(d: &Dir, file: &str, value: &str, field: &str) -> Result<()> {
    let path = d.host_path().join(file);
    explain::kernel(
        "write",
        format_args!("{} = {value}", path.display()),
        field,
        || std::fs::write(&path, value).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0))),
    )
    .map_err(|e| match e {
        Error::Kernel { errno, .. } => Error::Kernel {
            call: "write".into(),
            target: format!("{} ({field})", path.display()),
            errno,
        },
        e => e,
    })
}

/// Descriptors that let a new process put itself in the container's
/// cgroup: the v2 directory for `clone3(CLONE_INTO_CGROUP)`, and each v1
/// hierarchy's `tasks` file for the process to write "0" to.
pub struct Placement {
    pub v2_dir: Option<OwnedFd>,
    v1_tasks: Vec<(PathBuf, OwnedFd)>,
}

/// Open the container's cgroup for a process about to be cloned into it.
pub fn open_for_placement(cg: &Cgroup) -> Result<Placement> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::Mode;
    let mut p = Placement {
        v2_dir: None,
        v1_tasks: Vec::new(),
    };
    let failed = |path: &Path, errno| Error::Kernel {
        call: "open".into(),
        target: format!("{} (the container's cgroup)", path.display()),
        errno,
    };
    for d in &cg.dirs {
        let dir = d.host_path();
        if d.is_v2() {
            let fd = open(
                &dir,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| failed(&dir, e))?;
            p.v2_dir = Some(fd);
        } else {
            let tasks = dir.join("tasks");
            let fd = open(&tasks, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(|e| failed(&tasks, e))?;
            p.v1_tasks.push((tasks, fd));
        }
    }
    Ok(p)
}

impl Placement {
    /// The cgroup v2 directory to clone into, if there is one.
    pub fn clone_target(&self) -> Option<BorrowedFd<'_>> {
        self.v2_dir.as_ref().map(|f| f.as_fd())
    }

    /// Whether there are v1 hierarchies to join after the clone.
    pub fn has_v1(&self) -> bool {
        !self.v1_tasks.is_empty()
    }

    /// In the new process: move itself into each v1 hierarchy's cgroup.
    /// (The descriptors are close-on-exec: they never reach the program.)
    pub fn join_v1_hierarchies(&self) -> Result<()> {
        for (path, fd) in &self.v1_tasks {
            explain::kernel(
                "write",
                format_args!("{} = 0", path.display()),
                "a process moving its own thread skips the global lock that moving another process takes",
                || nix::unistd::write(fd, b"0").map(|_| ()),
            )?;
        }
        Ok(())
    }
}

/// The pids in the container's cgroup, from the first hierarchy that has it.
pub fn processes(cg: &Cgroup) -> Vec<i32> {
    cg.dirs
        .iter()
        .find_map(|d| std::fs::read_to_string(d.host_path().join("cgroup.procs")).ok())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Kill whatever is still in the cgroup, then remove its directory on
/// every hierarchy. The kernel refuses `rmdir` while a process (even a
/// zombie not yet reaped) is inside, so this waits a little for that.
pub fn remove(cg: &Cgroup) -> Result<()> {
    for pid in processes(cg) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let mut left = Vec::new();
    for d in &cg.dirs {
        let dir = d.host_path();
        let mut tries = 0;
        let res = loop {
            let removed = std::fs::remove_dir(&dir)
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)));
            match removed {
                Ok(()) | Err(Errno::ENOENT) => break Ok(()),
                Err(Errno::EBUSY) if tries < 200 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => break Err(e),
            }
        };
        explain::record(
            "rmdir",
            format_args!("{}", dir.display()),
            "removing the directory removes the cgroup",
            std::time::Duration::ZERO,
            res.err(),
        );
        if let Err(e) = res {
            left.push(format!("{} ({})", dir.display(), e.desc()));
        }
    }
    if left.is_empty() {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "cannot remove the container's cgroup: {}",
            left.join(", ")
        )))
    }
}

/// A limit as a cgroup file takes it: -1 is "no limit", spelled
/// `unlimited` (v1: "-1", v2: "max"); any other negative value is refused.
fn limit(v: i64, field: &str, unlimited: &str, file: &str) -> Result<String> {
    match v {
        -1 => Ok(unlimited.to_string()),
        v if v < 0 => Err(Error::config(
            file,
            format!("{field} is {v}; a limit must be positive, or -1 for none"),
        )),
        v => Ok(v.to_string()),
    }
}
