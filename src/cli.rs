//! The command line: runc's, so Docker, containerd and Podman can call
//! puncker in its place. Each subcommand's help says where it sits in the
//! container lifecycle.

use crate::error::{Error, Result};
use crate::lifecycle::{self, create::CreateOptions};
use crate::state::Store;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "puncker",
    about = "A readable, fast, runc-compatible OCI container runtime",
    long_about = "puncker turns an OCI bundle (config.json + rootfs/) into a running, isolated process.\n\
                  Add --explain to any command to watch every kernel step it takes, and why.",
    disable_version_flag = true
)]
pub struct Cli {
    /// Directory for container state (best on a tmpfs such as /run, so it vanishes on reboot)
    #[arg(
        long,
        global = true,
        default_value = "/run/puncker",
        value_name = "DIR"
    )]
    pub root: PathBuf,
    /// Write errors (and, with --debug, every step) to this file
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<String>,
    /// Format of the --log file: text, or json (one object per line, as containerd reads it)
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Log every kernel step to --log
    #[arg(long, global = true)]
    pub debug: bool,
    /// Narrate every kernel step, and why, as it happens (also PUNCKER_EXPLAIN=1)
    #[arg(long, global = true, env = "PUNCKER_EXPLAIN", value_parser = clap::builder::FalseyValueParser::new())]
    pub explain: bool,
    /// Where the --explain narration goes (default: the controlling terminal; never stderr)
    #[arg(
        long = "explain-file",
        global = true,
        env = "PUNCKER_EXPLAIN_FILE",
        value_name = "FILE"
    )]
    pub explain_file: Option<String>,
    /// Let systemd own the container's cgroup (not built yet: refused)
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility: true, false or auto
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub rootless: Option<String>,
    /// Accepted for runc compatibility: the CRIU binary for checkpoint/restore
    #[arg(long, global = true, value_name = "PATH", hide = true)]
    pub criu: Option<String>,
    /// Print the version, the commit and the spec version
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What create, run and exec hand over to the caller or the process.
#[derive(Args, Clone)]
pub struct HandoverArgs {
    /// Write the new process's pid (as seen on the host) to this file
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the terminal's master fd (process.terminal)
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the new process
    #[arg(long = "pidfd-socket", value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,
    /// Pass this many extra fds (from fd 3 on) to the process
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
}

#[derive(Args, Clone)]
pub struct CreateArgs {
    /// The bundle directory: config.json and the rootfs it names
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    #[command(flatten)]
    pub handover: HandoverArgs,
    /// Use MS_MOVE + chroot instead of pivot_root (for a ramfs host root)
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Keep the caller's session keyring instead of a fresh one
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// The container id (letters, digits, _-.+:@)
    pub id: String,
}

#[derive(Args)]
pub struct ExecArgs {
    /// A process JSON object (the spec's `process`) instead of CMD
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Give the process a terminal
    #[arg(short, long)]
    pub tty: bool,
    /// Add or replace an environment variable (KEY=VALUE)
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// uid[:gid] to run as
    #[arg(short, long, value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Supplementary group ids
    #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// Add a capability (bounding, effective and permitted sets)
    #[arg(short, long, value_name = "CAP")]
    pub cap: Vec<String>,
    /// Set no_new_privs for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// AppArmor profile for the process (the host must run AppArmor)
    #[arg(long)]
    pub apparmor: Option<String>,
    /// SELinux label for the process (the host must run SELinux)
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// Return once the process runs
    #[arg(short, long)]
    pub detach: bool,
    #[command(flatten)]
    pub handover: HandoverArgs,
    /// Allow exec into a paused container
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Run in this sub-cgroup of the container (not supported yet)
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<String>,
    /// The container id
    pub id: String,
    /// The command and its arguments (unless --process)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

// One value per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
    /// Write a default config.json into the bundle directory (--rootless: for a non-root user)
    Spec {
        /// The bundle directory to write config.json into
        #[arg(short, long, default_value = ".", value_name = "DIR")]
        bundle: PathBuf,
    },
    /// Set the container up and stop just before its program runs (state: created)
    Create(CreateArgs),
    /// Run the program of a created container (state: running)
    Start {
        /// The container id
        id: String,
    },
    /// Create and start; in the foreground, wait and exit with the program's status
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the program runs, leaving the container behind
        #[arg(short, long)]
        detach: bool,
        /// Keep the container after it exits (not supported yet)
        #[arg(long)]
        keep: bool,
        /// Accepted for runc compatibility: puncker never becomes a subreaper
        #[arg(long = "no-subreaper")]
        no_subreaper: bool,
    },
    /// Print the container's state as the OCI spec's JSON
    State {
        /// The container id
        id: String,
    },
    /// Send a signal to the container's init (default SIGTERM)
    Kill {
        /// Signal every process of the container
        #[arg(short, long)]
        all: bool,
        /// The container id
        id: String,
        /// A signal name (TERM, SIGKILL) or number
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Remove a stopped or created container; --force kills a running one first
    Delete {
        /// Kill the container first if it runs, and clear a half-made one
        #[arg(short, long)]
        force: bool,
        /// The container id
        id: String,
    },
    /// List the containers under --root
    List {
        /// table, or json (the spec's state objects)
        #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        /// Print only the ids
        #[arg(short, long)]
        quiet: bool,
    },
    /// Change a running container's limits (its cgroup's files)
    Update(UpdateArgs),
    /// Print the container's cgroup statistics and OOM events, as JSON lines
    Events {
        /// Print one stats event and exit
        #[arg(long)]
        stats: bool,
        /// Time between stats events when streaming (e.g. 5s, 500ms)
        #[arg(long, default_value = "5s")]
        interval: String,
        /// The container id
        id: String,
    },
    /// Freeze every process of the container (cgroup freezer)
    Pause {
        /// The container id
        id: String,
    },
    /// Thaw a paused container
    Resume {
        /// The container id
        id: String,
    },
    /// Print the OCI features document: what this runtime supports
    Features,
    /// Run one more process in a running container (its namespaces, its confinement)
    Exec(ExecArgs),
    /// List the container's processes (host pids)
    Ps {
        /// table, or json (a list of host pids, as containerd reads it)
        #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        /// The container id
        id: String,
        /// After `--`: run the host's ps(1) with these options, keeping the
        /// container's lines (e.g. `-- -ef`)
        #[arg(last = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    #[command(flatten)]
    NotYet(NotYet),
}

/// runc commands puncker does not implement yet: a clear error, never silence.
#[derive(Subcommand)]
pub enum NotYet {
    #[command(hide = true, disable_help_flag = true)]
    Checkpoint {
        #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
        rest: Vec<String>,
    },
    #[command(hide = true, disable_help_flag = true)]
    Restore {
        #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
        rest: Vec<String>,
    },
}

/// Long flags Go programs may pass with one dash (`-root`, `-log`...).
const LONG_FLAGS: &[&str] = &[
    "root",
    "log",
    "log-format",
    "debug",
    "explain",
    "explain-file",
    "systemd-cgroup",
    "rootless",
    "version",
    "bundle",
    "pid-file",
    "console-socket",
    "pidfd-socket",
    "no-pivot",
    "no-new-keyring",
    "preserve-fds",
    "detach",
    "all",
    "force",
    "format",
    "quiet",
    "resources",
    "stats",
    "interval",
    "help",
];

/// Turn `-root=x` / `-root x` into `--root=x` for the flags above; leave
/// everything else (short flags, the container's own arguments) alone.
pub fn normalize_args(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest_verbatim = false;
    for a in args {
        if rest_verbatim || a == "--" {
            rest_verbatim = true;
            out.push(a);
            continue;
        }
        let single = a.strip_prefix('-').filter(|r| !r.starts_with('-'));
        match single {
            Some(r) if LONG_FLAGS.contains(&r.split('=').next().unwrap_or("")) => {
                out.push(format!("-{a}"))
            }
            _ => out.push(a),
        }
    }
    out
}

fn parse_signal(s: &str) -> Result<nix::sys::signal::Signal> {
    use std::str::FromStr;
    if let Ok(n) = s.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n)
            .map_err(|_| Error::Usage(format!("unknown signal {s:?}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    nix::sys::signal::Signal::from_str(&name)
        .map_err(|_| Error::Usage(format!("unknown signal {s:?}")))
}

fn create_options(a: &CreateArgs, systemd_cgroup: bool) -> Result<CreateOptions> {
    Ok(CreateOptions {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        pid_file: a.handover.pid_file.clone(),
        console_socket: a.handover.console_socket.clone(),
        pidfd_socket: a.handover.pidfd_socket.clone(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.handover.preserve_fds,
        systemd_cgroup,
        relay_terminal: false,
    })
}

/// Run one command; returns the process exit code.
pub fn dispatch(cli: Cli) -> Result<i32> {
    if cli.version {
        print!("{}", version_text());
        return Ok(0);
    }
    let store = Store::new(&cli.root);
    let Some(command) = cli.command else {
        return Err(Error::Usage(
            "no command given; see `puncker --help`".into(),
        ));
    };
    match command {
        Command::Spec { bundle } => {
            let path = bundle.join("config.json");
            if path.exists() {
                return Err(Error::config(
                    path.display(),
                    "already exists; remove it first",
                ));
            }
            let text = serde_json::to_string_pretty(&crate::config::default_spec(
                cli.rootless.as_deref() == Some("true"),
            ))
            .map_err(|e| Error::Other(e.to_string()))?;
            std::fs::write(&path, text + "\n")
                .map_err(|e| Error::config(path.display(), e.to_string()))?;
        }
        Command::Create(a) => {
            lifecycle::create::create(&store, &create_options(&a, cli.systemd_cgroup)?)?;
        }
        Command::Start { id } => lifecycle::start(&store, &id)?,
        Command::Run {
            create,
            detach,
            keep,
            no_subreaper: _,
        } => {
            if keep {
                return Err(Error::Unsupported("run --keep".into()));
            }
            return lifecycle::run(
                &store,
                &create_options(&create, cli.systemd_cgroup)?,
                detach,
            );
        }
        Command::State { id } => println!("{}", lifecycle::state(&store, &id)?),
        Command::Kill { all, id, signal } => {
            lifecycle::kill(&store, &id, parse_signal(&signal)?, all)?
        }
        Command::Delete { force, id } => lifecycle::delete(&store, &id, force)?,
        Command::List { format, quiet } => {
            print!("{}", lifecycle::list(&store, format == "json", quiet)?)
        }
        Command::Update(a) => lifecycle::update::update(&store, &a.id, &a.flags)?,
        Command::Events {
            stats,
            interval,
            id,
        } => {
            let every = lifecycle::events::parse_interval(&interval)?;
            lifecycle::events::events(&store, &id, stats, every)?
        }
        Command::Pause { id } => lifecycle::pause(&store, &id)?,
        Command::Resume { id } => lifecycle::resume(&store, &id)?,
        Command::Features => println!("{}", crate::features::document()),
        Command::Exec(a) => return exec(&store, a),
        Command::Ps {
            format,
            id,
            ps_args,
        } => print!(
            "{}",
            lifecycle::ps(&store, &id, format == "json", &ps_args)?
        ),
        Command::NotYet(n) => {
            let name = match n {
                NotYet::Checkpoint { .. } => "checkpoint",
                NotYet::Restore { .. } => "restore",
            };
            return Err(Error::Unsupported(format!("the `{name}` command")));
        }
    }
    Ok(0)
}

fn exec(store: &Store, a: ExecArgs) -> Result<i32> {
    use crate::lifecycle::exec::{self as ex, ExecOptions, Overrides};
    if a.cgroup.is_some() {
        return Err(Error::Unsupported("exec --cgroup".into()));
    }
    let mut process = match &a.process {
        Some(file) => ex::process_from_file(file)?,
        None => {
            if a.command.is_empty() {
                return Err(Error::Usage(
                    "exec: give a command, or --process FILE".into(),
                ));
            }
            let c = store.read(&a.id)?;
            ex::process_from_overrides(
                &c.record.config,
                Overrides {
                    args: a.command.clone(),
                    tty: a.tty,
                    env: a.env.clone(),
                    cwd: a.cwd.clone(),
                    user: a.user.clone(),
                    additional_gids: a.additional_gids.clone(),
                    caps: a.cap.clone(),
                    no_new_privs: a.no_new_privs,
                },
            )?
        }
    };
    if let Some(profile) = &a.apparmor {
        process.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &a.process_label {
        process.set_selinux_label(Some(label.clone()));
    }
    ex::exec(
        store,
        &ExecOptions {
            id: a.id,
            process,
            detach: a.detach,
            pid_file: a.handover.pid_file,
            console_socket: a.handover.console_socket,
            pidfd_socket: a.handover.pidfd_socket,
            preserve_fds: a.handover.preserve_fds,
            ignore_paused: a.ignore_paused,
        },
    )
}

/// The shape containerd parses: `<name> version X`, `commit: ...`, `spec: ...`.
pub fn version_text() -> String {
    format!(
        "puncker version {}\ncommit: {}\nspec: {}\n",
        env!("CARGO_PKG_VERSION"),
        option_env!("PUNCKER_COMMIT").unwrap_or("unknown"),
        crate::config::OCI_VERSION
    )
}

/// `update ID` and runc's flags for it.
#[derive(clap::Args)]
pub struct UpdateArgs {
    /// The container id
    pub id: String,
    #[command(flatten)]
    pub flags: crate::lifecycle::update::Flags,
}
