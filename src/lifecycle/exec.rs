//! `exec`: start one more process in a running container.
//!
//! There is no new container, only a new process that must end up exactly
//! where the init is: in its namespaces, under its confinement. The
//! runtime joins the container's pid (and time) namespace "for children",
//! clones the new process, and steps back out; the process then joins the
//! other namespaces itself (user first: it owns the rest; mount last),
//! gets its terminal if it asked for one, takes on its credentials and
//! `execve`s. Errors before that `execve` come back through a close-on-exec
//! pipe: reading end-of-file with nothing written means the program runs.
//!
//! ```text
//!   runtime: open /proc/<init>/ns/* ─ open the cgroup ─ setns(pid, time for children)
//!            ─ clone3(CLONE_INTO_CGROUP)
//!   exec'd process: join v1 cgroups ─ setns(user) ─ setns(ipc, uts, net, cgroup, mnt)
//!                   ─ [terminal] ─ credentials ─ execve
//!   runtime: read the error pipe to EOF ─ --pid-file ─ wait, or --detach
//! ```

use super::init;
use crate::cgroups;
use crate::config;
use crate::error::{Error, Result};
use crate::explain;
use crate::namespaces;
use crate::personality;
use crate::rlimits;
use crate::scheduling;
use crate::seccomp;
use crate::state::{Status, Store};
use crate::sys;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

pub struct ExecOptions {
    pub id: String,
    pub process: oci_spec::runtime::Process,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub pidfd_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
}

pub fn exec(store: &Store, o: &ExecOptions) -> Result<i32> {
    let c = store.read(&o.id)?;
    let init_id = match (c.status(), c.record.init) {
        (Status::Running | Status::Created, Some(init)) => init,
        // A process born into a frozen cgroup stops at once, so exec would
        // wait for it until `resume`: only if the caller says so.
        (Status::Paused, Some(init)) if o.ignore_paused => init,
        (Status::Paused, _) => {
            return Err(Error::container(
                &o.id,
                "cannot exec: the container is paused (resume it, or use --ignore-paused)",
            ))
        }
        (status, _) => {
            return Err(Error::container(
                &o.id,
                format!(
                    "cannot exec: the container is {}, not running",
                    status.as_str()
                ),
            ))
        }
    };
    config::check_process(&o.process).map_err(|m| Error::config("exec process", m))?;
    crate::lsm::check(&o.process, "exec process")?;
    scheduling::check(&o.process, "exec process")?;
    let wants_terminal = o.process.terminal() == Some(true);
    if wants_terminal && o.detach && o.console_socket.is_none() {
        return Err(Error::Usage(
            "exec --tty --detach needs --console-socket: nobody would hold the terminal".into(),
        ));
    }

    let ns = namespaces::of_process(init_id.pid())?;
    if !init_id.is_alive() {
        return Err(Error::container(&o.id, "cannot exec: its init exited"));
    }
    let (console_for_child, console_here) =
        super::create::console_socket(wants_terminal, o.console_socket.as_deref())?;
    let (err_read, err_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|errno| Error::Kernel {
            call: "pipe2".into(),
            target: "exec error pipe".into(),
            errno,
        })?;

    // The container's seccomp filter binds this process too; its agent is
    // reached now, while the runtime still sees host paths.
    let mut filter = c
        .record
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(|s| seccomp::compile(s, "config.json"))
        .transpose()?;
    if let Some(f) = filter.as_mut() {
        f.connect_listener()?;
    }
    let state = c.oci_state(Status::Running);

    let for_children = namespaces::enter_for_child_from(&ns)?;
    let placement = cgroups::open_for_placement(&c.record.cgroup)?;
    let cloned = sys::clone_into_namespaces(0, placement.clone_target());
    let Some(pid) = (match cloned {
        Ok(v) => v,
        Err(errno) => {
            return Err(Error::Kernel {
                call: "clone".into(),
                target: "exec".into(),
                errno,
            })
        }
    }) else {
        drop(err_read);
        drop(console_here);
        let filter = filter.map(|f| f.for_process(host_pid(), &state));
        let linux = c.record.config.linux().as_ref();
        let err = match exec_child(
            o,
            linux,
            filter,
            &ns,
            &placement,
            console_for_child.as_ref(),
        ) {
            Err(e) => e,
            Ok(never) => match never {},
        };
        let mut f = std::fs::File::from(err_write);
        let _ = f.write_all(format!("{err}\n").as_bytes());
        sys::exit_now(127);
    };
    explain::note(
        "clone",
        format_args!("= pid {pid}"),
        "the new process, born in the container's pid namespace",
    );
    drop(err_write);
    drop(placement);
    drop(console_for_child);
    drop(filter);
    for_children.restore()?;

    let mut report = String::new();
    let _ = std::fs::File::from(err_read).read_to_string(&mut report);
    if !report.trim().is_empty() {
        let _ = nix::sys::wait::waitpid(pid, None);
        return Err(Error::container(
            &o.id,
            format!("exec failed: {}", report.trim()),
        ));
    }
    let master = match &console_here {
        Some(sock) => Some(crate::terminal::recv_master(sock.as_fd())?),
        None => None,
    };
    if let Some(f) = &o.pid_file {
        super::create::write_pid_file(f, pid)?;
    }
    if let Some(sock) = &o.pidfd_socket {
        super::send_pidfd(sock, pid)?;
    }
    if o.detach {
        return Ok(0);
    }
    Ok(super::supervise(pid, master))
}

/// The new process, up to its `execve`.
fn exec_child(
    o: &ExecOptions,
    linux: Option<&oci_spec::runtime::Linux>,
    filter: Option<seccomp::Filter>,
    ns: &[(nix::sched::CloneFlags, std::fs::File)],
    placement: &cgroups::Placement,
    console: Option<&OwnedFd>,
) -> Result<std::convert::Infallible> {
    explain::become_exec();
    init::become_non_dumpable()?;
    // Born in the cgroup v2 directory; v1 hierarchies it joins itself.
    placement.join_v1_hierarchies()?;
    scheduling::set_initial_affinity(&o.process)?;
    namespaces::join_all(ns)?;
    scheduling::set_final_affinity(&o.process)?;
    if let Some(console) = console {
        exec_terminal(console, &o.process)?;
    }
    rlimits::set_rlimits(o.process.rlimits().as_deref().unwrap_or(&[]))?;
    if let Some(linux) = linux {
        personality::apply(linux)?;
    }
    let mut program = init::find_program(&o.process)?;
    program.seccomp = filter;
    init::become_program(&o.process, &program, o.preserve_fds)
}

/// This process's pid as the runtime sees it: /proc is still the host's.
fn host_pid() -> i64 {
    std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str()?.parse().ok())
        .unwrap_or(0)
}

/// An exec'd process gets a pty of its own, like the init, but leaves
/// `/dev/console` to the init.
fn exec_terminal(console: &OwnedFd, p: &oci_spec::runtime::Process) -> Result<()> {
    let pty = crate::terminal::open_pty()?;
    if let Some(size) = p.console_size() {
        crate::terminal::set_size(
            pty.master.as_fd(),
            size.height() as u16,
            size.width() as u16,
        )?;
    }
    crate::terminal::send_master(console.as_fd(), &pty.master, &pty.name)?;
    crate::terminal::become_terminal_stdio(&pty.peer)
}

/// The process `exec ID CMD...` describes: the container's own process,
/// with the command line's changes.
pub struct Overrides {
    pub args: Vec<String>,
    pub tty: bool,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
}

pub fn process_from_overrides(
    base: &oci_spec::runtime::Spec,
    ov: Overrides,
) -> Result<oci_spec::runtime::Process> {
    let mut p = base.process().clone().unwrap_or_default();
    p.set_args(Some(ov.args));
    p.set_terminal(Some(ov.tty));
    p.set_console_size(None);
    let mut env = p.env().clone().unwrap_or_default();
    for kv in ov.env {
        let key = kv.split('=').next().unwrap_or("").to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    }
    p.set_env(Some(env));
    if let Some(cwd) = ov.cwd {
        p.set_cwd(cwd);
    }
    if let Some(u) = ov.user {
        let (uid, gid) = u.split_once(':').unwrap_or((u.as_str(), "0"));
        let parse = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| Error::Usage(format!("--user {u:?}: expected uid[:gid] as numbers")))
        };
        p.user_mut().set_uid(parse(uid)?);
        p.user_mut().set_gid(parse(gid)?);
    }
    if !ov.additional_gids.is_empty() {
        p.user_mut().set_additional_gids(Some(ov.additional_gids));
    }
    if !ov.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &ov.caps {
            let cap: oci_spec::runtime::Capability =
                serde_json::from_value(serde_json::Value::String(name.clone()))
                    .map_err(|_| Error::Usage(format!("--cap {name:?}: no such capability")))?;
            let add = |set: Option<oci_spec::runtime::Capabilities>| {
                let mut s = set.unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding().clone()));
            caps.set_effective(add(caps.effective().clone()));
            caps.set_permitted(add(caps.permitted().clone()));
        }
        p.set_capabilities(Some(caps));
    }
    if ov.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    Ok(p)
}

/// `exec --process FILE`: a process JSON object, as the spec defines it.
pub fn process_from_file(path: &std::path::Path) -> Result<oci_spec::runtime::Process> {
    let text = std::fs::read(path)
        .map_err(|e| Error::config(path.display(), format!("cannot read: {e}")))?;
    serde_json::from_slice(&text).or_else(|e| {
        crate::config::with_crate_scheduler_flag_names(&text, "/scheduler/flags")
            .ok_or_else(|| Error::config(path.display(), format!("invalid process: {e}")))
    })
}
