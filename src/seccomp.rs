//! Seccomp: a filter on the system calls themselves.
//!
//! Namespaces decide what a container can see and capabilities what it may
//! do as root; seccomp decides which kernel entry points it may call at all.
//! A seccomp filter is a small classic-BPF program the kernel runs on every
//! system call the process makes, looking at the call's number, the CPU
//! architecture and the six raw arguments. It returns a verdict: allow, fail
//! with an errno, raise SIGSYS, kill the thread or the process, log, hand the
//! call to a tracer, or suspend it and ask a supervisor (a "notify" listener)
//! what to do. A filter can never be removed, is inherited by every child,
//! and survives `execve`; `/proc/PID/status` then says `Seccomp: 2`.
//!
//! The spec's `linux.seccomp` lists a `defaultAction`, the `architectures`
//! the filter accepts (a call made through another ABI is killed), `flags`
//! for `seccomp(2)`, and `syscalls` rules: names, an action, and optional
//! conditions on the arguments (`args`, all of which must hold). With
//! `SCMP_ACT_NOTIFY` the runtime sends the filter's notify fd, with the
//! container's state, to the agent listening at `listenerPath`.
//!
//! Puncker uses libseccomp only as a compiler: in `create`, before anything
//! is made, [`compile`] checks the config (naming the field at fault),
//! turns names into numbers for every architecture, and exports the BPF
//! program. The init loads that program itself with `seccomp(2)` in
//! [`load`], the last step before `execve`, so that the filter judges as few
//! of the runtime's own calls as possible. A syscall name libseccomp does not
//! know is skipped, as runc does: profiles list calls newer than the library.

use crate::error::{Error, Result};
use crate::explain;
use crate::sys;
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};
use std::io::{Read, Seek};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

/// The kernel refuses longer programs (BPF_MAXINSNS).
const MAX_INSTRUCTIONS: usize = 4096;

/// A compiled filter, ready for [`load`].
pub struct Filter {
    program: Vec<libc::sock_filter>,
    /// `SECCOMP_FILTER_FLAG_*` for `seccomp(2)`.
    flags: libc::c_ulong,
    rules: usize,
    listener_path: Option<PathBuf>,
    metadata: Option<String>,
    /// The connection to `listenerPath`, made by the runtime while it can
    /// still resolve host paths; the init inherits it across `clone`.
    listener: Option<OwnedFd>,
    /// What the agent is told with the fd, built before the filter is in.
    agent_message: Vec<u8>,
}

impl Filter {
    /// True when the filter has SCMP_ACT_NOTIFY rules and so a listener.
    pub fn notifies(&self) -> bool {
        self.flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0
    }

    /// Connect to `listenerPath` (AF_UNIX, SOCK_STREAM, as the spec says).
    /// Done by the runtime before `clone`: after `pivot_root` the host path
    /// is out of the init's reach.
    pub fn connect_listener(&mut self) -> Result<()> {
        let Some(path) = self.listener_path.as_ref().filter(|_| self.notifies()) else {
            return Ok(());
        };
        let stream = std::os::unix::net::UnixStream::connect(path).map_err(|e| Error::Kernel {
            call: "connect".into(),
            target: format!("linux.seccomp.listenerPath {}", path.display()),
            errno: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        })?;
        explain::note(
            "connect",
            format_args!("{} (AF_UNIX, SOCK_STREAM)", path.display()),
            "the seccomp agent that will answer SCMP_ACT_NOTIFY calls gets the filter's fd here",
        );
        self.listener = Some(OwnedFd::from(stream));
        Ok(())
    }

    /// Prepare the spec's "container process state" for the agent: the
    /// process `pid` (as the runtime sees it) and the container's `state`.
    pub fn for_process(mut self, pid: i64, state: &serde_json::Value) -> Filter {
        if self.listener.is_none() {
            return self;
        }
        let mut state = state.clone();
        // The filter goes in when the program starts.
        state["status"] = "running".into();
        let mut msg = serde_json::json!({
            "ociVersion": crate::config::OCI_VERSION,
            "fds": ["seccompFd"],
            "pid": pid,
            "state": state,
        });
        if let Some(m) = &self.metadata {
            msg["metadata"] = m.clone().into();
        }
        self.agent_message = serde_json::to_vec(&msg).unwrap_or_default();
        self
    }
}

/// Check `linux.seccomp` and compile it to a BPF program.
pub fn compile(s: &LinuxSeccomp, file: &str) -> Result<Filter> {
    let bad = |field: String, msg: String| Error::config(file, format!("{field}: {msg}"));
    let lib = |field: String, e: libseccomp::error::SeccompError| {
        bad(field, format!("libseccomp refused it: {e}"))
    };

    let default = action(
        s.default_action(),
        s.default_errno_ret(),
        "linux.seccomp.defaultErrnoRet",
    )
    .map_err(|(f, m)| bad(f, m))?;
    if default == ScmpAction::Notify {
        return Err(bad(
            "linux.seccomp.defaultAction".into(),
            "SCMP_ACT_NOTIFY cannot be the default: the init's own sendmsg of the notify fd would wait for an agent that does not have it yet".into(),
        ));
    }
    let mut ctx = ScmpFilterContext::new(default)
        .map_err(|e| lib("linux.seccomp.defaultAction".into(), e))?;

    for (i, arch) in s.architectures().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.architectures[{i}]");
        let name = spec_name(arch);
        let a: ScmpArch = name
            .parse()
            .map_err(|_| bad(field.clone(), format!("{name} is unknown to libseccomp")))?;
        if !ctx.is_arch_present(a).map_err(|e| lib(field.clone(), e))? {
            ctx.add_arch(a).map_err(|e| lib(field, e))?;
        }
    }

    let mut rules = 0;
    let mut notify = false;
    let mut skipped: Vec<&str> = vec![];
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        let act = action(sc.action(), sc.errno_ret(), &format!("{field}.errnoRet"))
            .map_err(|(f, m)| bad(f, m))?;
        if sc.names().is_empty() {
            return Err(bad(
                format!("{field}.names"),
                "must name at least one syscall".into(),
            ));
        }
        let alternatives = conditions(sc, &field).map_err(|(f, m)| bad(f, m))?;
        if act == default {
            // libseccomp refuses a rule that changes nothing; so does the kernel's logic.
            continue;
        }
        for (j, name) in sc.names().iter().enumerate() {
            if act == ScmpAction::Notify && name == "sendmsg" {
                return Err(bad(
                    format!("{field}.names[{j}]"),
                    "SCMP_ACT_NOTIFY cannot apply to sendmsg: the init sends the agent its notify fd with it".into(),
                ));
            }
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                skipped.push(name);
                continue;
            };
            for conds in &alternatives {
                ctx.add_rule_conditional(act, nr, conds)
                    .map_err(|e| lib(format!("{field}.names[{j}] ({name})"), e))?;
                rules += 1;
            }
        }
        notify |= act == ScmpAction::Notify;
    }
    if !skipped.is_empty() {
        explain::note(
            "seccomp",
            format_args!("skipping {} unknown syscall names: {}", skipped.len(), skipped.join(" ")),
            "names libseccomp does not know (newer than it, or another OS's) cannot be called here either",
        );
    }

    let flags = filter_flags(s, notify, file)?;
    if notify && s.listener_path().is_none() {
        return Err(bad(
            "linux.seccomp.listenerPath".into(),
            "is required when a rule uses SCMP_ACT_NOTIFY: the notify fd must go to an agent"
                .into(),
        ));
    }
    if s.listener_metadata().is_some() && s.listener_path().is_none() {
        return Err(bad(
            "linux.seccomp.listenerMetadata".into(),
            "must not be set without listenerPath".into(),
        ));
    }
    let program = export(&ctx).map_err(|e| Error::Other(format!("{file}: linux.seccomp: {e}")))?;
    if program.len() > MAX_INSTRUCTIONS {
        return Err(bad(
            "linux.seccomp".into(),
            format!(
                "the filter compiles to {} BPF instructions; the kernel takes at most {MAX_INSTRUCTIONS}",
                program.len()
            ),
        ));
    }
    Ok(Filter {
        program,
        flags,
        rules,
        listener_path: s.listener_path().clone(),
        metadata: s.listener_metadata().clone(),
        listener: None,
        agent_message: vec![],
    })
}

/// The spec's name for an oci-spec enum value, e.g. "SCMP_ARCH_X86_64".
fn spec_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// An action with its errno (EPERM when `errnoRet` is unset). Only
/// SCMP_ACT_ERRNO and SCMP_ACT_TRACE carry a value; the spec says any
/// other action given one is an error.
fn action(
    a: LinuxSeccompAction,
    errno: Option<u32>,
    errno_field: &str,
) -> std::result::Result<ScmpAction, (String, String)> {
    use LinuxSeccompAction::*;
    let value = || -> std::result::Result<u16, (String, String)> {
        match errno {
            None => Ok(libc::EPERM as u16),
            Some(v) => u16::try_from(v).map_err(|_| {
                (
                    errno_field.to_string(),
                    format!("{v} does not fit in 16 bits"),
                )
            }),
        }
    };
    if errno.is_some() && !matches!(a, ScmpActErrno | ScmpActTrace) {
        return Err((
            errno_field.to_string(),
            format!("{} takes no errno value", spec_name(&a)),
        ));
    }
    Ok(match a {
        // SCMP_ACT_KILL is the old name for killing the calling thread.
        ScmpActKill | ScmpActKillThread => ScmpAction::KillThread,
        ScmpActKillProcess => ScmpAction::KillProcess,
        ScmpActTrap => ScmpAction::Trap,
        ScmpActErrno => ScmpAction::Errno(value()?.into()),
        ScmpActNotify => ScmpAction::Notify,
        ScmpActTrace => ScmpAction::Trace(value()?),
        ScmpActLog => ScmpAction::Log,
        ScmpActAllow => ScmpAction::Allow,
    })
}

/// The argument conditions of one rule, as the list of condition sets to
/// add. All conditions of a rule must hold (AND). libseccomp takes one
/// comparison per argument in a rule, so when a rule compares the same
/// argument twice, each condition becomes a rule of its own (OR), which is
/// what profiles written for runc expect.
fn conditions(
    sc: &LinuxSyscall,
    field: &str,
) -> std::result::Result<Vec<Vec<ScmpArgCompare>>, (String, String)> {
    let mut conds = vec![];
    for (k, arg) in sc.args().iter().flatten().enumerate() {
        let index = arg.index();
        if index > 5 {
            return Err((
                format!("{field}.args[{k}].index"),
                format!("{index}: a system call has six arguments, 0 to 5"),
            ));
        }
        use LinuxSeccompOperator::*;
        let op = match arg.op() {
            ScmpCmpNe => ScmpCompareOp::NotEqual,
            ScmpCmpLt => ScmpCompareOp::Less,
            ScmpCmpLe => ScmpCompareOp::LessOrEqual,
            ScmpCmpEq => ScmpCompareOp::Equal,
            ScmpCmpGe => ScmpCompareOp::GreaterEqual,
            ScmpCmpGt => ScmpCompareOp::Greater,
            // `value` is the mask, `valueTwo` what the masked argument must equal.
            ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(arg.value()),
        };
        let datum = match op {
            ScmpCompareOp::MaskedEqual(_) => arg.value_two().unwrap_or(0),
            _ => arg.value(),
        };
        conds.push((index, ScmpArgCompare::new(index as u32, op, datum)));
    }
    let mut seen = [false; 6];
    let repeated = conds
        .iter()
        .any(|(i, _)| std::mem::replace(&mut seen[*i], true));
    Ok(if repeated {
        conds.into_iter().map(|(_, c)| vec![c]).collect()
    } else {
        vec![conds.into_iter().map(|(_, c)| c).collect()]
    })
}

/// `flags`, checked against what this kernel takes, plus the flags the
/// filter itself needs (a listener for SCMP_ACT_NOTIFY).
fn filter_flags(s: &LinuxSeccomp, notify: bool, file: &str) -> Result<libc::c_ulong> {
    let mut flags = 0;
    if notify {
        flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
    }
    for (i, f) in s.flags().iter().flatten().enumerate() {
        use LinuxSeccompFilterFlag::*;
        let bit = match f {
            SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            SeccompFilterFlagWaitKillableRecv if !notify => continue, // only means something with a listener
            SeccompFilterFlagWaitKillableRecv => libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
        };
        let mut with = flags | bit;
        if with & libc::SECCOMP_FILTER_FLAG_TSYNC != 0 && notify {
            // TSYNC and a listener only go together with TSYNC_ESRCH.
            with |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
        if sys::seccomp_flags_supported(with) {
            flags = with;
        } else if bit == libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
            explain::warn(&format!(
                "{file}: linux.seccomp.flags[{i}]: this kernel lacks {}; notified calls stay interruptible by any signal",
                spec_name(f)
            ));
        } else {
            return Err(Error::config(
                file,
                format!(
                    "linux.seccomp.flags[{i}]: this kernel does not take {}",
                    spec_name(f)
                ),
            ));
        }
    }
    Ok(flags)
}

/// The filter as the kernel wants it: libseccomp writes the program to a
/// file (a memfd here) as an array of `struct sock_filter`.
fn export(ctx: &ScmpFilterContext) -> std::result::Result<Vec<libc::sock_filter>, String> {
    let fd =
        nix::sys::memfd::memfd_create(c"puncker-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .map_err(|e| format!("memfd_create: {e}"))?;
    ctx.export_bpf(fd.as_fd())
        .map_err(|e| format!("exporting the BPF program: {e}"))?;
    let mut f = std::fs::File::from(fd);
    let mut bytes = vec![];
    f.rewind()
        .and_then(|()| f.read_to_end(&mut bytes))
        .map_err(|e| format!("reading the BPF program back: {e}"))?;
    Ok(bytes
        .chunks_exact(8)
        .map(|b| libc::sock_filter {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect())
}

/// Install the filter on the calling process, then hand the notify fd (if
/// any) to the agent at `listenerPath` with the message [`Filter::for_process`]
/// prepared.
///
/// Once the filter is in, it judges every call that follows, the runtime's
/// included: so the step is narrated before it is taken, the message for
/// the agent is built before, and nothing after needs the heap.
pub fn load(f: &Filter) -> Result<()> {
    explain::note(
        "seccomp",
        format_args!(
            "(SECCOMP_SET_MODE_FILTER, {}) {} rules, {} BPF instructions",
            flag_names(f.flags),
            f.rules,
            f.program.len()
        ),
        "linux.seccomp: from now on the kernel checks every system call against the filter",
    );
    let notify_fd =
        sys::seccomp_set_filter(&f.program, f.flags).map_err(|errno| Error::Kernel {
            call: "seccomp".into(),
            target: format!("(SECCOMP_SET_MODE_FILTER, {})", flag_names(f.flags)),
            errno,
        })?;
    if let (Some(sock), Some(fd)) = (&f.listener, &notify_fd) {
        sys::send_with_fd(sock.as_fd(), &f.agent_message, fd.as_fd()).map_err(|errno| {
            Error::Kernel {
                call: "sendmsg".into(),
                target: format!(
                    "seccomp notify fd to linux.seccomp.listenerPath {}",
                    f.listener_path
                        .as_deref()
                        .unwrap_or(std::path::Path::new(""))
                        .display()
                ),
                errno,
            }
        })?;
    }
    if let Some(sock) = &f.listener {
        // One state per connection, then the agent sees end-of-file now,
        // not at execve (the socket is close-on-exec).
        let _ = nix::sys::socket::shutdown(sock.as_raw_fd(), nix::sys::socket::Shutdown::Both);
    }
    // The agent has its own copy; the container must not keep one.
    drop(notify_fd);
    Ok(())
}

fn flag_names(flags: libc::c_ulong) -> String {
    let names = [
        (libc::SECCOMP_FILTER_FLAG_TSYNC, "TSYNC"),
        (libc::SECCOMP_FILTER_FLAG_LOG, "LOG"),
        (libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW, "SPEC_ALLOW"),
        (libc::SECCOMP_FILTER_FLAG_NEW_LISTENER, "NEW_LISTENER"),
        (libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH, "TSYNC_ESRCH"),
        (
            libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
            "WAIT_KILLABLE_RECV",
        ),
    ];
    let set: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    if set.is_empty() {
        "0".into()
    } else {
        set.join("|")
    }
}

/// The `linux.seccomp` part of the `features` document: every action and
/// operator, the architectures the linked libseccomp knows, and the flags
/// this kernel takes.
pub fn features() -> serde_json::Value {
    const ARCHS: [&str; 23] = [
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_ARM",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_MIPS",
        "SCMP_ARCH_MIPS64",
        "SCMP_ARCH_MIPS64N32",
        "SCMP_ARCH_MIPSEL",
        "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32",
        "SCMP_ARCH_PPC",
        "SCMP_ARCH_PPC64",
        "SCMP_ARCH_PPC64LE",
        "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X",
        "SCMP_ARCH_PARISC",
        "SCMP_ARCH_PARISC64",
        "SCMP_ARCH_RISCV64",
        "SCMP_ARCH_LOONGARCH64",
        "SCMP_ARCH_M68K",
        "SCMP_ARCH_SH",
        "SCMP_ARCH_SHEB",
    ];
    let known = |name: &str| -> bool {
        let Ok(arch) = name.parse::<ScmpArch>() else {
            return false;
        };
        ScmpFilterContext::new(ScmpAction::Allow).is_ok_and(|mut ctx| {
            ctx.is_arch_present(arch).unwrap_or(false) || ctx.add_arch(arch).is_ok()
        })
    };
    let archs: Vec<&str> = ARCHS.into_iter().filter(|a| known(a)).collect();
    let flags = [
        ("SECCOMP_FILTER_FLAG_TSYNC", libc::SECCOMP_FILTER_FLAG_TSYNC),
        ("SECCOMP_FILTER_FLAG_LOG", libc::SECCOMP_FILTER_FLAG_LOG),
        (
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        ),
        (
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
            libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
        ),
    ];
    let supported: Vec<&str> = flags
        .iter()
        .filter(|(_, bits)| sys::seccomp_flags_supported(*bits))
        .map(|(name, _)| *name)
        .collect();
    serde_json::json!({
        "enabled": true,
        "actions": [
            "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
            "SCMP_ACT_TRAP"
        ],
        "operators": [
            "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
            "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
        ],
        "archs": archs,
        "knownFlags": flags.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        "supportedFlags": supported,
    })
}

/// When `config.json` does not parse, name the `linux.seccomp` field at
/// fault (serde only gives a line and column).
pub fn find_bad_field(seccomp: &serde_json::Value) -> Option<String> {
    use crate::config::{each_field_error as each, field_error as check};
    let at = |k: &str| seccomp.get(k);
    let p = "linux.seccomp";
    check::<LinuxSeccompAction>(at("defaultAction"), &format!("{p}.defaultAction"))
        .or_else(|| check::<Option<u32>>(at("defaultErrnoRet"), &format!("{p}.defaultErrnoRet")))
        .or_else(|| {
            each::<oci_spec::runtime::Arch>(at("architectures"), &format!("{p}.architectures"))
        })
        .or_else(|| each::<LinuxSeccompFilterFlag>(at("flags"), &format!("{p}.flags")))
        .or_else(|| check::<Option<String>>(at("listenerPath"), &format!("{p}.listenerPath")))
        .or_else(|| {
            check::<Option<String>>(at("listenerMetadata"), &format!("{p}.listenerMetadata"))
        })
        .or_else(|| {
            let calls = at("syscalls")?.as_array()?;
            calls.iter().enumerate().find_map(|(i, c)| {
                let p = format!("{p}.syscalls[{i}]");
                check::<Vec<String>>(c.get("names"), &format!("{p}.names"))
                    .or_else(|| {
                        check::<LinuxSeccompAction>(c.get("action"), &format!("{p}.action"))
                    })
                    .or_else(|| check::<Option<u32>>(c.get("errnoRet"), &format!("{p}.errnoRet")))
                    .or_else(|| {
                        let args = c.get("args")?.as_array()?;
                        args.iter().enumerate().find_map(|(k, a)| {
                            let p = format!("{p}.args[{k}]");
                            check::<usize>(a.get("index"), &format!("{p}.index"))
                                .or_else(|| check::<u64>(a.get("value"), &format!("{p}.value")))
                                .or_else(|| {
                                    check::<Option<u64>>(
                                        a.get("valueTwo"),
                                        &format!("{p}.valueTwo"),
                                    )
                                })
                                .or_else(|| {
                                    check::<LinuxSeccompOperator>(a.get("op"), &format!("{p}.op"))
                                })
                        })
                    })
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(json).expect("valid linux.seccomp")
    }

    #[test]
    fn compiles_rules_and_skips_unknown_names() {
        let s = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["read", "write", "no_such_call_anywhere"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
            ]
        }));
        let f = compile(&s, "config.json").expect("compiles");
        assert_eq!(f.rules, 5);
        assert!(!f.program.is_empty());
        assert!(!f.notifies());
    }

    #[test]
    fn errno_on_an_action_without_one_names_the_field() {
        let s = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["rmdir"], "action": "SCMP_ACT_KILL", "errnoRet": 5}
            ]
        }));
        let e = compile(&s, "config.json").err().expect("fails").to_string();
        assert!(e.contains("linux.seccomp.syscalls[1].errnoRet"), "{e}");
    }

    #[test]
    fn argument_index_out_of_range_names_the_field() {
        let s = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]
        }));
        let e = compile(&s, "config.json").err().expect("fails").to_string();
        assert!(e.contains("linux.seccomp.syscalls[0].args[0].index"), "{e}");
    }

    #[test]
    fn notify_needs_a_listener_and_cannot_be_default() {
        let s = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        }));
        let e = compile(&s, "c").err().expect("fails").to_string();
        assert!(e.contains("linux.seccomp.listenerPath"), "{e}");
        let s = parse(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
        let e = compile(&s, "c").err().expect("fails").to_string();
        assert!(e.contains("linux.seccomp.defaultAction"), "{e}");
    }

    #[test]
    fn repeated_argument_becomes_alternatives() {
        let s = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                         {"index": 0, "value": 131072, "op": "SCMP_CMP_EQ"}]}]
        }));
        let f = compile(&s, "c").expect("compiles");
        assert_eq!(f.rules, 2);
    }

    #[test]
    fn bad_raw_fields_are_named() {
        let v = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["b"], "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_WHATEVER"}]}]
        });
        let e = find_bad_field(&v).expect("found");
        assert!(e.starts_with("linux.seccomp.syscalls[1].args[0].op"), "{e}");
        let v = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"]});
        let e = find_bad_field(&v).expect("found");
        assert!(e.starts_with("linux.seccomp.architectures[1]"), "{e}");
    }
}
