//! `linux.personality`: the process's execution domain (`personality(2)`).
//!
//! A personality changes how the kernel presents itself to a program; the
//! spec supports two: LINUX, the default, and LINUX32, under which `uname`
//! reports a 32-bit machine (`i686` on x86_64) so 32-bit build tools behave.
//! It is inherited across `fork` and `execve`, so the init sets it once.

use crate::error::{Error, Result};
use crate::explain;
use oci_spec::runtime::{Linux, LinuxPersonalityDomain};

/// Check `linux.personality` before anything is made.
pub fn check(linux: &Linux, file: &str) -> Result<()> {
    match linux
        .personality()
        .as_ref()
        .and_then(|p| p.flags().as_ref())
    {
        Some(flags) if !flags.is_empty() => Err(Error::config(
            file,
            format!("linux.personality.flags: {flags:?}: the spec defines no flags yet"),
        )),
        _ => Ok(()),
    }
}

pub fn apply(linux: &Linux) -> Result<()> {
    let Some(p) = linux.personality() else {
        return Ok(());
    };
    let (persona, name) = match p.domain() {
        LinuxPersonalityDomain::PerLinux => (0x0000, "PER_LINUX"),
        LinuxPersonalityDomain::PerLinux32 => (0x0008, "PER_LINUX32"),
    };
    explain::kernel(
        "personality",
        format_args!("({name})"),
        "linux.personality: the execution domain the program sees",
        || crate::sys::personality(persona),
    )
}
