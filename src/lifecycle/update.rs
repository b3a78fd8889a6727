//! `update`: change a running container's limits.
//!
//! The limits live in the container's cgroup files, so updating them is
//! writing those files again, with the same writers `create` used. The
//! new values come as a JSON `linux.resources` object (`--resources FILE`,
//! or `-` for standard input, as containerd sends it) and as runc's
//! flags, which win over the file. The record keeps the merged resources,
//! so `state` and the next `update` start from what is in force.

use crate::cgroups;
use crate::error::{Error, Result};
use crate::state::{Status, Store};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

/// runc's `update` flags; each sets one field of `linux.resources`.
/// Sizes take k, m, g or t suffixes; -1 is "no limit".
#[derive(clap::Args, Default)]
pub struct Flags {
    /// A JSON linux.resources object, from FILE or - (standard input)
    #[arg(short, long)]
    pub resources: Option<String>,
    /// Block IO weight (10 to 1000)
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period, in microseconds
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota per period, in microseconds (-1: none)
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS burst, in microseconds
    #[arg(long = "cpu-burst")]
    pub cpu_burst: Option<u64>,
    /// Real-time period, in microseconds (cgroup v1)
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// Real-time runtime per period, in microseconds (cgroup v1)
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    /// SCHED_IDLE for the cgroup (1) or not (0)
    #[arg(long = "cpu-idle")]
    pub cpu_idle: Option<i64>,
    /// CPUs the container may use, e.g. 0-2,4
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short, long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of processes (-1: none)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
}

pub fn update(store: &Store, id: &str, f: &Flags) -> Result<()> {
    let mut c = store.lock(id)?;
    match c.status() {
        Status::Running | Status::Created | Status::Paused => {}
        s => {
            return Err(Error::container(
                id,
                format!("cannot be updated: it is {}", s.as_str()),
            ))
        }
    }
    let (mut r, source) = match f.resources.as_deref() {
        Some(path) => (read_resources(path)?, format!("--resources {path}")),
        None => (LinuxResources::default(), "update flags".to_string()),
    };
    apply_flags(&mut r, f)?;

    let old = c
        .record
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    if let Some(m) = r.memory() {
        if m.check_before_update() == Some(true) {
            cgroups::check_memory_fits(&c.record.cgroup, m, &source)?;
        }
    }
    cgroups::update(&c.record.cgroup, &r, &old, &source)?;

    // Keep what is now in force: the old resources with the new fields over them.
    let merged = merge(old, r);
    if let Some(linux) = c.record.config.linux_mut() {
        linux.set_resources(Some(merged));
    }
    c.save()
}

fn read_resources(path: &str) -> Result<LinuxResources> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| Error::Other(format!("--resources -: reading standard input: {e}")))?
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| Error::Other(format!("--resources {path}: {e}")))?
    };
    serde_json::from_str(&text).map_err(|e| {
        Error::config(
            format!("--resources {path}"),
            format!("not a linux.resources object: {e}"),
        )
    })
}

/// A size as runc's flags take it: bytes, or with a k, m, g or t suffix
/// (powers of 1024); -1 for no limit.
fn parse_size(flag: &str, v: &str) -> Result<i64> {
    let s = v.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'k')) => (&s[..i], 1i64 << 10),
        Some((i, 'm')) => (&s[..i], 1 << 20),
        Some((i, 'g')) => (&s[..i], 1 << 30),
        Some((i, 't')) => (&s[..i], 1 << 40),
        _ => (s, 1),
    };
    match num.trim().parse::<i64>() {
        Ok(-1) => Ok(-1),
        Ok(n) if n >= 0 => n
            .checked_mul(mult)
            .ok_or_else(|| Error::Usage(format!("{flag} {v}: too large"))),
        _ => Err(Error::Usage(format!(
            "{flag} {v}: not a size (bytes, or a number with k, m, g or t; -1 for no limit)"
        ))),
    }
}

fn apply_flags(r: &mut LinuxResources, f: &Flags) -> Result<()> {
    let size = |v: &Option<String>, flag| v.as_deref().map(|v| parse_size(flag, v)).transpose();
    let limit = size(&f.memory, "--memory")?;
    let reservation = size(&f.memory_reservation, "--memory-reservation")?;
    let swap = size(&f.memory_swap, "--memory-swap")?;
    if limit.is_some() || reservation.is_some() || swap.is_some() {
        let mut mem: LinuxMemory = (*r.memory()).unwrap_or_default();
        if limit.is_some() {
            mem.set_limit(limit);
        }
        if reservation.is_some() {
            mem.set_reservation(reservation);
        }
        if swap.is_some() {
            mem.set_swap(swap);
        }
        r.set_memory(Some(mem));
    }

    let mut cpu: LinuxCpu = r.cpu().clone().unwrap_or_default();
    let before = cpu.clone();
    if let Some(v) = f.cpu_share {
        cpu.set_shares(Some(v));
    }
    if let Some(v) = f.cpu_quota {
        cpu.set_quota(Some(v));
    }
    if let Some(v) = f.cpu_period {
        cpu.set_period(Some(v));
    }
    if let Some(v) = f.cpu_burst {
        cpu.set_burst(Some(v));
    }
    if let Some(v) = f.cpu_rt_period {
        cpu.set_realtime_period(Some(v));
    }
    if let Some(v) = f.cpu_rt_runtime {
        cpu.set_realtime_runtime(Some(v));
    }
    if let Some(v) = f.cpu_idle {
        cpu.set_idle(Some(v));
    }
    if let Some(v) = &f.cpuset_cpus {
        cpu.set_cpus(Some(v.clone()));
    }
    if let Some(v) = &f.cpuset_mems {
        cpu.set_mems(Some(v.clone()));
    }
    if cpu != before || r.cpu().is_some() {
        r.set_cpu(Some(cpu));
    }
    if let Some(v) = f.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(v);
        r.set_pids(Some(p));
    }
    if let Some(v) = f.blkio_weight {
        let mut b: LinuxBlockIo = r.block_io().clone().unwrap_or_default();
        b.set_weight(Some(v));
        r.set_block_io(Some(b));
    }
    Ok(())
}

/// The old resources with every field the update set replaced.
fn merge(mut old: LinuxResources, new: LinuxResources) -> LinuxResources {
    macro_rules! take {
        ($get:ident, $set:ident) => {
            if new.$get().is_some() {
                old.$set(new.$get().clone());
            }
        };
    }
    take!(memory, set_memory);
    take!(cpu, set_cpu);
    take!(pids, set_pids);
    take!(block_io, set_block_io);
    take!(hugepage_limits, set_hugepage_limits);
    take!(network, set_network);
    take!(rdma, set_rdma);
    take!(unified, set_unified);
    take!(devices, set_devices);
    old
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_runc_suffixes() {
        assert_eq!(parse_size("--memory", "512").ok(), Some(512));
        assert_eq!(parse_size("--memory", "64m").ok(), Some(64 << 20));
        assert_eq!(parse_size("--memory", "1G").ok(), Some(1 << 30));
        assert_eq!(parse_size("--memory", "2kb").ok(), Some(2048));
        assert_eq!(parse_size("--memory", "-1").ok(), Some(-1));
        assert!(parse_size("--memory", "-5").is_err());
        assert!(parse_size("--memory", "lots").is_err());
    }
}
