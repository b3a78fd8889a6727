//! `events`: the container's cgroup counts as JSON lines, once with
//! `--stats` or streamed, with an `oom` event when the OOM killer strikes.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

const HOG: &str = "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo survived ${#x}";

fn limited(name: &str, args: &[&str]) -> Container {
    let mut c = Container::with_args(name, args);
    c.spec
        .linux_extra
        .push(format!("\"cgroupsPath\":\"/pkev-{}\"", c.id));
    c.spec.device_cgroup_deny_all = false;
    c.spec
        .linux_extra
        .push("\"resources\":{\"memory\":{\"limit\":33554432},\"pids\":{\"limit\":40}}".into());
    c
}

#[test]
fn events_stats_reports_the_cgroups_counts() {
    let c = limited("ev_stats", &["sh", "-c", "sleep 1000 & sleep 1000 & wait"]);
    c.create_and_start();
    assert!(wait_until(SHORT, || c
        .rt(&["ps", "--format", "json", &c.id])
        .stdout
        .matches(',')
        .count()
        >= 2));
    let o = c.rt(&["events", "--stats", &c.id]);
    o.assert_ok();
    let line = o.stdout.trim();
    assert_eq!(line.lines().count(), 1, "one JSON line: {line}");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], c.id.as_str());
    assert_eq!(v["data"]["memory"]["usage"]["limit"], 33554432, "{v}");
    assert!(
        v["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert_eq!(v["data"]["pids"]["current"], 3, "{v}");
    assert_eq!(v["data"]["pids"]["limit"], 40, "{v}");
    assert!(
        v["data"]["cpu"]["usage"]["total"].as_u64().unwrap() > 0,
        "{v}"
    );
}

#[test]
fn events_streams_stats_and_an_oom_event_then_ends_with_the_container() {
    let script = format!("sleep 0.5; ({HOG}); sleep 1");
    let c = limited("ev_oom", &["sh", "-c", &script]);
    c.create_and_start();
    let (mut cmd, _, _) = c.command(&["events", "--interval", "200ms", &c.id]);
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(|l| l.ok())
        .collect();
    let start = Instant::now();
    let status = child.wait().unwrap();
    assert!(status.success(), "events exited {status:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(
        kinds.iter().filter(|k| **k == "stats").count() >= 3,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "oom").count(),
        1,
        "{kinds:?}"
    );
}

#[test]
fn events_of_an_unknown_or_stopped_container_fails_clearly() {
    let c = Container::with_args("ev_stopped", &["true"]);
    c.create_and_start();
    c.wait_status("stopped", SHORT);
    let o = c.rt(&["events", "--stats", &c.id]);
    assert!(
        !o.ok() && o.stderr.contains("ev_stopped") && o.stderr.contains("stopped"),
        "{}",
        o.describe()
    );
    let o = c.rt(&["events", "--interval", "soon", &c.id]);
    assert!(
        !o.ok() && o.stderr.contains("--interval soon"),
        "{}",
        o.describe()
    );
}
