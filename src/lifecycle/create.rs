//! `create`, seen from the runtime: the spine of a container's birth.
//!
//! Read top to bottom, this is the whole sequence on the runtime's side;
//! [`super::init`] is the same story from inside the container.
//!
//! ```text
//! load config.json ─ compile linux.seccomp ─ resolve linux.cgroupsPath
//!   ─ record "creating" (with the cgroup's paths)
//!   ─ mkfifo exec.fifo ─ socketpair ─ connect seccomp listenerPath
//!   ─ mkdir the cgroup, write linux.resources ─ open it for placement
//!     [next: --systemd-cgroup: ask systemd for a scope instead]
//!   ─ clone3(CLONE_NEW*, CLONE_INTO_CGROUP) ─────▶ init: set_up_container
//!   ─ record the init's pid and start time
//!   ─ write uid/gid maps                 ───────▶ (becomes namespace root)
//!     [next: rootless: as a non-root user, "deny" in setgroups and only
//!      the caller's own ids (or newuidmap/newgidmap) in the maps]
//!                                                  (mounts; joins its v1
//!                                                   cgroups; cgroup ns)
//!   ◀─ MountsDone ─ attach the v2 device filter
//!   ─ prestart, createRuntime hooks ─ HooksDone ─▶
//!   ◀─ Ready ─ record "created" ─ write --pid-file ─ return
//! ```
//!
//! Any failure after the record exists is undone by [`destroy`], the same
//! routine `delete --force` uses.

use super::init::{self, InitArgs};
use crate::cgroups;
use crate::config::{self, Bundle};
use crate::error::{Error, Result};
use crate::explain;
use crate::hooks;
use crate::namespaces;
use crate::personality;
use crate::scheduling;
use crate::seccomp;
use crate::state::{self, Container, Phase, ProcessId, Record, Status, Store};
use crate::sync::{self, Msg};
use crate::sysctl;
use crate::userns;
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

#[derive(Clone)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub pidfd_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// The global `--systemd-cgroup`.
    pub systemd_cgroup: bool,
    /// `run` in the foreground relays the terminal itself, without a socket.
    pub relay_terminal: bool,
}

/// A created container: locked, its init waiting on `exec.fifo`.
pub struct Created {
    pub container: Container,
    pub init: Pid,
    /// The pty master, when `run` relays the terminal itself.
    pub terminal: Option<OwnedFd>,
}

pub fn create(store: &Store, opts: &CreateOptions) -> Result<Created> {
    state::check_id(&opts.id)?;
    let mut bundle = config::load_bundle(&opts.bundle)?;
    let opts = &pass_socket_activation(&mut bundle, opts);
    let config_file = bundle.dir.join("config.json").display().to_string();
    let linux = bundle
        .spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::config(&config_file, "linux is required"))?;
    let plan = namespaces::plan(linux, &config_file)?;
    refuse_what_is_not_built_yet(&bundle, opts, &config_file)?;
    sysctl::check(linux, &plan, &config_file)?;
    personality::check(linux, &config_file)?;
    if let Some(p) = bundle.spec.process() {
        scheduling::check(p, &config_file)?;
    }
    // Compiled now, so a bad filter fails create before anything is made.
    let filter = linux
        .seccomp()
        .as_ref()
        .map(|s| seccomp::compile(s, &config_file))
        .transpose()?;

    store.check_free(&opts.id)?;
    let cgroups_path = linux.cgroups_path().as_ref().map(|p| p.to_string_lossy());
    let cgroup = cgroups::resolve(
        cgroups_path.as_deref(),
        &opts.id,
        opts.systemd_cgroup,
        &config_file,
    )?;

    let mut container = store.create(first_record(&opts.id, &bundle, cgroup)?)?;
    match build(&mut container, &bundle, &plan, opts, filter) {
        Ok((init, terminal)) => Ok(Created {
            container,
            init,
            terminal,
        }),
        Err(e) => {
            if let Err(undo) = destroy(container, false) {
                explain::warn(&undo.to_string());
            }
            Err(e)
        }
    }
}

/// systemd socket activation: fds 3..3+LISTEN_FDS given to the runtime are
/// passed on, and the container's process is told about them (as PID 1).
fn pass_socket_activation(bundle: &mut Bundle, opts: &CreateOptions) -> CreateOptions {
    let mut opts = opts.clone();
    // The variables are meant for us only if LISTEN_PID names us (sd_listen_fds):
    // inherited from an activated ancestor, fds 3.. are someone else's.
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        == Some(std::process::id());
    let Some(n) = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|_| for_us)
    else {
        return opts;
    };
    if n == 0 {
        return opts;
    }
    opts.preserve_fds += n;
    if let Some(p) = bundle.spec.process_mut() {
        let mut env = p.env().clone().unwrap_or_default();
        env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        env.push(format!("LISTEN_FDS={n}"));
        env.push("LISTEN_PID=1".into());
        p.set_env(Some(env));
    }
    opts
}

fn first_record(id: &str, bundle: &Bundle, cgroup: cgroups::Cgroup) -> Result<Record> {
    let me = ProcessId::of(nix::unistd::getpid())
        .ok_or_else(|| Error::Other("cannot read the runtime's own /proc/self/stat".into()))?;
    Ok(Record {
        id: id.to_string(),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: explain::timestamp(),
        owner: nix::unistd::geteuid().as_raw(),
        phase: Phase::Creating,
        creator: me,
        init: None,
        hook: None,
        cgroup,
        config: bundle.spec.clone(),
    })
}

/// Features of the spec that the setup sequence does not perform yet fail
/// loudly rather than run a container less confined than asked.
fn refuse_what_is_not_built_yet(bundle: &Bundle, opts: &CreateOptions, file: &str) -> Result<()> {
    let process = bundle.spec.process().as_ref();
    if process.and_then(|p| p.terminal()) == Some(true)
        && opts.console_socket.is_none()
        && !opts.relay_terminal
    {
        return Err(Error::config(
            file,
            "process.terminal is true but no --console-socket was given (set \"terminal\": false to use the caller's stdio)",
        ));
    }
    if let Some(p) = process {
        crate::lsm::check(p, file)?;
    }
    Ok(())
}

/// The runtime's side of the setup, once the record exists.
fn build(
    c: &mut Container,
    bundle: &Bundle,
    plan: &namespaces::Plan,
    opts: &CreateOptions,
    mut filter: Option<seccomp::Filter>,
) -> Result<(Pid, Option<OwnedFd>)> {
    let spec = &bundle.spec;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::Other("linux is required".into()))?;
    let wants_terminal = spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    let (console_for_init, console_here) =
        console_socket(wants_terminal, opts.console_socket.as_deref())?;
    make_exec_fifo(c, linux)?;
    let state_dir = nix::fcntl::open(
        &c.dir,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|errno| Error::Kernel {
        call: "open".into(),
        target: c.dir.display().to_string(),
        errno,
    })?;
    let (runtime_end, init_end) = sync::channel_pair()?;
    if let Some(f) = filter.as_mut() {
        f.connect_listener()?;
    }
    let config_file = bundle.dir.join("config.json").display().to_string();
    cgroups::create(&c.record.cgroup, linux.resources().as_ref(), &config_file)?;
    let placement = cgroups::open_for_placement(&c.record.cgroup)?;

    let cgroupns_later = init::cgroupns_later(plan, &placement);
    let cloned = namespaces::clone_init(plan, linux, placement.clone_target(), cgroupns_later)?;
    let Some(pid) = cloned else {
        // The child: it must not hold the container's lock (the lock is
        // the runtime's), nor the runtime's end of the socket.
        drop(runtime_end);
        drop(console_here);
        c.release_lock();
        init::run(InitArgs {
            id: &opts.id,
            bundle,
            plan,
            channel: init_end,
            state_dir,
            no_pivot: opts.no_pivot,
            no_new_keyring: opts.no_new_keyring,
            preserve_fds: opts.preserve_fds,
            console: console_for_init,
            seccomp: filter,
            cgroup: &c.record.cgroup,
            placement: &placement,
        });
    };
    drop(init_end);
    drop(placement);
    drop(state_dir);
    drop(console_for_init);
    drop(filter);

    // Record the init before anything else: from now on delete --force can find it.
    c.record.init = ProcessId::of(pid);
    explain::note(
        "record",
        format_args!("init = pid {pid} in {}/state.json", c.dir.display()),
        "the init is on record (pid and start time) before the runtime does anything else",
    );
    c.save()?;

    if plan.clone_flags.contains(CloneFlags::CLONE_NEWUSER) {
        userns::write_id_maps(pid, linux)?;
        runtime_end.send(&Msg::IdMapsWritten)?;
    }
    if plan.join_user.is_some() {
        // The joined namespace's own maps say whose the fifo must be.
        let (uid, gid) = userns::root_host_ids(pid);
        give_fifo_to(&c.fifo_path(), uid, gid)?;
    }
    runtime_end.expect(Msg::MountsDone)?;
    cgroups::install_device_filter(&c.record.cgroup, linux.resources().as_ref(), &config_file)?;
    let state = c.oci_state(Status::Creating);
    if let Some(h) = spec.hooks() {
        #[allow(deprecated)]
        let mut record_hook = |pid| {
            c.record.hook = ProcessId::of(pid);
            c.save()
        };
        hooks::run_stage_recorded("prestart", h.prestart().as_ref(), &state, &mut record_hook)?;
        hooks::run_stage_recorded(
            "createRuntime",
            h.create_runtime().as_ref(),
            &state,
            &mut record_hook,
        )?;
        c.record.hook = None;
    }
    runtime_end.send(&Msg::HooksDone {
        state: state.to_string(),
    })?;
    runtime_end.expect(Msg::Ready)?;

    c.record.phase = Phase::Created;
    c.save()?;
    let master = match &console_here {
        Some(sock) => Some(crate::terminal::recv_master(sock.as_fd())?),
        None => None,
    };
    if let Some(f) = &opts.pid_file {
        write_pid_file(f, pid)?;
    }
    if let Some(sock) = &opts.pidfd_socket {
        super::send_pidfd(sock, pid)?;
    }
    Ok((pid, master))
}

/// Where the init sends its pty master: the manager's `--console-socket`,
/// or one end of a socket pair whose other end `run` keeps to relay.
/// Returns (the init's end, the runtime's end).
pub fn console_socket(
    wants_terminal: bool,
    path: Option<&std::path::Path>,
) -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    if !wants_terminal {
        return Ok((None, None));
    }
    match path {
        Some(p) => {
            let s = explain::kernel(
                "connect",
                format_args!("{} (AF_UNIX)", p.display()),
                "the manager waits on this socket for the terminal's master end",
                || {
                    std::os::unix::net::UnixStream::connect(p)
                        .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)))
                },
            )
            .map_err(|e| Error::Other(format!("--console-socket: {e}")))?;
            Ok((Some(s.into()), None))
        }
        None => {
            let (a, b) = std::os::unix::net::UnixStream::pair()
                .map_err(|e| Error::Other(format!("socketpair for the terminal: {e}")))?;
            Ok((Some(b.into()), Some(a.into())))
        }
    }
}

fn make_exec_fifo(c: &Container, linux: &oci_spec::runtime::Linux) -> Result<()> {
    let path = c.fifo_path();
    explain::kernel(
        "mkfifo",
        format_args!("{}", path.display()),
        "the init will block opening it until `start` opens the other end",
        || nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)),
    )?;
    // In a user namespace the init is root of the namespace, which is some
    // other uid on the host: the fifo must be that uid's to open.
    let host_id = |maps: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        maps.iter()
            .flatten()
            .find(|m| m.container_id() == 0)
            .map(|m| m.host_id())
    };
    give_fifo_to(
        &path,
        host_id(linux.uid_mappings()),
        host_id(linux.gid_mappings()),
    )
}

fn give_fifo_to(path: &std::path::Path, uid: Option<u32>, gid: Option<u32>) -> Result<()> {
    if uid.is_some() || gid.is_some() {
        explain::kernel(
            "chown",
            format_args!("{} ({uid:?}:{gid:?})", path.display()),
            "the user namespace's root must be able to open the fifo",
            || {
                nix::unistd::chown(
                    path,
                    uid.map(nix::unistd::Uid::from_raw),
                    gid.map(nix::unistd::Gid::from_raw),
                )
            },
        )?;
    }
    Ok(())
}

/// Written atomically, as containerd reads it as soon as create returns.
pub(super) fn write_pid_file(path: &std::path::Path, pid: Pid) -> Result<()> {
    let tmp = path.with_extension("puncker-tmp");
    std::fs::write(&tmp, pid.to_string())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::Other(format!("--pid-file {}: {e}", path.display())))
}

/// Undo a container whole or half-made: kill its init and wait for it,
/// kill what is left in its cgroup and remove the cgroup, then remove the
/// state directory (last, so a crash here can be retried). With
/// `poststop`, run the poststop hooks once it is gone.
pub fn destroy(c: Container, poststop: bool) -> Result<()> {
    if crate::cgroups::freezer::is_frozen(&c.record.cgroup) {
        // Frozen processes do not die until thawed: kill, then thaw.
        for pid in cgroups::processes(&c.record.cgroup) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = cgroups::freezer::thaw(&c.record.cgroup);
    }
    if let Some(init) = c.record.init {
        super::kill_and_wait(&init);
    }
    if let Some(hook) = c.record.hook {
        super::kill_process_group(&hook);
    }
    // On failure the record stays, so that `delete` can be tried again.
    cgroups::remove(&c.record.cgroup).map_err(|e| Error::container(&c.id, e.to_string()))?;
    let state = c.oci_state(Status::Stopped);
    let hooks = c.record.config.hooks().clone();
    let _ = c.remove();
    if poststop {
        if let Some(h) = hooks {
            if let Err(e) = hooks::run_stage("poststop", h.poststop().as_ref(), &state) {
                explain::warn(&e.to_string());
            }
        }
    }
    Ok(())
}
