//! Mount setup: order, flags, binds, read-only root, propagation, escapes.

mod common;

use common::*;
use std::fs;

/// (mount point, per-mount options, fstype, super options) of a mountinfo line.
fn parse_mountinfo(text: &str) -> Vec<(String, String, String, String)> {
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let lf: Vec<&str> = left.split_whitespace().collect();
            let rf: Vec<&str> = right.split_whitespace().collect();
            Some((
                lf.get(4)?.to_string(),
                lf.get(5)?.to_string(),
                rf.first()?.to_string(),
                rf.get(2).unwrap_or(&"").to_string(),
            ))
        })
        .collect()
}

fn has_opt(opts: &str, o: &str) -> bool {
    opts.split(',').any(|x| x == o)
}

#[test]
fn mounts_in_config_order_with_flags() {
    let mut c = Container::with_args(
        "mnt_order",
        &["sh", "-c", "cat /proc/self/mountinfo; echo ===; cp /bin/busybox /data/bb && /data/bb true && echo EXEC-OK; echo end"],
    );
    c.spec.mounts.push(mount_json(
        "/data",
        "tmpfs",
        "tmpfs",
        &["noexec", "nosuid", "nodev", "size=1m", "mode=0750"],
    ));
    c.spec
        .mounts
        .push(mount_json("/data/sub", "tmpfs", "tmpfs", &["size=512k"]));
    c.spec
        .mounts
        .push(mount_json("/zz", "tmpfs", "tmpfs", &["ro"]));
    let o = c.run_fg();
    o.assert_ok();
    let (mi, rest) = o.stdout.split_once("===").expect("separator");
    let mounts = parse_mountinfo(mi);
    let order = [
        "/",
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
        "/data",
        "/data/sub",
        "/zz",
    ];
    let mut last = None;
    for dest in order {
        let idx = mounts.iter().position(|m| m.0 == dest);
        let idx = idx.unwrap_or_else(|| panic!("{dest} not mounted; mountinfo:\n{mi}"));
        if let Some((prev, pidx)) = last {
            assert!(idx > pidx, "{dest} mounted before {prev}; mountinfo:\n{mi}");
        }
        last = Some((dest, idx));
    }
    let data = mounts.iter().find(|m| m.0 == "/data").unwrap();
    assert_eq!(data.2, "tmpfs");
    for f in ["noexec", "nosuid", "nodev", "rw"] {
        assert!(has_opt(&data.1, f), "/data lacks {f}: {data:?}");
    }
    assert!(
        has_opt(&data.3, "size=1024k"),
        "/data size not applied: {data:?}"
    );
    assert!(
        has_opt(&data.3, "mode=750"),
        "/data mode not applied: {data:?}"
    );
    let zz = mounts.iter().find(|m| m.0 == "/zz").unwrap();
    assert!(has_opt(&zz.1, "ro"), "/zz not read-only: {zz:?}");
    // noexec is effective, not only displayed.
    assert!(
        !rest.contains("EXEC-OK"),
        "executed a binary from a noexec mount: {rest}"
    );
    // Default mounts carry their flags too.
    let sys = mounts.iter().find(|m| m.0 == "/sys").unwrap();
    assert!(
        has_opt(&sys.1, "ro") && has_opt(&sys.1, "nosuid"),
        "/sys flags: {sys:?}"
    );
    let dev = mounts.iter().find(|m| m.0 == "/dev").unwrap();
    assert_eq!(dev.2, "tmpfs");
    assert!(has_opt(&dev.3, "mode=755"), "/dev: {dev:?}");
    let pts = mounts.iter().find(|m| m.0 == "/dev/pts").unwrap();
    assert_eq!(pts.2, "devpts");
    assert!(has_opt(&pts.1, "noexec"), "/dev/pts: {pts:?}");
    c.delete(false);
    c.assert_no_traces();
}

#[test]
fn bind_mount_host_dir() {
    let mut c = Container::with_args(
        "mnt_bind",
        &[
            "sh",
            "-c",
            "cat /mnt/host/file; echo from-container > /mnt/host/written",
        ],
    );
    let hd = host_dir(&c, "hostdir");
    fs::write(hd.join("file"), "hello-from-host\n").unwrap();
    c.spec.mounts.push(mount_json(
        "/mnt/host",
        "bind",
        &hd.to_string_lossy(),
        &["rbind", "rw"],
    ));
    let o = c.run_fg();
    o.assert_ok();
    assert_eq!(o.stdout, "hello-from-host\n");
    assert_eq!(
        fs::read_to_string(hd.join("written")).unwrap(),
        "from-container\n"
    );
    c.delete(false);
    c.assert_no_traces();
}

#[test]
fn bind_mount_host_file() {
    let mut c = Container::with_args("mnt_bind_file", &["cat", "/etc/extra.conf"]);
    let hd = host_dir(&c, "hostfiles");
    fs::write(hd.join("extra.conf"), "key=value\n").unwrap();
    c.spec.mounts.push(mount_json(
        "/etc/extra.conf",
        "none",
        &hd.join("extra.conf").to_string_lossy(),
        &["bind", "ro"],
    ));
    let o = c.run_fg();
    o.assert_ok();
    assert_eq!(o.stdout, "key=value\n");
}

#[test]
fn readonly_bind_refuses_writes() {
    let mut c = Container::with_args(
        "mnt_robind",
        &["sh", "-c", "cat /ro/file; if touch /ro/new 2>/dev/null; then echo WROTE; else echo DENIED; fi; grep ' /ro ' /proc/self/mountinfo"],
    );
    let hd = host_dir(&c, "rodir");
    fs::write(hd.join("file"), "ro-content\n").unwrap();
    c.spec.mounts.push(mount_json(
        "/ro",
        "bind",
        &hd.to_string_lossy(),
        &["bind", "ro"],
    ));
    let o = c.run_fg();
    o.assert_ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"ro-content"), "{}", o.describe());
    assert_eq!(lines.get(1), Some(&"DENIED"), "{}", o.describe());
    assert!(
        !hd.join("new").exists(),
        "write went through a read-only bind"
    );
    let mi = parse_mountinfo(lines.get(2).unwrap_or(&""));
    assert!(
        mi.first().is_some_and(|m| has_opt(&m.1, "ro")),
        "{}",
        o.stdout
    );
}

#[test]
fn readonly_root_refuses_writes() {
    let c = Container::with_args(
        "mnt_roroot",
        &["sh", "-c", "if touch /x 2>/dev/null; then echo WROTE; else echo DENIED; fi; grep -E '^[0-9]+ [0-9]+ [^ ]+ [^ ]+ / ' /proc/self/mountinfo"],
    );
    assert!(c.spec.root_readonly);
    let o = c.run_fg();
    o.assert_ok();
    assert!(o.stdout.starts_with("DENIED\n"), "{}", o.describe());
    assert!(!c.rootfs.join("x").exists());
    let root = parse_mountinfo(o.stdout.lines().nth(1).unwrap_or(""));
    assert!(
        root.first().is_some_and(|m| has_opt(&m.1, "ro")),
        "/ not ro: {}",
        o.stdout
    );
}

#[test]
fn writable_root_accepts_writes() {
    let mut c = Container::with_args(
        "mnt_rwroot",
        &["sh", "-c", "touch /x && echo made > /x && echo OK"],
    );
    c.spec.root_readonly = false;
    let o = c.run_fg();
    o.assert_ok();
    assert_eq!(o.stdout.trim(), "OK");
    assert_eq!(fs::read_to_string(c.rootfs.join("x")).unwrap(), "made\n");
}

fn root_optional_fields(c: &Container) -> String {
    let o = c.run_fg();
    o.assert_ok();
    // The "/" line: optional fields sit between field 6 and " - ".
    let line = o
        .stdout
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/"))
        .unwrap_or_else(|| panic!("no / in mountinfo:\n{}", o.stdout))
        .to_string();
    let left = line.split(" - ").next().unwrap();
    left.split_whitespace()
        .skip(6)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn rootfs_propagation_private() {
    let mut c = Container::with_args("mnt_prop_private", &["cat", "/proc/self/mountinfo"]);
    c.spec
        .linux_extra
        .push("\"rootfsPropagation\":\"private\"".into());
    let opt = root_optional_fields(&c);
    assert!(
        !opt.contains("shared:") && !opt.contains("master:"),
        "root not private: {opt:?}"
    );
}

#[test]
fn rootfs_propagation_shared() {
    let mut c = Container::with_args("mnt_prop_shared", &["cat", "/proc/self/mountinfo"]);
    c.spec
        .linux_extra
        .push("\"rootfsPropagation\":\"shared\"".into());
    let opt = root_optional_fields(&c);
    assert!(opt.contains("shared:"), "root not shared: {opt:?}");
}

#[test]
fn masked_and_readonly_paths() {
    let c = Container::with_args(
        "mnt_masked",
        &["sh", "-c", "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; if echo 1 > /proc/sys/kernel/domainname 2>/dev/null; then echo WROTE; else echo DENIED; fi"],
    );
    // Masking must hide real content.
    assert!(!fs::read("/proc/timer_list").unwrap_or_default().is_empty());
    let o = c.run_fg();
    let lines: Vec<String> = o.stdout.lines().map(|l| l.trim().to_string()).collect();
    assert_eq!(lines, vec!["0", "0", "DENIED"], "{}", o.describe());
}

#[test]
fn symlink_destination_cannot_escape_rootfs() {
    let mut c = Container::with_args(
        "mnt_escape",
        &[
            "sh",
            "-c",
            "cat /proc/self/mountinfo; echo ===; ls -a /evil/sub",
        ],
    );
    c.spec.root_readonly = false;
    // rootfs/evil -> <host dir> (absolute, outside the rootfs)
    let hd = host_dir(&c, "victim");
    fs::write(hd.join("sentinel"), "keep").unwrap();
    std::os::unix::fs::symlink(&hd, c.rootfs.join("evil")).unwrap();
    c.spec
        .mounts
        .push(mount_json("/evil/sub", "tmpfs", "tmpfs", &["size=64k"]));
    // A bind mount through the same symlink, writable, as a second vector.
    let src = host_dir(&c, "bindsrc");
    fs::write(src.join("payload"), "payload").unwrap();
    c.spec.mounts.push(mount_json(
        "/evil/bound",
        "bind",
        &src.to_string_lossy(),
        &["bind", "rw"],
    ));
    let hd_s = hd.to_string_lossy().to_string();
    let mounts_before = host_mounts_matching(&hd_s);
    assert!(mounts_before.is_empty());

    let o = c.create();
    let victim_entries: Vec<String> = fs::read_dir(&hd)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        victim_entries,
        vec!["sentinel".to_string()],
        "runtime wrote into host dir through symlink"
    );
    assert!(
        host_mounts_matching(&hd_s).is_empty(),
        "host mount created at {hd_s}"
    );
    if !o.ok() {
        // Refusing is acceptable, but then it must be clean.
        c.assert_no_traces();
        return;
    }
    c.start().assert_ok();
    c.wait_status("stopped", SHORT);
    let out = c.container_stdout();
    let (mi, _) = out.split_once("===").unwrap_or((&out, ""));
    let mounts = parse_mountinfo(mi);
    // The mounts must be inside the container, at the symlink target as
    // resolved within the rootfs.
    let sub = format!("{hd_s}/sub");
    assert!(
        mounts.iter().any(|m| m.0 == sub && m.2 == "tmpfs"),
        "tmpfs not mounted at {sub} inside the container:\n{mi}"
    );
    assert!(c
        .rootfs
        .join(hd.strip_prefix("/").unwrap())
        .join("sub")
        .is_dir());
    c.delete(false).assert_ok();
    let victim_entries: Vec<String> = fs::read_dir(&hd)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(victim_entries, vec!["sentinel".to_string()]);
    c.assert_no_traces();
}

#[test]
fn no_host_mounts_leak_after_lifecycle() {
    let mut c = Container::new("mnt_noleak");
    let hd = host_dir(&c, "bindsrc");
    c.spec
        .mounts
        .push(mount_json("/b", "bind", &hd.to_string_lossy(), &["rbind"]));
    let pid = c.create_and_start();
    assert!(
        c.leaked_mounts().is_empty(),
        "host sees container mounts: {:?}",
        c.leaked_mounts()
    );
    // The container sees its bind mount.
    let inner = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    assert!(
        inner
            .lines()
            .any(|l| l.split_whitespace().nth(4) == Some("/b")),
        "{inner}"
    );
    c.delete(true).assert_ok();
    c.assert_no_traces();
}

/// Run the container in a private mount namespace whose cgroup layout was
/// rearranged by `prep` first (to stand for a pure v1 or pure v2 host).
fn run_with_cgroup_layout(c: &Container, prep: &str) -> std::process::Output {
    c.write_config_now();
    let script = format!(
        "{prep} && exec {} --root {} run --bundle {} {}",
        bin(),
        c.root.display(),
        c.bundle.display(),
        c.id
    );
    std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("unshare")
}

#[test]
fn cgroup_mount_on_a_pure_v2_host() {
    let c = Container::with_args("mnt_cg_v2", &["cat", "/proc/self/mountinfo"]);
    let o = run_with_cgroup_layout(
        &c,
        "umount -l /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup",
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{o:?}");
    let line = out
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/sys/fs/cgroup"))
        .unwrap_or_else(|| panic!("no /sys/fs/cgroup mount:\n{out}"));
    assert!(line.contains(" - cgroup2 "), "{line}");
    assert!(
        line.split(' ').nth(5).unwrap_or("").starts_with("ro"),
        "{line}"
    );
    c.assert_no_traces();
}

#[test]
fn cgroup_mount_on_a_pure_v1_host() {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return; // a pure v2 host has no v1 hierarchies to show
    }
    let c = Container::with_args("mnt_cg_v1", &["cat", "/proc/self/mountinfo"]);
    let hybrid = std::path::Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists();
    let prep = if hybrid {
        "umount -l /sys/fs/cgroup/unified"
    } else {
        "true"
    };
    let o = run_with_cgroup_layout(&c, prep);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{o:?}");
    let v1: Vec<&str> = out.lines().filter(|l| l.contains(" - cgroup ")).collect();
    if std::path::Path::new("/sys/fs/cgroup/memory").exists() {
        assert!(
            v1.iter().any(|l| l.contains("/sys/fs/cgroup/memory ")),
            "no memory hierarchy:\n{out}"
        );
    }
    assert!(
        !out.contains(" - cgroup2 "),
        "a v1 host shows no cgroup2:\n{out}"
    );
    c.assert_no_traces();
}
