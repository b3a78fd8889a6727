//! Shared harness for the Puncker integration tests.
//!
//! Every test gets its own container id, its own `--root` state directory and
//! its own bundle (with a private copy of a busybox rootfs).  A `Container`
//! value cleans all of that up when dropped, including after a panic.
//!
//! The binary under test is `$PUNCKER_BIN` when set (e.g. `/usr/sbin/runc`
//! to validate the harness), otherwise the crate's own `puncker` binary.
//!
//! Runtime invocations never get a pipe for stdout/stderr: a detached
//! container inherits those descriptors and would keep a pipe open forever.
//! Instead every invocation writes into fresh files under the test directory,
//! which are read back once the runtime process has exited.

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::fs;
use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Default deadline for a single runtime invocation.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

pub const SIGKILL: i32 = 9;
pub const SIGTERM: i32 = 15;

/// Send a signal to a host process (ignores errors).
pub fn send_signal(pid: i32, sig: i32) {
    if pid > 0 {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            kill(pid, sig);
        }
    }
}

/// Path of the runtime binary under test.
pub fn bin() -> String {
    match std::env::var("PUNCKER_BIN") {
        Ok(b) if !b.is_empty() => b,
        _ => env!("CARGO_BIN_EXE_puncker").to_string(),
    }
}

/// True when the binary under test is runc (used only for diagnostics).
pub fn is_runc() -> bool {
    bin().ends_with("runc")
}

/// Per-process base directory for all test artefacts.
pub fn base_dir() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let p = PathBuf::from(format!("/tmp/pk-{}", std::process::id()));
        fs::create_dir_all(&p).expect("create base dir");
        p
    })
}

// ---------------------------------------------------------------------------
// rootfs template
// ---------------------------------------------------------------------------

/// Build (once per test process) a busybox rootfs template and return it.
pub fn template_rootfs() -> &'static Path {
    static TPL: OnceLock<PathBuf> = OnceLock::new();
    TPL.get_or_init(|| {
        cleanup_stale_base_dirs();
        let tpl = base_dir().join("template-rootfs");
        let _ = fs::remove_dir_all(&tpl);
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
            fs::create_dir_all(tpl.join(d)).unwrap();
        }
        fs::copy("/bin/busybox", tpl.join("bin/busybox")).expect("copy /bin/busybox");
        let list = Command::new("/bin/busybox")
            .arg("--list")
            .stdin(Stdio::null())
            .output()
            .expect("busybox --list");
        assert!(list.status.success(), "busybox --list failed");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let applet = applet.trim();
            if applet.is_empty() || applet == "busybox" || applet.contains('/') {
                continue;
            }
            let _ = std::os::unix::fs::symlink("busybox", tpl.join("bin").join(applet));
        }
        fs::write(
            tpl.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .unwrap();
        fs::write(
            tpl.join("etc/group"),
            "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
        )
        .unwrap();
        // tmp is world writable like on a real system.
        let _ = Command::new("chmod")
            .args(["1777"])
            .arg(tpl.join("tmp"))
            .status();
        tpl
    })
}

/// Remove `/tmp/pk-<pid>` directories left by test processes that are gone.
fn cleanup_stale_base_dirs() {
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let Ok(rd) = fs::read_dir("/tmp") else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name.strip_prefix("pk-") else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let p = e.path();
        if mounts.contains(&*p.to_string_lossy()) {
            continue; // never recurse through a mount point
        }
        let _ = fs::remove_dir_all(&p);
    }
}

// ---------------------------------------------------------------------------
// JSON helpers (no serde: tiny, purpose-built)
// ---------------------------------------------------------------------------

/// JSON string literal for `s`.
pub fn js(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// JSON array of strings.
pub fn js_arr(items: &[&str]) -> String {
    let v: Vec<String> = items.iter().map(|s| js(s)).collect();
    format!("[{}]", v.join(","))
}

/// Extract the first value of a flat string/number/bool field `key` from raw
/// JSON text.  Strings are returned unescaped (simple escapes only).
pub fn json_field(json: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\"");
    let mut from = 0;
    while let Some(i) = json[from..].find(&pat) {
        let after = from + i + pat.len();
        let rest = json[after..].trim_start();
        if let Some(rest) = rest.strip_prefix(':') {
            let rest = rest.trim_start();
            if let Some(s) = rest.strip_prefix('"') {
                let mut out = String::new();
                let mut chars = s.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => return Some(out),
                        '\\' => match chars.next()? {
                            'n' => out.push('\n'),
                            't' => out.push('\t'),
                            'r' => out.push('\r'),
                            'u' => {
                                let h: String = chars.by_ref().take(4).collect();
                                out.push(char::from_u32(u32::from_str_radix(&h, 16).ok()?)?);
                            }
                            o => out.push(o),
                        },
                        c => out.push(c),
                    }
                }
                return None;
            }
            let end = rest
                .find(|c: char| c == ',' || c == '}' || c == ']' || c.is_whitespace())
                .unwrap_or(rest.len());
            return Some(rest[..end].to_string());
        }
        from = after;
    }
    None
}

/// True if `hay` contains `word` delimited by non-alphanumeric characters.
pub fn contains_word(hay: &str, word: &str) -> bool {
    let hay = hay.to_lowercase();
    let word = word.to_lowercase();
    let mut from = 0;
    while let Some(i) = hay[from..].find(&word) {
        let s = from + i;
        let e = s + word.len();
        let before = hay[..s]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let after = hay[e..].chars().next().is_none_or(|c| !c.is_alphanumeric());
        if before && after {
            return true;
        }
        from = s + 1;
    }
    false
}

// ---------------------------------------------------------------------------
// Spec (config.json) builder
// ---------------------------------------------------------------------------

/// A JSON object for one mount.
pub fn mount_json(dest: &str, typ: &str, src: &str, opts: &[&str]) -> String {
    if opts.is_empty() {
        format!(
            "{{\"destination\":{},\"type\":{},\"source\":{}}}",
            js(dest),
            js(typ),
            js(src)
        )
    } else {
        format!(
            "{{\"destination\":{},\"type\":{},\"source\":{},\"options\":{}}}",
            js(dest),
            js(typ),
            js(src),
            js_arr(opts)
        )
    }
}

/// A JSON object for one namespace.
pub fn ns_json(typ: &str, path: Option<&str>) -> String {
    match path {
        Some(p) => format!("{{\"type\":{},\"path\":{}}}", js(typ), js(p)),
        None => format!("{{\"type\":{}}}", js(typ)),
    }
}

/// A JSON hook object running `sh -c script` (a host binary unless the hook
/// kind resolves inside the container).
pub fn sh_hook(script: &str, timeout: Option<u32>) -> String {
    let t = timeout
        .map(|t| format!(",\"timeout\":{t}"))
        .unwrap_or_default();
    format!(
        "{{\"path\":\"/bin/sh\",\"args\":{},\"env\":[\"PATH=/usr/sbin:/usr/bin:/sbin:/bin\"]{t}}}",
        js_arr(&["sh", "-c", script])
    )
}

pub fn default_mounts() -> Vec<String> {
    vec![
        mount_json("/proc", "proc", "proc", &[]),
        mount_json(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount_json(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount_json(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount_json(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount_json(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount_json(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    ]
}

pub fn default_namespaces() -> Vec<String> {
    ["pid", "network", "ipc", "uts", "mount", "cgroup"]
        .iter()
        .map(|t| ns_json(t, None))
        .collect()
}

pub const DEFAULT_MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];
pub const DEFAULT_READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// An editable OCI runtime spec, rendered to JSON text by `to_json`.
/// Fields holding `String`s in vectors are raw JSON fragments.
#[derive(Clone, Debug)]
pub struct Spec {
    pub oci_version: String,
    pub terminal: bool,
    pub uid: u32,
    pub gid: u32,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// Extra `"key": value` fragments inside `process`.
    pub process_extra: Vec<String>,
    pub root_path: String,
    pub root_readonly: bool,
    pub hostname: Option<String>,
    /// Raw mount objects, in order.
    pub mounts: Vec<String>,
    /// Raw namespace objects.
    pub namespaces: Vec<String>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    /// Include runc's default `resources.devices` deny-all rule.
    pub device_cgroup_deny_all: bool,
    /// Extra `"key": value` fragments inside `linux`.
    pub linux_extra: Vec<String>,
    /// (hook kind, raw hook object) pairs, e.g. ("prestart", sh_hook(..)).
    pub hooks: Vec<(String, String)>,
    /// Extra `"key": value` fragments at top level.
    pub top_extra: Vec<String>,
}

impl Spec {
    /// Equivalent of `runc spec` (non-terminal) running `args`, plus a cgroup
    /// namespace and hostname "puncker".
    pub fn new(args: &[&str]) -> Spec {
        Spec {
            oci_version: "1.0.2-dev".into(),
            terminal: false,
            uid: 0,
            gid: 0,
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                "TERM=xterm".into(),
            ],
            cwd: "/".into(),
            process_extra: vec![],
            root_path: "rootfs".into(),
            root_readonly: true,
            hostname: Some("puncker".into()),
            mounts: default_mounts(),
            namespaces: default_namespaces(),
            masked_paths: DEFAULT_MASKED.iter().map(|s| s.to_string()).collect(),
            readonly_paths: DEFAULT_READONLY.iter().map(|s| s.to_string()).collect(),
            device_cgroup_deny_all: true,
            linux_extra: vec![],
            hooks: vec![],
            top_extra: vec![],
        }
    }

    pub fn to_json(&self) -> String {
        let caps = js_arr(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        let args: Vec<&str> = self.args.iter().map(|s| s.as_str()).collect();
        let env: Vec<&str> = self.env.iter().map(|s| s.as_str()).collect();
        let mut process = vec![
            format!("\"terminal\":{}", self.terminal),
            format!("\"user\":{{\"uid\":{},\"gid\":{}}}", self.uid, self.gid),
            format!("\"args\":{}", js_arr(&args)),
            format!("\"env\":{}", js_arr(&env)),
            format!("\"cwd\":{}", js(&self.cwd)),
            format!(
                "\"capabilities\":{{\"bounding\":{caps},\"effective\":{caps},\"permitted\":{caps}}}"
            ),
            "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1024,\"soft\":1024}]".into(),
            "\"noNewPrivileges\":true".into(),
        ];
        process.extend(self.process_extra.iter().cloned());

        let masked: Vec<&str> = self.masked_paths.iter().map(|s| s.as_str()).collect();
        let ro: Vec<&str> = self.readonly_paths.iter().map(|s| s.as_str()).collect();
        let mut linux = vec![];
        if self.device_cgroup_deny_all {
            linux.push(
                "\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]}".to_string(),
            );
        }
        linux.push(format!("\"namespaces\":[{}]", self.namespaces.join(",")));
        linux.push(format!("\"maskedPaths\":{}", js_arr(&masked)));
        linux.push(format!("\"readonlyPaths\":{}", js_arr(&ro)));
        linux.extend(self.linux_extra.iter().cloned());

        let mut top = vec![
            format!("\"ociVersion\":{}", js(&self.oci_version)),
            format!("\"process\":{{\n  {}\n}}", process.join(",\n  ")),
            format!(
                "\"root\":{{\"path\":{},\"readonly\":{}}}",
                js(&self.root_path),
                self.root_readonly
            ),
        ];
        if let Some(h) = &self.hostname {
            top.push(format!("\"hostname\":{}", js(h)));
        }
        top.push(format!("\"mounts\":[\n  {}\n]", self.mounts.join(",\n  ")));
        if !self.hooks.is_empty() {
            let mut kinds: Vec<&str> = vec![];
            for (k, _) in &self.hooks {
                if !kinds.contains(&k.as_str()) {
                    kinds.push(k);
                }
            }
            let parts: Vec<String> = kinds
                .iter()
                .map(|k| {
                    let hs: Vec<&str> = self
                        .hooks
                        .iter()
                        .filter(|(kk, _)| kk == k)
                        .map(|(_, h)| h.as_str())
                        .collect();
                    format!("{}:[{}]", js(k), hs.join(","))
                })
                .collect();
            top.push(format!("\"hooks\":{{{}}}", parts.join(",")));
        }
        top.push(format!("\"linux\":{{\n  {}\n}}", linux.join(",\n  ")));
        top.extend(self.top_extra.iter().cloned());
        format!("{{\n{}\n}}\n", top.join(",\n"))
    }
}

/// The default config.json text running `args`.
pub fn default_config(args: &[&str]) -> String {
    Spec::new(args).to_json()
}

// ---------------------------------------------------------------------------
// Runtime invocation results
// ---------------------------------------------------------------------------

#[derive(Debug)]
pub struct Out {
    pub cmd: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Out {
    pub fn code(&self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        self.status
            .code()
            .or_else(|| self.status.signal().map(|s| 128 + s))
    }
    pub fn ok(&self) -> bool {
        self.status.success()
    }
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(
            self.ok(),
            "`{}` failed unexpectedly:\n{}",
            self.cmd,
            self.describe()
        );
        self
    }
    #[track_caller]
    pub fn assert_fail(&self) -> &Self {
        assert!(
            !self.ok(),
            "`{}` succeeded but should have failed:\n{}",
            self.cmd,
            self.describe()
        );
        self
    }
    /// Assert stderr (case-insensitively) contains `needle`.
    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.to_lowercase().contains(&needle.to_lowercase()),
            "stderr of `{}` does not mention {:?}:\n{}",
            self.cmd,
            needle,
            self.describe()
        );
        self
    }
    pub fn describe(&self) -> String {
        format!(
            "  exit: {:?}\n  stdout: {:?}\n  stderr: {:?}",
            self.code(),
            self.stdout,
            self.stderr
        )
    }
}

/// Wait for `child` with a deadline; on timeout kill it and panic.
pub fn wait_deadline(child: &mut Child, what: &str, timeout: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return st,
            Ok(None) => {}
            Err(e) => panic!("waiting for {what}: {e}"),
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{what}` did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------------------
// Host census helpers
// ---------------------------------------------------------------------------

/// Host mountinfo lines containing `needle`.
pub fn host_mounts_matching(needle: &str) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(|l| l.to_string())
        .collect()
}

/// Every pid in /proc.
fn host_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Host processes (other than ourselves) whose cmdline or environ contains
/// one of `needles`, or whose cwd/root/exe resolves under one of `dirs`.
/// Returns "pid: reason" strings.
pub fn processes_matching(needles: &[&str], dirs: &[&Path]) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut found = vec![];
    for pid in host_pids() {
        if pid == me {
            continue;
        }
        let p = PathBuf::from(format!("/proc/{pid}"));
        let mut reason = None;
        for f in ["cmdline", "environ"] {
            if let Ok(b) = fs::read(p.join(f)) {
                let s = String::from_utf8_lossy(&b);
                if let Some(n) = needles.iter().find(|n| !n.is_empty() && s.contains(**n)) {
                    reason = Some(format!("{f} contains {n:?}: {:?}", s.replace('\0', " ")));
                    break;
                }
            }
        }
        if reason.is_none() {
            for l in ["cwd", "root", "exe"] {
                if let Ok(t) = fs::read_link(p.join(l)) {
                    if dirs.iter().any(|d| t.starts_with(d)) {
                        reason = Some(format!("{l} -> {}", t.display()));
                        break;
                    }
                }
            }
        }
        if let Some(r) = reason {
            // Skip zombies: they hold nothing but a pid.
            let st = fs::read_to_string(p.join("stat")).unwrap_or_default();
            let state = st
                .rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next());
            if state == Some("Z") || st.is_empty() {
                continue;
            }
            found.push((pid, r));
        }
    }
    found
}

/// Inode-ish identity of a namespace link, e.g. "net:[4026531840]".
pub fn ns_link(pid: &str, ns: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .map(|p| p.to_string_lossy().to_string())
        .unwrap_or_else(|e| format!("<error reading /proc/{pid}/ns/{ns}: {e}>"))
}

pub fn wait_until<F: FnMut() -> bool>(timeout: Duration, mut f: F) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------
// Container
// ---------------------------------------------------------------------------

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One test container: unique id, private state root, private bundle.
pub struct Container {
    pub id: String,
    /// Test directory holding everything below.
    pub dir: PathBuf,
    /// `--root` state directory.
    pub root: PathBuf,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// Unique string placed into the container's environment.
    pub marker: String,
    pub spec: Spec,
    /// When set, written verbatim as config.json instead of `spec`.
    pub raw_config: Option<String>,
    /// When false, `create`/`run` do not (re)write config.json.
    pub write_config: bool,
    calls: Cell<u32>,
    /// Output files of the last create/run (the container inherits them).
    last_io: RefCell<Option<(PathBuf, PathBuf)>>,
}

impl Container {
    /// New container running `sleep 1000` by default.
    pub fn new(name: &str) -> Container {
        Self::with_args(name, &["sleep", "1000"])
    }

    pub fn with_args(name: &str, args: &[&str]) -> Container {
        Self::with_rootfs_copy(name, args, "-a")
    }

    /// A container whose rootfs is the template copied with `cp <copy_flag>`.
    fn with_rootfs_copy(name: &str, args: &[&str], copy_flag: &str) -> Container {
        let tpl = template_rootfs();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let clean: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // Counter in the middle: no id is a substring of another one.
        let id = format!("{clean}-{n}-{}", std::process::id());
        let dir = base_dir().join(&id);
        let _ = fs::remove_dir_all(&dir);
        let root = dir.join("state");
        let bundle = dir.join("bundle");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&bundle).unwrap();
        fs::create_dir_all(dir.join("io")).unwrap();
        let rootfs = bundle.join("rootfs");
        let st = Command::new("cp")
            .arg(copy_flag)
            .arg(tpl)
            .arg(&rootfs)
            .stdin(Stdio::null())
            .status()
            .expect("cp rootfs");
        assert!(st.success(), "cp {copy_flag} of rootfs template failed");
        let marker = format!("PKMARK_{}", id.replace('-', "_"));
        let mut spec = Spec::new(args);
        spec.env.push(format!("PUNCKER_TEST_MARKER={marker}"));
        Container {
            id,
            dir,
            root,
            bundle,
            rootfs,
            marker,
            spec,
            raw_config: None,
            write_config: true,
            calls: Cell::new(0),
            last_io: RefCell::new(None),
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.bundle.join("config.json")
    }

    /// Render and write config.json now.
    pub fn write_config_now(&self) {
        let text = match &self.raw_config {
            Some(r) => r.clone(),
            None => self.spec.to_json(),
        };
        fs::write(self.config_path(), text).expect("write config.json");
    }

    fn io_files(&self) -> (PathBuf, PathBuf) {
        let n = self.calls.get();
        self.calls.set(n + 1);
        let io = self.dir.join("io");
        (io.join(format!("{n}.out")), io.join(format!("{n}.err")))
    }

    /// A `Command` for `BIN --root ROOT args...` (stdin null, cwd = bundle).
    pub fn command(&self, args: &[&str]) -> (Command, PathBuf, PathBuf) {
        let (o, e) = self.io_files();
        let mut cmd = Command::new(bin());
        cmd.arg("--root").arg(&self.root).args(args);
        cmd.current_dir(&self.bundle);
        cmd.stdin(Stdio::null());
        cmd.stdout(fs::File::create(&o).unwrap());
        cmd.stderr(fs::File::create(&e).unwrap());
        (cmd, o, e)
    }

    fn describe_cmd(&self, args: &[&str]) -> String {
        format!(
            "{} --root {} {}",
            bin(),
            self.root.display(),
            args.join(" ")
        )
    }

    /// Run the runtime with `args` and wait (with deadline).
    pub fn rt(&self, args: &[&str]) -> Out {
        self.rt_stdin(args, None)
    }

    /// Like `rt`, piping `input` to stdin when given.
    pub fn rt_stdin(&self, args: &[&str], input: Option<&[u8]>) -> Out {
        let (mut cmd, o, e) = self.command(args);
        if input.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let what = self.describe_cmd(args);
        let start = Instant::now();
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        if let Some(inp) = input {
            let mut sin = child.stdin.take().unwrap();
            let _ = sin.write_all(inp);
            drop(sin);
        }
        let status = wait_deadline(&mut child, &what, CALL_TIMEOUT);
        let elapsed = start.elapsed();
        if matches!(args.first(), Some(&"create") | Some(&"run")) {
            *self.last_io.borrow_mut() = Some((o.clone(), e.clone()));
        }
        Out {
            cmd: what,
            status,
            stdout: fs::read_to_string(&o).unwrap_or_default(),
            stderr: fs::read_to_string(&e).unwrap_or_default(),
            elapsed,
        }
    }

    fn prepare(&self) {
        if self.write_config {
            self.write_config_now();
        }
    }

    pub fn bundle_str(&self) -> String {
        self.bundle.to_string_lossy().to_string()
    }

    pub fn create(&self) -> Out {
        self.prepare();
        let b = self.bundle_str();
        self.rt(&["create", "--bundle", &b, &self.id])
    }

    pub fn create_with(&self, extra: &[&str]) -> Out {
        self.prepare();
        let b = self.bundle_str();
        let mut a = vec!["create", "--bundle", &b];
        a.extend_from_slice(extra);
        a.push(&self.id);
        self.rt(&a)
    }

    pub fn start(&self) -> Out {
        self.rt(&["start", &self.id])
    }

    pub fn state(&self) -> Out {
        self.rt(&["state", &self.id])
    }

    pub fn kill(&self, sig: Option<&str>) -> Out {
        match sig {
            Some(s) => self.rt(&["kill", &self.id, s]),
            None => self.rt(&["kill", &self.id]),
        }
    }

    pub fn delete(&self, force: bool) -> Out {
        if force {
            self.rt(&["delete", "--force", &self.id])
        } else {
            self.rt(&["delete", &self.id])
        }
    }

    /// Foreground `run`; returns when the container exits.
    pub fn run_fg(&self) -> Out {
        self.prepare();
        let b = self.bundle_str();
        self.rt(&["run", "--bundle", &b, &self.id])
    }

    /// Foreground `run` with `input` piped to stdin.
    pub fn run_fg_stdin(&self, input: &[u8]) -> Out {
        self.prepare();
        let b = self.bundle_str();
        self.rt_stdin(&["run", "--bundle", &b, &self.id], Some(input))
    }

    /// Raw `state` JSON; panics when `state` fails.
    #[track_caller]
    pub fn state_json(&self) -> String {
        let o = self.state();
        o.assert_ok();
        o.stdout
    }

    #[track_caller]
    pub fn status(&self) -> String {
        let j = self.state_json();
        json_field(&j, "status").unwrap_or_else(|| panic!("no status in state: {j}"))
    }

    #[track_caller]
    pub fn pid(&self) -> i32 {
        let j = self.state_json();
        json_field(&j, "pid")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no numeric pid in state: {j}"))
    }

    /// Poll `state` until status equals `want`.
    #[track_caller]
    pub fn wait_status(&self, want: &str, timeout: Duration) {
        let mut last = String::new();
        let ok = wait_until(timeout, || {
            let o = self.state();
            last = o.stdout.clone() + &o.stderr;
            o.ok() && json_field(&o.stdout, "status").as_deref() == Some(want)
        });
        assert!(
            ok,
            "container {} never reached status {want:?}; last state: {last}",
            self.id
        );
    }

    /// What the container process wrote to stdout so far (from the last
    /// create/run call; the container inherits that file).
    pub fn container_stdout(&self) -> String {
        match &*self.last_io.borrow() {
            Some((o, _)) => fs::read_to_string(o).unwrap_or_default(),
            None => String::new(),
        }
    }

    pub fn container_stderr(&self) -> String {
        match &*self.last_io.borrow() {
            Some((_, e)) => fs::read_to_string(e).unwrap_or_default(),
            None => String::new(),
        }
    }

    /// Poll the container's stdout until it contains `needle`.
    #[track_caller]
    pub fn wait_stdout(&self, needle: &str, timeout: Duration) -> String {
        let mut s = String::new();
        let ok = wait_until(timeout, || {
            s = self.container_stdout();
            s.contains(needle)
        });
        assert!(
            ok,
            "container output never contained {needle:?}; stdout: {s:?}; stderr: {:?}",
            self.container_stderr()
        );
        s
    }

    /// Create + start, asserting both succeed; returns the init pid.
    #[track_caller]
    pub fn create_and_start(&self) -> i32 {
        self.create().assert_ok();
        self.start().assert_ok();
        self.pid()
    }

    /// Entries under the --root dir that relate to this container id.
    pub fn root_entries_for_id(&self) -> Vec<String> {
        let mut v = vec![];
        if let Ok(rd) = fs::read_dir(&self.root) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().to_string();
                if n.contains(&self.id) {
                    v.push(n);
                }
            }
        }
        v
    }

    /// All entries under the --root dir.
    pub fn root_entries(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.root)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Host processes belonging to this container (marker, id or bundle).
    pub fn leaked_processes(&self) -> Vec<(i32, String)> {
        processes_matching(&[&self.marker, &self.id], &[&self.bundle])
    }

    /// Host mountinfo lines mentioning this test's directory.
    pub fn leaked_mounts(&self) -> Vec<String> {
        host_mounts_matching(&self.dir.to_string_lossy())
    }

    /// Assert nothing is left on the host for this container: no state entry,
    /// no process, no mount.
    #[track_caller]
    pub fn assert_no_traces(&self) {
        let entries = self.root_entries_for_id();
        let procs = wait_procs_gone(self);
        let mounts = self.leaked_mounts();
        assert!(
            entries.is_empty() && procs.is_empty() && mounts.is_empty(),
            "container {} left traces:\n  root entries: {entries:?}\n  processes: {procs:?}\n  mounts: {mounts:?}",
            self.id
        );
    }
}

/// Processes may need a moment to be reaped after a kill; poll briefly.
fn wait_procs_gone(c: &Container) -> Vec<(i32, String)> {
    let mut p = vec![];
    wait_until(Duration::from_secs(3), || {
        p = c.leaked_processes();
        p.is_empty()
    });
    p
}

impl Drop for Container {
    fn drop(&mut self) {
        let (mut cmd, _, _) = self.command(&["delete", "--force", &self.id]);
        if let Ok(ch) = cmd.spawn() {
            wait_or_kill(ch, Duration::from_secs(20));
        }
        // Kill anything that still belongs to this container.
        for _ in 0..3 {
            let procs = self.leaked_processes();
            if procs.is_empty() {
                break;
            }
            for (pid, _) in procs {
                send_signal(pid, SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Unmount anything a buggy runtime left on the host under our dir,
        // deepest first, so removing the dir never walks into host data.
        let mut mps: Vec<String> = self
            .leaked_mounts()
            .iter()
            .filter_map(|l| l.split_whitespace().nth(4).map(|s| s.to_string()))
            .filter(|mp| mp.starts_with(&*self.dir.to_string_lossy()))
            .collect();
        mps.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for mp in &mps {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(mp)
                .stdin(Stdio::null())
                .status();
        }
        if self.leaked_mounts().is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            eprintln!(
                "warning: not removing {} (mounts remain)",
                self.dir.display()
            );
        }
    }
}

/// A unique scratch directory on the host (removed by the Container drop when
/// created inside `c.dir`).
pub fn host_dir(c: &Container, name: &str) -> PathBuf {
    let p = c.dir.join(name);
    fs::create_dir_all(&p).unwrap();
    p
}

pub fn is_char_device(p: &Path) -> bool {
    fs::metadata(p)
        .map(|m| m.file_type().is_char_device())
        .unwrap_or(false)
}

pub const SHORT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Terminals and passed descriptors (std only: a few libc calls declared here)
// ---------------------------------------------------------------------------

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

#[repr(C)]
struct IoVec {
    base: *mut u8,
    len: usize,
}

/// `struct msghdr` as glibc lays it out on Linux.
#[repr(C)]
struct MsgHdr {
    name: *mut u8,
    namelen: u32,
    iov: *mut IoVec,
    iovlen: usize,
    control: *mut u8,
    controllen: usize,
    flags: i32,
}

/// `struct cmsghdr` (its data follows, aligned to `usize`).
#[repr(C)]
struct CmsgHdr {
    len: usize,
    level: i32,
    typ: i32,
}

#[repr(C)]
struct PollFdRaw {
    fd: i32,
    events: i16,
    revents: i16,
}

extern "C" {
    fn recvmsg(fd: i32, msg: *mut MsgHdr, flags: i32) -> isize;
    fn poll(fds: *mut PollFdRaw, n: u64, timeout_ms: i32) -> i32;
    fn fcntl(fd: i32, cmd: i32, ...) -> i32;
    fn dup2(old: i32, new: i32) -> i32;
}

const SOL_SOCKET: i32 = 1;
const SCM_RIGHTS: i32 = 1;
const MSG_CMSG_CLOEXEC: i32 = 0x4000_0000;
const POLLIN: i16 = 1;
const F_DUPFD_CLOEXEC: i32 = 1030;

/// Wait until `fd` is readable (or hung up); false on timeout.
pub fn wait_readable(fd: i32, timeout: Duration) -> bool {
    let mut p = PollFdRaw {
        fd,
        events: POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    loop {
        // SAFETY: one valid pollfd, count 1.
        let r = unsafe { poll(&mut p, 1, ms) };
        if r < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        return r > 0;
    }
}

/// A unix socket the runtime connects to with `--console-socket`, playing
/// the part of containerd/conmon: it receives the pty master.
pub struct ConsoleSocket {
    pub path: PathBuf,
    listener: std::os::unix::net::UnixListener,
}

impl ConsoleSocket {
    /// Listen at `<c.dir>/<name>`.
    pub fn new(c: &Container, name: &str) -> ConsoleSocket {
        let path = c.dir.join(name);
        let _ = fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path)
            .unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        listener.set_nonblocking(true).unwrap();
        ConsoleSocket { path, listener }
    }

    pub fn path_str(&self) -> String {
        self.path.to_string_lossy().to_string()
    }

    /// Accept the runtime's connection and receive one fd with SCM_RIGHTS.
    /// Returns the fd and the message payload (the pty's name).
    pub fn recv_master(&self, timeout: Duration) -> Result<(Pty, String), String> {
        let start = Instant::now();
        let stream = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if start.elapsed() > timeout {
                        return Err(format!(
                            "nobody connected to {} within {timeout:?}",
                            self.path.display()
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(format!("accept: {e}")),
            }
        };
        stream.set_nonblocking(false).unwrap();
        if !wait_readable(stream.as_raw_fd(), timeout) {
            return Err("no message on the console socket".into());
        }
        let mut data = [0u8; 4096];
        let mut iov = IoVec {
            base: data.as_mut_ptr(),
            len: data.len(),
        };
        // Room for a header and a few fds, aligned like cmsghdr.
        let mut control = [0usize; 16];
        let mut msg = MsgHdr {
            name: std::ptr::null_mut(),
            namelen: 0,
            iov: &mut iov,
            iovlen: 1,
            control: control.as_mut_ptr() as *mut u8,
            controllen: std::mem::size_of_val(&control),
            flags: 0,
        };
        // SAFETY: msg points at live buffers of the sizes it states.
        let n = unsafe { recvmsg(stream.as_raw_fd(), &mut msg, MSG_CMSG_CLOEXEC) };
        if n < 0 {
            return Err(format!("recvmsg: {}", std::io::Error::last_os_error()));
        }
        let payload = String::from_utf8_lossy(&data[..n as usize]).to_string();
        let hdr_len = std::mem::size_of::<CmsgHdr>();
        let mut off = 0usize;
        let mut found = None;
        while off + hdr_len <= msg.controllen {
            // SAFETY: within the control buffer, which is usize-aligned.
            let h = unsafe { &*((control.as_ptr() as *const u8).add(off) as *const CmsgHdr) };
            if h.len < hdr_len {
                break;
            }
            if h.level == SOL_SOCKET && h.typ == SCM_RIGHTS && h.len >= hdr_len + 4 {
                let nfds = (h.len - hdr_len) / 4;
                // SAFETY: the fds follow the header inside the buffer.
                let fds = unsafe {
                    std::slice::from_raw_parts(
                        (control.as_ptr() as *const u8).add(off + hdr_len) as *const i32,
                        nfds,
                    )
                };
                for (i, fd) in fds.iter().enumerate() {
                    if i == 0 {
                        found = Some(*fd);
                    } else {
                        // SAFETY: received fds are ours to close.
                        drop(unsafe { OwnedFd::from_raw_fd(*fd) });
                    }
                }
            }
            off += (h.len + 7) & !7;
        }
        match found {
            // SAFETY: the kernel installed this fd for us; nothing else owns it.
            Some(fd) => Ok((Pty::from(unsafe { OwnedFd::from_raw_fd(fd) }), payload)),
            None => Err(format!(
                "message {payload:?} carried no SCM_RIGHTS fd (flags {:#x})",
                msg.flags
            )),
        }
    }
}

/// The master end of a container's terminal, with everything read so far.
pub struct Pty {
    pub file: fs::File,
    pub seen: String,
    pub eof: bool,
}

impl From<OwnedFd> for Pty {
    fn from(fd: OwnedFd) -> Pty {
        Pty {
            file: fs::File::from(fd),
            seen: String::new(),
            eof: false,
        }
    }
}

impl Pty {
    /// Type `s` into the terminal.
    pub fn type_in(&mut self, s: &str) {
        self.file
            .write_all(s.as_bytes())
            .unwrap_or_else(|e| panic!("write to the pty master: {e}"));
    }

    /// Read whatever is available within `wait`; false once at end (EIO).
    pub fn pump(&mut self, wait: Duration) -> bool {
        use std::io::Read;
        if self.eof {
            return false;
        }
        if !wait_readable(self.file.as_raw_fd(), wait) {
            return true;
        }
        let mut buf = [0u8; 4096];
        match self.file.read(&mut buf) {
            Ok(0) | Err(_) => {
                self.eof = true;
                false
            }
            Ok(n) => {
                self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                true
            }
        }
    }

    /// Read until the output (so far) satisfies `f`; panics on timeout.
    #[track_caller]
    pub fn read_until_with<F: FnMut(&str) -> bool>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut f: F,
    ) -> String {
        let start = Instant::now();
        while !f(&self.seen) {
            if start.elapsed() > timeout || !self.pump(Duration::from_millis(100)) {
                if f(&self.seen) {
                    break;
                }
                panic!(
                    "terminal output never showed {what} (eof: {}); output so far: {:?}",
                    self.eof, self.seen
                );
            }
        }
        self.seen.clone()
    }

    /// Read until `needle` appears in the output; panics on timeout.
    #[track_caller]
    pub fn read_until(&mut self, needle: &str, timeout: Duration) -> String {
        self.read_until_with(&format!("{needle:?}"), timeout, |s| s.contains(needle))
    }

    /// Lines of output so far, without `\r`.
    pub fn lines(&self) -> Vec<String> {
        self.seen
            .split('\n')
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect()
    }
}

/// Make `files[i]` fd `3 + i` of the process `cmd` starts (not close-on-exec).
pub fn pass_fds(cmd: &mut Command, files: Vec<fs::File>) {
    use std::os::unix::process::CommandExt;
    assert!(files.len() <= 16, "pass_fds: at most 16 files");
    // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and
    // exec, and no allocation. The closure owns the files, so they stay open
    // as long as `cmd` lives.
    unsafe {
        cmd.pre_exec(move || {
            // First move every source out of the way, so that no dup2 below
            // overwrites a source that is still to be copied.
            let mut tmp = [0i32; 16];
            for (i, f) in files.iter().enumerate() {
                tmp[i] = fcntl(f.as_raw_fd(), F_DUPFD_CLOEXEC, 64);
                if tmp[i] < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (i, t) in tmp.iter().enumerate().take(files.len()) {
                if dup2(*t, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Run `cmd` (made by `Container::command`) to its end with the deadline and
/// collect an `Out`.
pub fn finish(mut cmd: Command, what: &str, o: &Path, e: &Path) -> Out {
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|err| panic!("spawn {what}: {err}"));
    let status = wait_deadline(&mut child, what, CALL_TIMEOUT);
    Out {
        cmd: what.to_string(),
        status,
        stdout: fs::read_to_string(o).unwrap_or_default(),
        stderr: fs::read_to_string(e).unwrap_or_default(),
        elapsed: start.elapsed(),
    }
}

/// Run `runtime_args` (after `BIN --root ROOT`) under `script -qec` from
/// util-linux, so that the runtime's stdin/stdout is a terminal, typing
/// each of `input` after a short pause. Stdin stays open until the runtime
/// is done (script ends the session when its input ends).
pub fn run_under_script(c: &Container, runtime_args: &[&str], input: &[&str]) -> Out {
    let mut line = format!("{} --root {}", bin(), c.root.display());
    for a in runtime_args {
        line.push(' ');
        if a.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "/-_.=:,@+".contains(ch))
        {
            line.push_str(a);
        } else {
            line.push('\'');
            line.push_str(&a.replace('\'', "'\\''"));
            line.push('\'');
        }
    }
    let (_, o, e) = c.command(&[]);
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .current_dir(&c.bundle)
        .stdin(Stdio::piped())
        .stdout(fs::File::create(&o).unwrap())
        .stderr(fs::File::create(&e).unwrap());
    let what = format!("script -qec {line:?} /dev/null");
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn script (util-linux)");
    let mut sin = child.stdin.take().unwrap();
    for chunk in input {
        std::thread::sleep(Duration::from_millis(300));
        let _ = sin.write_all(chunk.as_bytes());
    }
    wait_until(CALL_TIMEOUT, || !matches!(child.try_wait(), Ok(None)));
    drop(sin);
    let status = wait_deadline(&mut child, &what, Duration::from_secs(5));
    Out {
        cmd: what,
        status,
        stdout: fs::read_to_string(&o).unwrap_or_default(),
        stderr: fs::read_to_string(&e).unwrap_or_default(),
        elapsed: start.elapsed(),
    }
}

// ---------------------------------------------------------------------------
// Host census helpers for crash and stress tests
// ---------------------------------------------------------------------------

/// Every value of the flat field `key` in raw JSON text (e.g. each
/// container's "status" in `list --format json`).
pub fn json_fields(json: &str, key: &str) -> Vec<String> {
    let pat = format!("\"{key}\"");
    let mut out = vec![];
    let mut from = 0;
    while let Some(i) = json[from..].find(&pat) {
        if let Some(v) = json_field(&json[from + i..], key) {
            out.push(v);
        }
        from += i + pat.len();
    }
    out
}

/// FIFOs and unix sockets anywhere under `dir` (symlinks not followed).
pub fn fifos_and_sockets_under(dir: &Path) -> Vec<String> {
    let mut found = vec![];
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                todo.push(e.path());
            } else if ft.is_fifo() {
                found.push(format!("fifo {}", e.path().display()));
            } else if ft.is_socket() {
                found.push(format!("socket {}", e.path().display()));
            }
        }
    }
    found.sort();
    found
}

/// Directories anywhere under /sys/fs/cgroup whose name contains `needle`.
pub fn cgroup_dirs_matching(needle: &str) -> Vec<String> {
    let mut found = vec![];
    let mut todo = vec![(PathBuf::from("/sys/fs/cgroup"), 0)];
    while let Some((d, depth)) = todo.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if e.file_name().to_string_lossy().contains(needle) {
                found.push(e.path().display().to_string());
            }
            if depth < 8 {
                todo.push((e.path(), depth + 1));
            }
        }
    }
    found.sort();
    found
}

/// Live host processes whose `/proc/PID/cgroup` mentions `needle`.
pub fn processes_in_cgroups_matching(needle: &str) -> Vec<(i32, String)> {
    let mut found = vec![];
    let Ok(rd) = fs::read_dir("/proc") else {
        return found;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cg = fs::read_to_string(e.path().join("cgroup")).unwrap_or_default();
        if !cg.contains(needle) {
            continue;
        }
        let (state, _) = stat_state_ppid(pid);
        if state.is_some_and(|s| s != 'Z') {
            found.push((pid, format!("cgroup {:?}", cg.trim())));
        }
    }
    found
}

/// (state letter, parent pid) of a host process, from `/proc/PID/stat`.
pub fn stat_state_ppid(pid: i32) -> (Option<char>, Option<i32>) {
    let st = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let mut f = st.rsplit(')').next().unwrap_or("").split_whitespace();
    let state = f.next().and_then(|s| s.chars().next());
    let ppid = f.next().and_then(|s| s.parse().ok());
    (state, ppid)
}

/// Zombie children of the test process ("pid comm"): processes it started
/// and never waited for.
pub fn zombie_children_of_self() -> Vec<String> {
    let me = std::process::id() as i32;
    let mut found = vec![];
    for pid in host_pids() {
        if let (Some('Z'), Some(pp)) = stat_state_ppid(pid) {
            if pp == me {
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                found.push(format!("{pid} {}", comm.trim()));
            }
        }
    }
    found.sort();
    found
}

/// The test process's own open descriptors, as "fd -> target", sorted
/// (the descriptor used to read the directory itself is left out).
pub fn open_fds_of_self() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir("/proc/self/fd")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let t = fs::read_link(e.path()).ok()?;
                    if t == Path::new(&format!("/proc/{}/fd", std::process::id())) {
                        return None;
                    }
                    Some(format!(
                        "{} -> {}",
                        e.file_name().to_string_lossy(),
                        t.display()
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

impl Container {
    /// Like `with_args`, but the rootfs is a hard-linked copy of the
    /// template (`cp -al`: new directories, shared file and symlink inodes),
    /// about fifteen times faster than `cp -a` where symlink creation is
    /// slow. Existing files are the template's own: only for containers
    /// that do not modify them (a read-only root, as `Spec::new` sets).
    pub fn with_args_linked(name: &str, args: &[&str]) -> Container {
        Self::with_rootfs_copy(name, args, "-al")
    }

    /// `with_args_linked` running `sleep 1000`.
    pub fn new_linked(name: &str) -> Container {
        Self::with_args_linked(name, &["sleep", "1000"])
    }
}

/// Wait for `ch` up to `limit`, then kill it: cleanup must never hang a test.
pub fn wait_or_kill(mut ch: std::process::Child, limit: Duration) {
    let start = Instant::now();
    while ch.try_wait().ok().flatten().is_none() {
        if start.elapsed() > limit {
            let _ = ch.kill();
            let _ = ch.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
