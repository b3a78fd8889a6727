//! The lifecycle of a container, as the OCI runtime spec draws it:
//!
//! ```text
//!   create ──▶ created ──start──▶ running ──(exits)──▶ stopped ──delete──▶ (gone)
//!      │           └──────────────kill / delete --force──────────┘
//!      └─ creating (a create in progress, or one that was killed half-way)
//! ```
//!
//! Each command is one function here; `create` and the container's init
//! have files of their own.

pub mod create;
pub mod events;
pub mod exec;
pub mod init;
pub mod update;

use crate::error::{Error, Result};
use crate::explain;
use crate::hooks;
use crate::state::{Container, ProcessId, Status, Store};
use crate::sys;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use std::io::Read;
use std::os::fd::AsFd;

/// `start`: release a created container's init into its program.
pub fn start(store: &Store, id: &str) -> Result<()> {
    let c = store.lock(id)?;
    start_locked(&c)
}

fn start_locked(c: &Container) -> Result<()> {
    let status = c.status();
    if status != Status::Created {
        return Err(Error::container(
            &c.id,
            format!("cannot be started: it is {}, not created", status.as_str()),
        ));
    }
    let init = c
        .record
        .init
        .ok_or_else(|| Error::container(&c.id, "has no init process"))?;
    let pidfd = sys::pidfd_open(init.pid()).map_err(|errno| Error::Kernel {
        call: "pidfd_open".into(),
        target: format!("init pid {}", init.pid),
        errno,
    })?;
    let fifo_path = c.fifo_path();
    // Narrated before the call: the init may run the moment it returns.
    explain::note(
        "open",
        format_args!("{} (O_RDONLY)", fifo_path.display()),
        "opening the read end releases the init, blocked opening the write end",
    );
    let fifo = nix::fcntl::open(
        &fifo_path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|errno| Error::Kernel {
        call: "open".into(),
        target: fifo_path.display().to_string(),
        errno,
    })?;
    // The init answers its open with one NUL byte; after that it writes only
    // to report a failure, and its end closes at execve. So: wait for the
    // byte (or the init's death), then read to the end-of-file.
    let mut fds = [
        PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
        PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
    ];
    loop {
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => {
                return Err(Error::Kernel {
                    call: "poll".into(),
                    target: "exec.fifo".into(),
                    errno,
                })
            }
            Ok(_) => {}
        }
        let fifo_ev = fds[0].revents().unwrap_or(PollFlags::empty());
        if fifo_ev.intersects(PollFlags::POLLHUP | PollFlags::POLLIN) {
            break;
        }
        if fds[1].revents().is_some_and(|e| !e.is_empty()) {
            // The init died without ever opening the fifo.
            return Err(Error::container(
                &c.id,
                "init process exited before it could start",
            ));
        }
    }
    // The init holds the fifo open now: it can go. Its absence is what
    // `running` means (removed only now, or a slow init would find nothing).
    let _ = std::fs::remove_file(&fifo_path);
    let flags = nix::fcntl::OFlag::O_RDONLY;
    let _ = nix::fcntl::fcntl(&fifo, nix::fcntl::FcntlArg::F_SETFL(flags));
    let mut report = String::new();
    let mut f = std::fs::File::from(fifo);
    let _ = f.read_to_string(&mut report);
    let report = report.trim_start_matches('\0');
    if !report.trim().is_empty() {
        return Err(Error::container(
            &c.id,
            format!("failed to start: {}", report.trim()),
        ));
    }
    explain::note(
        "sync",
        format_args!("exec.fifo closed by execve"),
        "the container's program is running",
    );
    if let Some(h) = c.record.config.hooks() {
        if let Err(e) = hooks::run_stage(
            "poststart",
            h.poststart().as_ref(),
            &c.oci_state_of_started(),
        ) {
            // Spec 1.3: a failing poststart hook fails start and stops the container.
            kill_and_wait(&init);
            return Err(e);
        }
    }
    Ok(())
}

/// Signal a live process named by pid and start time, through a pidfd so
/// that a recycled pid is never hit.
fn signal_exactly(p: &ProcessId, sig: Signal) -> Result<bool> {
    let Ok(pidfd) = sys::pidfd_open(p.pid()) else {
        return Ok(false);
    };
    // Opened first, checked second: the pidfd pins the process we checked.
    if !p.is_alive() {
        return Ok(false);
    }
    explain::kernel(
        "pidfd_send_signal",
        format_args!("(pid {}, {sig})", p.pid),
        "a pidfd names one process for good, never a later one with the same pid",
        || sys::pidfd_send_signal(pidfd.as_fd(), sig as i32),
    )?;
    Ok(true)
}

/// SIGKILL a hook's process group (the group is named by its first
/// process). The kernel does not reuse a pid while a group still uses it,
/// so the group is either the hook's or gone; a live process with that
/// pid but another start time means the group is gone and the pid reused.
pub fn kill_process_group(leader: &ProcessId) {
    let reused = ProcessId::of(leader.pid()).is_some_and(|p| p.start_time != leader.start_time);
    if reused {
        return;
    }
    explain::note(
        "kill",
        format_args!("(-{}, SIGKILL)", leader.pid),
        "a hook left running by a killed runtime, and everything it started",
    );
    let _ = nix::sys::signal::killpg(leader.pid(), Signal::SIGKILL);
}

/// `--pidfd-socket`: hand the manager a pidfd of the new process over its
/// unix socket (SCM_RIGHTS), as with the console socket.
pub fn send_pidfd(socket: &std::path::Path, pid: nix::unistd::Pid) -> Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    use std::os::fd::AsRawFd;
    let pidfd = sys::pidfd_open(pid).map_err(|errno| Error::Kernel {
        call: "pidfd_open".into(),
        target: format!("pid {pid}"),
        errno,
    })?;
    let stream = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| Error::Other(format!("--pidfd-socket {}: {e}", socket.display())))?;
    let fds = [pidfd.as_raw_fd()];
    explain::kernel(
        "sendmsg",
        format_args!("({}, SCM_RIGHTS pidfd of {pid})", socket.display()),
        "a pidfd lets the manager wait for and signal exactly this process",
        || {
            sendmsg::<()>(
                stream.as_raw_fd(),
                &[std::io::IoSlice::new(b"pidfd")],
                &[ControlMessage::ScmRights(&fds)],
                MsgFlags::empty(),
                None,
            )
            .map(drop)
        },
    )
}

/// SIGKILL a process and wait until it is gone (it need not be our child).
pub fn kill_and_wait(p: &ProcessId) {
    let Ok(pidfd) = sys::pidfd_open(p.pid()) else {
        return;
    };
    if !p.is_alive() {
        return;
    }
    explain::note(
        "pidfd_send_signal",
        format_args!("(pid {}, SIGKILL)", p.pid),
        "stop the container for good; the kernel then kills everything in its pid namespace",
    );
    let _ = sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    let _ = nix::poll::poll(&mut fds, PollTimeout::from(10_000u16));
    // If it is our own child (run, or a failed create), reap it.
    let _ = nix::sys::wait::waitpid(p.pid(), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
}

/// `kill`: send a signal to the container's init (or, with `all`, to every
/// process in its cgroup).
pub fn kill(store: &Store, id: &str, sig: Signal, all: bool) -> Result<()> {
    let c = store.lock(id)?;
    let status = c.status();
    let init = match (status, c.record.init) {
        (Status::Created | Status::Running | Status::Paused | Status::Creating, Some(init)) => init,
        _ => {
            return Err(Error::container(
                id,
                "cannot be signalled: container not running",
            ))
        }
    };
    // The others are listed before anything is signalled, and the init
    // goes first: once its children die it may exit on its own, and that
    // must not turn a kill --all into "not running".
    let others = if all {
        others_in_container(&c.record.cgroup, &init)
    } else {
        Vec::new()
    };
    if !signal_exactly(&init, sig)? {
        return Err(Error::container(
            id,
            "cannot be signalled: container not running",
        ));
    }
    for p in others {
        let _ = signal_exactly(&p, sig);
    }
    Ok(())
}

/// The container's processes other than its init: those in its cgroup,
/// which holds them even when the container shares the host's pid
/// namespace; on a host without cgroup file systems, those in the init's
/// pid namespace.
fn others_in_container(cg: &crate::cgroups::Cgroup, init: &ProcessId) -> Vec<ProcessId> {
    if cg.dirs.is_empty() {
        return processes_in_pid_namespace_of(init);
    }
    crate::cgroups::processes(cg)
        .into_iter()
        .filter(|pid| *pid != init.pid)
        .filter_map(|pid| ProcessId::of(nix::unistd::Pid::from_raw(pid)))
        .collect()
}

/// Every process that shares the init's pid namespace, unless that is
/// the runtime's own.
fn processes_in_pid_namespace_of(init: &ProcessId) -> Vec<ProcessId> {
    let ns_of = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let Some(target) = ns_of(init.pid) else {
        return Vec::new();
    };
    let mine = ns_of(std::process::id() as i32);
    if Some(&target) == mine.as_ref() {
        return Vec::new(); // the container shares our pid namespace: only the init is known
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != init.pid && ns_of(*pid).as_ref() == Some(&target))
        .filter_map(|pid| ProcessId::of(nix::unistd::Pid::from_raw(pid)))
        .collect()
}

/// `ps`: the container's processes, as host pids (JSON, as containerd
/// reads it) or a table.
pub fn ps(store: &Store, id: &str, json: bool, ps_args: &[String]) -> Result<String> {
    let c = store.read(id)?;
    let mut pids: Vec<i32> = match (c.status(), c.record.init) {
        (Status::Running | Status::Paused | Status::Created | Status::Creating, Some(init)) => {
            let mut v = vec![init.pid];
            v.extend(
                others_in_container(&c.record.cgroup, &init)
                    .iter()
                    .map(|p| p.pid),
            );
            v
        }
        _ => Vec::new(),
    };
    pids.sort_unstable();
    if !ps_args.is_empty() {
        if json {
            return Err(Error::Usage(
                "ps: --format json takes no ps(1) options after --".into(),
            ));
        }
        return host_ps_of(&pids, ps_args);
    }
    if json {
        return serde_json::to_string(&pids)
            .map(|s| s + "\n")
            .map_err(|e| Error::Other(e.to_string()));
    }
    let mut out = String::from("PID     CMD\n");
    for pid in pids {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd: Vec<String> = cmd
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        out += &format!("{pid:<7} {}\n", cmd.join(" "));
    }
    Ok(out)
}

/// `ps ID -- ARGS`: the host's ps(1) run with ARGS, keeping its header
/// and the lines whose PID column is one of the container's processes.
fn host_ps_of(pids: &[i32], args: &[String]) -> Result<String> {
    let shown = args.join(" ");
    let out = std::process::Command::new("ps")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::Other(format!("ps -- {shown}: cannot run ps(1): {e}")))?;
    if !out.status.success() {
        return Err(Error::Usage(format!(
            "ps -- {shown}: ps(1) failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let column = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| {
            Error::Usage(format!(
                "ps -- {shown}: ps(1) printed no PID column to match the container's processes by (try -ef)"
            ))
        })?;
    let mut kept = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(column)
            .and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            kept += line;
            kept.push('\n');
        }
    }
    Ok(kept)
}

/// `delete`: remove a stopped (or created) container; `--force` any.
pub fn delete(store: &Store, id: &str, force: bool) -> Result<()> {
    crate::state::check_id(id)?;
    let c = match store.lock(id) {
        Ok(c) => c,
        Err(Error::Container { .. }) if force => {
            // Nothing recorded: clear leftovers of an interrupted create or
            // delete (a directory is never published without its record).
            store.sweep_abandoned(id);
            if store.root.join(id).exists() {
                store.remove_unreadable(id)?;
            }
            return Ok(());
        }
        Err(Error::Other(msg)) if force && msg.contains("corrupt state record") => {
            explain::warn(&msg);
            return store.remove_unreadable(id);
        }
        Err(e) => return Err(e),
    };
    match c.status() {
        Status::Stopped | Status::Created => {}
        _ if force => {}
        Status::Running | Status::Paused => {
            return Err(Error::container(
                id,
                format!(
                    "is {}: stop it first, or use `delete --force`",
                    c.status().as_str()
                ),
            ));
        }
        Status::Creating => {
            let what = match c.record.init {
                Some(p) => format!("init pid {} is alive", p.pid),
                None => "no init process was made".into(),
            };
            return Err(Error::container(
                id,
                format!(
                    "is half-made by a create that did not finish ({what}): use `delete --force`"
                ),
            ));
        }
    }
    create::destroy(c, true)
}

/// `pause`: freeze every process of a running (or created) container.
pub fn pause(store: &Store, id: &str) -> Result<()> {
    let c = store.lock(id)?;
    match c.status() {
        Status::Running | Status::Created => crate::cgroups::freezer::freeze(&c.record.cgroup),
        s => Err(Error::container(
            id,
            format!("cannot be paused: it is {}, not running", s.as_str()),
        )),
    }
}

/// `resume`: let a paused container's processes run again.
pub fn resume(store: &Store, id: &str) -> Result<()> {
    let c = store.lock(id)?;
    match c.status() {
        Status::Paused => crate::cgroups::freezer::thaw(&c.record.cgroup),
        s => Err(Error::container(
            id,
            format!("cannot be resumed: it is {}, not paused", s.as_str()),
        )),
    }
}

/// `state`: the spec's state JSON.
pub fn state(store: &Store, id: &str) -> Result<String> {
    let c = store.read(id)?;
    serde_json::to_string_pretty(&c.oci_state(c.status())).map_err(|e| Error::Other(e.to_string()))
}

/// `list`: every container, as a table or JSON.
pub fn list(store: &Store, json: bool, quiet: bool) -> Result<String> {
    let all: Vec<Container> = store
        .ids()
        .iter()
        .filter_map(|id| store.read(id).ok())
        .collect();
    if quiet {
        return Ok(all.iter().map(|c| format!("{}\n", c.id)).collect());
    }
    if json {
        let v: Vec<serde_json::Value> = all.iter().map(|c| c.oci_state(c.status())).collect();
        return serde_json::to_string(&v)
            .map(|s| s + "\n")
            .map_err(|e| Error::Other(e.to_string()));
    }
    let mut out = format!(
        "{:<20} {:<8} {:<10} {:<40} {:<31} OWNER\n",
        "ID", "PID", "STATUS", "BUNDLE", "CREATED"
    );
    for c in &all {
        let r = &c.record;
        out += &format!(
            "{:<20} {:<8} {:<10} {:<40} {:<31} {}\n",
            c.id,
            c.pid(),
            c.status().as_str(),
            r.bundle.display(),
            r.created,
            r.owner
        );
    }
    Ok(out)
}

/// `run`: create and start; in the foreground, wait for the program,
/// forward signals to it, delete the container, and return its exit code.
pub fn run(store: &Store, opts: &create::CreateOptions, detach: bool) -> Result<i32> {
    let opts = create::CreateOptions {
        relay_terminal: !detach && opts.console_socket.is_none(),
        ..opts.clone()
    };
    let created = create::create(store, &opts)?;
    if let Err(e) = start_locked(&created.container) {
        if let Err(undo) = create::destroy(created.container, true) {
            explain::warn(&undo.to_string());
        }
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let id = created.container.id.clone();
    drop(created.container); // unlock while the program runs
    let code = supervise(created.init, created.terminal);
    if let Ok(c) = store.lock(&id) {
        create::destroy(c, true)?;
    }
    Ok(code)
}

/// Wait for our child (a container's init, or an exec'd process), passing
/// on the signals a shell sends us and, with a terminal, relaying between
/// our terminal and the container's. Returns the shell-style exit code.
pub fn supervise(child: nix::unistd::Pid, master: Option<std::os::fd::OwnedFd>) -> i32 {
    use nix::sys::signal::{SigSet, SigmaskHow};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let forwarded = [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ];
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    for s in forwarded {
        set.add(s);
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
    let Ok(sfd) = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC) else {
        return 255;
    };
    let _raw = master
        .as_ref()
        .and_then(|_| crate::terminal::RawMode::enter());
    if let Some(m) = &master {
        crate::terminal::copy_window_size(m.as_fd());
    }
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    let mut buf = [0u8; 8192];
    loop {
        let code = match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => Some(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as i32),
            Err(_) => Some(255),
            _ => None,
        };
        if let Some(code) = code {
            if let Some(m) = &master {
                drain(m, &stdout, &mut buf);
            }
            return code;
        }
        // Slots: the signals, then the terminal's master, then our stdin.
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        let m_slot = master.as_ref().filter(|_| master_open).map(|m| {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let in_slot = master.as_ref().filter(|_| stdin_open).map(|_| {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        if nix::poll::poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|e| !e.is_empty()))
            .collect();
        drop(fds);
        let is_ready = |slot: Option<usize>| slot.is_some_and(|i| ready[i]);
        if ready[0] {
            if let Ok(Some(info)) = sfd.read_signal() {
                match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGCHLD) | Err(_) => {}
                    Ok(Signal::SIGWINCH) if master.is_some() => {
                        if let Some(m) = &master {
                            crate::terminal::copy_window_size(m.as_fd());
                        }
                    }
                    Ok(sig) => {
                        let _ = nix::sys::signal::kill(child, sig);
                    }
                }
            }
        }
        let Some(m) = &master else { continue };
        if is_ready(m_slot) && !copy_once(m.as_fd(), stdout.as_fd(), &mut buf) {
            // The terminal's last holder is gone: only the exit is left to wait for.
            master_open = false;
        }
        if is_ready(in_slot) && !copy_once(stdin.as_fd(), m.as_fd(), &mut buf) {
            stdin_open = false;
        }
    }
}

/// One read and a full write; false at end-of-file or error.
fn copy_once(from: std::os::fd::BorrowedFd, to: std::os::fd::BorrowedFd, buf: &mut [u8]) -> bool {
    match nix::unistd::read(from, buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            let mut done = 0;
            while done < n {
                match nix::unistd::write(to, &buf[done..n]) {
                    Ok(w) => done += w,
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(_) => return false,
                }
            }
            true
        }
    }
}

/// After the exit: pass on what the terminal still holds, without waiting.
fn drain(master: &std::os::fd::OwnedFd, stdout: &std::io::Stdout, buf: &mut [u8]) {
    loop {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, PollTimeout::ZERO) {
            Ok(n)
                if n > 0
                    && fds[0]
                        .revents()
                        .is_some_and(|e| e.contains(PollFlags::POLLIN)) => {}
            _ => return,
        }
        if !copy_once(master.as_fd(), stdout.as_fd(), buf) {
            return;
        }
    }
}
