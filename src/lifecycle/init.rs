//! The container's init: the process the runtime clones into the new
//! namespaces. It is the same program image as the runtime (no re-exec):
//! it sets up the container from the inside, reports `Ready`, waits for
//! `start` on `exec.fifo`, drops its privileges and finally `execve`s the
//! container's program, becoming it.
//!
//! Until `execve` it still holds runtime state (the sync socket, a handle
//! on the state directory), so it is non-dumpable: nothing in the
//! container may ptrace it or open its `/proc/PID/` files. Every fd it
//! holds is close-on-exec.

use crate::capabilities;
use crate::cgroups;
use crate::config::Bundle;
use crate::devices;
use crate::error::{Error, Result};
use crate::explain;
use crate::hooks;
use crate::mounts;
use crate::namespaces::{self, Plan};
use crate::personality;
use crate::rlimits;
use crate::rootfs;
use crate::scheduling;
use crate::seccomp;
use crate::sync::{Channel, Msg};
use crate::sys;
use crate::sysctl;
use crate::terminal;
use crate::userns;
use nix::sched::CloneFlags;
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// What the runtime hands the init across the clone.
pub struct InitArgs<'a> {
    /// The container id, which names its session keyring.
    pub id: &'a str,
    pub bundle: &'a Bundle,
    pub plan: &'a Plan,
    pub channel: Channel,
    /// The container's state directory, to find `exec.fifo` after pivot_root.
    pub state_dir: OwnedFd,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// Where to send the pty master, with `process.terminal`.
    pub console: Option<OwnedFd>,
    /// `linux.seccomp`, compiled by the runtime, loaded last before execve.
    pub seccomp: Option<seccomp::Filter>,
    /// The container's cgroup, for its view of the cgroup trees.
    pub cgroup: &'a cgroups::Cgroup,
    /// Descriptors to join its v1 cgroups with (v2 placed the init at birth).
    pub placement: &'a cgroups::Placement,
}

/// Everything `execve` needs, worked out before `Ready` so that a missing
/// program fails `create`, not `start`.
pub(super) struct Program {
    path: CString,
    args: Vec<CString>,
    env: Vec<CString>,
    caps: capabilities::Resolved,
    /// The state JSON the runtime sent, for the startContainer hooks.
    state: serde_json::Value,
    /// `linux.seccomp`, compiled by the runtime; `exec` sets it too, as the
    /// container's filter binds every process that enters it.
    pub(super) seccomp: Option<seccomp::Filter>,
}

/// The init's whole life. Never returns: it becomes the container's program
/// or exits.
pub fn run(mut a: InitArgs) -> ! {
    explain::become_init();
    let mut program = match set_up_container(&a) {
        Ok(p) => p,
        Err(e) => {
            a.channel.send_failure(&e);
            sys::exit_now(1);
        }
    };
    let pid = program.state["pid"].as_i64().unwrap_or(0);
    program.seccomp = a.seccomp.take().map(|f| f.for_process(pid, &program.state));
    // The sync socket and state directory fd are close-on-exec: execve drops them.
    let fifo = wait_for_start(&a.state_dir);
    let err = match start_program(&a, &program) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    // Only reached on failure: tell `start` why, through the fifo.
    // One write, so `start` reads the whole message at once.
    let mut f = std::fs::File::from(fifo);
    let _ = f.write_all(format!("{err}\n").as_bytes());
    sys::exit_now(127);
}

/// Everything up to `Ready`, in the order the kernel needs it.
fn set_up_container(a: &InitArgs) -> Result<Program> {
    let spec = &a.bundle.spec;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::Other("linux is required".into()))?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Other("process is required".into()))?;

    die_with_runtime()?;
    become_non_dumpable()?;
    settle_into_namespaces(a)?;
    let propagation = rootfs::propagation_flag(linux.rootfs_propagation().as_deref())?;
    let root = build_the_tree(a, linux, propagation)?;
    enter_own_cgroup(a)?;
    let state = run_create_hooks(a)?;
    if a.no_pivot {
        rootfs::chroot_into_rootfs(&a.bundle.rootfs)?;
    } else {
        rootfs::pivot_into_rootfs(root.as_fd())?;
    }
    drop(root);
    finish_the_tree(a, linux, process, propagation)?;
    rlimits::set_rlimits(process.rlimits().as_deref().unwrap_or(&[]))?;
    personality::apply(linux)?;
    if let Some(adj) = process.oom_score_adj() {
        write_oom_score_adj(adj)?;
    }
    let mut program = find_program(process)?;
    program.state = state;
    report_ready(a)?;
    Ok(program)
}

/// Become root of a new or joined user namespace, join the namespaces
/// given by path, take a fresh keyring, and name the host.
fn settle_into_namespaces(a: &InitArgs) -> Result<()> {
    if a.plan.clone_flags.contains(CloneFlags::CLONE_NEWUSER) {
        a.channel.expect(Msg::IdMapsWritten)?;
        userns::become_namespace_root()?;
    } else if a.plan.join_user.is_some() {
        userns::become_namespace_root()?;
    }
    namespaces::join_existing(a.plan)?;
    if !a.no_new_keyring {
        join_session_keyring(a.id)?;
    }
    namespaces::set_hostname(&a.bundle.spec)
}

/// The container's tree, still seen from the host's root: the rootfs as a
/// mount point, every `mounts` entry in order, the device nodes.
fn build_the_tree(
    a: &InitArgs,
    linux: &oci_spec::runtime::Linux,
    propagation: nix::mount::MsFlags,
) -> Result<OwnedFd> {
    let root = rootfs::prepare_rootfs(&a.bundle.rootfs, propagation)?;
    let mut fresh_dev = false;
    for m in a.bundle.spec.mounts().iter().flatten() {
        fresh_dev |= m.destination() == Path::new("/dev");
        mounts::mount_entry(root.as_fd(), &a.bundle.dir, m, a.cgroup)?;
    }
    devices::create_devices(
        root.as_fd(),
        fresh_dev,
        linux.devices().as_deref().unwrap_or(&[]),
        a.plan.in_user_namespace(),
    )?;
    Ok(root)
}

/// Join the container's cgroup on the v1 hierarchies, then make it the root
/// of a new cgroup namespace if one was asked for. Done after the mounts,
/// so the kernel memory they take is not charged to the container's limit,
/// and before the runtime's hooks, which may look for the init's cgroup.
fn enter_own_cgroup(a: &InitArgs) -> Result<()> {
    a.placement.join_v1_hierarchies()?;
    if cgroupns_later(a.plan, a.placement) {
        namespaces::unshare_cgroup_namespace()?;
    }
    Ok(())
}

/// A new cgroup namespace must wait until the init has joined its v1
/// cgroups (on v2 alone, clone3 places it before the namespace is made).
pub(super) fn cgroupns_later(plan: &Plan, placement: &cgroups::Placement) -> bool {
    placement.has_v1() && plan.clone_flags.contains(CloneFlags::CLONE_NEWCGROUP)
}

/// The runtime runs prestart and createRuntime hooks while the init waits;
/// then the init runs createContainer hooks. Returns the state they got.
fn run_create_hooks(a: &InitArgs) -> Result<serde_json::Value> {
    a.channel.send(&Msg::MountsDone)?;
    let state = a.channel.expect_with(
        |m| match m {
            Msg::HooksDone { state } => Some(state.clone()),
            _ => None,
        },
        "HooksDone",
    )?;
    let state: serde_json::Value = serde_json::from_str(&state).unwrap_or_default();
    if let Some(h) = a.bundle.spec.hooks() {
        hooks::run_stage("createContainer", h.create_container().as_ref(), &state)?;
    }
    Ok(state)
}

/// After pivot_root: sysctls, masked and read-only paths, the terminal,
/// a read-only root, and the root's propagation.
fn finish_the_tree(
    a: &InitArgs,
    linux: &oci_spec::runtime::Linux,
    process: &oci_spec::runtime::Process,
    propagation: nix::mount::MsFlags,
) -> Result<()> {
    let root = rootfs::open_root()?;
    // Before linux.readonlyPaths makes /proc/sys read-only.
    sysctl::write_all(linux)?;
    rootfs::mask_paths(root.as_fd(), linux.masked_paths().as_deref().unwrap_or(&[]))?;
    rootfs::make_paths_readonly(
        root.as_fd(),
        linux.readonly_paths().as_deref().unwrap_or(&[]),
    )?;
    if let Some(console) = &a.console {
        give_terminal(root.as_fd(), console, process)?;
    }
    let readonly = a
        .bundle
        .spec
        .root()
        .as_ref()
        .is_some_and(|r| r.readonly() == Some(true));
    if readonly {
        rootfs::remount_root_readonly()?;
    }
    if linux.rootfs_propagation().is_some() {
        rootfs::apply_root_propagation(propagation)?;
    }
    Ok(())
}

/// Ready: from here the runtime may exit, and the init must outlive it.
fn report_ready(a: &InitArgs) -> Result<()> {
    sys::prctl(libc::PR_SET_PDEATHSIG, 0, 0).map_err(|errno| Error::Kernel {
        call: "prctl(PR_SET_PDEATHSIG, 0)".into(),
        target: String::new(),
        errno,
    })?;
    a.channel.send(&Msg::Ready)
}

/// `process.terminal`: a pty from the container's devpts becomes the
/// process's terminal; its master goes to the console socket.
pub(super) fn give_terminal(
    root: std::os::fd::BorrowedFd,
    console: &OwnedFd,
    process: &oci_spec::runtime::Process,
) -> Result<()> {
    let pty = terminal::open_pty()?;
    if let Some(size) = process.console_size() {
        terminal::set_size(
            pty.master.as_fd(),
            size.height() as u16,
            size.width() as u16,
        )?;
    }
    terminal::bind_console(root, &pty.name)?;
    terminal::send_master(console.as_fd(), &pty.master, &pty.name)?;
    terminal::become_terminal_stdio(&pty.peer)
}

/// If the runtime dies during setup, so does the init: no orphans.
fn die_with_runtime() -> Result<()> {
    explain::kernel(
        "prctl",
        format_args!("(PR_SET_PDEATHSIG, SIGKILL)"),
        "if the runtime is killed mid-setup, the half-made container dies with it",
        || sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0).map(drop),
    )
}

pub(super) fn become_non_dumpable() -> Result<()> {
    explain::kernel(
        "prctl",
        format_args!("(PR_SET_DUMPABLE, 0)"),
        "while the init holds runtime fds, no container process may ptrace it or open /proc/<init>/exe",
        || sys::prctl(libc::PR_SET_DUMPABLE, 0, 0).map(drop),
    )
}

fn join_session_keyring(id: &str) -> Result<()> {
    // Ids are checked to be plain characters, so this has no NUL.
    let name = CString::new(format!("_ses.{id}")).unwrap_or_else(|_| CString::from(c"_ses"));
    explain::kernel(
        "keyctl",
        format_args!("(KEYCTL_JOIN_SESSION_KEYRING, {name:?})"),
        "a fresh session keyring, so the container cannot read the host's keys",
        || sys::join_new_session_keyring(&name),
    )
}

fn write_oom_score_adj(adj: i32) -> Result<()> {
    explain::kernel(
        "write oom_score_adj",
        format_args!("/proc/self/oom_score_adj = {adj}"),
        "process.oomScoreAdj: how eagerly the OOM killer picks this container",
        || {
            std::fs::write("/proc/self/oom_score_adj", adj.to_string())
                .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)))
        },
    )
}

/// Look `args[0]` up in the container's `PATH`, as a shell would.
pub(super) fn find_program(process: &oci_spec::runtime::Process) -> Result<Program> {
    let args = process.args().as_deref().unwrap_or(&[]);
    let env: Vec<String> = process.env().clone().unwrap_or_default();
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let name = &args[0];
    let found: Option<PathBuf> = if name.contains('/') {
        let p = PathBuf::from(name);
        if p.is_absolute() && !is_executable(&p) {
            return Err(Error::config(
                "config.json",
                format!("process.args[0]: {name:?}: no such executable file in the container"),
            ));
        }
        Some(p)
    } else {
        path_var
            .split(':')
            .map(|d| Path::new(d).join(name))
            .find(|p| is_executable(p))
    };
    let Some(path) = found else {
        return Err(Error::config(
            "config.json",
            format!("process.args[0]: {name:?}: executable file not found in $PATH"),
        ));
    };
    let c = |s: &str| {
        CString::new(s)
            .map_err(|_| Error::config("config.json", format!("{s:?} contains a NUL byte")))
    };
    Ok(Program {
        path: c(&path.to_string_lossy())?,
        args: args.iter().map(|a| c(a)).collect::<Result<_>>()?,
        env: env.iter().map(|e| c(e)).collect::<Result<_>>()?,
        caps: capabilities::resolve(process.capabilities().as_ref()),
        state: serde_json::Value::Null,
        seccomp: None,
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Block until `start` opens the fifo for reading. The fifo stays open,
/// close-on-exec: a successful `execve` closes it, which `start` sees.
fn wait_for_start(state_dir: &OwnedFd) -> OwnedFd {
    let r = nix::fcntl::openat(
        state_dir.as_fd(),
        "exec.fifo",
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    );
    match r {
        Ok(fd) => {
            // Tell `start` we hold our end: only then may it remove the fifo.
            let _ = nix::unistd::write(&fd, b"\0");
            fd
        }
        // The container was deleted before it started.
        Err(_) => sys::exit_now(1),
    }
}

/// After `start`: the startContainer hooks, then the point of no return.
fn start_program(a: &InitArgs, p: &Program) -> Result<std::convert::Infallible> {
    let spec = &a.bundle.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Other("process is required".into()))?;
    if let Some(h) = spec.hooks() {
        if h.start_container().is_some() {
            let mut state = p.state.clone();
            state["status"] = "running".into();
            hooks::run_stage("startContainer", h.start_container().as_ref(), &state)?;
        }
    }
    become_program(process, p, a.preserve_fds)
}

/// The point of no return, shared with `exec`: take on the process's
/// credentials and confinement, close every fd not meant for it, `execve`.
pub(super) fn become_program(
    process: &oci_spec::runtime::Process,
    p: &Program,
    preserve_fds: u32,
) -> Result<std::convert::Infallible> {
    // Loading a seccomp filter takes no_new_privs or CAP_SYS_ADMIN. Without
    // noNewPrivileges the process may well not keep CAP_SYS_ADMIN, so it holds
    // it just for the load and gives it up right after. The filter could be
    // loaded before the capabilities are dropped instead, but then it would
    // judge every setuid, prctl and chdir of this sequence, and a profile that
    // forbids one of them would break start. Held this way, only the final
    // capset follows the filter; if the filter refuses it, start fails and no
    // container runs with CAP_SYS_ADMIN it was not given.
    let hold_admin =
        p.seccomp.is_some() && process.no_new_privileges() != Some(true) && !p.caps.has_sys_admin();
    // While every capability is still there: real-time policies need some.
    scheduling::apply(process)?;
    capabilities::drop_bounding_set(&p.caps)?;
    capabilities::keep_across_user_switch()?;
    userns::switch_to_user(process.user())?;
    if hold_admin {
        capabilities::apply_sets(&p.caps.holding_sys_admin())?;
    } else {
        capabilities::apply_sets(&p.caps)?;
    }
    userns::set_umask(process.user());
    enter_cwd(process.cwd())?;
    // Before no_new_privs, which would limit which profile may be entered.
    crate::lsm::label_next_exec(process)?;
    if process.no_new_privileges() == Some(true) {
        explain::kernel(
            "prctl",
            format_args!("(PR_SET_NO_NEW_PRIVS, 1)"),
            "process.noNewPrivileges: setuid binaries and file capabilities grant nothing from now on",
            || sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0).map(drop),
        )?;
    }
    explain::kernel(
        "close_range",
        format_args!("({}.., CLOSE_RANGE_CLOEXEC)", 3 + preserve_fds),
        "no runtime or host file descriptor may reach the container",
        || sys::mark_fds_cloexec_from(3 + preserve_fds),
    )?;
    // Seccomp last: from here on the filter judges this process's calls too.
    if let Some(filter) = &p.seccomp {
        seccomp::load(filter)?;
        if hold_admin {
            capabilities::release_sys_admin(&p.caps)?;
        }
    }
    explain::note(
        "execve",
        format_args!("{:?} {:?}", p.path, p.args),
        "this process becomes the container's program",
    );
    let errno = nix::unistd::execve(&p.path, &p.args, &p.env).unwrap_err();
    Err(Error::Kernel {
        call: "execve".into(),
        target: p.path.to_string_lossy().into_owned(),
        errno,
    })
}

/// chdir to `process.cwd`, then check where we landed: a cwd must be inside
/// the container (a leaked host directory fd must not be reachable).
fn enter_cwd(cwd: &Path) -> Result<()> {
    explain::kernel(
        "chdir",
        format_args!("{}", cwd.display()),
        "process.cwd, as the container's user",
        || nix::unistd::chdir(cwd),
    )?;
    match nix::unistd::getcwd() {
        Ok(_) => Ok(()),
        Err(errno) => Err(Error::Kernel {
            call: "getcwd".into(),
            target: format!(
                "{} (the cwd is outside the container's root)",
                cwd.display()
            ),
            errno,
        }),
    }
}
