//! Hooks: programs the runtime runs at fixed points of the lifecycle.
//!
//! | hook            | when                                   | where it runs          |
//! |-----------------|----------------------------------------|------------------------|
//! | prestart        | after namespaces and mounts, before pivot_root | runtime namespaces |
//! | createRuntime   | same point, after prestart             | runtime namespaces     |
//! | createContainer | after createRuntime, before pivot_root | container namespaces   |
//! | startContainer  | on `start`, just before the program    | container namespaces   |
//! | poststart       | after the program started              | runtime namespaces     |
//! | poststop        | after the container is deleted         | runtime namespaces     |
//!
//! Each hook gets the container's state JSON on stdin, its own `args` and
//! `env`, and is killed after `timeout` seconds. A failing hook fails the
//! operation (poststop only warns: the container is already gone).

use crate::error::{Error, Result};
use crate::explain;
use oci_spec::runtime::Hook;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

/// Run the hooks of one stage in order; stop at the first failure.
pub fn run_stage(
    stage: &'static str,
    hooks: Option<&Vec<Hook>>,
    state: &serde_json::Value,
) -> Result<()> {
    run_stage_recorded(stage, hooks, state, &mut |_| Ok(()))
}

/// Like [`run_stage`], calling `on_spawn` with each hook's pid (also its
/// process group) before waiting for it, so the caller can record it:
/// if the runtime is killed, `delete --force` can then kill the hook's
/// whole group, children included.
pub fn run_stage_recorded(
    stage: &'static str,
    hooks: Option<&Vec<Hook>>,
    state: &serde_json::Value,
    on_spawn: &mut dyn FnMut(nix::unistd::Pid) -> Result<()>,
) -> Result<()> {
    for hook in hooks.into_iter().flatten() {
        run_one(stage, hook, state, on_spawn).map_err(|e| match e {
            HookError::Hook(msg) => Error::Hook { stage, msg },
            HookError::Runtime(e) => e,
        })?;
    }
    Ok(())
}

enum HookError {
    /// The hook failed.
    Hook(String),
    /// Recording it failed.
    Runtime(Error),
}

impl From<String> for HookError {
    fn from(s: String) -> Self {
        HookError::Hook(s)
    }
}

fn run_one(
    stage: &str,
    hook: &Hook,
    state: &serde_json::Value,
    on_spawn: &mut dyn FnMut(nix::unistd::Pid) -> Result<()>,
) -> std::result::Result<(), HookError> {
    let path = hook.path();
    let t0 = std::time::Instant::now();
    let mut cmd = Command::new(path);
    if let Some(args) = hook.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    // A group of its own: whatever the hook starts can be killed with it.
    cmd.process_group(0);
    crate::sys::die_with_parent(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{}: cannot run: {e}", path.display()))?;
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    if let Err(e) = on_spawn(pid) {
        let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait();
        return Err(HookError::Runtime(e));
    }
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin: a broken pipe is fine.
        let _ = stdin.write_all(state.to_string().as_bytes());
    }
    let status = match hook.timeout() {
        Some(secs) if secs > 0 => wait_with_timeout(&mut child, secs)?,
        Some(secs) => {
            return Err(HookError::Hook(format!(
                "{}: timeout must be positive, got {secs}",
                path.display()
            )))
        }
        None => child.wait().map_err(|e| e.to_string())?,
    };
    if explain::enabled() {
        explain::record(
            "hook",
            format_args!("{stage} {} -> {status}", path.display()),
            "a program the config asked to run at this point, with the state on stdin",
            t0.elapsed(),
            None,
        );
    }
    if status.success() {
        Ok(())
    } else if let Some(sig) = status.signal() {
        Err(format!("{} killed by signal {sig}", path.display()).into())
    } else {
        Err(HookError::Hook(format!(
            "{} exited with status {}",
            path.display(),
            status.code().unwrap_or(-1)
        )))
    }
}

/// Wait on a pidfd with a deadline; kill the hook when it passes.
fn wait_with_timeout(
    child: &mut std::process::Child,
    secs: i64,
) -> std::result::Result<std::process::ExitStatus, String> {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let pidfd = crate::sys::pidfd_open(pid).map_err(|e| format!("pidfd_open: {e}"))?;
    let mut fds = [nix::poll::PollFd::new(
        pidfd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let ms = (secs.min(i64::from(i32::MAX) / 1000) * 1000) as i32;
    let ready = nix::poll::poll(
        &mut fds,
        nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::MAX),
    )
    .map_err(|e| format!("poll: {e}"))?;
    if ready == 0 {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("timed out after {secs}s"));
    }
    child.wait().map_err(|e| e.to_string())
}
