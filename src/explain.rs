//! The step stream: every kernel step the runtime takes, recorded where it
//! is taken.
//!
//! Each step is one record (who did it, the call, its target, why, how long
//! it took, and the errno if it failed). The same record feeds both sinks:
//! the `--explain` narration for people learning containers, and the
//! `--debug` lines of the `--log` file. Because there is one stream, the
//! narration cannot drift from what the code does. When neither sink is on,
//! a step costs one atomic load.
//!
//! Neither sink ever writes to the container's stdio: narration goes to
//! `--explain-file`, else the controlling terminal (never stderr, which
//! the container shares), and the log to `--log`.
//! Both descriptors are close-on-exec, so they vanish at the container's
//! `execve`.

use crate::error::{Error, Result};
use nix::errno::Errno;
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The process that takes a step: the runtime, the container's init before
/// `execve`, or a hook.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Actor {
    Runtime = 0,
    Init = 1,
    Exec = 2,
}

struct Sinks {
    narration: Option<File>,
    log: Option<File>,
    json: bool,
    debug: bool,
    started: Instant,
}

static SINKS: OnceLock<Sinks> = OnceLock::new();
static ON: AtomicBool = AtomicBool::new(false);
static ACTOR: AtomicU8 = AtomicU8::new(Actor::Runtime as u8);

/// Where the narration and the log go; set once, from the global flags.
pub struct Setup {
    pub explain: bool,
    pub explain_file: Option<String>,
    pub log: Option<String>,
    pub json: bool,
    pub debug: bool,
}

pub fn init(setup: Setup) -> std::result::Result<(), String> {
    let open = |path: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
    };
    // Narration goes to its own file or to the terminal, never to stderr:
    // the container inherits stderr, and under Docker it is the shim's.
    let narration = match (setup.explain, &setup.explain_file) {
        (false, _) => None,
        (true, Some(p)) => Some(open(p).map_err(|e| format!("--explain-file {p}: {e}"))?),
        (true, None) => match open("/dev/tty") {
            Ok(f) => Some(f),
            Err(_) => {
                eprintln!("puncker: --explain: no terminal to narrate to; use --explain-file FILE");
                None
            }
        },
    };
    let log = match setup.log.as_deref() {
        Some(p) => Some(open(p).map_err(|e| format!("--log {p}: {e}"))?),
        None => None,
    };
    ON.store(
        narration.is_some() || (setup.debug && log.is_some()),
        Ordering::Relaxed,
    );
    let _ = SINKS.set(Sinks {
        narration,
        log,
        json: setup.json,
        debug: setup.debug,
        started: Instant::now(),
    });
    Ok(())
}

/// Steps taken from now on are the container init's (called in the child).
pub fn become_init() {
    ACTOR.store(Actor::Init as u8, Ordering::Relaxed);
}

/// Steps taken from now on are an exec'd process's, before its `execve`.
pub fn become_exec() {
    ACTOR.store(Actor::Exec as u8, Ordering::Relaxed);
}

fn actor() -> &'static str {
    match ACTOR.load(Ordering::Relaxed) {
        1 => "init   ",
        2 => "exec   ",
        _ => "runtime",
    }
}

#[inline]
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Record one step that has happened.
pub fn record(call: &str, target: fmt::Arguments, why: &str, took: Duration, err: Option<Errno>) {
    let Some(s) = SINKS.get() else { return };
    let outcome = match err {
        Some(e) => format!(" -> {e:?}"),
        None => String::new(),
    };
    if let Some(mut out) = s.narration.as_ref() {
        let at = s.started.elapsed().as_secs_f64() * 1000.0;
        let line = format!(
            "[{at:8.3}ms] {} | {call} {target}{outcome}  ({:.1}µs)\n{:14}{:8}|   why: {why}\n",
            actor(),
            took.as_secs_f64() * 1e6,
            "",
            "",
        );
        let _ = out.write_all(line.as_bytes());
    }
    if s.debug {
        log_line(
            "debug",
            &format!("{} {call} {target}{outcome}: {why}", actor().trim_end()),
        );
    }
}

/// Narrate a step that is not a single kernel call (a sync point, a hook).
pub fn note(call: &str, target: fmt::Arguments, why: &str) {
    if enabled() {
        record(call, target, why, Duration::ZERO, None);
    }
}

/// Make a kernel call, record it as a step, and turn its failure into an
/// [`Error::Kernel`] naming the call and its target.
pub fn kernel<T>(
    call: &'static str,
    target: fmt::Arguments,
    why: &str,
    f: impl FnOnce() -> nix::Result<T>,
) -> Result<T> {
    if !enabled() {
        return f().map_err(|errno| Error::Kernel {
            call: call.to_string(),
            target: target.to_string(),
            errno,
        });
    }
    let t0 = Instant::now();
    let r = f();
    record(call, target, why, t0.elapsed(), r.as_ref().err().copied());
    r.map_err(|errno| Error::Kernel {
        call: call.to_string(),
        target: target.to_string(),
        errno,
    })
}

/// Write one line to the `--log` file: a JSON object per line under
/// `--log-format json` (containerd shows the last error to the user).
pub fn log_line(level: &str, msg: &str) {
    let Some(s) = SINKS.get() else { return };
    let Some(mut f) = s.log.as_ref() else { return };
    let line = if s.json {
        let obj = serde_json::json!({ "level": level, "msg": msg, "time": timestamp() });
        format!("{obj}\n")
    } else {
        format!("{} {level}: {msg}\n", timestamp())
    };
    let _ = f.write_all(line.as_bytes());
}

/// A warning goes to the `--log` file when there is one (a manager such as
/// containerd gave it, and the runtime's stderr is the container's); to
/// stderr otherwise.
pub fn warn(msg: &str) {
    let has_log = SINKS.get().is_some_and(|s| s.log.is_some());
    if has_log {
        log_line("warning", msg);
    } else {
        eprintln!("puncker: warning: {msg}");
    }
}

/// The current time in RFC 3339 (UTC, nanoseconds), as the state and the log
/// want it. Civil-from-days conversion, so no date crate is needed.
pub fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_nanos()
    )
}
