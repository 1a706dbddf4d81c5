//! The differential test: a seeded generator of small C/C++ projects and of
//! random steps (edits that keep size and mtime, shadowing headers, flag,
//! environment and compiler changes, two sources per command, `-E`, `-S`,
//! stdin), each compile run once plainly and once through a cache command,
//! compared byte for byte (exit code, stdout, stderr, and every file the
//! compile wrote, with its mode); a shrinker reduces a divergence to a short
//! replayable shell script.
//!
//! It knows nothing of why a cache diverges and mocks nothing: the cache
//! under test is a command line (`zccache` by default), so a deliberately
//! wrong cache can be pointed at it to prove it reports divergences.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, SystemTime};

use crate::Sandbox;

/// splitmix64: tiny, seedable, and the same sequence on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The kinds of step the generator may take. Each is a way the inputs of a
/// compile can change, or a shape of compile; a run enables a set of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Rewrite a header or source with other bytes of the same size, its
    /// mtime restored.
    EditSameSize,
    /// Rewrite a header or source with new content and a new (old) mtime.
    EditNew,
    /// A header appears in an earlier `-I` dir, shadowing the one in use;
    /// later it goes away again.
    Shadow,
    /// A source gains or loses a compile error.
    Break,
    /// Flag changes: optimisation, debug info, defines, warnings, depfiles.
    Flags,
    /// Another compiler: gcc, g++, clang, clang++ (and clang-16 if present).
    Compilers,
    /// `-E`, `-S`, `-fsyntax-only` besides `-c`.
    Modes,
    /// Two sources in one command.
    TwoSources,
    /// The source on stdin (`-x c -`).
    Stdin,
    /// A header appears in an existing subdirectory of an earlier search
    /// dir (issue 10 item 14).
    ShadowInSubdir,
    /// A dangling symlink earlier on the include path whose target then
    /// appears (issue 10 item 1).
    DanglingLink,
    /// Shadowing headers on the `CPATH` family of search paths (issue 10
    /// item 6).
    CpathShadow,
    /// `__DATE__`, `__TIME__` and `__TIMESTAMP__` with `TZ` and
    /// `SOURCE_DATE_EPOCH` changes (issue 10 items 2, 7, 11, 16).
    Temporal,
    /// The compile on a terminal of some width and `TERM` (util-linux
    /// `script`), what the terminal received compared (issue 10 item 9).
    Terminal,
}

impl Kind {
    pub const ALL: &'static [Kind] = &[
        Kind::EditSameSize,
        Kind::EditNew,
        Kind::Shadow,
        Kind::Break,
        Kind::Flags,
        Kind::Compilers,
        Kind::Modes,
        Kind::TwoSources,
        Kind::Stdin,
        Kind::ShadowInSubdir,
        Kind::DanglingLink,
        Kind::CpathShadow,
        Kind::Temporal,
        Kind::Terminal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::EditSameSize => "edit_same_size",
            Kind::EditNew => "edit_new",
            Kind::Shadow => "shadow",
            Kind::Break => "break",
            Kind::Flags => "flags",
            Kind::Compilers => "compilers",
            Kind::Modes => "modes",
            Kind::TwoSources => "two_sources",
            Kind::Stdin => "stdin",
            Kind::ShadowInSubdir => "shadow_in_subdir",
            Kind::DanglingLink => "dangling_link",
            Kind::CpathShadow => "cpath_shadow",
            Kind::Temporal => "temporal",
            Kind::Terminal => "terminal",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == name)
    }
}

/// One thing a run does, in order. A run is a list of these; replaying a
/// list in a fresh directory reproduces the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write a file. `keep_mtime`: put the previous mtime back (an edit a
    /// stat cannot see); otherwise the file is dated an hour ago.
    Write {
        path: String,
        body: String,
        keep_mtime: bool,
    },
    Remove {
        path: String,
    },
    Symlink {
        path: String,
        target: String,
    },
    Mkdir {
        path: String,
    },
    Compile(Compile),
}

/// One compiler command, run plainly and through the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compile {
    pub compiler: String,
    pub args: Vec<String>,
    /// Set (`Some`) or unset (`None`) on top of the sandbox's environment.
    pub env: Vec<(String, Option<String>)>,
    pub stdin: Option<String>,
    /// Run on a terminal this many columns wide, with this `TERM`.
    pub terminal: Option<(u16, String)>,
}

const SOURCES: usize = 4;
const HEADERS: usize = 3;
/// How many distinct compiles a run cycles through at a time.
const TARGETS: usize = 8;

/// What the generator knows of the project it is changing.
struct Model {
    rng: Rng,
    kinds: Vec<Kind>,
    compilers: Vec<&'static str>,
    /// Contents of the header in use (`inc/b/hN.h`) and the sources.
    headers: Vec<u32>,
    sources: Vec<u32>,
    broken: Vec<bool>,
    shadowed: Vec<bool>,
    sub_shadowed: bool,
    /// 0: no link; 1: dangling link in inc/a; 2: its target exists.
    link: u8,
    cpath_shadowed: bool,
    temporal: bool,
    targets: Vec<Compile>,
}

fn header_body(i: usize, value: u32) -> String {
    format!("#ifndef H{i}_H\n#define H{i}_H\n#define H{i} {value}\n#endif\n")
}

fn source_body(n: usize, value: u32, broken: bool, temporal: bool) -> String {
    let h = n % HEADERS;
    let mut s = format!(
        "#include \"h{h}.h\"\n#include <sub/x.h>\n#include <sys0.h>\n\
         #ifndef VAL\n#define VAL 0\n#endif\n\
         int f{n}(int x) {{ int unused_{n}; return x * H{h} + SUBX + SYS0 + VAL + {value}; }}\n"
    );
    // Three shapes: names spelled and pasted; a name only a paste forms
    // (the compiler is asked); a paste that forms none beside the pieces
    // of one (zlib's enum member TIME). No `__TIME__`: a plain compile and
    // a cached one a second apart would differ.
    if temporal {
        s.push_str(&match n % 3 {
            0 => format!(
                "#define CAT(a, b) a##b\nconst char *stamp{n} = __DATE__ \" \" __TIMESTAMP__;\n\
                 const char *pasted{n} = CAT(__DA, TE__);\n"
            ),
            1 => format!(
                "#define CAT(a, b) a##b\n#define STAMP CAT(__DA, TE__)\n\
                 const char *pasted{n} = STAMP;\n"
            ),
            _ => format!(
                "#define CAT(a, b) a##b\n#define PFX(x) __ ## x\n\
                 enum {{ HEAD{n}, TIME }};\nint CAT(g, {n})(void) {{ return TIME; }}\n"
            ),
        });
    }
    if broken {
        s.push_str("int broken( { }\n");
    }
    s
}

impl Model {
    fn new(seed: u64, kinds: &[Kind]) -> Model {
        let mut compilers = vec!["gcc", "clang", "g++", "clang++"];
        if Path::new("/usr/bin/clang-16").exists() {
            compilers.push("clang-16");
        }
        Model {
            rng: Rng::new(seed),
            kinds: kinds.to_vec(),
            compilers,
            headers: (0..HEADERS as u32).map(|i| 10 + i).collect(),
            sources: (0..SOURCES as u32).map(|i| 100 + i).collect(),
            broken: vec![false; SOURCES],
            shadowed: vec![false; HEADERS],
            sub_shadowed: false,
            link: 0,
            cpath_shadowed: false,
            temporal: false,
            targets: Vec::new(),
        }
    }

    fn on(&self, kind: Kind) -> bool {
        self.kinds.contains(&kind)
    }

    fn write(path: String, body: String, keep_mtime: bool) -> Action {
        Action::Write {
            path,
            body,
            keep_mtime,
        }
    }

    fn source(&self, n: usize, keep_mtime: bool) -> Action {
        Model::write(
            format!("src/s{n}.c"),
            source_body(n, self.sources[n], self.broken[n], self.temporal),
            keep_mtime,
        )
    }

    fn setup(&self) -> Vec<Action> {
        let mut out = Vec::new();
        for dir in ["src", "inc/a/sub", "inc/b/sub", "sys", "cp", "out"] {
            out.push(Action::Mkdir { path: dir.into() });
        }
        for i in 0..HEADERS {
            out.push(Model::write(
                format!("inc/b/h{i}.h"),
                header_body(i, self.headers[i]),
                false,
            ));
        }
        out.push(Model::write(
            "inc/b/sub/x.h".into(),
            "#define SUBX 7\n".into(),
            false,
        ));
        out.push(Model::write(
            "sys/sys0.h".into(),
            "#define SYS0 3\n".into(),
            false,
        ));
        for n in 0..SOURCES {
            out.push(self.source(n, false));
        }
        out.push(Model::write(
            "src/p0.cpp".into(),
            "#include \"h0.h\"\ntemplate <int N> int p() { return N * H0; }\nint q() { return p<3>(); }\n"
                .into(),
            false,
        ));
        out
    }

    /// Zero or more changes to the project, then one compile: one of a few
    /// targets, as a build system would run them again and again, each
    /// replaced now and then by a compile of another shape.
    fn step(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        if self.rng.chance(25) {
            out.extend(self.mutation());
        }
        if self.targets.is_empty() {
            self.targets = (0..TARGETS).map(|_| self.compile()).collect();
        }
        let t = self.rng.below(TARGETS);
        if self.rng.chance(8) {
            self.targets[t] = self.compile();
        }
        out.push(Action::Compile(self.targets[t].clone()));
        out
    }

    fn mutation(&mut self) -> Vec<Action> {
        let mutations: Vec<Kind> = [
            Kind::EditSameSize,
            Kind::EditNew,
            Kind::Shadow,
            Kind::Break,
            Kind::ShadowInSubdir,
            Kind::DanglingLink,
            Kind::CpathShadow,
            Kind::Temporal,
        ]
        .into_iter()
        .filter(|k| self.on(*k))
        .collect();
        if mutations.is_empty() {
            return Vec::new();
        }
        match *self.rng.pick(&mutations) {
            Kind::EditSameSize | Kind::EditNew => {
                let keep =
                    self.rng.chance(50) && self.on(Kind::EditSameSize) || !self.on(Kind::EditNew);
                // Same number of digits, so the size stays.
                let value = |rng: &mut Rng, base: u32| base + rng.below(9) as u32;
                if self.rng.chance(50) {
                    let i = self.rng.below(HEADERS);
                    self.headers[i] = value(&mut self.rng, 10);
                    vec![Model::write(
                        format!("inc/b/h{i}.h"),
                        header_body(i, self.headers[i]),
                        keep,
                    )]
                } else {
                    let n = self.rng.below(SOURCES);
                    self.sources[n] = value(&mut self.rng, 100);
                    vec![self.source(n, keep)]
                }
            }
            Kind::Shadow => {
                let i = self.rng.below(HEADERS);
                self.shadowed[i] = !self.shadowed[i];
                let path = format!("inc/a/h{i}.h");
                if self.shadowed[i] {
                    vec![Model::write(path, header_body(i, 90 + i as u32), false)]
                } else {
                    vec![Action::Remove { path }]
                }
            }
            Kind::Break => {
                // At most one broken source, or most compiles would fail.
                let n = match self.broken.iter().position(|b| *b) {
                    Some(n) => n,
                    None => self.rng.below(SOURCES),
                };
                self.broken[n] = !self.broken[n];
                vec![self.source(n, false)]
            }
            Kind::ShadowInSubdir => {
                self.sub_shadowed = !self.sub_shadowed;
                let path = "inc/a/sub/x.h".to_string();
                if self.sub_shadowed {
                    vec![Model::write(path, "#define SUBX 8\n".into(), false)]
                } else {
                    vec![Action::Remove { path }]
                }
            }
            Kind::DanglingLink => {
                self.link = (self.link + 1) % 3;
                match self.link {
                    1 if !self.shadowed[2] => vec![Action::Symlink {
                        path: "inc/a/h2.h".into(),
                        target: "../../gen/h2.h".into(),
                    }],
                    1 => {
                        self.link = 0;
                        Vec::new()
                    }
                    2 => vec![
                        Action::Mkdir { path: "gen".into() },
                        Model::write("gen/h2.h".into(), header_body(2, 77), false),
                    ],
                    _ => vec![
                        Action::Remove {
                            path: "inc/a/h2.h".into(),
                        },
                        Action::Remove {
                            path: "gen/h2.h".into(),
                        },
                    ],
                }
            }
            Kind::CpathShadow => {
                self.cpath_shadowed = !self.cpath_shadowed;
                let path = "cp/sys0.h".to_string();
                if self.cpath_shadowed {
                    vec![Model::write(path, "#define SYS0 4\n".into(), false)]
                } else {
                    vec![Action::Remove { path }]
                }
            }
            Kind::Temporal => {
                self.temporal = !self.temporal;
                let n = self.rng.below(SOURCES);
                vec![self.source(n, false)]
            }
            _ => Vec::new(),
        }
    }

    fn compile(&mut self) -> Compile {
        let rng = &mut self.rng;
        let cplusplus_source = self.kinds.contains(&Kind::Compilers) && rng.chance(10);
        let compiler = if self.kinds.contains(&Kind::Compilers) {
            let pick = *rng.pick(&self.compilers);
            if cplusplus_source && !pick.ends_with("++") {
                "g++"
            } else {
                pick
            }
        } else {
            "gcc"
        }
        .to_string();
        let n = rng.below(SOURCES);
        let source = if cplusplus_source {
            "src/p0.cpp".to_string()
        } else {
            format!("src/s{n}.c")
        };
        let stem = if cplusplus_source {
            "p0".to_string()
        } else {
            format!("s{n}")
        };
        let mut args: Vec<String> = vec!["-Iinc/a".into(), "-Iinc/b".into()];
        args.extend(["-isystem".into(), "sys".into()]);
        let mut env = Vec::new();
        if self.kinds.contains(&Kind::CpathShadow) && rng.chance(50) {
            env.push(("CPATH".to_string(), Some("cp".to_string())));
        }
        if self.kinds.contains(&Kind::Temporal) {
            if rng.chance(30) {
                env.push((
                    "TZ".to_string(),
                    Some(rng.pick(&["UTC", "UTC+10", "UTC-11"]).to_string()),
                ));
            }
            if rng.chance(20) {
                env.push(("SOURCE_DATE_EPOCH".to_string(), Some("86400".to_string())));
            }
        }
        if self.kinds.contains(&Kind::Flags) {
            args.extend(
                rng.pick(&[&[][..], &["-O2"], &["-g"], &["-O1", "-g"]])
                    .iter()
                    .map(|s| s.to_string()),
            );
            if rng.chance(30) {
                args.push(format!("-DVAL={}", 1 + rng.below(2)));
            }
            if rng.chance(50) {
                args.push("-Wall".into());
            }
        }
        let mode = if self.kinds.contains(&Kind::Modes) {
            *rng.pick(&[
                "-c",
                "-c",
                "-c",
                "-c",
                "-c",
                "-c",
                "-S",
                "-E",
                "-fsyntax-only",
            ])
        } else {
            "-c"
        };
        let mut stdin = None;
        let two = self.kinds.contains(&Kind::TwoSources) && mode == "-c" && rng.chance(15);
        let on_stdin = !two && self.kinds.contains(&Kind::Stdin) && rng.chance(5);
        args.push(mode.into());
        if on_stdin {
            args.extend(["-x".into(), "c".into(), "-".into()]);
            stdin = Some(source_body(n, self.sources[n], false, false));
        } else if two {
            let m = (n + 1) % SOURCES;
            args.push(source);
            args.push(format!("src/s{m}.c"));
            // Two sources and no -o: each object lands in the cwd.
        } else {
            args.push(source);
        }
        let output = match mode {
            "-c" => Some(format!("out/{stem}.o")),
            "-S" => Some(format!("out/{stem}.s")),
            "-E" if rng.chance(50) => Some(format!("out/{stem}.i")),
            _ => None,
        };
        if let (Some(o), false) = (&output, two) {
            args.extend(["-o".into(), o.clone()]);
        }
        if self.kinds.contains(&Kind::Flags) && mode != "-E" && !two {
            match rng.below(8) {
                0 | 1 => args.push("-MD".into()),
                2 => args.push("-MMD".into()),
                3 => args.extend(["-MD".into(), "-MF".into(), format!("out/{stem}.dep")]),
                _ => {}
            }
        }
        let terminal = (self.kinds.contains(&Kind::Terminal) && stdin.is_none() && rng.chance(40))
            .then(|| {
                let cols = *rng.pick(&[40u16, 80, 132]);
                let term = *rng.pick(&["xterm-256color", "xterm", "vt220", "dumb"]);
                (cols, term.to_string())
            });
        Compile {
            compiler,
            args,
            env,
            stdin,
            terminal,
        }
    }
}

/// Every action of a run of `steps` compiles from `seed`, setup included.
pub fn generate(seed: u64, steps: usize, kinds: &[Kind]) -> Vec<Action> {
    let mut model = Model::new(seed, kinds);
    let mut out = model.setup();
    for _ in 0..steps {
        out.extend(model.step());
    }
    out
}

/// A file as a compile left it: bytes or link target, and its mode.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    File { bytes: Vec<u8>, mode: u32 },
    Link(PathBuf),
    Dir,
}

type Tree = BTreeMap<PathBuf, Node>;

fn snapshot(root: &Path) -> Tree {
    fn walk(root: &Path, dir: &Path, out: &mut Tree) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                out.insert(
                    rel,
                    Node::Link(std::fs::read_link(&path).unwrap_or_default()),
                );
            } else if meta.is_dir() {
                out.insert(rel, Node::Dir);
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                out.insert(
                    rel,
                    Node::File {
                        bytes,
                        mode: meta.permissions().mode() & 0o7777,
                    },
                );
            }
        }
    }
    let mut out = Tree::new();
    walk(root, root, &mut out);
    out
}

/// What a compile changed in the tree: new or changed entries, and the
/// paths it removed.
#[derive(Debug, PartialEq, Eq)]
struct Change {
    written: BTreeMap<PathBuf, Node>,
    removed: Vec<PathBuf>,
}

fn change(before: &Tree, after: &Tree) -> Change {
    Change {
        written: after
            .iter()
            .filter(|(p, n)| before.get(*p) != Some(*n))
            .map(|(p, n)| (p.clone(), n.clone()))
            .collect(),
        removed: before
            .keys()
            .filter(|p| !after.contains_key(*p))
            .cloned()
            .collect(),
    }
}

/// Puts the tree back as `before` for everything `change` touched; the
/// mtimes of restored files are the ones they had.
fn restore(root: &Path, before: &Tree, mtimes: &BTreeMap<PathBuf, SystemTime>, change: &Change) {
    for path in change.written.keys().rev() {
        let full = root.join(path);
        match before.get(path) {
            None => {
                let _ = std::fs::remove_file(&full).or_else(|_| std::fs::remove_dir_all(&full));
            }
            Some(node) => put(&full, node, mtimes.get(path)),
        }
    }
    for path in &change.removed {
        put(&root.join(path), &before[path], mtimes.get(path));
    }
}

fn put(full: &Path, node: &Node, mtime: Option<&SystemTime>) {
    let _ = std::fs::remove_file(full);
    match node {
        Node::Dir => {
            let _ = std::fs::create_dir_all(full);
        }
        Node::Link(target) => {
            let _ = std::os::unix::fs::symlink(target, full);
        }
        Node::File { bytes, mode } => {
            std::fs::write(full, bytes).unwrap();
            std::fs::set_permissions(full, std::fs::Permissions::from_mode(*mode)).unwrap();
            if let Some(t) = mtime {
                let f = std::fs::File::options().write(true).open(full).unwrap();
                f.set_modified(*t).unwrap();
            }
        }
    }
}

fn mtimes(root: &Path, tree: &Tree) -> BTreeMap<PathBuf, SystemTime> {
    tree.keys()
        .filter_map(|p| {
            let m = std::fs::symlink_metadata(root.join(p)).ok()?;
            Some((p.clone(), m.modified().ok()?))
        })
        .collect()
}

/// How the cache under test is run: this command, then the compiler and
/// its arguments.
#[derive(Clone, Debug)]
pub struct Cache {
    pub command: Vec<OsString>,
    /// Whether it is zccache (counters are read from `zccache status`).
    pub is_zccache: bool,
}

impl Cache {
    pub fn zccache() -> Cache {
        Cache {
            command: vec![crate::zccache_bin().into()],
            is_zccache: true,
        }
    }
}

/// A compile whose cached run differs from its plain run.
#[derive(Debug)]
pub struct Divergence {
    /// Index of the diverging compile in the actions.
    pub at: usize,
    pub what: String,
}

fn run_compile(sb: &Sandbox, prefix: &[OsString], c: &Compile) -> Output {
    if let Some((cols, term)) = &c.terminal {
        return run_on_terminal(sb, prefix, c, *cols, term);
    }
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut cmd = sb.cmd(first);
            cmd.args(rest).arg(&c.compiler);
            cmd
        }
        None => sb.cmd(&c.compiler),
    };
    cmd.args(&c.args);
    for (name, value) in &c.env {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    if c.stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn a compile");
    if let Some(text) = &c.stdin {
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(text.as_bytes());
    }
    child.wait_with_output().expect("wait for a compile")
}

/// `c` in a terminal session (util-linux `script`) `cols` wide: stdout
/// holds what the terminal received (both streams, as the terminal shows
/// them), the exit code is the compile's.
fn run_on_terminal(
    sb: &Sandbox,
    prefix: &[OsString],
    c: &Compile,
    cols: u16,
    term: &str,
) -> Output {
    let mut line = format!("stty cols {cols} rows 24; exec");
    for word in prefix
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .chain([c.compiler.clone()])
        .chain(c.args.iter().cloned())
    {
        line.push(' ');
        line.push_str(&quote(&word));
    }
    let mut cmd = sb.cmd("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .env("TERM", term)
        .env_remove("COLUMNS")
        .env_remove("COLORTERM");
    for (name, value) in &c.env {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    cmd.output().expect("run a compile on a terminal")
}

/// What differs between the plain and the cached run of one compile, if
/// anything. `after_*` are the trees each run left; a path either run
/// wrote is compared in both (a stale hit can leave a file as it was).
fn describe(
    plain: &Output,
    cached: &Output,
    (a, after_a): (&Change, &Tree),
    (b, after_b): (&Change, &Tree),
) -> Option<String> {
    let mut what = String::new();
    if plain.status.code() != cached.status.code() {
        let _ = writeln!(
            what,
            "exit code: plain {:?}, cached {:?}",
            plain.status.code(),
            cached.status.code()
        );
    }
    for (name, p, c) in [
        ("stdout", &plain.stdout, &cached.stdout),
        ("stderr", &plain.stderr, &cached.stderr),
    ] {
        if p != c {
            let _ = writeln!(
                what,
                "{name}:\n--- plain\n{}--- cached\n{}",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(c)
            );
        }
    }
    if a != b {
        let keys = |c: &Change| c.written.keys().cloned().collect::<Vec<_>>();
        let mut paths = keys(a);
        paths.extend(keys(b));
        paths.sort();
        paths.dedup();
        for path in paths {
            let (x, y) = (after_a.get(&path), after_b.get(&path));
            if x != y {
                let show = |n: Option<&Node>| match n {
                    None => "absent".to_string(),
                    Some(Node::Dir) => "a directory".to_string(),
                    Some(Node::Link(t)) => format!("a link to {}", t.display()),
                    Some(Node::File { bytes, mode }) => format!(
                        "{} bytes, mode {mode:o}, blake3 {}",
                        bytes.len(),
                        &blake3::hash(bytes).to_hex()[..16]
                    ),
                };
                let _ = writeln!(
                    what,
                    "{}: plain {}, cached {}",
                    path.display(),
                    show(x),
                    show(y)
                );
            }
        }
        if a.removed != b.removed {
            let _ = writeln!(
                what,
                "removed: plain {:?}, cached {:?}",
                a.removed, b.removed
            );
        }
    }
    (!what.is_empty()).then_some(what)
}

/// Applies one non-compile action to the work dir. Parents are created as
/// needed: the shrinker may have removed the action that made them.
fn apply(work: &Path, action: &Action) {
    let parent = |path: &str| {
        if let Some(dir) = work.join(path).parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
    };
    match action {
        Action::Write { path, .. } | Action::Symlink { path, .. } => parent(path),
        _ => {}
    }
    match action {
        Action::Mkdir { path } => std::fs::create_dir_all(work.join(path)).unwrap(),
        Action::Remove { path } => {
            let _ = std::fs::remove_file(work.join(path));
        }
        Action::Symlink { path, target } => {
            let full = work.join(path);
            let _ = std::fs::remove_file(&full);
            std::os::unix::fs::symlink(target, &full).unwrap();
        }
        Action::Write {
            path,
            body,
            keep_mtime,
        } => {
            let full = work.join(path);
            let old = std::fs::metadata(&full).and_then(|m| m.modified()).ok();
            if let Ok(target) = std::fs::read_link(&full) {
                // A write through a dangling link makes its target appear,
                // in a directory that may not exist yet.
                if let Some(dir) = full.parent().unwrap().join(target).parent() {
                    std::fs::create_dir_all(dir).unwrap();
                }
            }
            std::fs::write(&full, body).unwrap();
            let when = match (keep_mtime, old) {
                (true, Some(t)) => t,
                // An hour ago, plus a little per write, so two writes never
                // share an mtime by accident.
                _ => SystemTime::now() - Duration::from_secs(3600),
            };
            let f = std::fs::File::options().write(true).open(&full).unwrap();
            f.set_modified(when).unwrap();
            // Whether the next compile stores must not depend on how soon
            // it starts after this write (the too-new guard reads ctime).
            crate::wait_for_ctime(&full);
        }
        Action::Compile(_) => unreachable!("compiles are run, not applied"),
    }
}

/// Counters of a run through zccache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub hits: u64,
    pub misses: u64,
    pub passthrough: u64,
    /// Compiles that failed: looked up, but counted as `compile_failed`
    /// only, not as misses.
    pub failed: u64,
}

/// What a run found.
#[derive(Debug)]
pub struct Outcome {
    pub compiles: usize,
    pub divergence: Option<Divergence>,
    pub counts: Option<Counts>,
}

/// Runs `actions` in a fresh sandbox, stopping at the first divergence.
pub fn replay(actions: &[Action], cache: &Cache) -> Outcome {
    let sb = Sandbox::new("diff");
    let mut compiles = 0;
    let mut divergence = None;
    for (at, action) in actions.iter().enumerate() {
        let Action::Compile(c) = action else {
            apply(&sb.work, action);
            continue;
        };
        compiles += 1;
        let before = snapshot(&sb.work);
        let times = mtimes(&sb.work, &before);
        let plain = run_compile(&sb, &[], c);
        let after_plain = snapshot(&sb.work);
        let plain_change = change(&before, &after_plain);
        restore(&sb.work, &before, &times, &plain_change);
        let cached = run_compile(&sb, &cache.command, c);
        let after_cached = snapshot(&sb.work);
        let cached_change = change(&before, &after_cached);
        if let Some(what) = describe(
            &plain,
            &cached,
            (&plain_change, &after_plain),
            (&cached_change, &after_cached),
        ) {
            divergence = Some(Divergence { at, what });
            break;
        }
    }
    if std::env::var_os("DIFF_DEBUG").is_some() && cache.is_zccache {
        eprintln!("{}", sb.status());
    }
    let counts = cache.is_zccache.then(|| {
        let (hits, misses, passthrough) = sb.hmp();
        let failed = sb.status()["not_stored_reasons"]["compile_failed"]
            .as_u64()
            .unwrap_or(0);
        Counts {
            hits,
            misses,
            passthrough,
            failed,
        }
    });
    Outcome {
        compiles,
        divergence,
        counts,
    }
}

/// Reduces a diverging list of actions (ending at the divergence) to a
/// shorter one that still diverges, replaying at most `budget` times.
pub fn shrink(actions: &[Action], cache: &Cache, budget: usize) -> Vec<Action> {
    let mut best: Vec<Action> = actions.to_vec();
    let mut replays = 0;
    let mut chunk = best.len().div_ceil(2).max(1);
    while chunk >= 1 && replays < budget {
        let mut start = 0;
        let mut removed_any = false;
        while start < best.len() && replays < budget {
            let end = (start + chunk).min(best.len());
            let mut candidate = best[..start].to_vec();
            candidate.extend_from_slice(&best[end..]);
            if candidate.iter().any(|a| matches!(a, Action::Compile(_))) {
                replays += 1;
                if let Some(d) = replay(&candidate, cache).divergence {
                    candidate.truncate(d.at + 1);
                    best = candidate;
                    removed_any = true;
                    continue;
                }
            }
            start = end;
        }
        if !removed_any {
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
    }
    best
}

fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=+:,".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A shell script that replays `actions` in the current directory; each
/// compile runs plainly into `plain/` and through `$CACHE` (default
/// `zccache`) so the two can be compared by hand.
pub fn script(actions: &[Action]) -> String {
    let mut s = String::from(
        "#!/bin/sh\n# replay: run in an empty directory\nset -u\nCACHE=${CACHE:-zccache}; export CACHE\n",
    );
    for action in actions {
        match action {
            Action::Mkdir { path } => {
                let _ = writeln!(s, "mkdir -p {}", quote(path));
            }
            Action::Remove { path } => {
                let _ = writeln!(s, "rm -f {}", quote(path));
            }
            Action::Symlink { path, target } => {
                let _ = writeln!(s, "ln -sfn {} {}", quote(target), quote(path));
            }
            Action::Write {
                path,
                body,
                keep_mtime,
            } => {
                let p = quote(path);
                if *keep_mtime {
                    let _ = writeln!(
                        s,
                        "touch -r {p} .mtime 2>/dev/null || touch -d '1 hour ago' .mtime"
                    );
                }
                let _ = writeln!(
                    s,
                    "[ -L {p} ] && mkdir -p \"$(dirname \"$(readlink -m {p})\")\""
                );
                let _ = writeln!(s, "cat > {p} <<'EOF'\n{body}EOF");
                if *keep_mtime {
                    let _ = writeln!(s, "touch -r .mtime {p}");
                } else {
                    let _ = writeln!(s, "touch -d '1 hour ago' {p}");
                }
            }
            Action::Compile(c) => {
                let mut line = String::new();
                for (name, value) in &c.env {
                    match value {
                        Some(v) => {
                            let _ = write!(line, "{name}={} ", quote(v));
                        }
                        None => {
                            let _ = write!(line, "-u {name} ");
                        }
                    }
                }
                let args: Vec<String> = c.args.iter().map(|a| quote(a)).collect();
                let input = c
                    .stdin
                    .as_ref()
                    .map(|t| format!(" <<'EOF'\n{t}EOF"))
                    .unwrap_or_default();
                match &c.terminal {
                    None => {
                        let _ = writeln!(
                            s,
                            "env {line}$CACHE {} {}{input}; echo \"exit $?\"",
                            c.compiler,
                            args.join(" ")
                        );
                    }
                    Some((cols, term)) => {
                        let session = format!(
                            "stty cols {cols} rows 24; exec $CACHE {} {}",
                            c.compiler,
                            args.join(" ")
                        );
                        let _ = writeln!(
                            s,
                            "env {line}TERM={term} SHELL=/bin/sh script -qec {} /dev/null; echo \"exit $?\"",
                            quote(&session)
                        );
                    }
                }
            }
        }
    }
    s
}

/// A whole differential run: generate, replay, and on a divergence shrink
/// it and render the script.
pub struct Report {
    pub seed: u64,
    pub outcome: Outcome,
    /// The shrunk script and what diverged, when something did.
    pub failure: Option<(String, String)>,
}

pub fn run(seed: u64, steps: usize, kinds: &[Kind], cache: &Cache, shrink_budget: usize) -> Report {
    let actions = generate(seed, steps, kinds);
    let outcome = replay(&actions, cache);
    let failure = outcome.divergence.as_ref().map(|d| {
        let small = shrink(&actions[..=d.at], cache, shrink_budget);
        let what = replay(&small, cache)
            .divergence
            .map(|d| d.what)
            .unwrap_or_else(|| d.what.clone());
        (script(&small), what)
    });
    Report {
        seed,
        outcome,
        failure,
    }
}
