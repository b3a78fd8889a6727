//! Puncker: an OCI container runtime that reads like a guided tour of the
//! kernel.
//!
//! Where to start reading:
//! - `cli.rs`: the runc-compatible command line.
//! - `lifecycle/`: one function per command; `create.rs` is the runtime's
//!   side of a container's birth, `init.rs` the container's side.
//! - `state.rs`: the crash-safe state store.
//! - one module per kernel concept: `namespaces`, `userns`, `rootfs`,
//!   `mounts`, `devices`, `cgroups`, `capabilities`, `rlimits`, `seccomp`,
//!   `sysctl`, `personality`, `scheduling`, `hooks`, `terminal`.
//! - `explain.rs`: the step stream behind `--explain` and `--debug`.
//! - `sync.rs`: the runtime ⇄ init protocol; `sys.rs`: all `unsafe`.

mod capabilities;
mod cgroups;
mod cli;
mod config;
mod devices;
mod error;
mod explain;
mod features;
mod hooks;
mod lifecycle;
mod lsm;
mod mounts;
mod namespaces;
mod personality;
mod rlimits;
mod rootfs;
mod scheduling;
mod seccomp;
mod state;
mod sync;
mod sys;
mod sysctl;
mod terminal;
mod userns;

use clap::Parser;

fn main() {
    let args = cli::normalize_args(std::env::args());
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    if let Err(msg) = explain::init(explain::Setup {
        explain: cli.explain,
        explain_file: cli.explain_file.clone(),
        log: cli.log.clone(),
        json: cli.log_format == "json",
        debug: cli.debug,
    }) {
        eprintln!("puncker: {msg}");
        std::process::exit(1);
    }
    match cli::dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let msg = e.to_string();
            explain::log_line("error", &msg);
            eprintln!("puncker: {msg}");
            // 2 for a bad command line, as clap's own errors; 1 for the rest.
            std::process::exit(if matches!(e, error::Error::Usage(_)) {
                2
            } else {
                1
            });
        }
    }
}
