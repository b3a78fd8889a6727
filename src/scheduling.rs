//! Scheduling: when, how urgently and where the container's process runs.
//!
//! Three settings of `process`, each a property the kernel keeps per task
//! and copies to every child and across `execve`:
//!
//! - `scheduler`: the CPU scheduling policy (`sched_setattr(2)`). Normal
//!   tasks run under SCHED_OTHER (weighted by `nice`), SCHED_BATCH or
//!   SCHED_IDLE; real-time ones under SCHED_FIFO or SCHED_RR (by
//!   `priority`, 1 to 99) or SCHED_DEADLINE (`runtime` nanoseconds in every
//!   `period`, done by `deadline`). Raising urgency needs CAP_SYS_NICE.
//! - `ioPriority`: the I/O scheduling class (real-time, best-effort or
//!   idle) and level 0 (first) to 7 (last), with `ioprio_set(2)`.
//! - `execCPUAffinity`: the CPUs a process `exec`'d into the container runs
//!   on (`sched_setaffinity(2)`): `initial` as soon as it exists, `final`
//!   once it is in the container's cgroup. The spec leaves the init alone.
//!
//! The values are checked in `create` (or `exec`), so a bad one fails before
//! anything runs; the process sets them on itself while it still holds the
//! capabilities they may need, just before it drops them.

use crate::error::{Error, Result};
use crate::explain;
use crate::sys;
use oci_spec::runtime::{
    IOPriorityClass, LinuxSchedulerFlag, LinuxSchedulerPolicy, Process, Scheduler,
};

/// Check `process.scheduler`, `process.ioPriority` and
/// `process.execCPUAffinity` without applying them.
pub fn check(process: &Process, file: &str) -> Result<()> {
    let bad = |field: &str, msg: String| Error::config(file, format!("{field}: {msg}"));
    if let Some(io) = process.io_priority() {
        if !(0..=7).contains(&io.priority()) {
            return Err(bad(
                "process.ioPriority.priority",
                format!("{} is out of range: 0 (first) to 7 (last)", io.priority()),
            ));
        }
    }
    if let Some(s) = process.scheduler() {
        attr(s).map_err(|(field, msg)| bad(&field, msg))?;
    }
    if let Some(a) = process.exec_cpu_affinity() {
        for (field, list) in [
            ("process.execCPUAffinity.initial", a.initial()),
            ("process.execCPUAffinity.final", a.cpu_affinity_final()),
        ] {
            if let Some(list) = list {
                cpu_set(list).map_err(|msg| bad(field, msg))?;
            }
        }
    }
    Ok(())
}

/// Apply `process.scheduler` and `process.ioPriority` to the calling process.
pub fn apply(process: &Process) -> Result<()> {
    if let Some(s) = process.scheduler() {
        let a = attr(s)
            .map_err(|(field, msg)| Error::config("config.json", format!("{field}: {msg}")))?;
        explain::kernel(
            "sched_setattr",
            format_args!(
                "({:?}, nice {}, priority {}, flags {:#x})",
                s.policy(),
                a.sched_nice,
                a.sched_priority,
                a.sched_flags
            ),
            "process.scheduler: the CPU scheduling policy the program starts with",
            || sys::sched_setattr(&a),
        )?;
    }
    if let Some(io) = process.io_priority() {
        // include/uapi/linux/ioprio.h: the class in the top three of 16 bits.
        let class = match io.class() {
            IOPriorityClass::IoprioClassRt => 1,
            IOPriorityClass::IoprioClassBe => 2,
            IOPriorityClass::IoprioClassIdle => 3,
        };
        let value = (class << 13) | io.priority() as i32;
        explain::kernel(
            "ioprio_set",
            format_args!(
                "(IOPRIO_WHO_PROCESS, self, {:?} level {})",
                io.class(),
                io.priority()
            ),
            "process.ioPriority: how the block layer orders this process's I/O",
            || sys::ioprio_set_self(value),
        )?;
    }
    Ok(())
}

/// `execCPUAffinity.initial`, for a process just cloned by `exec`.
pub fn set_initial_affinity(process: &Process) -> Result<()> {
    let Some(list) = process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().clone())
    else {
        return Ok(());
    };
    set_affinity(&list, "process.execCPUAffinity.initial: where the new process runs until it is in the container's cgroup")
}

/// `execCPUAffinity.final`, once the process is in the container's cgroup.
/// Without it, a process that had an `initial` set gets every CPU back: the
/// cgroup's cpuset then decides.
pub fn set_final_affinity(process: &Process) -> Result<()> {
    let Some(a) = process.exec_cpu_affinity() else {
        return Ok(());
    };
    match (a.cpu_affinity_final(), a.initial()) {
        (Some(list), _) if !list.is_empty() => set_affinity(
            list,
            "process.execCPUAffinity.final: where the process runs from now on",
        ),
        (_, Some(_)) => {
            let all = format!("0-{}", nix::sched::CpuSet::count() - 1);
            set_affinity(
                &all,
                "no execCPUAffinity.final: the cgroup's cpuset decides again",
            )
        }
        _ => Ok(()),
    }
}

fn set_affinity(list: &str, why: &str) -> Result<()> {
    let set = cpu_set(list).map_err(|m| Error::Other(format!("execCPUAffinity {list:?}: {m}")))?;
    explain::kernel(
        "sched_setaffinity",
        format_args!("(self, CPUs {list})"),
        why,
        || nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set),
    )
}

/// The kernel's `struct sched_attr` for a `process.scheduler`, or the
/// field at fault and why.
fn attr(s: &Scheduler) -> std::result::Result<libc::sched_attr, (String, String)> {
    use LinuxSchedulerPolicy::*;
    let field = |f: &str| format!("process.scheduler.{f}");
    let policy = match s.policy() {
        SchedOther => libc::SCHED_OTHER,
        SchedFifo => libc::SCHED_FIFO,
        SchedRr => libc::SCHED_RR,
        SchedBatch => libc::SCHED_BATCH,
        SchedIdle => libc::SCHED_IDLE,
        SchedDeadline => 6, // SCHED_DEADLINE
        SchedIso => {
            return Err((
                field("policy"),
                "SCHED_ISO is reserved but not implemented by Linux".into(),
            ))
        }
    };
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err((field("nice"), format!("{nice} is out of range: -20 to 19")));
    }
    let priority = s.priority().unwrap_or(0);
    let realtime = matches!(s.policy(), SchedFifo | SchedRr);
    if realtime && !(1..=99).contains(&priority) {
        return Err((
            field("priority"),
            format!("{priority}: SCHED_FIFO and SCHED_RR take 1 to 99"),
        ));
    }
    if !realtime && priority != 0 {
        return Err((
            field("priority"),
            format!("{priority}: only SCHED_FIFO and SCHED_RR take a priority; it must be 0"),
        ));
    }
    let mut flags = 0u64;
    for (i, f) in s.flags().iter().flatten().enumerate() {
        use LinuxSchedulerFlag::*;
        flags |= match f {
            SchedResetOnFork => libc::SCHED_FLAG_RESET_ON_FORK,
            SchedFlagReclaim => libc::SCHED_FLAG_RECLAIM,
            SchedFlagDLOverrun => libc::SCHED_FLAG_DL_OVERRUN,
            SchedFlagKeepPolicy => libc::SCHED_FLAG_KEEP_POLICY,
            SchedFlagKeepParams => libc::SCHED_FLAG_KEEP_PARAMS,
            SchedFlagUtilClampMin | SchedFlagUtilClampMax => {
                return Err((
                    format!("process.scheduler.flags[{i}]"),
                    "utilization clamping needs clamp values, which the spec has no field for"
                        .into(),
                ))
            }
        } as u64;
    }
    Ok(libc::sched_attr {
        size: std::mem::size_of::<libc::sched_attr>() as u32,
        sched_policy: policy as u32,
        sched_flags: flags,
        sched_nice: nice,
        sched_priority: priority as u32,
        sched_runtime: s.runtime().unwrap_or(0),
        sched_deadline: s.deadline().unwrap_or(0),
        sched_period: s.period().unwrap_or(0),
    })
}

/// A CPU list such as "0-3,7" as the kernel's CPU set.
fn cpu_set(list: &str) -> std::result::Result<nix::sched::CpuSet, String> {
    let mut set = nix::sched::CpuSet::new();
    for part in list.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let parse = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("{part:?} is not a CPU number or range"))
        };
        let (lo, hi) = (parse(lo)?, parse(hi)?);
        if lo > hi {
            return Err(format!("{part:?}: the range runs backwards"));
        }
        for cpu in lo..=hi {
            set.set(cpu).map_err(|_| {
                format!(
                    "CPU {cpu} is beyond the {} this runtime can name",
                    nix::sched::CpuSet::count()
                )
            })?;
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(extra: serde_json::Value) -> Process {
        let mut p = serde_json::json!({"cwd": "/", "args": ["true"], "user": {"uid": 0, "gid": 0}});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        serde_json::from_value(p).expect("valid process")
    }

    #[test]
    fn cpu_lists() {
        let s = cpu_set("0-2,5").unwrap();
        assert!(s.is_set(0).unwrap() && s.is_set(2).unwrap() && s.is_set(5).unwrap());
        assert!(!s.is_set(3).unwrap());
        assert!(cpu_set("3-1").is_err());
        assert!(cpu_set("99999").is_err());
    }

    #[test]
    fn bad_values_name_the_field() {
        let cases = [
            (
                serde_json::json!({"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 9}}),
                "process.ioPriority.priority",
            ),
            (
                serde_json::json!({"scheduler": {"policy": "SCHED_FIFO", "priority": 0}}),
                "process.scheduler.priority",
            ),
            (
                serde_json::json!({"scheduler": {"policy": "SCHED_OTHER", "nice": 40}}),
                "process.scheduler.nice",
            ),
            (
                serde_json::json!({"scheduler": {"policy": "SCHED_ISO"}}),
                "process.scheduler.policy",
            ),
            (
                serde_json::json!({"execCPUAffinity": {"initial": "0", "final": "4-2"}}),
                "process.execCPUAffinity.final",
            ),
        ];
        for (extra, field) in cases {
            let e = check(&process(extra), "c").expect_err("fails").to_string();
            assert!(e.contains(field), "{e}");
        }
    }
}
