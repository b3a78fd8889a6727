//! The documentation cannot drift from the code.
//!
//! Every markdown file under `docs/`, and `README.md`, is read, and these
//! conventions are checked (docs/walkthrough.md explains them to writers):
//!
//! 1. **Paths.** A link `[text](target)` or a reference definition
//!    `[name]: target` whose target is not a URL (`http:`, `https:`,
//!    `mailto:`) or a bare `#fragment` is a path relative to the markdown
//!    file; without its fragment it must exist. A fragment on a `.md`
//!    target (or a bare `#fragment`) must name a heading of that file, by
//!    GitHub's rules, or an explicit `<a name=...>`/`id=` anchor. A fragment
//!    on any other file must be `L<n>` or `L<n>-L<m>` within the file.
//! 2. **Items named by a link.** When the whole text of a link to a `.rs`
//!    file is one backticked Rust path — [`pivot_into_rootfs`],
//!    [`rootfs::pivot_into_rootfs`], [`Channel::expect`] — it names an item
//!    of that file: a lower-case last segment is a `fn`, a capitalised one
//!    a `struct`, `enum`, `trait`, `type`, `const`, `static` or enum
//!    variant, and `Type::item` needs both the type and the item. Leading
//!    module segments must be a tail of the linked file's module path
//!    (`init::run` for `src/lifecycle/init.rs`).
//! 3. **Items named in prose.** A backticked path outside a link whose
//!    leading segments name a puncker module (`lifecycle::start`,
//!    `explain::kernel`), or that starts with a type defined in exactly one
//!    source file (`Container::status`), names an item by the same rules.
//!    Paths into other crates (`nix::mount::mount`) are left alone.
//! 4. **Coverage.** docs/walkthrough.md links to every `src/**/*.rs` file.
//!
//! Code blocks (``` fences) are skipped: transcripts and diagrams are not
//! links.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo().join("docs"), &mut files);
    let readme = repo().join("README.md");
    if readme.exists() {
        files.push(readme);
    }
    files.sort();
    files
}

fn source_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).expect("read src/").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo().join("src"), &mut files);
    files.sort();
    files
}

// ---------------------------------------------------------------------------
// A small markdown reader: lines outside fences, code spans, links
// ---------------------------------------------------------------------------

/// (line number, text) of every line outside fenced code blocks.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        let marker = if t.starts_with("```") {
            Some("```")
        } else if t.starts_with("~~~") {
            Some("~~~")
        } else {
            None
        };
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(f), Some(m)) if f == m => fence = None,
            (None, None) => out.push((i + 1, line)),
            _ => {}
        }
    }
    out
}

/// Byte ranges `(start, end)` of code spans in a line, delimiters
/// included: a run of N backticks up to the next run of exactly N.
fn code_spans(line: &str) -> Vec<(usize, usize)> {
    let b = line.as_bytes();
    let run_at = |i: usize| b[i..].iter().take_while(|&&c| c == b'`').count();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'`' {
            i += 1;
            continue;
        }
        let n = run_at(i);
        let mut j = i + n;
        let mut closed = None;
        while j < b.len() {
            if b[j] == b'`' {
                let m = run_at(j);
                if m == n {
                    closed = Some(j + m);
                    break;
                }
                j += m;
            } else {
                j += 1;
            }
        }
        match closed {
            Some(end) => {
                spans.push((i, end));
                i = end;
            }
            None => i += n,
        }
    }
    spans
}

/// The contents of a code span, as CommonMark strips it.
fn span_text(line: &str, (s, e): (usize, usize)) -> &str {
    let raw = &line[s..e];
    let n = raw.bytes().take_while(|&c| c == b'`').count();
    let inner = &raw[n..raw.len() - n];
    if inner.len() >= 2 && inner.starts_with(' ') && inner.ends_with(' ') {
        &inner[1..inner.len() - 1]
    } else {
        inner
    }
}

struct Link {
    line: usize,
    text: String,
    target: String,
}

/// Inline links `[text](target)` (images too) and reference definitions
/// `[name]: target`, outside code spans.
fn links(text: &str) -> Vec<Link> {
    let mut out = Vec::new();
    for (n, line) in prose_lines(text) {
        let t = line.trim_start();
        if t.starts_with('[') {
            if let Some(close) = t.find("]:") {
                if !t[..close].contains("](") {
                    let target = t[close + 2..].split_whitespace().next().unwrap_or("");
                    out.push(Link {
                        line: n,
                        text: t[1..close].to_string(),
                        target: target.to_string(),
                    });
                    continue;
                }
            }
        }
        let spans = code_spans(line);
        let in_span = |i: usize| spans.iter().any(|&(s, e)| s <= i && i < e);
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'[' || in_span(i) {
                i += 1;
                continue;
            }
            // Find the matching ']' outside code spans.
            let mut depth = 0;
            let mut j = i;
            let mut close = None;
            while j < b.len() {
                if !in_span(j) {
                    match b[j] {
                        b'[' => depth += 1,
                        b']' => {
                            depth -= 1;
                            if depth == 0 {
                                close = Some(j);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                j += 1;
            }
            let Some(close) = close else { break };
            if b.get(close + 1) == Some(&b'(') {
                let mut depth = 0;
                let mut k = close + 1;
                let mut end = None;
                while k < b.len() {
                    match b[k] {
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(k);
                                break;
                            }
                        }
                        _ => {}
                    }
                    k += 1;
                }
                if let Some(end) = end {
                    let target = line[close + 2..end].split_whitespace().next().unwrap_or("");
                    out.push(Link {
                        line: n,
                        text: line[i + 1..close].to_string(),
                        target: target.to_string(),
                    });
                    i = end + 1;
                    continue;
                }
            }
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Anchors
// ---------------------------------------------------------------------------

/// GitHub's heading id: lower case, punctuation other than `-` and `_`
/// dropped, spaces to hyphens; a repeated heading gets `-1`, `-2`...
fn slug(heading: &str) -> String {
    let mut plain = heading.to_string();
    // `<a name="x" />` inside a heading is not part of its text.
    while let Some(s) = plain.find('<') {
        match plain[s..].find('>') {
            Some(e) => plain.replace_range(s..s + e + 1, ""),
            None => break,
        }
    }
    // Links in headings count by their text.
    let plain = plain.replace("](", "\u{0}");
    let plain: String =
        plain
            .split('\u{0}')
            .enumerate()
            .fold(String::new(), |mut acc, (i, part)| {
                let part = if i > 0 {
                    part.split_once(')').map(|(_, r)| r).unwrap_or(part)
                } else {
                    part
                };
                acc.push_str(part);
                acc
            });
    plain
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        for key in ["name=\"", "id=\""] {
            let mut rest = line;
            while let Some(i) = rest.find(key) {
                let after = &rest[i + key.len()..];
                if let Some(e) = after.find('"') {
                    out.insert(after[..e].to_string());
                }
                rest = &rest[i + key.len()..];
            }
        }
        let t = line.trim_start();
        let hashes = t.bytes().take_while(|&c| c == b'#').count();
        if (1..=6).contains(&hashes) && t[hashes..].starts_with(' ') {
            let base = slug(&t[hashes..]);
            let n = seen.entry(base.clone()).or_insert(0);
            out.insert(if *n == 0 {
                base.clone()
            } else {
                format!("{base}-{n}")
            });
            *n += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Rust items
// ---------------------------------------------------------------------------

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `a::b::C` as segments, if it is a plain Rust path (no generics, no call).
fn rust_path(s: &str) -> Option<Vec<&str>> {
    let segs: Vec<&str> = s.strip_prefix("crate::").unwrap_or(s).split("::").collect();
    segs.iter().all(|p| is_ident(p)).then_some(segs)
}

fn capitalised(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_uppercase())
}

/// Whole-word search: `needle` not preceded or followed by an identifier char.
fn has_word_after(text: &str, prefix: &str, name: &str) -> bool {
    let pat = format!("{prefix}{name}");
    let mut from = 0;
    while let Some(i) = text[from..].find(&pat) {
        let s = from + i;
        let e = s + pat.len();
        let before_ok = text[..s]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let after_ok = text[e..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if before_ok && after_ok {
            return true;
        }
        from = s + 1;
    }
    false
}

fn defines_fn(src: &str, name: &str) -> bool {
    has_word_after(src, "fn ", name)
}

fn defines_type(src: &str, name: &str) -> bool {
    [
        "struct ", "enum ", "trait ", "type ", "const ", "static ", "union ",
    ]
    .iter()
    .any(|kw| has_word_after(src, kw, name))
}

/// An enum variant or a const: a line that starts with the name.
fn defines_variant(src: &str, name: &str) -> bool {
    src.lines().any(|l| {
        let t = l.trim_start();
        t.strip_prefix(name)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([',', ' ', '(', '{', '=']))
    })
}

/// Check the item path `items` (no module segments) inside `src`.
fn check_item(src: &str, items: &[&str]) -> Result<(), String> {
    match items {
        [] => Ok(()),
        [one] if capitalised(one) => (defines_type(src, one) || defines_variant(src, one))
            .then_some(())
            .ok_or_else(|| format!("no struct/enum/trait/type/const/variant `{one}`")),
        [one] => defines_fn(src, one)
            .then_some(())
            .ok_or_else(|| format!("no `fn {one}`")),
        [ty, member] if capitalised(ty) => {
            if !defines_type(src, ty) {
                return Err(format!("no type `{ty}`"));
            }
            let ok = if capitalised(member) {
                defines_variant(src, member) || defines_type(src, member)
            } else {
                defines_fn(src, member)
            };
            ok.then_some(())
                .ok_or_else(|| format!("`{ty}` has no `{member}` here"))
        }
        other => Err(format!(
            "`{}` is not a path this test understands",
            other.join("::")
        )),
    }
}

/// Module path of a source file: src/lifecycle/init.rs → [lifecycle, init];
/// src/lifecycle/mod.rs → [lifecycle]; src/main.rs → [].
fn module_path(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(repo().join("src")).unwrap_or(file);
    let mut segs: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        segs.last().map(String::as_str),
        Some("mod" | "main" | "lib")
    ) {
        segs.pop();
    }
    segs
}

/// One file of `src/`: its path, its module path, its text.
struct SourceFile {
    path: PathBuf,
    module: Vec<String>,
    text: String,
}

struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    fn load() -> Sources {
        Sources {
            files: source_files()
                .into_iter()
                .map(|path| SourceFile {
                    module: module_path(&path),
                    text: fs::read_to_string(&path).unwrap(),
                    path,
                })
                .collect(),
        }
    }

    /// The file whose module path is exactly `segs`, from the crate root.
    fn module(&self, segs: &[&str]) -> Option<&SourceFile> {
        self.files.iter().find(|f| {
            !segs.is_empty()
                && f.module.len() == segs.len()
                && f.module.iter().zip(segs).all(|(a, b)| a == b)
        })
    }

    /// Longest leading run of `segs` that names a module: (file, rest).
    fn resolve<'a, 'p>(&'a self, segs: &'p [&'p str]) -> Option<(&'a SourceFile, &'p [&'p str])> {
        (1..=segs.len())
            .rev()
            .find_map(|k| self.module(&segs[..k]).map(|f| (f, &segs[k..])))
    }

    /// Files defining the type `name`.
    fn defining(&self, name: &str) -> Vec<&SourceFile> {
        self.files
            .iter()
            .filter(|f| defines_type(&f.text, name))
            .collect()
    }

    fn text_of(&self, path: &Path) -> Option<&str> {
        self.files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.text.as_str())
    }
}

/// The backticked Rust path that is the whole text of a link, if any.
fn link_rust_path(text: &str) -> Option<Vec<&str>> {
    let t = text.trim();
    let inner = t.strip_prefix('`')?.strip_suffix('`')?;
    if inner.contains('`') {
        return None;
    }
    rust_path(inner)
}

// ---------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------

fn rel(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap_or(p).display().to_string()
}

/// Where a link leads: (path without fragment, fragment). None for URLs.
fn resolve_target(md: &Path, target: &str) -> Option<(PathBuf, Option<String>)> {
    let lower = target.to_ascii_lowercase();
    if lower.starts_with("http:") || lower.starts_with("https:") || lower.starts_with("mailto:") {
        return None;
    }
    let (path, frag) = match target.split_once('#') {
        Some((p, f)) => (p, Some(f.to_string())),
        None => (target, None),
    };
    let file = if path.is_empty() {
        md.to_path_buf()
    } else if let Some(abs) = path.strip_prefix('/') {
        repo().join(abs)
    } else {
        normalize(&md.parent().unwrap().join(path))
    };
    Some((file, frag))
}

fn check_fragment(file: &Path, frag: &str) -> Result<(), String> {
    if frag.is_empty() {
        return Ok(());
    }
    if file.extension().is_some_and(|x| x == "md") {
        let text = fs::read_to_string(file).map_err(|e| e.to_string())?;
        if anchors(&text).contains(frag) {
            return Ok(());
        }
        return Err(format!("no heading or anchor #{frag} in {}", rel(file)));
    }
    let lines = fs::read_to_string(file)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    let line_no = |s: &str| s.strip_prefix('L').and_then(|n| n.parse::<usize>().ok());
    let ok = match frag.split_once('-') {
        Some((a, b)) => {
            matches!((line_no(a), line_no(b)), (Some(x), Some(y)) if x >= 1 && x <= y && y <= lines)
        }
        None => line_no(frag).is_some_and(|x| x >= 1 && x <= lines),
    };
    ok.then_some(()).ok_or_else(|| {
        format!(
            "#{frag} is not a line range of {} ({lines} lines)",
            rel(file)
        )
    })
}

/// Every broken link, function reference and path, as readable lines.
fn problems() -> Vec<String> {
    let sources = Sources::load();
    let mut bad = Vec::new();
    for md in markdown_files() {
        let text = fs::read_to_string(&md).unwrap();
        let here = rel(&md);
        // Conventions 1 and 2: links.
        for l in links(&text) {
            let Some((file, frag)) = resolve_target(&md, &l.target) else {
                continue;
            };
            if !file.exists() {
                bad.push(format!(
                    "{here}:{}: [{}]({}) leads to {}, which does not exist",
                    l.line,
                    l.text,
                    l.target,
                    rel(&file)
                ));
                continue;
            }
            if let Some(f) = &frag {
                if let Err(e) = check_fragment(&file, f) {
                    bad.push(format!(
                        "{here}:{}: [{}]({}): {e}",
                        l.line, l.text, l.target
                    ));
                }
            }
            if file.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let Some(segs) = link_rust_path(&l.text) else {
                continue;
            };
            let src = sources
                .text_of(&file)
                .map(str::to_string)
                .unwrap_or_else(|| fs::read_to_string(&file).unwrap_or_default());
            // Leading module segments must be a tail of the file's module path.
            let modpath = module_path(&file);
            let k = segs
                .iter()
                .take_while(|s| !capitalised(s))
                .count()
                .min(segs.len() - 1);
            let (mods, items) = segs.split_at(k);
            let tail_ok = mods.len() <= modpath.len()
                && modpath[modpath.len() - mods.len()..]
                    .iter()
                    .zip(mods)
                    .all(|(a, b)| a == b);
            if !tail_ok {
                bad.push(format!(
                    "{here}:{}: [{}]({}): `{}` is not the module of {}",
                    l.line,
                    l.text,
                    l.target,
                    mods.join("::"),
                    rel(&file)
                ));
                continue;
            }
            if let Err(e) = check_item(&src, items) {
                bad.push(format!(
                    "{here}:{}: [{}]({}): {e} in {}",
                    l.line,
                    l.text,
                    l.target,
                    rel(&file)
                ));
            }
        }
        // Convention 3: backticked paths in prose.
        for (n, line) in prose_lines(&text) {
            for span in code_spans(line) {
                let Some(segs) = rust_path(span_text(line, span)) else {
                    continue;
                };
                if segs.len() < 2 {
                    continue;
                }
                let found = match sources.resolve(&segs) {
                    Some((f, rest)) => Some((f, rest.to_vec())),
                    None if capitalised(segs[0]) => match sources.defining(segs[0]).as_slice() {
                        [only] => Some((*only, segs.clone())),
                        _ => None,
                    },
                    None => None,
                };
                let Some((file, items)) = found else {
                    continue;
                };
                if let Err(e) = check_item(&file.text, &items) {
                    bad.push(format!(
                        "{here}:{n}: `{}`: {e} in {}",
                        segs.join("::"),
                        rel(&file.path)
                    ));
                }
            }
        }
    }
    bad
}

#[test]
fn links_in_docs_lead_to_files_and_items_that_exist() {
    let bad = problems();
    assert!(
        bad.is_empty(),
        "{} broken reference(s) in the docs:\n  {}",
        bad.len(),
        bad.join("\n  ")
    );
}

#[test]
fn walkthrough_visits_every_source_file() {
    let md = repo().join("docs/walkthrough.md");
    let text = fs::read_to_string(&md).expect("docs/walkthrough.md");
    let linked: BTreeSet<PathBuf> = links(&text)
        .iter()
        .filter_map(|l| resolve_target(&md, &l.target))
        .map(|(p, _)| p)
        .collect();
    let missing: Vec<String> = source_files()
        .iter()
        .filter(|f| !linked.contains(*f))
        .map(|f| rel(f))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/walkthrough.md does not link to: {missing:?}\n\
         (add the file to the map and to the step where it acts, as [`name`](../src/...))"
    );
}

#[test]
fn the_promised_pages_exist() {
    let pages = [
        "walkthrough.md",
        "explain-sample.md",
        "processes.md",
        "reference.md",
        "concepts/namespaces.md",
        "concepts/mounts-and-pivot-root.md",
        "concepts/devices.md",
        "concepts/user-namespaces.md",
        "concepts/capabilities.md",
        "concepts/seccomp.md",
        "concepts/cgroups.md",
        "concepts/terminals.md",
        "concepts/state-and-crash-safety.md",
        "concepts/sync-protocol.md",
    ];
    let missing: Vec<&str> = pages
        .iter()
        .copied()
        .filter(|p| !repo().join("docs").join(p).is_file())
        .collect();
    assert!(missing.is_empty(), "missing docs pages: {missing:?}");
}

/// The reference page describes every command and long option that
/// `puncker --help` and `puncker <command> --help` list.
#[test]
fn reference_covers_every_command_and_option() {
    let reference =
        fs::read_to_string(repo().join("docs/reference.md")).expect("docs/reference.md");
    let help = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_puncker"))
            .args(args)
            .output()
            .expect("run puncker --help");
        assert!(out.status.success(), "puncker {args:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let top = help(&["--help"]);
    let commands: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    assert!(
        commands.len() >= 9,
        "could not read the commands from:\n{top}"
    );
    let mut missing = Vec::new();
    let mut pages: Vec<(String, String)> = vec![("puncker".into(), top.clone())];
    for c in &commands {
        pages.push((c.clone(), help(&[c, "--help"])));
    }
    for (c, text) in &pages {
        if c != "puncker" && !reference.contains(&format!("### {c}\n")) {
            missing.push(format!("command `{c}` (a `### {c}` section)"));
        }
        for line in text.lines() {
            for word in line.split_whitespace() {
                let flag = word.trim_end_matches([',', ')', '.', ';', ':']);
                let is_option = flag.starts_with("--") && flag.len() > 2 && flag != "--help";
                if is_option
                    && !reference.contains(&format!("`{flag}"))
                    && !reference.contains(&format!(" {flag}"))
                {
                    missing.push(format!("option {flag} of `{c}`"));
                }
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(missing.is_empty(), "docs/reference.md lacks: {missing:#?}");
}

// ---------------------------------------------------------------------------
// The reader itself
// ---------------------------------------------------------------------------

#[test]
fn reader_finds_links_spans_and_slugs() {
    let md = "See [`kernel`](../src/explain.rs) and [x](a.md#b) `a::b`.\n\
              ```\n[not](a/link)\n```\n[ref]: ../src/sys.rs\n\
              A [`a ]` b](c.md) and ``x `y` z``.";
    let l = links(md);
    let targets: Vec<&str> = l.iter().map(|l| l.target.as_str()).collect();
    assert_eq!(
        targets,
        ["../src/explain.rs", "a.md#b", "../src/sys.rs", "c.md"]
    );
    assert_eq!(l[0].text, "`kernel`");
    let line = "a ``x `y` z`` b";
    let spans = code_spans(line);
    assert_eq!(spans.len(), 1);
    assert_eq!(span_text(line, spans[0]), "x `y` z");
    assert_eq!(
        slug("3. `run` is create, then start"),
        "3-run-is-create-then-start"
    );
    assert_eq!(
        slug("13. pivot_root, and what follows"),
        "13-pivot_root-and-what-follows"
    );
    assert_eq!(slug("<a name=\"x\" />Lifecycle"), "lifecycle");
    assert_eq!(link_rust_path("`init::run`"), Some(vec!["init", "run"]));
    assert_eq!(link_rust_path("`main.rs`"), None);
    let src = "pub enum Msg {\n    Ready,\n    Failed { x: i32 },\n}\nimpl Channel { pub fn expect(&self) {} }\nstruct Channel;";
    assert!(check_item(src, &["Msg", "Ready"]).is_ok());
    assert!(check_item(src, &["Msg", "Failed"]).is_ok());
    assert!(check_item(src, &["Channel", "expect"]).is_ok());
    assert!(check_item(src, &["Channel", "recv"]).is_err());
    assert!(check_item(src, &["expect_with"]).is_err());
}
