//! Device nodes and /dev symlinks.

mod common;

use common::*;

/// Run `stat -c '%n|%t:%T|%F|%a'` on each path inside a container.
fn stat_in(c: &Container, paths: &[&str]) -> Vec<String> {
    let o = c.run_fg();
    o.assert_ok();
    let lines: Vec<String> = o.stdout.lines().map(|l| l.to_string()).collect();
    assert_eq!(lines.len(), paths.len(), "{}", o.describe());
    lines
}

fn stat_script(paths: &[&str]) -> String {
    paths
        .iter()
        .map(|p| format!("stat -c '%n|%t:%T|%F|%a' {p} 2>/dev/null || echo '{p}|MISSING'"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn default_devices_exist() {
    let devs = [
        ("/dev/null", "1:3"),
        ("/dev/zero", "1:5"),
        ("/dev/full", "1:7"),
        ("/dev/random", "1:8"),
        ("/dev/urandom", "1:9"),
        ("/dev/tty", "5:0"),
    ];
    let paths: Vec<&str> = devs.iter().map(|d| d.0).collect();
    let script = stat_script(&paths);
    let c = Container::with_args("dev_default", &["sh", "-c", &script]);
    let lines = stat_in(&c, &paths);
    for ((path, mm), line) in devs.iter().zip(&lines) {
        let f: Vec<&str> = line.split('|').collect();
        assert_eq!(f[0], *path, "{lines:?}");
        assert_eq!(f.get(1), Some(mm), "{path} wrong major:minor: {line}");
        assert_eq!(f.get(2), Some(&"character special file"), "{path}: {line}");
        assert_eq!(f.get(3), Some(&"666"), "{path} mode: {line}");
    }
}

#[test]
fn default_devices_work() {
    let c = Container::with_args(
        "dev_work",
        &["sh", "-c", "echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | od -An -tx1 | tr -d ' \\n'; echo; head -c 16 /dev/urandom | wc -c; if echo x > /dev/full 2>/dev/null; then echo full-wrote; else echo full-ENOSPC; fi"],
    );
    let o = c.run_fg();
    o.assert_ok();
    let lines: Vec<&str> = o.stdout.lines().map(|l| l.trim()).collect();
    assert_eq!(
        lines,
        vec!["null-ok", "00000000", "16", "full-ENOSPC"],
        "{}",
        o.describe()
    );
}

#[test]
fn dev_symlinks() {
    let c = Container::with_args(
        "dev_links",
        &[
            "sh",
            "-c",
            "for l in ptmx fd stdin stdout stderr; do echo \"$l=$(readlink /dev/$l)\"; done",
        ],
    );
    let o = c.run_fg();
    o.assert_ok();
    let want = "ptmx=pts/ptmx\nfd=/proc/self/fd\nstdin=/proc/self/fd/0\nstdout=/proc/self/fd/1\nstderr=/proc/self/fd/2\n";
    assert_eq!(o.stdout, want, "{}", o.describe());
}

#[test]
fn dev_pts_ptmx_usable() {
    let c = Container::with_args(
        "dev_ptmx",
        &["sh", "-c", "stat -c '%t:%T|%F' /dev/pts/ptmx; ls /dev/pts"],
    );
    let o = c.run_fg();
    o.assert_ok();
    let first = o.stdout.lines().next().unwrap_or("");
    assert_eq!(first, "5:2|character special file", "{}", o.describe());
}

#[test]
fn linux_devices_entry_created() {
    let paths = ["/dev/mydev", "/dev/sub/otherdev"];
    let script = stat_script(&paths) + "; stat -c '%u:%g' /dev/sub/otherdev";
    let mut c = Container::with_args("dev_custom", &["sh", "-c", &script]);
    c.spec.linux_extra.push(
        "\"devices\":[{\"path\":\"/dev/mydev\",\"type\":\"c\",\"major\":1,\"minor\":3,\"fileMode\":438,\"uid\":0,\"gid\":0},\
         {\"path\":\"/dev/sub/otherdev\",\"type\":\"c\",\"major\":1,\"minor\":5,\"fileMode\":384,\"uid\":65534,\"gid\":65534}]"
            .into(),
    );
    let o = c.run_fg();
    o.assert_ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"/dev/mydev|1:3|character special file|666"),
        "{}",
        o.describe()
    );
    assert_eq!(
        lines.get(1),
        Some(&"/dev/sub/otherdev|1:5|character special file|600"),
        "{}",
        o.describe()
    );
    assert_eq!(lines.get(2), Some(&"65534:65534"), "{}", o.describe());
    // The host's /dev is untouched.
    assert!(!std::path::Path::new("/dev/mydev").exists());
    assert!(!std::path::Path::new("/dev/sub").exists());
}

#[test]
fn host_devices_not_visible() {
    let c = Container::with_args("dev_nohost", &["sh", "-c", "ls /dev | sort | tr '\\n' ' '"]);
    let o = c.run_fg();
    o.assert_ok();
    for absent in ["sda", "vda", "kmsg", "mem", "loop0", "nvme0"] {
        assert!(
            !o.stdout.split_whitespace().any(|d| d == absent),
            "host device {absent} visible in container /dev: {}",
            o.stdout
        );
    }
    assert!(o.stdout.split_whitespace().any(|d| d == "null"));
}
