//! Escape attempts: a container must not reach the host through its cwd,
//! through symlinks the image ships at places the runtime mounts on, masks
//! or makes devices at, through /proc, or through the runtime's own binary.
//! Each test places a marker on the host and checks it is untouched.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};

const MARK: &str = "host marker: must stay as it is\n";

/// A host directory with a marker file, outside the container's rootfs.
fn host_marker(c: &Container, name: &str) -> (PathBuf, PathBuf) {
    let dir = host_dir(c, name);
    let file = dir.join("marker");
    fs::write(&file, MARK).unwrap();
    (dir, file)
}

/// The marker still says what it said, nothing else appeared next to it,
/// and no mount covers its directory on the host.
#[track_caller]
fn assert_untouched(dir: &Path, file: &Path) {
    assert_eq!(
        fs::read_to_string(file).unwrap_or_default(),
        MARK,
        "{} was changed",
        file.display()
    );
    let entries: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, ["marker"], "{} gained entries", dir.display());
    let mounts = host_mounts_matching(&dir.to_string_lossy());
    assert!(mounts.is_empty(), "host mounts over the marker: {mounts:?}");
}

/// Files called `name` under `dir`, not following symlinks, skipping `skip`.
fn find_named(dir: &Path, name: &str, skip: &Path) -> Vec<PathBuf> {
    let mut found = vec![];
    let Ok(rd) = fs::read_dir(dir) else {
        return found;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p == skip {
            continue;
        }
        if e.file_name() == name {
            found.push(p.clone());
        }
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            found.extend(find_named(&p, name, skip));
        }
    }
    found
}

fn symlink(target: &Path, at: &Path) {
    let _ = fs::remove_file(at);
    let _ = fs::remove_dir(at);
    std::os::unix::fs::symlink(target, at).unwrap();
}

/// CVE-2024-21626's shape: a cwd through a file descriptor the runtime
/// still holds (the state directory, the sync socket, the fifo).
#[test]
fn cwd_through_a_leaked_fd_does_not_reach_the_host() {
    for n in 3..=12 {
        let mut c = Container::with_args(
            "cwd-fd",
            &[
                "sh",
                "-c",
                "pwd; ls -a; echo escaped > ./escaped; echo escaped > ../escaped",
            ],
        );
        c.spec.cwd = format!("/proc/self/fd/{n}");
        let (dir, file) = host_marker(&c, "host");
        let out = c.run_fg();
        let found = find_named(&c.dir, "escaped", &c.rootfs);
        assert!(
            found.is_empty(),
            "cwd /proc/self/fd/{n} wrote outside the rootfs: {found:?}\n{}",
            out.describe()
        );
        for leaked in ["state.json", "exec.fifo", "config.json", "marker"] {
            assert!(
                !out.stdout.lines().any(|l| l == leaked),
                "cwd /proc/self/fd/{n} shows the host's {leaked}:\n{}",
                out.describe()
            );
        }
        assert_untouched(&dir, &file);
    }
}

#[test]
fn symlinked_mount_destinations_stay_inside_the_rootfs() {
    let mut c = Container::with_args(
        "mnt-link",
        &[
            "sh",
            "-c",
            "echo pwned > /mnt-link/marker; echo pwned > /bind-link/marker; echo pwned > /rel-link/marker; true",
        ],
    );
    let (dir, file) = host_marker(&c, "host-tmpfs");
    let (dir2, file2) = host_marker(&c, "host-bind");
    let (dir3, file3) = host_marker(&c, "host-rel");
    symlink(&dir, &c.rootfs.join("mnt-link"));
    symlink(&dir2, &c.rootfs.join("bind-link"));
    // ../../host-rel from rootfs/ climbs to the test directory on the host.
    symlink(Path::new("../../host-rel"), &c.rootfs.join("rel-link"));
    // Resolved as if the rootfs were /, the links name these directories.
    for inside in [
        mirror(&c, &dir),
        mirror(&c, &dir2),
        c.rootfs.join("host-rel"),
    ] {
        fs::create_dir_all(inside).unwrap();
    }
    let src = host_dir(&c, "bind-src");
    c.spec
        .mounts
        .push(mount_json("/mnt-link", "tmpfs", "tmpfs", &["size=1m"]));
    c.spec.mounts.push(mount_json(
        "/bind-link",
        "bind",
        &src.to_string_lossy(),
        &["rbind", "rw"],
    ));
    c.spec
        .mounts
        .push(mount_json("/rel-link", "tmpfs", "tmpfs", &["size=1m"]));
    let out = c.run_fg();
    out.assert_ok();
    assert_untouched(&dir, &file);
    assert_untouched(&dir2, &file2);
    assert_untouched(&dir3, &file3);
    // The writes went to the container's own mounts.
    assert!(
        src.join("marker").exists(),
        "the bind mount did not receive the write: {}",
        out.describe()
    );
}

/// Where an absolute host path lands when resolved inside the rootfs.
fn mirror(c: &Container, host: &Path) -> PathBuf {
    c.rootfs.join(host.strip_prefix("/").unwrap())
}

#[test]
fn a_symlinked_masked_path_stays_inside_the_rootfs() {
    let mut c = Container::with_args("mask-link", &["sh", "-c", "cat /secret-link; true"]);
    let (dir, file) = host_marker(&c, "host-mask");
    symlink(&file, &c.rootfs.join("secret-link"));
    // Resolved as if the rootfs were /, the link names this file.
    fs::create_dir_all(mirror(&c, &dir)).unwrap();
    fs::write(mirror(&c, &file), "inside\n").unwrap();
    c.spec.masked_paths.push("/secret-link".into());
    let out = c.run_fg();
    assert!(
        !out.stdout.contains("host marker"),
        "the container read the host's file: {}",
        out.describe()
    );
    assert_untouched(&dir, &file);
}

#[test]
fn a_symlinked_readonly_path_stays_inside_the_rootfs() {
    let mut c = Container::with_args("ro-link", &["sh", "-c", "echo pwned > /ro-link/x; true"]);
    c.spec.root_readonly = false;
    let (dir, file) = host_marker(&c, "host-ro");
    symlink(&dir, &c.rootfs.join("ro-link"));
    fs::create_dir_all(mirror(&c, &dir)).unwrap();
    c.spec.readonly_paths.push("/ro-link".into());
    let _ = c.run_fg();
    assert_untouched(&dir, &file);
    // The host directory is still writable from the host.
    fs::write(dir.join("after"), "x").expect("host dir made read-only");
}

#[test]
fn a_dev_null_symlink_does_not_reach_the_host() {
    let mut c = Container::with_args(
        "devnull-link",
        &["sh", "-c", "echo pwned > /dev/null; cat /dev/null; true"],
    );
    let (dir, file) = host_marker(&c, "host-null");
    // No tmpfs on /dev: the image's /dev is used, with its planted symlink.
    c.spec
        .mounts
        .retain(|m| !m.contains("\"destination\":\"/dev\""));
    symlink(&file, &c.rootfs.join("dev/null"));
    let out = c.run_fg();
    assert!(
        !out.stdout.contains("host marker"),
        "the container read the host's file: {}",
        out.describe()
    );
    assert_untouched(&dir, &file);
}

/// `puncker spec`'s config, running `script` without a terminal.
fn default_spec_container(name: &str, script: &str) -> Container {
    let mut c = Container::with_args(name, &["true"]);
    let out = std::process::Command::new(bin())
        .args(["spec", "--bundle"])
        .arg(&c.bundle)
        .output()
        .expect("puncker spec");
    assert!(out.status.success(), "puncker spec failed: {out:?}");
    let text = fs::read_to_string(c.config_path()).unwrap();
    let mut spec: serde_json::Value = serde_json::from_str(&text).unwrap();
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = serde_json::json!(["sh", "-c", script]);
    c.raw_config = Some(spec.to_string());
    c
}

#[test]
fn proc_is_read_only_where_it_reaches_the_kernel() {
    let before = fs::read_to_string("/proc/sys/kernel/printk_ratelimit").unwrap();
    let sysrq = Path::new("/proc/sysrq-trigger").exists();
    let kcore = Path::new("/proc/kcore").exists();
    // Writes of harmless values only: if a protection broke, the host
    // gets its own value back, or a help text in its kernel log.
    let c = default_spec_container(
        "proc-ro",
        "cat /proc/sys/kernel/printk_ratelimit > /proc/sys/kernel/printk_ratelimit && echo sys-written; \
         [ -e /proc/sysrq-trigger ] && { echo h > /proc/sysrq-trigger && echo sysrq-written; }; \
         head -c 64 /proc/kcore | wc -c; \
         stat -c 'kcore %t:%T' /proc/kcore; true",
    );
    let (dir, file) = host_marker(&c, "host");
    let out = c.run_fg();
    out.assert_ok();
    assert!(!out.stdout.contains("sys-written"), "{}", out.describe());
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.describe()
    );
    if sysrq {
        assert!(!out.stdout.contains("sysrq-written"), "{}", out.describe());
    } else {
        eprintln!("/proc/sysrq-trigger: not on this kernel, skipped");
    }
    if kcore {
        // Masked: /dev/null (char 1:3), nothing to read, writes go nowhere.
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert!(lines.contains(&"0"), "{}", out.describe());
        assert!(lines.contains(&"kcore 1:3"), "{}", out.describe());
    } else {
        eprintln!("/proc/kcore: not on this kernel, skipped");
    }
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/printk_ratelimit").unwrap(),
        before
    );
    assert_untouched(&dir, &file);
}

#[test]
fn host_processes_and_mounts_are_out_of_sight() {
    let c = default_spec_container(
        "host-sight",
        "ls /proc | grep -c '^[0-9]'; cat /proc/[0-9]*/cmdline | tr '\\0' ' '; echo; cat /proc/self/mountinfo",
    );
    let (dir, file) = host_marker(&c, "host");
    // A host process with a recognizable command line, and a host mount.
    let tag = format!("host-only-{}", c.id);
    let mut host_proc = std::process::Command::new("sh")
        .args(["-c", "sleep 100", &tag])
        .spawn()
        .unwrap();
    let host_mnt = host_dir(&c, "host-mnt");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "hostonly"])
        .arg(&host_mnt)
        .status()
        .unwrap()
        .success();
    let out = c.run_fg();
    if mounted {
        let _ = std::process::Command::new("umount").arg(&host_mnt).status();
    }
    let _ = host_proc.kill();
    let _ = host_proc.wait();
    out.assert_ok();
    let procs: usize = out
        .stdout
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(999);
    assert!(
        procs <= 3,
        "the container sees {procs} processes:\n{}",
        out.describe()
    );
    assert!(
        !out.stdout.contains(&tag),
        "a host process is visible:\n{}",
        out.describe()
    );
    assert!(
        !out.stdout.contains("hostonly") && !out.stdout.contains("host-mnt"),
        "a host mount is visible:\n{}",
        out.describe()
    );
    assert_untouched(&dir, &file);
}

/// CVE-2019-5736's shape: until its execve the init is the runtime's own
/// binary; it is non-dumpable, so no process in the container may open
/// /proc/<init>/exe (to read it, or to write the runtime). After start,
/// /proc/<init>/exe is the container's program.
#[test]
fn the_runtime_binary_is_out_of_reach_through_proc_exe() {
    let c = Container::new("proc-exe");
    let (dir, file) = host_marker(&c, "host");
    let runtime = fs::canonicalize(bin()).unwrap();
    let runtime_before = fs::read(&runtime).unwrap();
    c.create().assert_ok();
    let pid = c.pid();
    let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(exe, runtime, "before start the init is the runtime");
    // A process in the container, before start: root, but without
    // CAP_SYS_PTRACE, so a non-dumpable init is out of its reach.
    let out = c.rt(&[
        "exec",
        &c.id,
        "sh",
        "-c",
        "readlink /proc/1/exe || echo no-exe; head -c 4 /proc/1/exe | wc -c; cat /proc/1/environ | wc -c",
    ]);
    assert!(
        out.stdout.contains("no-exe"),
        "the container resolved the init's exe: {}",
        out.describe()
    );
    assert!(
        out.stderr.contains("Permission denied"),
        "{}",
        out.describe()
    );
    c.start().assert_ok();
    // Seen from the host, the path is relative to the container's root mount.
    let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(
        exe != runtime && exe.ends_with("bin/busybox"),
        "after start /proc/{pid}/exe is {}",
        exe.display()
    );
    let out = c.rt(&["exec", &c.id, "readlink", "/proc/1/exe"]);
    assert_eq!(out.stdout.trim(), "/bin/busybox", "{}", out.describe());
    assert_eq!(
        fs::read(&runtime).unwrap(),
        runtime_before,
        "the runtime binary changed"
    );
    assert_untouched(&dir, &file);
}
