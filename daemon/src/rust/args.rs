//! rustc argument classification: which calls are cacheable compiles, what of the argv goes into the key, and where the outputs land; pure, no file system access (the pipeline in `mod.rs` digests what this names).
//!
//! Table-driven like `cc/`: every option rustc accepts that we understand
//! is listed (`args/table.rs`) with whether it takes a value and what it
//! means to the cache; `args/scan.rs` has one handler per meaning.
//! An option not in the table passes the call through: a wrong hit costs
//! more than a missed one.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::reasons::PassthroughReason;
use scan::Scan;
use table::Spec;

mod scan;
mod table;

/// Why a rustc call is not cached, with its counter.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Passthrough {
    pub(crate) reason: PassthroughReason,
    pub(crate) detail: String,
}

fn pt(reason: PassthroughReason, detail: impl Into<String>) -> Passthrough {
    Passthrough {
        reason,
        detail: detail.into(),
    }
}

/// One key field derived from the argv, in argv order.
#[derive(Debug, PartialEq, Eq, Clone)]
pub(crate) enum KeyArg {
    /// An option (canonical spelling) and its value, or a flag with none.
    Opt(&'static str, Option<OsString>),
    /// `--extern NAME=PATH`: the name part is keyed, the path's content
    /// digest replaces the path.
    Extern { name: OsString, path: OsString },
    /// `--target FILE.json`: the file's content is keyed with the spelling.
    TargetFile(OsString),
    /// The input file as spelled (its digest is keyed separately).
    Input(OsString),
    /// `-l static=NAME`: an rlib or staticlib bundles `libNAME.a`, so its
    /// content (found over the `-L` dirs) is keyed with the spelling.
    StaticLib { spec: OsString, name: OsString },
}

/// How the caller wants diagnostics coloured. Colour is not in the key: a
/// miss always runs with ANSI colour on, and the output is stripped of it
/// for a caller who did not ask (here and on every later hit).
#[derive(Debug, PartialEq, Eq, Clone, Copy, Default)]
pub(crate) struct Colour {
    /// `--error-format=json`: colour is `--json=diagnostic-rendered-ansi`
    /// (rustc ignores `--color` then).
    pub(crate) json: bool,
    /// The caller asked for ANSI colour. `--color=auto` is off: rustc's
    /// stderr is a pipe to the wrapper.
    pub(crate) requested: bool,
}

/// A crate type that links: rustc runs the linker and writes an executable
/// or a shared object.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum LinkKind {
    Bin,
    /// `--test`: a test harness executable.
    Test,
    ProcMacro,
    Dylib,
    Cdylib,
}

impl LinkKind {
    /// The name keyed for it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LinkKind::Bin => "bin",
            LinkKind::Test => "test",
            LinkKind::ProcMacro => "proc-macro",
            LinkKind::Dylib => "dylib",
            LinkKind::Cdylib => "cdylib",
        }
    }

    /// The output's role and its name's prefix and suffix around the crate
    /// name and extra-filename (an ELF target: no `.exe`, `.so`).
    fn output(self) -> (&'static str, &'static str, &'static str) {
        match self {
            LinkKind::Bin | LinkKind::Test => ("bin", "", ""),
            LinkKind::ProcMacro | LinkKind::Dylib | LinkKind::Cdylib => ("dylib", "lib", ".so"),
        }
    }
}

/// What rustc writes into `--out-dir`.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) struct Emits {
    pub(crate) link: bool,
    pub(crate) metadata: bool,
    pub(crate) dep_info: bool,
}

/// A cacheable rustc compile.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Invocation {
    pub(crate) crate_name: OsString,
    /// Each of lib, rlib, staticlib, at most once.
    pub(crate) crate_types: Vec<&'static str>,
    /// The crate links (`--emit link` of a bin, proc-macro, dylib, cdylib
    /// or `--test`): the rest of the link is keyed by the pipeline.
    pub(crate) link: Option<LinkKind>,
    /// `-C linker=`, as given.
    pub(crate) linker: Option<OsString>,
    /// `--target`, as given.
    pub(crate) target: Option<OsString>,
    pub(crate) emits: Emits,
    pub(crate) out_dir: OsString,
    pub(crate) input: OsString,
    /// `-C extra-filename=`: the suffix of every output name.
    pub(crate) extra_filename: OsString,
    pub(crate) key_args: Vec<KeyArg>,
    /// `-L` directories other than `dependency=`, in order, where native
    /// libraries are searched.
    pub(crate) native_dirs: Vec<OsString>,
    pub(crate) colour: Colour,
    /// The caller maps paths itself (`--remap-path-prefix`,
    /// `-Z remap-cwd-prefix`, `-Z remap-path-scope`): path remap must not
    /// add a map of its own.
    pub(crate) user_prefix_map: bool,
}

/// Classifies rustc's argv[1..] (any leading rustc path of a
/// clippy-driver call already removed).
pub(crate) fn classify(args: &[OsString]) -> Result<Invocation, Passthrough> {
    if args.is_empty() {
        return Err(pt(PassthroughReason::NotACompile, "no arguments"));
    }
    let mut scan = Scan::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let bytes = arg.as_bytes();
        if bytes == b"-" {
            return Err(pt(PassthroughReason::StdinInput, "input from stdin"));
        }
        if bytes.starts_with(b"@") {
            scan.defer_unsupported("@argfile");
        } else if !bytes.starts_with(b"-") {
            scan.input(arg);
        } else if let Some((spec, attached)) = table::lookup(bytes) {
            let value = option_value(spec, attached, &mut it)?;
            scan.option(spec.role, spec.name, value)?;
        } else {
            scan.defer_unsupported(arg.to_string_lossy());
        }
    }
    scan.finish()
}

/// The value of an option that takes one: attached, else the next argument.
fn option_value<'a>(
    spec: &Spec,
    attached: Option<&[u8]>,
    rest: &mut impl Iterator<Item = &'a OsString>,
) -> Result<Option<OsString>, Passthrough> {
    if !spec.takes_value {
        return Ok(None);
    }
    match attached {
        Some(v) => Ok(Some(OsStr::from_bytes(v).to_os_string())),
        None => match rest.next() {
            Some(v) => Ok(Some(v.clone())),
            None => Err(pt(
                PassthroughReason::BadCompilerArguments,
                format!("{} without a value", spec.name),
            )),
        },
    }
}

/// The prefix map path remap appends to a miss's argv: paths under the
/// worktree root come out relative to it, as `./…`.
pub(crate) fn prefix_map_arg(root: &[u8]) -> OsString {
    let mut v = b"--remap-path-prefix=".to_vec();
    v.extend_from_slice(root);
    v.extend_from_slice(b"=.");
    OsString::from_vec(v)
}

/// The argv of a miss: `args` with ANSI colour forced on (see [`Colour`]).
/// `--color` may be given once only, so any of the caller's is replaced
/// (`classify` passes a repeated or invalid one through: rustc refuses it).
pub(crate) fn with_colour(args: &[OsString], colour: Colour) -> Vec<OsString> {
    if colour.requested {
        return args.to_vec();
    }
    if colour.json {
        let mut out = args.to_vec();
        out.push("--json=diagnostic-rendered-ansi".into());
        return out;
    }
    let mut out = Vec::with_capacity(args.len() + 1);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--color" {
            it.next();
        } else if !a.as_bytes().starts_with(b"--color=") {
            out.push(a.clone());
        }
    }
    out.push("--color=always".into());
    out
}

impl Invocation {
    /// The files rustc writes into the out-dir for this crate, by role,
    /// as file names (dep-info only when it was asked for).
    pub(crate) fn outputs(&self) -> Vec<(&'static str, OsString)> {
        let stem = |prefix: &str, suffix: &str| {
            let mut v = prefix.as_bytes().to_vec();
            v.extend_from_slice(self.crate_name.as_bytes());
            v.extend_from_slice(self.extra_filename.as_bytes());
            v.extend_from_slice(suffix.as_bytes());
            OsString::from_vec(v)
        };
        let rlib = self.crate_types.iter().any(|t| *t == "lib" || *t == "rlib");
        let staticlib = self.crate_types.contains(&"staticlib");
        let mut out = Vec::new();
        if self.emits.link && rlib {
            out.push(("rlib", stem("lib", ".rlib")));
        }
        if self.emits.link && staticlib {
            out.push(("staticlib", stem("lib", ".a")));
        }
        if let Some(kind) = self.link {
            let (role, prefix, suffix) = kind.output();
            out.push((role, stem(prefix, suffix)));
        }
        if self.emits.metadata {
            out.push(("rmeta", stem("lib", ".rmeta")));
        }
        if self.emits.dep_info {
            out.push(("dep-info", stem("", ".d")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    /// What cargo passes for a registry library under `cargo build`.
    const CARGO_LIB: &[&str] = &[
        "--crate-name",
        "itoa",
        "--edition=2018",
        "/r/itoa/src/lib.rs",
        "--error-format=json",
        "--json=diagnostic-rendered-ansi,artifacts,future-incompat",
        "--diagnostic-width=100",
        "--crate-type",
        "lib",
        "--emit=dep-info,metadata,link",
        "-C",
        "embed-bitcode=no",
        "-C",
        "debuginfo=2",
        "-C",
        "metadata=7d2",
        "-C",
        "extra-filename=-0f3a",
        "--out-dir",
        "/t/debug/deps",
        "-L",
        "dependency=/t/debug/deps",
        "--extern",
        "memchr=/t/debug/deps/libmemchr-11.rmeta",
        "--cap-lints",
        "allow",
    ];

    #[track_caller]
    fn check_pt(args: &[&str], reason: &str) {
        match classify(&os(args)) {
            Err(p) => assert_eq!(p.reason.as_str(), reason, "{args:?}: {}", p.detail),
            Ok(inv) => panic!("{args:?} classified as a compile: {inv:?}"),
        }
    }

    #[test]
    fn a_cargo_library_compile() {
        let inv = classify(&os(CARGO_LIB)).unwrap();
        assert_eq!(inv.crate_name, "itoa");
        assert_eq!(inv.crate_types, vec!["lib"]);
        assert_eq!(inv.out_dir, "/t/debug/deps");
        assert_eq!(inv.input, "/r/itoa/src/lib.rs");
        assert_eq!(inv.extra_filename, "-0f3a");
        assert_eq!(
            inv.outputs(),
            vec![
                ("rlib", OsString::from("libitoa-0f3a.rlib")),
                ("rmeta", "libitoa-0f3a.rmeta".into()),
                ("dep-info", "itoa-0f3a.d".into()),
            ]
        );
        // Out-dir, dependency dirs and the diagnostic width are not keyed;
        // the extern is keyed by name (its digest by the pipeline).
        let keyed = format!("{:?}", inv.key_args);
        assert!(!keyed.contains("/t/debug/deps\""), "{keyed}");
        assert!(!keyed.contains("diagnostic-width"), "{keyed}");
        assert!(inv.key_args.contains(&KeyArg::Extern {
            name: "memchr".into(),
            path: "/t/debug/deps/libmemchr-11.rmeta".into()
        }));
        assert!(inv
            .key_args
            .contains(&KeyArg::Opt("-C", Some("metadata=7d2".into()))));
    }

    #[test]
    fn colour_is_out_of_the_key_and_forced_on_a_miss() {
        let with = |extra: &[&str]| {
            let mut v = os(&[
                "--crate-name",
                "x",
                "--crate-type=lib",
                "--emit=link",
                "--out-dir=/o",
                "a.rs",
            ]);
            v.extend(os(extra));
            v
        };
        let keyed = |extra: &[&str]| classify(&with(extra)).unwrap().key_args;
        let plain_json = &["--error-format=json", "--json=artifacts,future-incompat"];
        let ansi_json = &[
            "--error-format=json",
            "--json=diagnostic-rendered-ansi,artifacts,future-incompat",
        ];
        assert_eq!(keyed(plain_json), keyed(ansi_json));
        assert_eq!(keyed(&[]), keyed(&["--color", "always"]));
        assert_eq!(keyed(&["--color=never"]), keyed(&["--color=auto"]));
        assert_eq!(
            keyed(&["--error-format=json"]),
            keyed(&["--error-format=json", "--json=diagnostic-rendered-ansi"])
        );
        assert_ne!(keyed(&[]), keyed(&["--error-format=json"]));

        let colour = |extra: &[&str]| classify(&with(extra)).unwrap().colour;
        assert!(colour(ansi_json).requested && colour(ansi_json).json);
        assert!(!colour(plain_json).requested);
        assert!(!colour(&["--error-format=json", "--color=always"]).requested);
        assert!(colour(&["--color=always"]).requested);
        assert!(!colour(&["--color", "auto"]).requested);

        let c = colour(&["--color", "never"]);
        let miss = with_colour(&with(&["--color", "never"]), c);
        assert_eq!(miss, with(&["--color=always"]));
        let c = colour(plain_json);
        assert_eq!(
            with_colour(&with(plain_json), c),
            with(&[
                "--error-format=json",
                "--json=artifacts,future-incompat",
                "--json=diagnostic-rendered-ansi"
            ])
        );
        let c = colour(ansi_json);
        assert_eq!(with_colour(&with(ansi_json), c), with(ansi_json));
    }

    #[test]
    fn spellings_of_one_option_key_alike() {
        let a = classify(&os(&[
            "--crate-name=x",
            "--crate-type=lib",
            "--emit",
            "metadata",
            "-Cmetadata=1",
            "--out-dir=/o",
            "a.rs",
        ]))
        .unwrap();
        let b = classify(&os(&[
            "--crate-name",
            "x",
            "--crate-type",
            "lib",
            "--emit=metadata",
            "--codegen",
            "metadata=1",
            "--out-dir",
            "/p",
            "a.rs",
        ]))
        .unwrap();
        assert_eq!(a.key_args, b.key_args);
        assert_eq!(a.outputs(), vec![("rmeta", OsString::from("libx.rmeta"))]);
    }

    #[test]
    fn passthrough_reasons() {
        let base = |extra: &[&str]| {
            let mut v = vec![
                "--crate-name",
                "x",
                "--crate-type",
                "lib",
                "--emit=link",
                "--out-dir",
                "/o",
            ];
            v.extend_from_slice(extra);
            v.into_iter().map(str::to_owned).collect::<Vec<_>>()
        };
        let check = |extra: &[&str], reason: &str| {
            let v = base(extra);
            let refs: Vec<&str> = v.iter().map(String::as_str).collect();
            check_pt(&refs, reason);
        };
        check_pt(&["-vV"], "not_a_compile");
        check_pt(&["-V"], "not_a_compile");
        check_pt(&["--version"], "not_a_compile");
        check_pt(
            &["-", "--crate-name", "___", "--print=file-names"],
            "stdin_input",
        );
        check_pt(&["--print", "sysroot"], "not_a_compile");
        check_pt(
            &["--crate-name", "x", "--print=cfg", "a.rs"],
            "not_a_compile",
        );
        check_pt(&[], "not_a_compile");
        check(&["a.rs", "-C", "incremental=/t/inc"], "incremental");
        check(&["a.rs", "-Cincremental=/t/inc"], "incremental");
        check(&["a.rs", "--emit=asm"], "unsupported_emit");
        check(
            &["a.rs", "--emit=link=/x.rlib"],
            "unsupported_compiler_option",
        );
        check(&["a.rs", "-o", "x"], "unsupported_compiler_option");
        check(&["a.rs", "--sysroot=/s"], "unsupported_compiler_option");
        check(&["a.rs", "--frobnicate"], "unsupported_compiler_option");
        check(
            &["a.rs", "-C", "split-debuginfo=unpacked"],
            "unsupported_compiler_option",
        );
        check(&["a.rs", "--crate-type", "bin"], "crate_type_links");
        check(&["a.rs", "--crate-type=proc-macro"], "crate_type_links");
        check(&["a.rs", "--crate-type=cdylib"], "crate_type_links");
        check(&["a.rs", "--test"], "crate_type_links");
        check(&["a.rs", "--crate-type=weird"], "unsupported_crate_type");
        // rustc refuses these, and a miss replaces the caller's `--color`
        // (see `with_colour`): cached, the build would succeed.
        check(&["a.rs", "--color=bogus"], "bad_compiler_arguments");
        check(&["a.rs", "--color", "Always"], "bad_compiler_arguments");
        check(
            &["a.rs", "--color=never", "--color", "always"],
            "bad_compiler_arguments",
        );
        // The option's own refusal still comes first.
        check_pt(&["--color=bogus", "--print=cfg", "a.rs"], "not_a_compile");
        check(&[], "no_input_file");
        check(&["a.rs", "b.rs"], "multiple_inputs");
        check_pt(
            &[
                "--crate-name",
                "x",
                "--crate-type",
                "lib",
                "--out-dir",
                "/o",
                "a.rs",
            ],
            "unsupported_emit",
        );
        check_pt(
            &[
                "--crate-name",
                "x",
                "--emit=link",
                "--out-dir",
                "/o",
                "a.rs",
            ],
            "unsupported_crate_type",
        );
        check_pt(
            &[
                "--crate-name",
                "x",
                "--crate-type=lib",
                "--emit=link",
                "a.rs",
            ],
            "unsupported_compiler_option",
        );
        check_pt(&["--crate-name"], "bad_compiler_arguments");
    }

    #[test]
    fn static_native_libs_are_named_for_their_digest() {
        let inv = classify(&os(&[
            "--crate-name",
            "z",
            "--crate-type",
            "lib",
            "--emit=link",
            "--out-dir",
            "/o",
            "-L",
            "native=/b/out",
            "-L",
            "dependency=/d",
            "-L",
            "/plain",
            "-l",
            "static=zs:new",
            "-l",
            "dylib=ssl",
            "-lm",
            "a.rs",
        ]))
        .unwrap();
        assert_eq!(
            inv.native_dirs,
            vec![OsString::from("/b/out"), "/plain".into()]
        );
        assert!(inv.key_args.contains(&KeyArg::StaticLib {
            spec: "static=zs:new".into(),
            name: "zs".into()
        }));
        assert!(inv
            .key_args
            .contains(&KeyArg::Opt("-l", Some("dylib=ssl".into()))));
        assert!(inv.key_args.contains(&KeyArg::Opt("-l", Some("m".into()))));
    }

    #[test]
    fn staticlib_and_check_outputs() {
        let inv = classify(&os(&[
            "--crate-name",
            "s",
            "--crate-type",
            "staticlib",
            "--crate-type",
            "rlib",
            "--emit=link",
            "--out-dir",
            "/o",
            "a.rs",
        ]))
        .unwrap();
        assert_eq!(
            inv.outputs(),
            vec![
                ("rlib", OsString::from("libs.rlib")),
                ("staticlib", "libs.a".into())
            ]
        );
        let check = classify(&os(&[
            "--crate-name",
            "c",
            "--crate-type",
            "lib",
            "--emit=dep-info,metadata",
            "-C",
            "extra-filename=-9",
            "--out-dir",
            "/o",
            "a.rs",
        ]))
        .unwrap();
        assert_eq!(
            check.outputs(),
            vec![
                ("rmeta", OsString::from("libc-9.rmeta")),
                ("dep-info", "c-9.d".into())
            ]
        );
    }

    /// What cargo passes for a binary, a proc-macro and a test harness.
    fn linked(crate_type: Option<&str>, extra: &[&str]) -> Result<Invocation, Passthrough> {
        let mut v = os(&[
            "--crate-name",
            "m",
            "--edition=2021",
            "src/main.rs",
            "--emit=dep-info,link",
            "-C",
            "extra-filename=-1f",
            "--out-dir",
            "/t/deps",
            "-L",
            "dependency=/t/deps",
        ]);
        if let Some(t) = crate_type {
            v.extend(os(&["--crate-type", t]));
        }
        v.extend(os(extra));
        classify(&v)
    }

    #[test]
    fn linked_crates_name_their_linker_output() {
        for (t, extra, kind, out) in [
            (Some("bin"), &[][..], LinkKind::Bin, "m-1f"),
            (None, &["--test"][..], LinkKind::Test, "m-1f"),
            (
                Some("proc-macro"),
                &[][..],
                LinkKind::ProcMacro,
                "libm-1f.so",
            ),
            (Some("dylib"), &[][..], LinkKind::Dylib, "libm-1f.so"),
            (Some("cdylib"), &[][..], LinkKind::Cdylib, "libm-1f.so"),
        ] {
            let inv = linked(t, extra).unwrap();
            assert_eq!(inv.link, Some(kind));
            let role = if out.ends_with(".so") { "dylib" } else { "bin" };
            assert_eq!(
                inv.outputs(),
                vec![(role, OsString::from(out)), ("dep-info", "m-1f.d".into())],
                "{t:?}"
            );
        }
        let inv = linked(
            Some("bin"),
            &[
                "-C",
                "linker=/opt/cc",
                "--target",
                "x86_64-unknown-linux-gnu",
            ],
        )
        .unwrap();
        assert_eq!(inv.linker, Some("/opt/cc".into()));
        assert!(inv
            .key_args
            .contains(&KeyArg::Opt("-C", Some("linker=/opt/cc".into()))));
        // A check of a binary writes metadata only: no link.
        let check = classify(&os(&[
            "--crate-name",
            "m",
            "--crate-type",
            "bin",
            "--emit=dep-info,metadata",
            "--out-dir",
            "/t/deps",
            "src/main.rs",
        ]))
        .unwrap();
        assert_eq!(check.link, None);
        assert_eq!(
            check.outputs(),
            vec![
                ("rmeta", OsString::from("libm.rmeta")),
                ("dep-info", "m.d".into())
            ]
        );
    }

    #[test]
    fn links_that_cannot_be_keyed_pass_through_with_their_reason() {
        let reason = |t: Option<&str>, extra: &[&str]| match linked(t, extra) {
            Err(p) => p.reason.as_str(),
            Ok(inv) => panic!("{extra:?} cached: {inv:?}"),
        };
        let bin = Some("bin");
        for extra in [
            &["-Z", "threads=2"][..],
            &["-C", "linker-plugin-lto"],
            &["-C", "linker-flavor=ld.lld"],
            &["-C", "link-arg=@/t/args"],
            &["-C", "link-arg=-Wl,@/t/args"],
            &["-C", "link-arg=-fuse-ld=gold"],
            &["-C", "link-args=-Wl,-O1 -B/opt/bin"],
            &["-C", "link-arg=-Wl,--dependency-file=/t/x.d"],
            &["-C", "link-arg=-Wl,-plugin,/x.so"],
            &["-C", "link-arg=-specs=/t/s"],
        ] {
            assert_eq!(reason(bin, extra), "unkeyable_link", "{extra:?}");
        }
        assert_eq!(
            reason(bin, &["--target", "wasm32-unknown-unknown"]),
            "crate_type_links"
        );
        assert_eq!(
            reason(bin, &["--target", "/t/custom.json"]),
            "crate_type_links"
        );
        assert_eq!(reason(Some("bin,lib"), &[]), "crate_type_links");
        assert_eq!(reason(Some("rlib"), &["--test"]), "crate_type_links");
        assert_eq!(
            reason(Some("cdylib"), &["--crate-type=rlib"]),
            "crate_type_links"
        );
        // Without dep-info the one private file is the linker's list.
        let no_dep = classify(&os(&[
            "--crate-name",
            "m",
            "--crate-type",
            "bin",
            "--emit=link",
            "--out-dir",
            "/t",
            "m.rs",
        ]));
        assert_eq!(no_dep.unwrap_err().reason.as_str(), "crate_type_links");
        // Harmless link arguments and a Linux target are keyed, not refused.
        assert!(linked(
            bin,
            &[
                "-C",
                "link-arg=-Wl,-zstack-size=1048576",
                "-C",
                "link-args=-Wl,-O1 -Wl,--as-needed",
                "--target",
                "aarch64-unknown-linux-gnu"
            ]
        )
        .is_ok());
        // -Z on a library is kept as before: it links nothing.
        let lib = classify(&os(&[
            "--crate-name",
            "x",
            "--crate-type=lib",
            "--emit=link",
            "--out-dir=/o",
            "-Z",
            "threads=2",
            "a.rs",
        ]));
        assert!(lib.is_ok());
    }

    #[test]
    fn user_prefix_maps_are_seen_in_any_spelling() {
        #[track_caller]
        fn check(extra: &[&str], want: bool) {
            let mut v = os(&["--crate-name", "x", "--crate-type=lib", "--emit=link"]);
            v.extend(os(&["--out-dir=/o", "a.rs"]));
            v.extend(os(extra));
            assert_eq!(classify(&v).unwrap().user_prefix_map, want, "{extra:?}");
        }
        check(&[], false);
        check(&["--remap-path-prefix=/w/a=."], true);
        check(&["--remap-path-prefix", "/w/a=."], true);
        check(&["-Zremap-cwd-prefix=."], true);
        check(&["-Z", "remap-path-scope=object"], true);
        check(&["-Z", "threads=2"], false);
        check(&["--cfg", "remap"], false);
        assert_eq!(
            prefix_map_arg(b"/w/a=b"),
            OsString::from("--remap-path-prefix=/w/a=b=.")
        );
    }
}
