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
pub mod stats;
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
/// Nothing is made until [`create`]; a path that names a root, or a cgroup
/// that already holds processes, is refused here, before the record.
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
    // The container's cgroup is removed, and everything in it killed, at
    // delete: it must be a cgroup of its own, never a root or an ancestor.
    if wanted.split('/').any(|c| c == ".." || c == ".")
        || wanted.trim_matches('/').is_empty()
        || wanted.contains('\0')
    {
        return Err(Error::config(
            file,
            format!("linux.cgroupsPath {wanted:?} must not contain \".\" or \"..\", and must name a cgroup below the root"),
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
    let cg = Cgroup { dirs };
    let pids = processes(&cg);
    if !pids.is_empty() {
        // delete kills what is in the cgroup: it must hold only this container.
        return Err(Error::config(
            file,
            format!(
                "linux.cgroupsPath: {} already holds processes ({pids:?}); give the container a cgroup of its own",
                cg.dirs.first().map(|d| d.host_path().display().to_string()).unwrap_or_default()
            ),
        ));
    }
    Ok(cg)
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

    /// Where a controller (named as on v2) lives: its v1 hierarchy, else the
    /// v2 tree when the host offers that controller there.
    pub(crate) fn with_controller(&self, controller: &str) -> Option<&Dir> {
        let v1 = v1_name(controller);
        self.dirs.iter().find(|d| d.has(v1)).or_else(|| {
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
    let wanted = match resources {
        Some(r) => homes_of(cg, r, file)?,
        None => Vec::new(),
    };
    let unified = resources
        .and_then(|r| r.unified().as_ref())
        .filter(|u| !u.is_empty());
    if unified.is_some() && cg.v2().is_none() {
        return Err(Error::config(
            file,
            "linux.resources.unified needs cgroup v2, which this host does not have",
        ));
    }
    if let Some(rules) = resources.and_then(|r| r.devices().as_ref()) {
        device_rules(rules, file)?; // checked before anything is made
    }
    for d in &cg.dirs {
        make_cgroup_dir(d)?;
        if d.is_v2() {
            let mut needed: Vec<&str> = wanted
                .iter()
                .filter(|(_, home)| home.is_v2())
                .map(|(c, _)| *c)
                .collect();
            // unified keys name their controller: "memory.high" needs memory.
            let offered =
                std::fs::read_to_string(d.mount.join("cgroup.controllers")).unwrap_or_default();
            for key in unified.iter().flat_map(|u| u.keys()) {
                let c = key.split('.').next().unwrap_or("");
                if offered.split_whitespace().any(|o| o == c) && !needed.contains(&c) {
                    needed.push(c);
                }
            }
            v2::enable_controllers(d, &needed)?;
        } else if d.has("cpuset") {
            v1::inherit_cpuset(d)?;
        }
    }
    match resources {
        Some(r) => write_resources(cg, r, r, file),
        None => Ok(()),
    }
}

/// Where each controller `r` needs lives; a missing one is an error
/// naming the field and the controller.
fn homes_of<'a>(
    cg: &'a Cgroup,
    r: &LinuxResources,
    file: &str,
) -> Result<Vec<(&'static str, &'a Dir)>> {
    wanted_controllers(r)
        .into_iter()
        .map(|(controller, field)| {
            let home = cg.with_controller(controller).ok_or_else(|| {
                Error::config(
                    file,
                    format!(
                        "{field} needs the {controller} cgroup controller{}, which this host does not have",
                        if controller == "io" { " (blkio on v1)" } else { "" }
                    ),
                )
            })?;
            Ok((controller, home))
        })
        .collect()
}

/// Write resources into every hierarchy's directory: `for_v2` into the v2
/// tree (the fields whose controllers live there), `for_v1` into each v1
/// hierarchy (the fields of its controllers).
fn write_resources(
    cg: &Cgroup,
    for_v2: &LinuxResources,
    for_v1: &LinuxResources,
    file: &str,
) -> Result<()> {
    for d in &cg.dirs {
        if d.is_v2() {
            v2::apply(
                d,
                for_v2,
                |c| cg.with_controller(c).is_some_and(Dir::is_v2),
                file,
            )?;
        } else {
            v1::apply(d, for_v1, file)?;
        }
    }
    Ok(())
}

/// `update`: write new resources into the container's existing cgroup, with
/// the writers `create` used. v1 device rules are written again only if
/// they changed: rewriting them starts with "deny all", and for that moment
/// the container could not open /dev/null.
pub fn update(cg: &Cgroup, new: &LinuxResources, old: &LinuxResources, file: &str) -> Result<()> {
    homes_of(cg, new, file)?;
    let mut for_v1 = new.clone();
    if new.devices() == old.devices() {
        for_v1.set_devices(None);
    }
    write_resources(cg, new, &for_v1, file)?;
    if new.devices().is_some() && new.devices() != old.devices() {
        install_device_filter(cg, Some(new), file)?;
    }
    Ok(())
}

/// `memory.checkBeforeUpdate`: refuse a limit below what the container
/// already uses, instead of letting the kernel reclaim or OOM-kill.
pub fn check_memory_fits(
    cg: &Cgroup,
    m: &oci_spec::runtime::LinuxMemory,
    file: &str,
) -> Result<()> {
    let Some(limit) = m.limit().filter(|l| *l >= 0) else {
        return Ok(());
    };
    let Some(d) = cg.with_controller("memory") else {
        return Ok(());
    };
    let usage_file = if d.is_v2() {
        "memory.current"
    } else {
        "memory.usage_in_bytes"
    };
    let usage: i64 = std::fs::read_to_string(d.host_path().join(usage_file))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if usage > limit {
        return Err(Error::config(
            file,
            format!("linux.resources.memory.limit {limit} is below what the container uses now ({usage} bytes), and checkBeforeUpdate is set"),
        ));
    }
    Ok(())
}

/// On cgroup v2 (with no v1 devices hierarchy), attach the device filter.
/// Called once the init has made the config's device nodes: the filter
/// would refuse it the `mknod` of any node the rules do not allow, as v1's
/// rules do not, the init joining its v1 cgroups only after the mounts.
pub fn install_device_filter(
    cg: &Cgroup,
    resources: Option<&LinuxResources>,
    file: &str,
) -> Result<()> {
    let Some(rules) = resources.and_then(|r| r.devices().as_ref()) else {
        return Ok(());
    };
    let rules = device_rules(rules, file)?;
    if rules.is_empty() || cg.dirs.iter().any(|d| d.has("devices")) {
        return Ok(());
    }
    match cg.v2() {
        Some(d) => v2::devices(d, &rules),
        None => Ok(()),
    }
}

/// The controllers `linux.resources` needs, by their cgroup v2 names, with
/// the field that needs each. (The v1 name is the same but for `io`,
/// which v1 calls `blkio`.) Device rules need no controller on v2, where
/// a BPF program attached to any cgroup does the work.
fn wanted_controllers(r: &LinuxResources) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    let mut want = |set: bool, controller, field| {
        if set {
            out.push((controller, field));
        }
    };
    let m = r.memory().as_ref();
    want(
        m.is_some_and(|m| {
            m.limit().is_some()
                || m.reservation().is_some()
                || m.swap().is_some()
                || m.swappiness().is_some()
                || m.disable_oom_killer() == Some(true)
        }),
        "memory",
        "linux.resources.memory",
    );
    want(
        r.pids().as_ref().is_some_and(|p| p.limit() != 0),
        "pids",
        "linux.resources.pids",
    );
    let c = r.cpu().as_ref();
    want(
        c.is_some_and(|c| {
            // Managers send 0 for "not set", as runc reads it.
            c.shares().is_some_and(|v| v != 0)
                || c.quota().is_some_and(|v| v != 0)
                || c.period().is_some_and(|v| v != 0)
                || c.burst().is_some_and(|v| v != 0)
                || c.idle().is_some_and(|v| v != 0)
                || c.realtime_runtime().is_some_and(|v| v != 0)
                || c.realtime_period().is_some_and(|v| v != 0)
        }),
        "cpu",
        "linux.resources.cpu",
    );
    want(
        c.is_some_and(|c| {
            c.cpus().as_deref().is_some_and(|v| !v.is_empty())
                || c.mems().as_deref().is_some_and(|v| !v.is_empty())
        }),
        "cpuset",
        "linux.resources.cpu.cpus/mems",
    );
    want(
        r.block_io().as_ref().is_some_and(|b| {
            b.weight().is_some_and(|v| v != 0)
                || b.leaf_weight().is_some_and(|v| v != 0)
                || b.weight_device().as_ref().is_some_and(|d| !d.is_empty())
                || b.throttle_read_bps_device()
                    .as_ref()
                    .is_some_and(|d| !d.is_empty())
                || b.throttle_write_bps_device()
                    .as_ref()
                    .is_some_and(|d| !d.is_empty())
                || b.throttle_read_iops_device()
                    .as_ref()
                    .is_some_and(|d| !d.is_empty())
                || b.throttle_write_iops_device()
                    .as_ref()
                    .is_some_and(|d| !d.is_empty())
        }),
        "io",
        "linux.resources.blockIO",
    );
    want(
        r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()),
        "hugetlb",
        "linux.resources.hugepageLimits",
    );
    want(
        r.rdma().as_ref().is_some_and(|h| !h.is_empty()),
        "rdma",
        "linux.resources.rdma",
    );
    let n = r.network().as_ref();
    want(
        n.is_some_and(|n| n.class_id().is_some()),
        "net_cls",
        "linux.resources.network.classID",
    );
    want(
        n.is_some_and(|n| n.priorities().as_ref().is_some_and(|p| !p.is_empty())),
        "net_prio",
        "linux.resources.network.priorities",
    );
    out
}

/// A controller's name on cgroup v1.
fn v1_name(v2_name: &str) -> &str {
    if v2_name == "io" {
        "blkio"
    } else {
        v2_name
    }
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

/// The container's cgroup and every cgroup below it (the container may
/// make its own, e.g. systemd inside), deepest first, in one hierarchy.
fn subtree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(subtree(&e.path()));
            }
        }
    }
    if dir.exists() {
        out.push(dir.to_path_buf());
    }
    out
}

/// The pids in the container's cgroup and below, read from the hierarchy
/// listed first (every hierarchy holds the same processes).
pub fn processes(cg: &Cgroup) -> Vec<i32> {
    let Some(d) = cg.dirs.first() else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = subtree(&d.host_path())
        .iter()
        .filter_map(|dir| std::fs::read_to_string(dir.join("cgroup.procs")).ok())
        .flat_map(|s| {
            s.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Kill whatever is still in the cgroup, then remove it (and any cgroups
/// the container made below it) on every hierarchy. A process may fork
/// while the list is read, so the killing repeats until none is left; the
/// kernel refuses `rmdir` while a process (even a zombie not yet reaped)
/// is inside, so that waits a little too.
pub fn remove(cg: &Cgroup) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let pids = processes(cg);
        if pids.is_empty() || std::time::Instant::now() > deadline {
            break;
        }
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let mut left = Vec::new();
    for d in &cg.dirs {
        for dir in subtree(&d.host_path()) {
            let res = remove_cgroup_dir(&dir);
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

fn remove_cgroup_dir(dir: &Path) -> std::result::Result<(), Errno> {
    let mut tries = 0;
    loop {
        let removed =
            std::fs::remove_dir(dir).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)));
        match removed {
            Ok(()) | Err(Errno::ENOENT) => return Ok(()),
            Err(Errno::EBUSY) if tries < 400 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
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

/// One device rule, checked: the spec's rule, or one of the devices every
/// container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    /// 'a' (all), 'c' or 'b'.
    pub kind: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    /// A subset of "rwm".
    pub access: String,
}

impl DeviceRule {
    /// The line v1's devices.allow and devices.deny take: "c 1:3 rwm".
    fn v1_line(&self) -> String {
        let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
        if self.kind == 'a' {
            return "a".to_string();
        }
        format!(
            "{} {}:{} {}",
            self.kind,
            num(self.major),
            num(self.minor),
            self.access
        )
    }
}

/// The devices every container gets (see devices.rs), allowed after the
/// config's own rules, as runc does, so a deny-all list keeps /dev usable.
const DEFAULT_DEVICES: [(char, i64, Option<i64>); 9] = [
    ('c', 1, Some(3)), // null
    ('c', 1, Some(5)), // zero
    ('c', 1, Some(7)), // full
    ('c', 1, Some(8)), // random
    ('c', 1, Some(9)), // urandom
    ('c', 5, Some(0)), // tty
    ('c', 5, Some(1)), // console
    ('c', 5, Some(2)), // ptmx
    ('c', 136, None),  // the container's ptys
];

/// `linux.resources.devices`, checked, with the default devices allowed last.
pub fn device_rules(
    rules: &[oci_spec::runtime::LinuxDeviceCgroup],
    file: &str,
) -> Result<Vec<DeviceRule>> {
    use oci_spec::runtime::LinuxDeviceType as T;
    let mut out = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let field = format!("linux.resources.devices[{i}]");
        let kind = match r.typ().unwrap_or(T::A) {
            T::A => 'a',
            T::C => 'c',
            T::B => 'b',
            other => {
                return Err(Error::config(
                    file,
                    format!(
                        "{field}.type is {:?}; a device rule's type is a, b or c",
                        other.as_str()
                    ),
                ))
            }
        };
        let access = r.access().clone().unwrap_or_else(|| "rwm".into());
        if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
            return Err(Error::config(
                file,
                format!("{field}.access is {access:?}; it must be made of r, w and m"),
            ));
        }
        out.push(DeviceRule {
            allow: r.allow(),
            kind,
            major: r.major().filter(|m| *m >= 0),
            minor: r.minor().filter(|m| *m >= 0),
            access,
        });
    }
    if !out.is_empty() {
        for (kind, major, minor) in DEFAULT_DEVICES {
            out.push(DeviceRule {
                allow: true,
                kind,
                major: Some(major),
                minor,
                access: "rwm".into(),
            });
        }
    }
    Ok(out)
}

/// `linux.resources.rdma` as rdma.max lines: "mlx4_0 hca_handle=2 hca_object=2000".
fn rdma_lines(
    rdma: &std::collections::HashMap<String, oci_spec::runtime::LinuxRdma>,
) -> Vec<String> {
    let mut lines: Vec<String> = rdma
        .iter()
        .map(|(dev, l)| {
            let mut line = dev.clone();
            if let Some(h) = l.hca_handles() {
                line += &format!(" hca_handle={h}");
            }
            if let Some(o) = l.hca_objects() {
                line += &format!(" hca_object={o}");
            }
            line
        })
        .collect();
    lines.sort();
    lines
}
