//! Error paths: non-zero exit, a helpful message, and nothing left behind.

mod common;

use common::*;

/// Assert a failed create left nothing: no state, no process, no mount.
#[track_caller]
fn assert_clean_failure(c: &Container, o: &Out, needles: &[&str]) {
    o.assert_fail();
    let low = o.stderr.to_lowercase();
    assert!(
        needles.iter().any(|n| low.contains(&n.to_lowercase())),
        "stderr of `{}` mentions none of {needles:?}:\n{}",
        o.cmd,
        o.describe()
    );
    assert!(
        c.root_entries().is_empty(),
        "--root not empty after failure: {:?}",
        c.root_entries()
    );
    c.state().assert_fail();
    c.assert_no_traces();
}

/// Finds "line N column M" in `s` and returns (N, M).
fn line_column(s: &str) -> Option<(u32, u32)> {
    let i = s.find("line ")?;
    let rest = &s[i + 5..];
    let n: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let rest = rest[n.len()..].trim_start_matches(',').trim_start();
    let rest = rest.strip_prefix("column ")?;
    let m: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((n.parse().ok()?, m.parse().ok()?))
}

#[test]
fn missing_config_json() {
    let mut c = Container::new("err_noconfig");
    c.write_config = false;
    let o = c.create();
    assert_clean_failure(&c, &o, &["config.json"]);
}

#[test]
fn invalid_json_reports_position() {
    let mut c = Container::new("err_badjson");
    // Syntax error on line 3.
    c.raw_config = Some("{\n  \"ociVersion\": \"1.0.2-dev\",\n  \"process\": {,\n}\n".into());
    let o = c.create();
    assert_clean_failure(&c, &o, &["config.json"]);
    let lc = line_column(&o.stderr);
    assert!(
        lc.is_some(),
        "no `line N column M` in stderr: {}",
        o.describe()
    );
    assert_eq!(lc.unwrap().0, 3, "wrong line reported: {}", o.stderr);
}

#[test]
fn config_json_wrong_types() {
    let mut c = Container::new("err_types");
    c.raw_config =
        Some(default_config(&["true"]).replacen("\"terminal\":false", "\"terminal\":\"no\"", 1));
    assert!(c
        .raw_config
        .as_ref()
        .unwrap()
        .contains("\"terminal\":\"no\""));
    let o = c.create();
    assert_clean_failure(&c, &o, &["config.json", "terminal"]);
}

#[test]
fn unsupported_oci_version() {
    let mut c = Container::new("err_ociversion");
    c.spec.oci_version = "2.0.0".into();
    let o = c.create();
    assert_clean_failure(&c, &o, &["ociVersion"]);
}

#[test]
fn missing_rootfs_dir() {
    let mut c = Container::new("err_norootfs");
    c.spec.root_path = "nosuchdir".into();
    let o = c.create();
    assert_clean_failure(&c, &o, &["rootfs", "nosuchdir"]);
}

#[test]
fn empty_process_args() {
    let c = Container::with_args("err_noargs", &[]);
    let o = c.create();
    assert_clean_failure(&c, &o, &["args"]);
}

#[test]
fn invalid_container_ids() {
    let c = Container::new("err_badid");
    c.write_config_now();
    let b = c.bundle_str();
    for bad in ["a/b", "..", "", "../escape", "."] {
        let o = c.rt(&["create", "--bundle", &b, bad]);
        o.assert_fail();
        assert!(
            contains_word(&o.stderr, "id"),
            "stderr for id {bad:?} does not mention the id: {}",
            o.describe()
        );
        assert!(
            c.root_entries().is_empty(),
            "entries after id {bad:?}: {:?}",
            c.root_entries()
        );
        assert!(
            !c.root.parent().unwrap().join("escape").exists(),
            "id {bad:?} created state outside --root"
        );
    }
    c.assert_no_traces();
}

#[test]
fn duplicate_id_already_exists() {
    let c = Container::new("err_dup");
    c.create().assert_ok();
    let pid = c.pid();
    let o = c.create();
    o.assert_fail();
    o.assert_stderr_contains("already exists");
    o.assert_stderr_contains(&format!("container \"{}\" already exists", c.id));
    // The original container is untouched.
    assert_eq!(c.status(), "created");
    assert_eq!(c.pid(), pid);
    c.start().assert_ok();
    assert_eq!(c.status(), "running");
}

#[test]
fn start_running_container_fails() {
    let c = Container::new("err_start_running");
    c.create_and_start();
    let o = c.start();
    o.assert_fail();
    let low = o.stderr.to_lowercase();
    assert!(
        low.contains("running") || low.contains("created"),
        "{}",
        o.describe()
    );
    assert_eq!(c.status(), "running");
}

#[test]
fn delete_running_without_force() {
    let c = Container::new("err_del_running");
    c.create_and_start();
    let o = c.delete(false);
    o.assert_fail();
    o.assert_stderr_contains("running");
    assert_eq!(c.status(), "running");
}

#[test]
fn unknown_id_does_not_exist() {
    let c = Container::new("err_unknown");
    let ghost = format!("ghost-{}", c.id);
    for cmd in ["state", "kill", "start", "delete"] {
        let o = c.rt(&[cmd, &ghost]);
        o.assert_fail();
        o.assert_stderr_contains("does not exist");
        o.assert_stderr_contains(&format!("container \"{ghost}\" does not exist"));
    }
    assert!(c.root_entries().is_empty(), "{:?}", c.root_entries());
}

#[test]
fn kill_stopped_container_not_running() {
    let c = Container::with_args("err_kill_stopped", &["true"]);
    c.create_and_start();
    c.wait_status("stopped", SHORT);
    let o = c.kill(Some("TERM"));
    o.assert_fail();
    o.assert_stderr_contains("container not running");
}

#[test]
fn unknown_flag_fails() {
    let c = Container::new("err_flag");
    c.write_config_now();
    let b = c.bundle_str();
    let o = c.rt(&["create", "--definitely-not-a-flag", "--bundle", &b, &c.id]);
    o.assert_fail();
    assert!(!o.stderr.is_empty(), "no diagnostic for an unknown flag");
    assert!(c.root_entries().is_empty());
    c.assert_no_traces();
    let o = c.rt(&["no-such-subcommand"]);
    o.assert_fail();
}

#[test]
fn kill_invalid_signal() {
    let c = Container::new("err_badsig");
    c.create_and_start();
    let o = c.kill(Some("SIGNOTREAL"));
    o.assert_fail();
    assert_eq!(
        c.status(),
        "running",
        "bad signal must not affect the container"
    );
}

#[test]
fn missing_executable_fails_cleanly() {
    let c = Container::with_args("err_noexec", &["/no/such/binary"]);
    let o = c.run_fg();
    o.assert_fail();
    o.assert_stderr_contains("/no/such/binary");
    c.delete(true);
    c.assert_no_traces();
}
