//! `events`: what the container's cgroup counts, once (`--stats`) or as a
//! stream, one JSON object a line: a `stats` event every `--interval`, and
//! an `oom` event as soon as the kernel's OOM killer kills a process in the
//! container. The stream ends when the container stops.

use crate::cgroups::stats;
use crate::error::{Error, Result};
use crate::state::{Status, Store};
use serde_json::json;
use std::io::Write;
use std::time::{Duration, Instant};

/// OOM kills are looked for this often, whatever the stats interval.
const OOM_POLL: Duration = Duration::from_millis(100);

pub fn events(store: &Store, id: &str, once: bool, interval: Duration) -> Result<()> {
    let c = store.read(id)?;
    if matches!(c.status(), Status::Stopped) {
        return Err(Error::container(id, "is stopped: it has no events"));
    }
    let cg = c.record.cgroup.clone();
    let stats_event = || json!({"type": "stats", "id": id, "data": stats::snapshot(&cg)});
    let mut out = std::io::stdout().lock();
    let mut emit = |v: serde_json::Value| -> Result<()> {
        writeln!(out, "{v}")
            .and_then(|()| out.flush())
            .map_err(|e| Error::Other(format!("events: writing to stdout: {e}")))
    };
    if once {
        return emit(stats_event());
    }
    drop(c); // the record is not held while streaming
    let mut ooms = stats::oom_kills(&cg);
    let mut next_stats = Instant::now();
    loop {
        let alive = store
            .read(id)
            .map(|c| c.status() != Status::Stopped)
            .unwrap_or(false);
        let now_ooms = stats::oom_kills(&cg);
        if now_ooms > ooms {
            emit(json!({"type": "oom", "id": id}))?;
            ooms = now_ooms;
        }
        if !alive {
            return Ok(());
        }
        if Instant::now() >= next_stats {
            emit(stats_event())?;
            next_stats = Instant::now() + interval;
        }
        std::thread::sleep(OOM_POLL.min(interval));
    }
}

/// `--interval` as runc takes it: a number with ms, s, m or h (e.g. 5s).
pub fn parse_interval(v: &str) -> Result<Duration> {
    let v = v.trim();
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| Error::Usage(format!("--interval {v}: not a duration (e.g. 5s, 500ms)")))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(Error::Usage(format!(
                "--interval {v}: unknown unit {unit:?} (ms, s, m, h)"
            )))
        }
    };
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(Error::Usage(format!(
            "--interval {v}: must be more than zero"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}
