//! The command line as managers use it: `--version`'s shape, the features
//! document, Go-style single-dash flags, `ps`, `kill --all`, `--no-pivot`,
//! and `process.oomScoreAdj` (raised, and a refused lowering).

mod common;

use common::*;

#[test]
fn version_has_runc_shape() {
    let c = Container::new("cli_version");
    let o = c.rt(&["--version"]);
    o.assert_ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert!(lines.len() >= 3, "{}", o.describe());
    assert!(lines[0].starts_with("puncker version "), "{}", o.stdout);
    assert!(lines[1].starts_with("commit: "), "{}", o.stdout);
    assert_eq!(lines[2], "spec: 1.3.0", "{}", o.stdout);
}

#[test]
fn features_document_lists_what_is_implemented() {
    let c = Container::new("cli_features");
    let o = c.rt(&["features"]);
    o.assert_ok();
    let doc = o.stdout.replace([' ', '\n'], "");
    assert!(doc.contains("\"ociVersionMax\":\"1.3.0\""), "{}", o.stdout);
    for ns in [
        "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
    ] {
        assert!(
            doc.contains(&format!("\"{ns}\"")),
            "namespace {ns} missing: {}",
            o.stdout
        );
    }
    assert!(doc.contains("\"poststart\""), "{}", o.stdout);
    let seccomp = doc
        .split("\"seccomp\":{")
        .nth(1)
        .and_then(|rest| rest.split("\"selinux\"").next())
        .unwrap_or("");
    assert!(seccomp.contains("\"enabled\":true"), "{}", o.stdout);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let cg = &v["linux"]["cgroup"];
    assert_eq!(
        (&cg["v1"], &cg["v2"], &cg["systemd"], &cg["rdma"]),
        (
            &serde_json::json!(true),
            &serde_json::json!(true),
            &serde_json::json!(false),
            &serde_json::json!(true)
        ),
        "cgroup support as built: {cg}"
    );
}

#[test]
fn single_dash_long_flags_are_accepted() {
    let c = Container::new("cli_dash");
    c.create().assert_ok();
    let root = c.root.to_string_lossy().to_string();
    let run = |args: &[&str]| {
        std::process::Command::new(bin())
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run the runtime")
    };
    // Go's flag package style, as some managers pass it.
    let o = run(&["-root", &root, "state", &c.id]);
    assert!(o.status.success(), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        json_field(&out, "status").as_deref(),
        Some("created"),
        "{out}"
    );
    let o = run(&[&format!("-root={root}"), "delete", "-force", &c.id]);
    assert!(o.status.success(), "{o:?}");
    assert!(c.root_entries().is_empty());
}

#[test]
fn ps_lists_the_container_processes_and_kill_all_stops_them() {
    let c = Container::with_args("cli_ps", &["sh", "-c", "sleep 100 & sleep 100 & wait"]);
    ps_then_kill_all(&c);
}

/// Without a pid namespace of its own, the container's processes are
/// mixed with the host's: its cgroup is what tells them apart.
#[test]
fn ps_and_kill_all_find_the_processes_of_a_container_in_the_host_pid_namespace() {
    let mut c = Container::with_args(
        "cli_ps_hostpid",
        &["sh", "-c", "sleep 101 & sleep 101 & wait"],
    );
    c.spec.namespaces.retain(|n| !n.contains("\"pid\""));
    ps_then_kill_all(&c);
}

/// `ps ID -- ARGS` runs the host's ps(1) and keeps the container's lines.
#[test]
fn ps_with_ps_options_keeps_only_the_containers_lines() {
    let c = Container::with_args("cli_ps_args", &["sh", "-c", "sleep 102 & sleep 102 & wait"]);
    c.create_and_start();
    assert!(
        wait_until(SHORT, || c
            .rt(&["ps", "--format", "json", &c.id])
            .stdout
            .matches(',')
            .count()
            == 2),
        "the shell and its two sleeps never all ran"
    );
    let o = c.rt(&["ps", &c.id, "--", "-eo", "pid,args"]);
    o.assert_ok();
    let mut lines = o.stdout.lines();
    assert!(
        lines.next().is_some_and(|h| h.contains("PID")),
        "{}",
        o.stdout
    );
    let rest: Vec<&str> = lines.collect();
    assert_eq!(
        rest.len(),
        3,
        "the shell and two sleeps, nothing else:\n{}",
        o.stdout
    );
    assert!(rest.iter().all(|l| l.contains("sleep 102")), "{}", o.stdout);
    let o = c.rt(&["ps", "--format", "json", &c.id, "--", "-ef"]);
    assert!(!o.ok() && o.stderr.contains("json"), "{}", o.describe());
    let o = c.rt(&["ps", &c.id, "--", "-o", "comm"]);
    assert!(
        !o.ok() && o.stderr.contains("PID column"),
        "{}",
        o.describe()
    );
}

/// `ps` lists the init and its two sleeps; `kill --all KILL` ends them all.
fn ps_then_kill_all(c: &Container) {
    let init = c.create_and_start();
    let mut pids = vec![];
    assert!(
        wait_until(SHORT, || {
            let o = c.rt(&["ps", "--format", "json", &c.id]);
            pids = o
                .stdout
                .trim()
                .trim_matches(|ch| ch == '[' || ch == ']')
                .split(',')
                .filter_map(|p| p.trim().parse::<i32>().ok())
                .collect();
            pids.len() >= 3
        }),
        "ps should list the shell and its two sleeps: {pids:?}"
    );
    assert_eq!(
        pids.len(),
        3,
        "ps lists more than the container's processes: {pids:?}"
    );
    assert!(pids.contains(&init), "{pids:?} lacks the init {init}");
    let table = c.rt(&["ps", &c.id]);
    table.assert_ok();
    assert!(table.stdout.contains("sleep 10"), "{}", table.stdout);

    c.rt(&["kill", "--all", &c.id, "KILL"]).assert_ok();
    c.wait_status("stopped", SHORT);
    for p in pids {
        assert!(
            wait_until(SHORT, || {
                std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .map(|s| s.contains(") Z"))
                    .unwrap_or(true)
            }),
            "process {p} survived kill --all"
        );
    }
}

#[test]
fn no_pivot_still_confines_the_root() {
    let c = Container::with_args(
        "cli_nopivot",
        &["sh", "-c", "ls /; cat /proc/self/mountinfo"],
    );
    std::fs::write(c.rootfs.join("only-in-rootfs"), "x").unwrap();
    c.write_config_now();
    let b = c.bundle_str();
    let o = c.rt(&["run", "--no-pivot", "--bundle", &b, &c.id]);
    o.assert_ok();
    assert!(o.stdout.contains("only-in-rootfs"), "{}", o.stdout);
    // The host's root is not reachable: no host-only top-level entry shows.
    assert!(
        !o.stdout.contains("\nwork\n") && !o.stdout.contains("\nboot\n"),
        "{}",
        o.stdout
    );
    c.assert_no_traces();
}

#[test]
fn oom_score_adj_is_applied_and_a_refused_lowering_is_clear() {
    let mut c = Container::with_args("cli_oom", &["cat", "/proc/self/oom_score_adj"]);
    c.spec.process_extra.push("\"oomScoreAdj\":500".into());
    let o = c.run_fg();
    o.assert_ok();
    assert_eq!(o.stdout.trim(), "500");

    let own: i32 = std::fs::read_to_string("/proc/self/oom_score_adj")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let can_lower = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 24) != 0);
    if !can_lower && own > -1000 {
        let mut d = Container::with_args("cli_oom_low", &["true"]);
        d.spec
            .process_extra
            .push(format!("\"oomScoreAdj\":{}", own - 1));
        let o = d.run_fg();
        o.assert_fail();
        o.assert_stderr_contains("oom_score_adj");
        assert!(d.root_entries().is_empty());
        d.assert_no_traces();
    }
}

/// Session keyrings the host can see, by name (root views them in /proc/keys).
fn host_keyring_names() -> String {
    std::fs::read_to_string("/proc/keys").unwrap_or_default()
}

#[test]
fn fresh_session_keyring_unless_no_new_keyring() {
    let c = Container::new("cli_keyring");
    c.create().assert_ok();
    let name = format!("_ses.{}:", c.id);
    assert!(
        host_keyring_names().contains(&name),
        "no keyring {name} in /proc/keys:\n{}",
        host_keyring_names()
    );

    let d = Container::new("cli_keyring_kept");
    d.create_with(&["--no-new-keyring"]).assert_ok();
    let name = format!("_ses.{}:", d.id);
    assert!(
        !host_keyring_names().contains(&name),
        "--no-new-keyring made {name} anyway"
    );
}

#[test]
fn spec_rootless_maps_the_caller() {
    let c = Container::new("cli_spec_rootless");
    let dir = c.dir.join("rootless-bundle");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_string_lossy().to_string();
    c.rt(&["spec", "--rootless", "--bundle", &d]).assert_ok();
    let cfg = std::fs::read_to_string(dir.join("config.json"))
        .unwrap()
        .replace([' ', '\n'], "");
    assert!(
        cfg.contains("{\"type\":\"user\"}"),
        "no user namespace: {cfg}"
    );
    assert!(
        !cfg.contains("{\"type\":\"network\"}"),
        "keeps a network namespace: {cfg}"
    );
    let uid = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap();
    assert!(
        cfg.contains(&format!("\"containerID\":0,\"hostID\":{uid},\"size\":1")),
        "uid map of the caller: {cfg}"
    );
}
