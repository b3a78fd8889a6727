//! Namespaces: what the container sees of the system.
//!
//! A namespace wraps one global resource so that the processes inside get
//! their own copy: `pid` (process ids; the container's first process is
//! PID 1), `mount` (the mount table), `network`, `ipc`, `uts` (host and
//! domain name), `user` (uids, gids and the capabilities that go with
//! them), `cgroup` (which part of the cgroup tree looks like the root) and
//! `time` (the monotonic and boot clocks' offsets).
//!
//! The spec lists namespaces in `linux.namespaces`: an entry without `path`
//! asks for a new namespace, an entry with `path` joins an existing one
//! (`setns`). Every new namespace except `time` is made by the `clone` that
//! creates the init. `pid` and `time` apply to a process's *children*, so
//! joining them (and making a new time namespace) is done by the runtime
//! just before that clone and undone just after.

use crate::error::{Error, Result};
use crate::explain;
use nix::sched::CloneFlags;
use oci_spec::runtime::{Linux, LinuxNamespaceType};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

/// How the init gets each of its namespaces.
pub struct Plan {
    /// CLONE_NEW* flags for the clone that makes the init.
    pub clone_flags: CloneFlags,
    /// `time` is new, so the runtime unshares it before the clone.
    pub new_time: bool,
    /// Existing namespaces to join: (kind, path).
    pub join: Vec<(CloneFlags, PathBuf)>,
    /// An existing user namespace to join: it must own the new ones, so a
    /// helper process joins it first and clones the init from inside.
    pub join_user: Option<PathBuf>,
}

impl Plan {
    /// The init lives in a user namespace other than the runtime's.
    pub fn in_user_namespace(&self) -> bool {
        self.clone_flags.contains(CloneFlags::CLONE_NEWUSER) || self.join_user.is_some()
    }
}

fn flag_of(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// Readable names for the narration.
pub fn describe(flags: CloneFlags) -> String {
    let names = [
        (
            CloneFlags::CLONE_NEWUSER,
            "NEWUSER (own uids and capabilities)",
        ),
        (
            CloneFlags::CLONE_NEWPID,
            "NEWPID (own process ids, init is PID 1)",
        ),
        (CloneFlags::CLONE_NEWNS, "NEWNS (own mount table)"),
        (CloneFlags::CLONE_NEWNET, "NEWNET (own network stack)"),
        (
            CloneFlags::CLONE_NEWIPC,
            "NEWIPC (own SysV IPC and message queues)",
        ),
        (CloneFlags::CLONE_NEWUTS, "NEWUTS (own hostname)"),
        (CloneFlags::CLONE_NEWCGROUP, "NEWCGROUP (own cgroup root)"),
    ];
    let list: Vec<&str> = names
        .iter()
        .filter(|(f, _)| flags.contains(*f))
        .map(|(_, n)| *n)
        .collect();
    if list.is_empty() {
        "no new namespaces".into()
    } else {
        list.join(" | ")
    }
}

pub fn plan(linux: &Linux, config: &str) -> Result<Plan> {
    let mut plan = Plan {
        clone_flags: CloneFlags::empty(),
        new_time: false,
        join: Vec::new(),
        join_user: None,
    };
    let mut seen = CloneFlags::empty();
    for ns in linux.namespaces().iter().flatten() {
        let flag = flag_of(ns.typ());
        if seen.contains(flag) {
            return Err(Error::config(
                config,
                format!("linux.namespaces: {:?} is listed twice", ns.typ()),
            ));
        }
        seen |= flag;
        match ns.path() {
            Some(path) if ns.typ() == LinuxNamespaceType::User => {
                plan.join_user = Some(path.clone());
            }
            Some(path) => plan.join.push((flag, path.clone())),
            None if ns.typ() == LinuxNamespaceType::Time => plan.new_time = true,
            None => plan.clone_flags |= flag,
        }
    }
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if has_maps && !plan.clone_flags.contains(CloneFlags::CLONE_NEWUSER) {
        return Err(Error::config(
            config,
            "linux.uidMappings is set, but linux.namespaces has no new user namespace",
        ));
    }
    if linux.time_offsets().is_some() && !plan.new_time {
        return Err(Error::config(
            config,
            "linux.timeOffsets is set, but linux.namespaces has no new time namespace",
        ));
    }
    Ok(plan)
}

/// Clone the container's init into its namespaces: `Some(pid)` in the
/// runtime, `None` in the init.
///
/// With `cgroup`, a cgroup v2 directory, the init is born in that cgroup.
/// With `cgroupns_later`, a new cgroup namespace is left for the init to
/// make itself, once it has joined its v1 cgroups: a cgroup namespace's
/// root is the cgroup its maker is in at that moment.
pub fn clone_init(
    plan: &Plan,
    linux: &Linux,
    cgroup: Option<BorrowedFd>,
    cgroupns_later: bool,
) -> Result<Option<nix::unistd::Pid>> {
    let mut flags = plan.clone_flags;
    if cgroupns_later {
        flags.remove(CloneFlags::CLONE_NEWCGROUP);
    }
    if let Some(user) = &plan.join_user {
        return clone_through_user_namespace(plan, linux, user, flags, cgroup);
    }
    let for_children = enter_for_child(plan, linux)?;
    let pid = clone_with(flags, cgroup)?;
    if pid.is_some() {
        for_children.restore()?;
    }
    Ok(pid)
}

fn clone_with(flags: CloneFlags, cgroup: Option<BorrowedFd>) -> Result<Option<nix::unistd::Pid>> {
    // Narrated before the call: the init starts its own steps at once.
    explain::note(
        "clone",
        format_args!("({})", describe(flags)),
        "the container's init is born inside its new namespaces",
    );
    crate::sys::clone_into_namespaces(flags.bits(), cgroup).map_err(|errno| Error::Kernel {
        call: "clone".into(),
        target: describe(flags),
        errno,
    })
}

/// Joining a user namespace is one-way (no way back to the host's), and it
/// must happen before the other namespaces are made so that it owns them.
/// So a short-lived helper joins it and clones the init with CLONE_PARENT:
/// the init is still the runtime's child. The helper reports the init's
/// pid (4 bytes) or its error (text) through a pipe, and exits.
fn clone_through_user_namespace(
    plan: &Plan,
    linux: &Linux,
    user: &std::path::Path,
    flags: CloneFlags,
    cgroup: Option<BorrowedFd>,
) -> Result<Option<nix::unistd::Pid>> {
    use std::io::{Read, Write};
    let (rd, wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|errno| Error::Kernel {
            call: "pipe2".into(),
            target: "helper pipe".into(),
            errno,
        })?;
    explain::note(
        "clone",
        format_args!("(helper, no new namespaces)"),
        "a helper joins the existing user namespace, so the runtime itself stays outside it",
    );
    let helper = crate::sys::clone_into_namespaces(0, None).map_err(|errno| Error::Kernel {
        call: "clone".into(),
        target: "helper".into(),
        errno,
    })?;
    let Some(helper) = helper else {
        drop(rd);
        let made = (|| {
            enter_for_child(plan, linux)?; // pid and time first, as host root
            setns_path(CloneFlags::CLONE_NEWUSER, user)?;
            clone_with(flags | CloneFlags::CLONE_PARENT, cgroup)
        })();
        let mut out = std::fs::File::from(wr);
        match made {
            Ok(None) => {
                drop(out);
                return Ok(None); // the init
            }
            Ok(Some(pid)) => {
                let _ = out.write_all(&pid.as_raw().to_ne_bytes());
                crate::sys::exit_now(0);
            }
            Err(e) => {
                let _ = out.write_all(format!("{e}").as_bytes());
                crate::sys::exit_now(1);
            }
        }
    };
    drop(wr);
    let mut report = Vec::new();
    let _ = std::fs::File::from(rd).read_to_end(&mut report);
    let _ = nix::sys::wait::waitpid(helper, None);
    match <[u8; 4]>::try_from(report.as_slice()) {
        Ok(bytes) => Ok(Some(nix::unistd::Pid::from_raw(i32::from_ne_bytes(bytes)))),
        Err(_) if report.is_empty() => Err(Error::Other(
            "the helper joining the user namespace died".into(),
        )),
        Err(_) => Err(Error::Other(String::from_utf8_lossy(&report).into_owned())),
    }
}

/// The runtime's own pid and time namespaces "for children", saved so they
/// can be restored after the init is cloned.
pub struct ForChildren {
    saved: Vec<(CloneFlags, File)>,
}

/// Before the clone: join (or create) the namespaces that only apply to
/// children, so the init is born inside them.
pub fn enter_for_child(plan: &Plan, linux: &Linux) -> Result<ForChildren> {
    let mut saved = Vec::new();
    let child_only = [
        (CloneFlags::CLONE_NEWPID, "pid"),
        (CloneFlags::from_bits_retain(libc::CLONE_NEWTIME), "time"),
    ];
    for (flag, path) in &plan.join {
        let Some((_, name)) = child_only.iter().find(|(f, _)| f == flag) else {
            continue;
        };
        saved.push((
            *flag,
            open_ns(&format!("/proc/self/ns/{name}_for_children"))?,
        ));
        setns_path(*flag, path)?;
    }
    if plan.new_time {
        let flag = CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
        saved.push((flag, open_ns("/proc/self/ns/time_for_children")?));
        explain::kernel(
            "unshare",
            format_args!("(CLONE_NEWTIME)"),
            "a new time namespace applies to the runtime's next child: the init",
            || nix::sched::unshare(flag),
        )?;
        write_time_offsets(linux)?;
    }
    Ok(ForChildren { saved })
}

impl ForChildren {
    /// After the clone: later children of the runtime (hooks) stay on the host.
    pub fn restore(self) -> Result<()> {
        for (flag, file) in self.saved {
            explain::kernel(
                "setns",
                format_args!("(own namespace, {flag:?})"),
                "back to the runtime's own namespace so hooks do not start in the container's",
                || nix::sched::setns(file.as_fd(), flag),
            )?;
        }
        Ok(())
    }
}

fn open_ns(path: &str) -> Result<File> {
    File::open(path).map_err(|e| Error::Kernel {
        call: "open".into(),
        target: path.into(),
        errno: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)),
    })
}

/// `setns(2)`: move the calling process into an existing namespace.
pub fn setns_path(flag: CloneFlags, path: &std::path::Path) -> Result<()> {
    let file = open_ns(&path.to_string_lossy())?;
    explain::kernel(
        "setns",
        format_args!("({}, {flag:?})", path.display()),
        "join a namespace that already exists instead of making a new one",
        || nix::sched::setns(file.as_fd(), flag),
    )
}

/// In the init, once it sits in its own cgroup: make that cgroup the root
/// of what it sees in /proc/self/cgroup and in new cgroup mounts.
pub fn unshare_cgroup_namespace() -> Result<()> {
    explain::kernel(
        "unshare",
        format_args!("(CLONE_NEWCGROUP)"),
        "the init is in its own cgroup now, which becomes the root of its cgroup namespace",
        || nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP),
    )
}

/// In the init: join the existing namespaces that apply to the caller.
pub fn join_existing(plan: &Plan) -> Result<()> {
    // The mount namespace last: the other paths are host paths.
    let order = [
        CloneFlags::CLONE_NEWIPC,
        CloneFlags::CLONE_NEWUTS,
        CloneFlags::CLONE_NEWNET,
        CloneFlags::CLONE_NEWCGROUP,
        CloneFlags::CLONE_NEWNS,
    ];
    for flag in order {
        if let Some((_, path)) = plan.join.iter().find(|(f, _)| *f == flag) {
            setns_path(flag, path)?;
        }
    }
    Ok(())
}

/// The clocks' offsets must be written before any process enters the new
/// time namespace.
fn write_time_offsets(linux: &Linux) -> Result<()> {
    let Some(offsets) = linux.time_offsets() else {
        return Ok(());
    };
    let mut text = String::new();
    for (clock, off) in offsets {
        text += &format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        );
    }
    explain::kernel(
        "write",
        format_args!("/proc/self/timens_offsets = {:?}", text.trim_end()),
        "shift the container's monotonic and boot clocks",
        || {
            std::fs::write("/proc/self/timens_offsets", &text)
                .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)))
        },
    )
}

/// `sethostname(2)` and `setdomainname(2)` in the container's uts namespace.
pub fn set_hostname(spec: &oci_spec::runtime::Spec) -> Result<()> {
    if let Some(name) = spec.hostname() {
        explain::kernel(
            "sethostname",
            format_args!("{name:?}"),
            "the uts namespace gives the container its own host name",
            || nix::unistd::sethostname(name),
        )?;
    }
    if let Some(name) = spec.domainname() {
        explain::kernel(
            "setdomainname",
            format_args!("{name:?}"),
            "the uts namespace gives the container its own domain name",
            || crate::sys::setdomainname(name),
        )?;
    }
    Ok(())
}

/// The namespaces of a running process that differ from ours, opened now
/// (user first, mount last: the order `exec` must join them in).
pub fn of_process(pid: nix::unistd::Pid) -> Result<Vec<(CloneFlags, File)>> {
    let kinds = [
        (CloneFlags::CLONE_NEWUSER, "user"),
        (CloneFlags::CLONE_NEWIPC, "ipc"),
        (CloneFlags::CLONE_NEWUTS, "uts"),
        (CloneFlags::CLONE_NEWNET, "net"),
        (CloneFlags::CLONE_NEWPID, "pid"),
        (CloneFlags::from_bits_retain(libc::CLONE_NEWTIME), "time"),
        (CloneFlags::CLONE_NEWCGROUP, "cgroup"),
        (CloneFlags::CLONE_NEWNS, "mnt"),
    ];
    let mut out = Vec::new();
    for (flag, name) in kinds {
        let theirs = format!("/proc/{pid}/ns/{name}");
        let Ok(target) = std::fs::read_link(&theirs) else {
            continue; // this kernel has no such namespace
        };
        if std::fs::read_link(format!("/proc/self/ns/{name}")).ok() == Some(target) {
            continue; // shared with us: nothing to join
        }
        out.push((flag, open_ns(&theirs)?));
    }
    Ok(out)
}

/// Before cloning an exec'd process: join the pid and time namespaces
/// (they apply to children), to be restored after the clone.
pub fn enter_for_child_from(list: &[(CloneFlags, File)]) -> Result<ForChildren> {
    let mut saved = Vec::new();
    for (flag, file) in list {
        let name = match *flag {
            CloneFlags::CLONE_NEWPID => "pid",
            f if f.bits() == libc::CLONE_NEWTIME => "time",
            _ => continue,
        };
        saved.push((
            *flag,
            open_ns(&format!("/proc/self/ns/{name}_for_children"))?,
        ));
        explain::kernel(
            "setns",
            format_args!("(container's {name} namespace, for children)"),
            "the exec'd process must be born inside the container's process tree",
            || nix::sched::setns(file.as_fd(), *flag),
        )?;
    }
    Ok(ForChildren { saved })
}

/// In the exec'd process: join the rest, user namespace first (it owns
/// the others), mount namespace last (it changes how paths resolve).
pub fn join_all(list: &[(CloneFlags, File)]) -> Result<()> {
    for (flag, file) in list {
        if *flag == CloneFlags::CLONE_NEWPID || flag.bits() == libc::CLONE_NEWTIME {
            continue;
        }
        explain::kernel(
            "setns",
            format_args!("(container's namespace, {})", describe(*flag)),
            "exec joins the namespaces of the container's init",
            || nix::sched::setns(file.as_fd(), *flag),
        )?;
    }
    Ok(())
}
