//! `--explain` narrates the kernel steps in the order they happen, the
//! `--debug` log holds the same steps, and neither touches the container's
//! stdio.
//!
//! The narration is parsed as the two-line records `explain.rs` writes:
//!
//! ```text
//! [   1.234ms] runtime | clone (NEWPID ...) = pid 42  (600.1µs)
//!                       |   why: the container's init is born inside its new namespaces
//! ```
//!
//! and the JSON log as one object per line with `level`, `msg` and `time`,
//! where a step is `msg = "<actor> <call> <target>: <why>"` at level
//! `debug`.

mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::process::Command;

/// One narrated step.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    /// `runtime`, `init` or `exec`.
    actor: String,
    /// The call and its target (and ` -> ERRNO` on failure), as printed.
    what: String,
    why: String,
}

impl Step {
    fn is(&self, actor: &str, prefix: &str) -> bool {
        self.actor == actor && self.what.starts_with(prefix)
    }

    /// The `--debug` log line the same record makes.
    fn log_msg(&self) -> String {
        format!("{} {}: {}", self.actor, self.what, self.why)
    }
}

/// Parse the narration; panics on any line that is not part of a record.
fn parse_narration(text: &str) -> Vec<Step> {
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len().is_multiple_of(2),
        "narration has an odd number of lines:\n{text}"
    );
    lines
        .chunks(2)
        .map(|pair| {
            let (head, why) = (pair[0], pair[1]);
            let rest = head
                .strip_prefix('[')
                .and_then(|r| r.split_once("ms] "))
                .map(|(_, r)| r)
                .unwrap_or_else(|| panic!("not a step line: {head:?}"));
            let (actor, rest) = rest
                .split_once(" | ")
                .unwrap_or_else(|| panic!("no actor in {head:?}"));
            // The call's duration closes the line: "  (12.3µs)".
            let what = rest
                .rfind("  (")
                .filter(|_| rest.ends_with("µs)"))
                .map(|i| &rest[..i])
                .unwrap_or_else(|| panic!("no duration in {head:?}"));
            let why = why
                .split_once("|   why: ")
                .map(|(_, w)| w)
                .unwrap_or_else(|| panic!("no why line after {head:?}: {why:?}"));
            Step {
                actor: actor.trim().to_string(),
                what: what.to_string(),
                why: why.to_string(),
            }
        })
        .collect()
}

/// The `msg` of every `debug` entry of a JSON log, checking each line's shape.
fn parse_json_log(text: &str) -> Vec<String> {
    let mut msgs = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not one JSON object ({e}): {line:?}"));
        let obj = v
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {line}"));
        for key in ["level", "msg", "time"] {
            assert!(
                obj.get(key).is_some_and(|x| x.is_string()),
                "log line lacks a string {key:?}: {line}"
            );
        }
        let time = obj["time"].as_str().unwrap();
        assert!(
            time.len() >= 20 && time.as_bytes()[10] == b'T' && time.ends_with('Z'),
            "time is not RFC 3339 UTC: {time:?}"
        );
        if obj["level"] == "debug" {
            msgs.push(obj["msg"].as_str().unwrap().to_string());
        }
    }
    msgs
}

/// Index of the first step matching `f`, with a readable failure.
fn first(steps: &[Step], what: &str, f: impl Fn(&Step) -> bool) -> usize {
    steps
        .iter()
        .position(f)
        .unwrap_or_else(|| panic!("the narration has no {what}:\n{}", render(steps)))
}

fn last(steps: &[Step], what: &str, f: impl Fn(&Step) -> bool) -> usize {
    steps
        .iter()
        .rposition(f)
        .unwrap_or_else(|| panic!("the narration has no {what}:\n{}", render(steps)))
}

fn render(steps: &[Step]) -> String {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| format!("  {i:3} {:7} {}", s.actor, s.what))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `a` comes before `b` in the narration.
#[track_caller]
fn assert_before(steps: &[Step], a: (usize, &str), b: (usize, &str)) {
    assert!(
        a.0 < b.0,
        "{} (step {}) should come before {} (step {}):\n{}",
        a.1,
        a.0,
        b.1,
        b.0,
        render(steps)
    );
}

/// Run `c` in the foreground with narration and a JSON debug log.
fn run_explained(c: &Container) -> (Out, Vec<Step>, Vec<String>) {
    let narration = c.dir.join("explain.txt");
    let log = c.dir.join("debug.json");
    let (n, l, b) = (
        narration.to_string_lossy().into_owned(),
        log.to_string_lossy().into_owned(),
        c.bundle_str(),
    );
    c.write_config_now();
    let out = c.rt(&[
        "--explain",
        "--explain-file",
        &n,
        "--debug",
        "--log",
        &l,
        "--log-format",
        "json",
        "run",
        "--bundle",
        &b,
        &c.id,
    ]);
    out.assert_ok();
    let steps = parse_narration(&fs::read_to_string(&narration).expect("narration file"));
    let logged = parse_json_log(&fs::read_to_string(&log).expect("log file"));
    (out, steps, logged)
}

/// Nothing of the narration on the runtime's or the container's stdio
/// (the harness gives both the same two files).
#[track_caller]
fn assert_clean_stdio(out: &Out) {
    for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !text.contains("why:") && !text.contains("runtime |") && !text.contains("init    |"),
            "narration leaked into the container's {name}:\n{text}"
        );
    }
}

/// Each process's steps appear in the log in the same order as in the
/// narration, and the two hold the same steps. (Between processes the
/// order may differ: the runtime and the init write concurrently.)
#[track_caller]
fn assert_log_matches(steps: &[Step], logged: &[String]) {
    for actor in ["runtime", "init", "exec"] {
        let narrated: Vec<String> = steps
            .iter()
            .filter(|s| s.actor == actor)
            .map(Step::log_msg)
            .collect();
        let in_log: Vec<&String> = logged
            .iter()
            .filter(|m| m.split_once(' ').is_some_and(|(a, _)| a == actor))
            .collect();
        assert_eq!(
            narrated.len(),
            in_log.len(),
            "{actor}: {} narrated steps but {} debug log entries\nnarrated: {narrated:#?}\nlogged: {in_log:#?}",
            narrated.len(),
            in_log.len()
        );
        for (i, (n, l)) in narrated.iter().zip(&in_log).enumerate() {
            assert_eq!(n, *l, "{actor} step {i}: narration and log disagree");
        }
    }
    assert_eq!(
        steps.len(),
        logged.len(),
        "the log has debug entries that are not narrated steps: {logged:#?}"
    );
}

#[test]
fn narration_follows_the_kernel_steps_in_order_and_matches_the_log() {
    let c = Container::with_args(
        "explain_order",
        &[
            "sh",
            "-c",
            "echo out-from-container; echo err-from-container >&2",
        ],
    );
    let (out, steps, logged) = run_explained(&c);

    // The container really ran, and its output is its own.
    assert!(
        out.stdout.contains("out-from-container"),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("err-from-container"),
        "{}",
        out.describe()
    );
    assert_clean_stdio(&out);

    // 1. The runtime clones the init into its new namespaces...
    let clone = first(&steps, "clone with new namespaces", |s| {
        s.is("runtime", "clone ") && s.what.contains("NEWPID") && s.what.contains("NEWNS")
    });
    // 2. ... the init mounts the config's file systems inside them...
    let first_mount = first(&steps, "mount by the init", |s| s.is("init", "mount "));
    let proc_mount = first(&steps, "mount of /proc", |s| {
        s.is("init", "mount proc on /proc")
    });
    let last_config_mount = last(&steps, "mount of /dev/mqueue", |s| {
        s.is("init", "mount mqueue on /dev/mqueue")
    });
    // 3. ... pivots into the rootfs...
    let pivot = first(&steps, "pivot_root", |s| s.is("init", "pivot_root "));
    // 4. ... drops capabilities only after that...
    let bounding = first(&steps, "bounding set drop", |s| {
        s.is("init", "prctl(PR_CAPBSET_DROP)")
    });
    let capset = first(&steps, "capset", |s| s.is("init", "capset "));
    // 5. ... and its last step is execve.
    let execve = first(&steps, "execve", |s| s.is("init", "execve "));

    // The clone is what creates the namespaces the mounts happen in, so the
    // narration must show it first. (It is recorded by the runtime once
    // clone returns, while the init already runs: if the runtime is slow to
    // write, the init's steps can land first. That is a bug of the step
    // stream, not of this test.)
    let first_init = first(&steps, "init step", |s| s.actor == "init");
    assert!(
        clone < first_init,
        "the clone (step {clone}) is narrated after {} of the init's steps: the runtime \
         recorded it after the init had started (the clone record races the init)\n{}",
        steps[..clone].iter().filter(|s| s.actor == "init").count(),
        render(&steps)
    );
    assert_before(&steps, (clone, "clone"), (first_mount, "the first mount"));
    assert_before(
        &steps,
        (first_mount, "the first mount"),
        (proc_mount, "mount /proc"),
    );
    assert_before(
        &steps,
        (last_config_mount, "the config's mounts"),
        (pivot, "pivot_root"),
    );
    assert_before(&steps, (pivot, "pivot_root"), (bounding, "PR_CAPBSET_DROP"));
    assert_before(&steps, (bounding, "PR_CAPBSET_DROP"), (capset, "capset"));
    assert_before(&steps, (capset, "capset"), (execve, "execve"));
    let init_steps: Vec<&Step> = steps.iter().filter(|s| s.actor == "init").collect();
    assert!(
        init_steps
            .last()
            .is_some_and(|s| s.what.starts_with("execve ")),
        "execve must be the init's last step:\n{}",
        render(&steps)
    );
    // The runtime's steps come from the runtime, the init's from the init.
    assert!(
        steps
            .iter()
            .all(|s| s.actor == "runtime" || s.actor == "init"),
        "unexpected actor:\n{}",
        render(&steps)
    );
    // No seccomp filter in this config: no seccomp step.
    assert!(
        !steps.iter().any(|s| s.what.starts_with("seccomp")),
        "a seccomp step without linux.seccomp:\n{}",
        render(&steps)
    );

    assert_log_matches(&steps, &logged);
    // The key steps are in the same order in the log.
    let pos = |pred: &dyn Fn(&str) -> bool, what: &str| {
        logged
            .iter()
            .position(|m| pred(m))
            .unwrap_or_else(|| panic!("the log has no {what}: {logged:#?}"))
    };
    let order = [
        pos(
            &|m| m.starts_with("runtime clone ") && m.contains("NEWNS"),
            "clone",
        ),
        pos(
            &|m| m.starts_with("init mount proc on /proc"),
            "mount /proc",
        ),
        pos(&|m| m.starts_with("init pivot_root "), "pivot_root"),
        pos(
            &|m| m.starts_with("init prctl(PR_CAPBSET_DROP)"),
            "PR_CAPBSET_DROP",
        ),
        pos(&|m| m.starts_with("init capset "), "capset"),
        pos(&|m| m.starts_with("init execve "), "execve"),
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "the log's key steps are out of order ({order:?}): {logged:#?}"
    );
}

/// seccomp is the last step before execve (when there is a filter, and
/// once puncker has seccomp).
#[test]
fn seccomp_is_loaded_last_before_execve() {
    let implemented = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/seccomp.rs")
        .exists()
        && features_say_seccomp_enabled();
    if !implemented {
        eprintln!("skipped: puncker has no seccomp support yet");
        return;
    }
    let mut c = Container::with_args("explain_seccomp", &["sh", "-c", "echo ran"]);
    c.spec.linux_extra.push(
        r#""seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["acct"],"action":"SCMP_ACT_ERRNO"}]}"#
            .into(),
    );
    let (out, steps, logged) = run_explained(&c);
    assert!(out.stdout.contains("ran"), "{}", out.describe());
    assert_clean_stdio(&out);

    let seccomp = last(&steps, "seccomp step", |s| s.is("init", "seccomp"));
    let execve = first(&steps, "execve", |s| s.is("init", "execve "));
    let capset = first(&steps, "capset", |s| s.is("init", "capset "));
    let nnp = first(&steps, "PR_SET_NO_NEW_PRIVS", |s| {
        s.is("init", "prctl (PR_SET_NO_NEW_PRIVS")
    });
    let pivot = first(&steps, "pivot_root", |s| s.is("init", "pivot_root "));
    assert_before(&steps, (pivot, "pivot_root"), (seccomp, "seccomp"));
    assert_before(&steps, (capset, "capset"), (seccomp, "seccomp"));
    assert_before(&steps, (nnp, "PR_SET_NO_NEW_PRIVS"), (seccomp, "seccomp"));
    // With noNewPrivileges (the harness's default) nothing of the init's
    // comes between the filter and execve.
    let between: Vec<&Step> = steps[seccomp + 1..execve]
        .iter()
        .filter(|s| s.actor == "init")
        .collect();
    assert!(
        between.is_empty(),
        "init steps between seccomp and execve: {between:#?}\n{}",
        render(&steps)
    );
    assert_log_matches(&steps, &logged);
}

fn features_say_seccomp_enabled() -> bool {
    let out = Command::new(bin())
        .arg("features")
        .output()
        .expect("features");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    doc["linux"]["seccomp"]["enabled"] == true
}

/// PUNCKER_EXPLAIN=1 and PUNCKER_EXPLAIN_FILE do what the flags do.
#[test]
fn environment_turns_narration_on() {
    let c = Container::with_args("explain_env", &["true"]);
    c.write_config_now();
    let narration = c.dir.join("env-explain.txt");
    let b = c.bundle_str();
    let (mut cmd, o, e) = c.command(&["run", "--bundle", &b, &c.id]);
    cmd.env("PUNCKER_EXPLAIN", "1")
        .env("PUNCKER_EXPLAIN_FILE", &narration);
    let mut child = cmd.spawn().expect("spawn puncker");
    let status = wait_deadline(&mut child, "puncker run (env)", CALL_TIMEOUT);
    assert!(
        status.success(),
        "run failed: {}",
        fs::read_to_string(&e).unwrap_or_default()
    );
    let steps = parse_narration(&fs::read_to_string(&narration).expect("narration file"));
    assert!(
        steps.iter().any(|s| s.is("runtime", "clone ")),
        "{}",
        render(&steps)
    );
    assert!(
        steps.iter().any(|s| s.is("init", "execve ")),
        "{}",
        render(&steps)
    );
    let out = Out {
        cmd: "run".into(),
        status,
        stdout: fs::read_to_string(&o).unwrap_or_default(),
        stderr: fs::read_to_string(&e).unwrap_or_default(),
        elapsed: Default::default(),
    };
    assert_clean_stdio(&out);
}

/// Without --explain (and with PUNCKER_EXPLAIN unset or false), the
/// narration file is not even created, and a log without --debug has no
/// step entries.
#[test]
fn narration_is_off_unless_asked_for() {
    let c = Container::with_args("explain_off", &["sh", "-c", "echo quiet"]);
    c.write_config_now();
    let narration = c.dir.join("never.txt");
    let log = c.dir.join("errors.json");
    let (n, l, b) = (
        narration.to_string_lossy().into_owned(),
        log.to_string_lossy().into_owned(),
        c.bundle_str(),
    );
    let (mut cmd, o, e) = c.command(&[
        "--explain-file",
        &n,
        "--log",
        &l,
        "--log-format",
        "json",
        "run",
        "--bundle",
        &b,
        &c.id,
    ]);
    cmd.env("PUNCKER_EXPLAIN", "0")
        .env_remove("PUNCKER_EXPLAIN_FILE");
    let mut child = cmd.spawn().expect("spawn puncker");
    let status = wait_deadline(&mut child, "puncker run (no explain)", CALL_TIMEOUT);
    let stdout = fs::read_to_string(&o).unwrap_or_default();
    let stderr = fs::read_to_string(&e).unwrap_or_default();
    assert!(status.success(), "run failed: {stderr}");
    assert_eq!(stdout.trim(), "quiet");
    assert!(
        fs::metadata(&narration)
            .map(|m| m.len() == 0)
            .unwrap_or(true),
        "--explain-file without --explain wrote narration: {:?}",
        fs::read_to_string(&narration)
    );
    let logged = parse_json_log(&fs::read_to_string(&log).unwrap_or_default());
    assert!(
        logged.is_empty(),
        "debug entries without --debug: {logged:#?}"
    );
    assert!(!stderr.contains("why:"), "narration on stderr: {stderr}");
}

#[test]
fn parser_reads_the_record_format() {
    let text = "[   1.500ms] runtime | clone (NEWPID | NEWNS) = pid 7  (600.1µs)\n\
                \x20                     |   why: born inside\n\
                [   2.000ms] init    | mount / (MS_SLAVE|MS_REC) -> EPERM  (3.0µs)\n\
                \x20                     |   why: cut: off\n";
    let steps = parse_narration(text);
    assert_eq!(
        steps,
        [
            Step {
                actor: "runtime".into(),
                what: "clone (NEWPID | NEWNS) = pid 7".into(),
                why: "born inside".into()
            },
            Step {
                actor: "init".into(),
                what: "mount / (MS_SLAVE|MS_REC) -> EPERM".into(),
                why: "cut: off".into()
            },
        ]
    );
    assert_eq!(
        steps[1].log_msg(),
        "init mount / (MS_SLAVE|MS_REC) -> EPERM: cut: off"
    );
    let log = r#"{"level":"debug","msg":"init mount /: why","time":"2026-01-01T00:00:00.000000001Z"}
{"level":"error","msg":"boom","time":"2026-01-01T00:00:00.000000002Z"}"#;
    assert_eq!(parse_json_log(log), ["init mount /: why"]);
}
