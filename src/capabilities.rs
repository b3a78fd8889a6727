//! Capabilities: root's powers, split into about forty pieces.
//!
//! A process has five capability sets. The *bounding* set caps what it can
//! ever gain; *permitted* is what it may use; *effective* is what is in
//! force now; *inheritable* and *ambient* decide what survives `execve`.
//! The spec's `process.capabilities` lists each set by name. The init drops
//! every capability outside the bounding set (`PR_CAPBSET_DROP`), keeps its
//! capabilities across the change to `process.user` (`PR_SET_KEEPCAPS`),
//! then sets the three classic sets with `capset` and raises the ambient
//! ones. Names this kernel does not know are skipped with a warning.

use crate::error::Result;
use crate::explain;
use crate::sys::{self, CapSets};
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

/// The kernel's number for a capability (include/uapi/linux/capability.h).
fn number(cap: Capability) -> u32 {
    use Capability::*;
    match cap {
        Chown => 0,
        DacOverride => 1,
        DacReadSearch => 2,
        Fowner => 3,
        Fsetid => 4,
        Kill => 5,
        Setgid => 6,
        Setuid => 7,
        Setpcap => 8,
        LinuxImmutable => 9,
        NetBindService => 10,
        NetBroadcast => 11,
        NetAdmin => 12,
        NetRaw => 13,
        IpcLock => 14,
        IpcOwner => 15,
        SysModule => 16,
        SysRawio => 17,
        SysChroot => 18,
        SysPtrace => 19,
        SysPacct => 20,
        SysAdmin => 21,
        SysBoot => 22,
        SysNice => 23,
        SysResource => 24,
        SysTime => 25,
        SysTtyConfig => 26,
        Mknod => 27,
        Lease => 28,
        AuditWrite => 29,
        AuditControl => 30,
        Setfcap => 31,
        MacOverride => 32,
        MacAdmin => 33,
        Syslog => 34,
        WakeAlarm => 35,
        BlockSuspend => 36,
        AuditRead => 37,
        Perfmon => 38,
        Bpf => 39,
        CheckpointRestore => 40,
    }
}

/// The highest capability number this kernel knows.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// A set as a bit mask, warning once for each name the kernel lacks.
fn mask(set: &Option<Capabilities>, last: u32, which: &str) -> u64 {
    let mut bits = 0u64;
    for cap in set.iter().flatten() {
        let n = number(*cap);
        if n > last {
            explain::warn(&format!(
                "process.capabilities.{which}: CAP_{cap} is unknown to this kernel; skipped"
            ));
            continue;
        }
        bits |= 1 << n;
    }
    bits
}

/// The five sets, resolved against this kernel.
#[derive(Clone, Copy)]
pub struct Resolved {
    bounding: u64,
    sets: CapSets,
    ambient: u64,
    last: u32,
}

const CAP_SYS_ADMIN: u64 = 1 << 21;

impl Resolved {
    /// Whether the process keeps CAP_SYS_ADMIN in force.
    pub fn has_sys_admin(&self) -> bool {
        self.sets.effective & CAP_SYS_ADMIN != 0
    }

    /// The same sets, with CAP_SYS_ADMIN also permitted and effective: held
    /// for the moment the init loads a seccomp filter without no_new_privs.
    pub fn holding_sys_admin(&self) -> Resolved {
        let mut r = *self;
        r.sets.permitted |= CAP_SYS_ADMIN;
        r.sets.effective |= CAP_SYS_ADMIN;
        r
    }
}

pub fn resolve(caps: Option<&LinuxCapabilities>) -> Resolved {
    let last = last_cap();
    let Some(c) = caps else {
        // No capabilities object: the process gets none.
        return Resolved {
            bounding: 0,
            sets: CapSets::default(),
            ambient: 0,
            last,
        };
    };
    Resolved {
        bounding: mask(c.bounding(), last, "bounding"),
        sets: CapSets {
            effective: mask(c.effective(), last, "effective"),
            permitted: mask(c.permitted(), last, "permitted"),
            inheritable: mask(c.inheritable(), last, "inheritable"),
        },
        ambient: mask(c.ambient(), last, "ambient"),
        last,
    }
}

/// Drop every capability outside the bounding set; after `execve` nothing
/// outside it can come back, not even through a setuid binary.
pub fn drop_bounding_set(r: &Resolved) -> Result<()> {
    let t0 = std::time::Instant::now();
    for cap in 0..=r.last {
        if r.bounding & (1 << cap) == 0 {
            sys::prctl(libc::PR_CAPBSET_DROP, cap.into(), 0).map_err(|errno| {
                crate::error::Error::Kernel {
                    call: "prctl(PR_CAPBSET_DROP)".into(),
                    target: format!("capability {cap}"),
                    errno,
                }
            })?;
        }
    }
    if explain::enabled() {
        explain::record(
            "prctl(PR_CAPBSET_DROP)",
            format_args!("bounding set now {:#x}", r.bounding),
            "capabilities outside process.capabilities.bounding can never be regained",
            t0.elapsed(),
            None,
        );
    }
    Ok(())
}

/// Keep the permitted set across the coming uid change.
pub fn keep_across_user_switch() -> Result<()> {
    explain::kernel(
        "prctl",
        format_args!("(PR_SET_KEEPCAPS, 1)"),
        "without it, leaving uid 0 would empty the permitted set",
        || sys::prctl(libc::PR_SET_KEEPCAPS, 1, 0).map(drop),
    )
}

/// Set effective, permitted and inheritable, then raise the ambient set.
pub fn apply_sets(r: &Resolved) -> Result<()> {
    capset(
        r,
        "the capabilities process.capabilities grants, and no others",
    )?;
    // The kernel raises an ambient capability only if it is both permitted
    // and inheritable; runc's default spec lists ambient ones without
    // inheritable, and runtimes leave those out rather than fail.
    let raisable = r.ambient & r.sets.permitted & r.sets.inheritable;
    if raisable != r.ambient {
        explain::note(
            "capabilities",
            format_args!("ambient {:#x} -> {:#x}", r.ambient, raisable),
            "ambient capabilities that are not also permitted and inheritable are left out",
        );
    }
    if raisable != 0 {
        for cap in 0..=r.last {
            if raisable & (1 << cap) != 0 {
                explain::kernel(
                    "prctl(PR_CAP_AMBIENT_RAISE)",
                    format_args!("capability {cap}"),
                    "ambient capabilities survive execve of a non-root program",
                    || {
                        sys::prctl(
                            libc::PR_CAP_AMBIENT,
                            libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                            cap.into(),
                        )
                        .map(drop)
                    },
                )?;
            }
        }
    }
    Ok(())
}

/// Give up the CAP_SYS_ADMIN held to load the seccomp filter: the final
/// sets, exactly as process.capabilities gives them.
pub fn release_sys_admin(r: &Resolved) -> Result<()> {
    capset(
        r,
        "CAP_SYS_ADMIN was held only to load the seccomp filter; now it goes",
    )
}

/// `capset(2)` with the three resolved sets.
fn capset(r: &Resolved, why: &str) -> Result<()> {
    let s = r.sets;
    explain::kernel(
        "capset",
        format_args!(
            "(effective {:#x}, permitted {:#x}, inheritable {:#x})",
            s.effective, s.permitted, s.inheritable
        ),
        why,
        || sys::capset(s),
    )
}
