//! Resource limits (`setrlimit(2)`): per-process ceilings such as open
//! files or processes, from `process.rlimits`. They are inherited across
//! `execve`, so the init sets them on itself. Raising a hard limit above
//! the runtime's own needs CAP_SYS_RESOURCE; without it the kernel says
//! EPERM, and the error names the limit.

use crate::error::Result;
use crate::explain;
use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

fn resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

pub fn set_rlimits(limits: &[PosixRlimit]) -> Result<()> {
    for l in limits {
        let res = resource(l.typ());
        let lim = libc::rlimit {
            rlim_cur: l.soft(),
            rlim_max: l.hard(),
        };
        explain::kernel(
            "setrlimit",
            format_args!("({:?}, soft {}, hard {})", l.typ(), l.soft(), l.hard()),
            "a ceiling the container's process and its children inherit",
            || crate::sys::setrlimit(res, &lim),
        )?;
    }
    Ok(())
}
