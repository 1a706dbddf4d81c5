//! The rustc pipeline (cache-keys.md §8): a Lookup for rustc or clippy-driver becomes a Probe (toolchain unknown), a Hit (outputs written into the current out-dir, no rustc run) or a Miss; the Store after a miss records the outputs and a direct-mode manifest entry built from rustc's dep-info.
//!
//! Owns what goes into a Rust key. It does not parse arguments (`args`),
//! identify toolchains (`toolchain`) or encode manifests and entries
//! (`manifest`, `store`). Failed compiles are never stored.

mod args;
mod depinfo;
mod toolchain;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use frame::v1;

use crate::codec::{Dec, Enc};
use crate::domains;
use crate::keys::KeyHasher;
use crate::manifest::{self, EntryRemap, ManifestEntry, Temporal};
use crate::meta::{Digest, StatId};
use crate::outputs::{self, Descriptors};
use crate::pipeline::{
    request_args, request_env, Core, Draft, DraftOutput, Keyed, Language, PendingMiss, Pipeline,
    Prepared, Pt,
};
use crate::reasons::{NotStoredReason, PassthroughReason, RemapFallback};
use crate::remap::{self, Decision, Root};
use crate::store::Entry;

use args::{Invocation, KeyArg};
use toolchain::{Ident, Toolchains};

const EXTRA_FORMAT: u8 = 1;

/// `CARGO_*` variables that are not inputs of the compile: the jobserver,
/// parallelism, incremental (its own passthrough), flags already in the
/// argv, and anything that may hold credentials (never hashed or stored).
fn cargo_var_is_volatile(name: &[u8]) -> bool {
    matches!(
        name,
        b"CARGO_MAKEFLAGS"
            | b"CARGO_BUILD_JOBS"
            | b"CARGO_ENCODED_RUSTFLAGS"
            | b"CARGO_INCREMENTAL"
    ) || [
        &b"CARGO_REGISTRIES_"[..],
        b"CARGO_REGISTRY_",
        b"CARGO_HTTP_",
        b"CARGO_NET_",
        b"CARGO_TERM_",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// What the Rust pipeline memoizes across requests.
#[derive(Default)]
pub(crate) struct RustPipeline {
    toolchains: Toolchains,
}

impl Pipeline for RustPipeline {
    const LANGUAGE: Language = Language::Rust;
    type Request = Request;
    type Facts = Source;
    type Pending = Pending;

    fn prepare(&self, core: &Core, req: &v1::Lookup) -> Result<Prepared<Request>, Pt> {
        self.with(core).prepare(req)
    }

    /// A rustc compile is one crate.
    fn units(_: &Request) -> usize {
        1
    }

    fn worktree(r: &Request) -> (&Path, Option<&Root>) {
        (&r.cwd, r.root.as_ref())
    }

    fn key(&self, core: &Core, r: &Request, _: usize) -> Result<Keyed<Source>, Pt> {
        self.with(core).key(r)
    }

    fn result_key(r: &Request, manifest_key: &[u8; 32], entry: &ManifestEntry) -> Option<[u8; 32]> {
        Some(result_key_for(manifest_key, entry, &r.env, r.root.as_ref()))
    }

    fn deliver(
        &self,
        core: &Core,
        r: &Request,
        _: usize,
        _: &ManifestEntry,
        stored: &Entry,
        fds: &mut Descriptors,
    ) -> Option<v1::unit_answer::Answer> {
        self.with(core).rust_deliver(r, stored, fds)
    }

    fn miss(
        &self,
        core: &Core,
        r: &Request,
        _: usize,
        keyed: Keyed<Source>,
        remember: &dyn Fn(u64, Pending),
    ) -> v1::unit_answer::Answer {
        let rust = Rust {
            core,
            pipe: self,
            remember,
        };
        rust.rust_miss(r, keyed)
    }

    fn record<'a>(
        &self,
        core: &Core,
        p: &'a Pending,
        st: &'a v1::Store,
    ) -> Result<Draft<'a>, NotStoredReason> {
        self.with(core).try_rust_store(p, st)
    }
}

impl RustPipeline {
    /// This pipeline over the engine's `core`, for work that remembers no
    /// miss.
    fn with<'a>(&'a self, core: &'a Core) -> Rust<'a> {
        Rust {
            core,
            pipe: self,
            remember: &|_, _| {},
        }
    }

    pub(crate) fn clear(&self) {
        self.toolchains.clear();
    }
}

/// One request's view of the pipeline: the engine's core, the memos and
/// where misses go.
struct Rust<'a> {
    core: &'a Core,
    pipe: &'a RustPipeline,
    remember: &'a dyn Fn(u64, Pending),
}

/// What the daemon remembers between a Miss and its Store.
pub(crate) struct Pending {
    cwd: PathBuf,
    env: BTreeMap<Vec<u8>, Vec<u8>>,
    pub(crate) manifest_key: [u8; 32],
    source: PathBuf,
    source_stat: StatId,
    start_ns: i128,
    out_dir: PathBuf,
    outputs: Vec<(&'static str, PathBuf)>,
    /// The dep-info rustc writes: cargo's, or ours (removed after Store).
    dep_info: PathBuf,
    private_dep: bool,
    /// The worktree root under path remap.
    root: Option<Root>,
}

impl PendingMiss for Pending {
    fn touches(&self, under: &dyn Fn(&Path) -> bool) -> bool {
        under(&self.cwd) || under(&self.source) || under(&self.out_dir)
    }

    /// The dep-info the daemon asked rustc to write for it.
    fn private_file(&self) -> Option<&Path> {
        self.private_dep.then_some(self.dep_info.as_path())
    }
}

/// True when the Lookup names rustc or clippy-driver: a file name that
/// starts with `rustc` (versioned copies, logging shims) or is
/// `clippy-driver`.
pub(crate) fn is_rustc(req: &v1::Lookup) -> bool {
    Path::new(OsStr::from_bytes(&req.compiler))
        .file_name()
        .is_some_and(|n| n.as_bytes().starts_with(b"rustc") || n == "clippy-driver")
}

/// The argv rustc sees: clippy-driver's leading rustc path removed.
fn split_lead(compiler: &Path, args: &[OsString]) -> (Option<OsString>, Vec<OsString>) {
    let clippy = compiler.file_name() == Some(OsStr::new("clippy-driver"));
    match args.first() {
        Some(first)
            if clippy
                && Path::new(first)
                    .file_name()
                    .is_some_and(|n| n.as_bytes().starts_with(b"rustc")) =>
        {
            (Some(first.clone()), args[1..].to_vec())
        }
        _ => (None, args.to_vec()),
    }
}

/// A rustc Lookup made ready for its one unit.
pub(crate) struct Request {
    cwd: PathBuf,
    env: BTreeMap<Vec<u8>, Vec<u8>>,
    inv: Invocation,
    out_dir: PathBuf,
    /// The worktree root when path remap applies to this call.
    root: Option<Root>,
    /// The caller's argv[1..], clippy-driver's leading rustc included.
    all_args: Vec<OsString>,
    /// The toolchain identity.
    toolchain: [u8; 32],
    /// clippy-driver, which leads with a rustc path.
    clippy: bool,
    start_ns: i128,
}

/// What keying the crate learned about its root source, for its Miss.
pub(crate) struct Source {
    path: PathBuf,
    stat: StatId,
}

impl Rust<'_> {
    /// The facts of a rustc Lookup, or the Probe round that must come
    /// first (toolchain unknown).
    fn prepare(&self, req: &v1::Lookup) -> Result<Prepared<Request>, Pt> {
        let cwd = PathBuf::from(OsStr::from_bytes(&req.cwd));
        let env = request_env(req);
        let compiler = PathBuf::from(OsStr::from_bytes(&req.compiler));
        let all_args = request_args(req);
        let (lead, args) = split_lead(&compiler, &all_args);
        // Probes and other non-compiles are answered before anything else:
        // cargo runs `rustc -vV` on every build.
        let inv = args::classify(&args).map_err(|p| Pt::new(p.reason, &p.detail))?;
        let tc = match self.pipe.toolchains.identify(
            &self.core.meta,
            &compiler,
            lead.as_deref(),
            &env,
            &cwd,
            &req.probes,
        ) {
            Ident::Known(t) => t,
            Ident::Probe(p) if req.probes.is_empty() => {
                return Ok(Prepared::Reply(v1::LookupReply {
                    outcome: Some(v1::lookup_reply::Outcome::Probe(p)),
                }))
            }
            Ident::Probe(_) => {
                return Err(Pt::new(
                    PassthroughReason::CompilerCheckFailed,
                    "probe unanswered",
                ))
            }
            Ident::Failed(e) => return Err(Pt::new(PassthroughReason::CompilerCheckFailed, &e)),
        };

        let out_dir = manifest::resolve(&cwd, inv.out_dir.as_bytes());
        let root = self.rust_remap_root(&env, &cwd, &out_dir, &inv);
        Ok(Prepared::Units(Request {
            cwd,
            env,
            inv,
            out_dir,
            root,
            all_args,
            toolchain: tc.identity,
            clippy: lead.is_some(),
            start_ns: req.start_unix_ns as i128,
        }))
    }

    /// The crate keyed: its manifest key and its root source.
    fn key(&self, r: &Request) -> Result<Keyed<Source>, Pt> {
        let (cwd, env, inv, root) = (&r.cwd, &r.env, &r.inv, r.root.as_ref());
        let mut key = KeyHasher::new(domains::RUSTC);
        key.bytes("toolchain", &r.toolchain);
        key.bytes("clippy", &[r.clippy as u8]);
        let mut source_stat = None;
        let mut source_path = PathBuf::new();
        for a in &inv.key_args {
            match a {
                KeyArg::Opt(name, value) => {
                    key.bytes("opt", name.as_bytes());
                    key_text(
                        &mut key,
                        "value",
                        root,
                        value.as_ref().map(|v| v.as_bytes()),
                    );
                }
                KeyArg::Extern { name, path } => {
                    let abs = manifest::resolve(cwd, path.as_bytes());
                    let (_, d) = self.core.meta.digest(&abs).map_err(|e| {
                        Pt::new(
                            PassthroughReason::NoInputFile,
                            &format!("--extern {}: {e}", abs.display()),
                        )
                    })?;
                    // The file name carries the dependency's metadata hash
                    // and kind (rlib or rmeta), so it is keyed too.
                    let file = abs.file_name().unwrap_or_default();
                    key.os("extern", name).os("file", file).bytes("digest", &d);
                }
                KeyArg::StaticLib { spec, name } => {
                    let mut file = b"lib".to_vec();
                    file.extend_from_slice(name.as_bytes());
                    file.extend_from_slice(b".a");
                    let found = inv.native_dirs.iter().find_map(|d| {
                        let p = manifest::resolve(cwd, d.as_bytes()).join(OsStr::from_bytes(&file));
                        self.core.meta.digest(&p).ok()
                    });
                    let (_, d) = found.ok_or_else(|| {
                        Pt::new(
                            PassthroughReason::UnsupportedCompilerOption,
                            &format!("-l {}: not found over -L", spec.to_string_lossy()),
                        )
                    })?;
                    key_text(&mut key, "static_lib", root, Some(spec.as_bytes()));
                    key.bytes("digest", &d);
                }
                KeyArg::TargetFile(spec) => {
                    let abs = manifest::resolve(cwd, spec.as_bytes());
                    let (_, d) = self.core.meta.digest(&abs).map_err(|e| {
                        Pt::new(
                            PassthroughReason::NoInputFile,
                            &format!("--target {}: {e}", abs.display()),
                        )
                    })?;
                    key_text(&mut key, "target_file", root, Some(spec.as_bytes()));
                    key.bytes("digest", &d);
                }
                KeyArg::Input(spelled) => {
                    let abs = manifest::resolve(cwd, spelled.as_bytes());
                    let (stat, d) = self.core.meta.digest(&abs).map_err(|e| {
                        Pt::new(
                            PassthroughReason::NoInputFile,
                            &format!("{}: {e}", abs.display()),
                        )
                    })?;
                    key_text(&mut key, "input", root, Some(spelled.as_bytes()));
                    key.bytes("digest", &d);
                    source_stat = Some(stat);
                    source_path = abs;
                }
            }
        }
        let source_stat = source_stat.ok_or_else(|| Pt::new(PassthroughReason::NoInputFile, ""))?;
        key_context(&mut key, root, cwd, env);
        Ok(Keyed {
            manifest_key: key.finish(),
            facts: Source {
                path: source_path,
                stat: source_stat,
            },
        })
    }

    /// The crate's Miss; one that may be stored is remembered.
    fn rust_miss(&self, r: &Request, keyed: Keyed<Source>) -> v1::unit_answer::Answer {
        let all_args = &r.all_args;
        let start_ns = r.start_ns;
        let manifest_key = keyed.manifest_key;
        let Source {
            path: source,
            stat: source_stat,
        } = keyed.facts;
        let token = self.core.token();
        // Stored output is always coloured, whoever asked first.
        let mut args = args::with_colour(all_args, r.inv.colour);
        let prefix_map = r
            .root
            .as_ref()
            .map(|root| args::prefix_map_arg(root.bytes()));
        args.extend(prefix_map.clone());
        // Every rustc cargo can drive knows `--remap-path-prefix` (stable
        // since 1.26), so nothing needs the refusal fallback, which would
        // rule out streaming stderr.
        let injected = String::new();
        let outputs: Vec<(&'static str, PathBuf)> = r
            .inv
            .outputs()
            .into_iter()
            .map(|(role, name)| (role, r.out_dir.join(name)))
            .collect();
        let (dep_info, private_dep) = match outputs.iter().find(|(role, _)| *role == "dep-info") {
            Some((_, p)) => (p.clone(), false),
            None => {
                let p = self.core.private_dir.join(format!("rust-dep-{token}.d"));
                let mut emit = OsString::from("--emit=dep-info=");
                emit.push(&p);
                args.push(emit);
                (p, true)
            }
        };
        let to_bytes = |v: Vec<OsString>| v.into_iter().map(|a| a.into_vec()).collect::<Vec<_>>();
        if source_stat.changed_since(start_ns) {
            self.core
                .stats
                .not_stored(NotStoredReason::ModifiedInputFile);
            let mut args = all_args.to_vec();
            args.extend(prefix_map);
            return v1::unit_answer::Answer::Miss(v1::Miss {
                token: 0,
                args: to_bytes(args),
                deps_args: Vec::new(),
                no_store_reason: NotStoredReason::ModifiedInputFile.as_str().into(),
                strip_ansi: false,
                injected_option: injected.clone(),
                stream_stderr: true,
                private_paths: Vec::new(),
                stderr_pty: false,
            });
        }
        let private_paths = if private_dep {
            vec![dep_info.as_os_str().as_bytes().to_vec()]
        } else {
            Vec::new()
        };
        (self.remember)(
            token,
            Pending {
                cwd: r.cwd.clone(),
                env: r.env.clone(),
                manifest_key,
                source,
                source_stat,
                start_ns,
                out_dir: r.out_dir.clone(),
                outputs,
                dep_info,
                private_dep,
                root: r.root.clone(),
            },
        );
        v1::unit_answer::Answer::Miss(v1::Miss {
            token,
            args: to_bytes(args),
            deps_args: Vec::new(),
            no_store_reason: String::new(),
            strip_ansi: !r.inv.colour.requested,
            injected_option: injected,
            stream_stderr: true,
            private_paths,
            stderr_pty: false,
        })
    }

    /// Every output the current request names from `stored`, for the
    /// wrapper to write; `None` makes it a miss.
    fn rust_deliver(
        &self,
        r: &Request,
        stored: &Entry,
        fds: &mut Descriptors,
    ) -> Option<v1::unit_answer::Answer> {
        let (old_out_dir, _stored_mtime_ns) = decode_extra(&stored.extra)?;
        // Under remap the stored out-dir, dep-info and streams are
        // root-free: they name the current worktree once expanded.
        let old_out_dir = remap::expand(&old_out_dir, r.root.as_ref())?;
        // The wrapper writes them now, so they get the current time, as a
        // fresh compile leaves them. Restoring the stored mtime (even floored
        // up to the newest source and extern) made the next `cargo build` recompile crates whose build script
        // ran in this build: cargo sees the script's output newer than the
        // crate's outputs. Cargo starts a dependent only after a
        // dependency's outputs exist, so "now" orders them as rustc would.
        let role_index = |role: &str| stored.outputs.iter().position(|o| o.role == role);
        let mut plan = Vec::new();
        for (role, name) in r.inv.outputs() {
            plan.push((role, role_index(role)?, r.out_dir.join(name)));
        }
        let new_out_dir = r.out_dir.as_os_str().as_bytes();
        let mut list = Vec::new();
        for (role, idx, dest) in plan {
            let write = outputs::rust_write_mode(role);
            if role == "dep-info" {
                let bytes = self.core.store.deliver_bytes(stored, idx).ok()?;
                let bytes = remap::expand_text(&bytes, r.root.as_ref());
                let bytes = depinfo::rewrite_out_dir(&bytes, &old_out_dir, new_out_dir);
                list.push(outputs::text(&dest, write, bytes));
                continue;
            }
            match fds.blob(&self.core.store, stored, idx, &dest, write) {
                Ok(out) => list.push(out),
                Err(outputs::Unavailable::Store { unexpected: true }) => {
                    self.core.stats.bump(&self.core.stats.errors);
                    return None;
                }
                Err(_) => return None,
            }
        }
        let stderr = remap::expand_text(&stored.stderr, r.root.as_ref());
        let mut stderr = depinfo::rewrite_artifacts(&stderr, &old_out_dir, new_out_dir);
        if !r.inv.colour.requested {
            stderr = frame::ansi::strip(&stderr).into_owned();
        }
        Some(v1::unit_answer::Answer::Hit(v1::Hit {
            stdout: remap::expand_text(&stored.stdout, r.root.as_ref()).into_owned(),
            stderr,
            exit_code: stored.exit_code,
            outputs: list,
            entry: stored.key().0.to_vec(),
        }))
    }

    fn try_rust_store<'a>(
        &self,
        p: &'a Pending,
        st: &'a v1::Store,
    ) -> Result<Draft<'a>, NotStoredReason> {
        if st.exit_code != 0 {
            return Err(NotStoredReason::CompileFailed);
        }
        let now = std::fs::metadata(&p.source)
            .map(|m| StatId::of(&m))
            .map_err(|_| NotStoredReason::ModifiedInputFile)?;
        if now != p.source_stat {
            return Err(NotStoredReason::ModifiedInputFile);
        }
        let mut newest_output_ns = 0i128;
        for (_, path) in &p.outputs {
            let md = std::fs::symlink_metadata(path)
                .map_err(|_| NotStoredReason::CompilerProducedNoOutput)?;
            if !md.is_file() {
                return Err(NotStoredReason::BadOutputFile);
            }
            newest_output_ns = newest_output_ns.max(StatId::of(&md).mtime_ns);
        }
        let text = std::fs::read(&p.dep_info).map_err(|_| NotStoredReason::MissingDepfile)?;
        let parsed = depinfo::parse(&text).ok_or(NotStoredReason::BadDepfile)?;
        let mut includes: Vec<(Vec<u8>, Digest)> = Vec::new();
        let mut root_in_source = false;
        for dep in parsed.sources {
            let abs = manifest::resolve(&p.cwd, &dep);
            let (stat, digest) = self
                .core
                .meta
                .digest(&abs)
                .map_err(|_| NotStoredReason::ModifiedInputFile)?;
            if stat.changed_since(p.start_ns) {
                return Err(NotStoredReason::ModifiedInputFile);
            }
            if let Some(root) = &p.root {
                if !root_in_source {
                    root_in_source = source_names_root(root, &abs, &digest)?;
                }
            }
            includes.push((remap::root_free(p.root.as_ref(), &dep).into_owned(), digest));
        }
        let mut entry = ManifestEntry {
            includes,
            negatives: Vec::new(),
            temporal: Temporal::default(),
            env_deps: parsed.env_deps,
            remap: EntryRemap::default(),
            result_key: [0; 32],
        };
        let mut dep_info_text = None;
        let (mut stdout, mut stderr) =
            (Cow::Borrowed(&st.stdout[..]), Cow::Borrowed(&st.stderr[..]));
        let mut out_dir = Cow::Borrowed(p.out_dir.as_os_str().as_bytes());
        if let Some(root) = &p.root {
            entry.remap.origin_root = root.bytes().to_vec();
            if root_in_source {
                entry.remap.root_bound = true;
                self.core.stats.remap_fallback(RemapFallback::RootInSource);
            }
            // The key holds env-dep values and OUT_DIR root-free, so a crate
            // that embeds such a value (`env!("CARGO_MANIFEST_DIR")` printed
            // or returned) would carry this root into another worktree. Its
            // output then holds the root's bytes: such an entry serves this
            // root only. A path read through `include!(concat!(env!("OUT_DIR"),
            // …))` leaves no trace, so it is shared. Not caught: a crate
            // that derives other data from a path value (its length, a hash).
            for (role, path) in &p.outputs {
                if *role == "dep-info" || entry.remap.root_bound {
                    continue;
                }
                let named = root
                    .occurs_in_file(path)
                    .map_err(|_| NotStoredReason::CompilerProducedNoOutput)?;
                if named {
                    entry.remap.root_bound = true;
                    self.core.stats.remap_fallback(RemapFallback::RootInOutput);
                    break;
                }
            }
            if !entry.remap.root_bound && escaped_root_in(root, &[&text, &stdout, &stderr]) {
                entry.remap.root_bound = true;
                self.core
                    .stats
                    .remap_fallback(RemapFallback::EscapedRootInText);
            }
            // A stream or dep-info that already holds the token could not be
            // told apart on the way back.
            dep_info_text = Some(
                root.tokenize_text(&text)
                    .ok_or(NotStoredReason::RemapTokenInOutput)?,
            );
            stdout = Cow::Owned(
                root.tokenize_text(&stdout)
                    .ok_or(NotStoredReason::RemapTokenInOutput)?,
            );
            stderr = Cow::Owned(
                root.tokenize_text(&stderr)
                    .ok_or(NotStoredReason::RemapTokenInOutput)?,
            );
            out_dir = Cow::Owned(root.tokenize(&out_dir).into_owned());
        }
        entry.result_key = result_key_for(&p.manifest_key, &entry, &p.env, p.root.as_ref());

        let mut dep_info_text = dep_info_text.map(Cow::Owned);
        let mut outputs = Vec::with_capacity(p.outputs.len());
        for (role, path) in &p.outputs {
            let out = match (dep_info_text.take(), *role) {
                (Some(text), "dep-info") => DraftOutput::Bytes(text),
                (text, _) => {
                    dep_info_text = text;
                    DraftOutput::File(path)
                }
            };
            outputs.push((*role, out));
        }
        Ok(Draft {
            manifest_key: p.manifest_key,
            entry,
            outputs,
            stdout,
            stderr,
            extra: encode_extra(&out_dir, newest_output_ns),
        })
    }

    /// The worktree root when path remap applies to this compile. cargo
    /// runs a registry crate in its directory under `~/.cargo`, outside any
    /// worktree, yet its out-dir and `OUT_DIR` are in the worktree's target
    /// directory (serde includes generated code from there): the out-dir
    /// then decides the root.
    fn rust_remap_root(
        &self,
        env: &BTreeMap<Vec<u8>, Vec<u8>>,
        cwd: &Path,
        out_dir: &Path,
        inv: &Invocation,
    ) -> Option<Root> {
        let decision = match remap::decide(env, cwd) {
            Decision::Fallback(
                why @ (RemapFallback::CwdOutsideRoot | RemapFallback::NoWorktreeRoot),
            ) => match remap::decide(env, out_dir) {
                Decision::On(root) => Decision::On(root),
                _ => Decision::Fallback(why),
            },
            d => d,
        };
        match decision {
            Decision::Off => None,
            Decision::Fallback(why) => {
                self.core.stats.remap_fallback(why);
                None
            }
            Decision::On(_) if inv.user_prefix_map => {
                self.core.stats.remap_fallback(RemapFallback::UserPrefixMap);
                None
            }
            Decision::On(root) => Some(root),
        }
    }
}

/// The result key: the manifest key, the sources with their digests and
/// the current value of every variable the crate read (unset ≠ empty).
/// Under remap (`root`) a value is keyed through [`key_text`], as the
/// entry's sources are root-free; a root-bound entry is salted with its
/// origin root.
fn result_key_for(
    manifest_key: &[u8; 32],
    entry: &ManifestEntry,
    env: &BTreeMap<Vec<u8>, Vec<u8>>,
    root: Option<&Root>,
) -> [u8; 32] {
    let mut h = KeyHasher::new(domains::RUSTC_RESULT);
    h.bytes("manifest", manifest_key);
    if entry.remap.root_bound {
        h.bytes("root", &entry.remap.origin_root);
    }
    let mut sorted: Vec<&(Vec<u8>, Digest)> = entry.includes.iter().collect();
    sorted.sort();
    for (p, d) in sorted {
        h.bytes("source", p).bytes("digest", d);
    }
    for name in &entry.env_deps {
        h.bytes("env_dep", name);
        key_text(&mut h, "value", root, env.get(name).map(Vec::as_slice));
    }
    h.finish()
}

/// The environment and working directory part of the manifest key. `CARGO_*`
/// values such as `CARGO_MANIFEST_DIR` and `OUT_DIR` name paths: under remap
/// they are keyed through [`key_text`].
fn key_context(
    key: &mut KeyHasher,
    root: Option<&Root>,
    cwd: &Path,
    env: &BTreeMap<Vec<u8>, Vec<u8>>,
) {
    if root.is_some() {
        // Outputs differ (mapped paths vs raw): never shared with remap off.
        key.bytes("remap", b"auto");
    }
    for (name, value) in env {
        let kept = (name.starts_with(b"CARGO") && !cargo_var_is_volatile(name))
            || name == b"OUT_DIR"
            || name == b"RUSTC_BOOTSTRAP";
        if kept {
            key.bytes("env", name);
            key_text(key, "value", root, Some(value));
        }
    }
    // cargo runs rustc in the workspace root (path packages) or the package
    // directory; diagnostics and relative source paths depend on it.
    key_text(key, "cwd", root, Some(cwd.as_os_str().as_bytes()));
}

/// Whether `texts` spell the root in a form [`Root::tokenize_text`] does
/// not see: dep-info escapes spaces (`\ `), JSON diagnostics escape quotes
/// and backslashes. Such text would name this root in another worktree.
fn escaped_root_in(root: &Root, texts: &[&[u8]]) -> bool {
    let raw = root.bytes();
    let mut forms = Vec::new();
    if raw.contains(&b' ') {
        let mut make = Vec::with_capacity(raw.len() + 4);
        for b in raw {
            if *b == b' ' {
                make.push(b'\\');
            }
            make.push(*b);
        }
        forms.push(make);
    }
    if let Ok(s) = std::str::from_utf8(raw) {
        if let Ok(quoted) = serde_json::to_string(s) {
            let json = quoted.as_bytes()[1..quoted.len() - 1].to_vec();
            if json != raw {
                forms.push(json);
            }
        }
    }
    forms.iter().any(|f| {
        texts
            .iter()
            .any(|t| t.windows(f.len()).any(|w| w == &f[..]))
    })
}

/// Hashes an argument or environment value (a path or any text holding
/// one). Under remap every mention of the root at a path boundary is keyed
/// root-free, wherever it is in the value (`--cfg 'x="/w/a/cfg"'`,
/// `-L native=/w/a/out`): keyed raw, a value naming this worktree would
/// equal the same text sent from another worktree, where it names this
/// one from outside. For a value that is a path under the root this is
/// [`Root::tokenize`]. A value already holding the token is hashed as is
/// under a tag of its own, so it never equals a tokenized one.
fn key_text(h: &mut KeyHasher, tag: &str, root: Option<&Root>, value: Option<&[u8]>) {
    match (root, value) {
        (Some(root), Some(v)) => match root.tokenize_text(v) {
            Some(t) => h.bytes(tag, &t),
            None => h.bytes("holds_remap_token", v),
        },
        _ => h.opt(tag, value),
    };
}

/// Whether a source the crate read spells `root` (`include_str!("/w/a/x")`,
/// a string literal a diagnostic quotes): compiled under another root the
/// same text names this worktree from outside, which the prefix map leaves
/// as it is, so an entry built from it serves this root only. The bytes
/// read must be those `digest` keyed; otherwise the file changed since.
fn source_names_root(root: &Root, abs: &Path, digest: &Digest) -> Result<bool, NotStoredReason> {
    let bytes = std::fs::read(abs).map_err(|_| NotStoredReason::ModifiedInputFile)?;
    if blake3::hash(&bytes).as_bytes() != digest {
        return Err(NotStoredReason::ModifiedInputFile);
    }
    Ok(root.occurs_in(&bytes))
}

fn encode_extra(out_dir: &[u8], mtime_ns: i128) -> Vec<u8> {
    let mut e = Enc::new();
    e.u8(EXTRA_FORMAT);
    e.bytes(out_dir);
    e.i128(mtime_ns);
    e.0
}

fn decode_extra(bytes: &[u8]) -> Option<(Vec<u8>, i128)> {
    let mut d = Dec::new(bytes);
    if d.u8()? != EXTRA_FORMAT {
        return None;
    }
    let dir = d.bytes()?.to_vec();
    let mtime = d.i128()?;
    d.is_empty().then_some((dir, mtime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatile_and_secret_cargo_vars_stay_out() {
        for v in [
            "CARGO_MAKEFLAGS",
            "CARGO_BUILD_JOBS",
            "CARGO_REGISTRIES_X_TOKEN",
            "CARGO_REGISTRY_TOKEN",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_INCREMENTAL",
            "CARGO_HTTP_PROXY",
        ] {
            assert!(cargo_var_is_volatile(v.as_bytes()), "{v}");
        }
        for v in [
            "CARGO_PKG_NAME",
            "CARGO_MANIFEST_DIR",
            "CARGO_CRATE_NAME",
            "CARGO",
        ] {
            assert!(!cargo_var_is_volatile(v.as_bytes()), "{v}");
        }
    }

    #[test]
    fn clippy_drops_its_leading_rustc() {
        let os = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        let (lead, rest) = split_lead(
            Path::new("/t/bin/clippy-driver"),
            &os(&["/t/bin/rustc", "--crate-name", "x"]),
        );
        assert_eq!(lead, Some("/t/bin/rustc".into()));
        assert_eq!(rest, os(&["--crate-name", "x"]));
        let (lead, rest) = split_lead(Path::new("/t/bin/rustc"), &os(&["-vV"]));
        assert_eq!((lead, rest), (None, os(&["-vV"])));
        let lookup = |c: &str| v1::Lookup {
            compiler: c.as_bytes().to_vec(),
            ..Default::default()
        };
        for (c, rust) in [
            ("/t/rustc", true),
            ("/t/rustc-shim", true),
            ("/t/clippy-driver", true),
            ("/t/rustdoc", false),
            ("/t/gcc", false),
        ] {
            assert_eq!(is_rustc(&lookup(c)), rust, "{c}");
        }
    }

    #[test]
    fn env_deps_split_unset_from_empty() {
        let entry = ManifestEntry {
            includes: vec![(b"src/lib.rs".to_vec(), [1; 32])],
            negatives: vec![],
            temporal: Temporal::default(),
            env_deps: vec![b"V".to_vec()],
            remap: EntryRemap::default(),
            result_key: [0; 32],
        };
        let mut env = BTreeMap::new();
        let unset = result_key_for(&[0; 32], &entry, &env, None);
        env.insert(b"V".to_vec(), Vec::new());
        let empty = result_key_for(&[0; 32], &entry, &env, None);
        env.insert(b"V".to_vec(), b"1".to_vec());
        let one = result_key_for(&[0; 32], &entry, &env, None);
        assert_ne!(unset, empty);
        assert_ne!(empty, one);
        assert_eq!(
            decode_extra(&encode_extra(b"/o", 5)),
            Some((b"/o".to_vec(), 5))
        );
    }

    #[test]
    fn remapped_keys_agree_across_roots_and_differ_from_remap_off() {
        let (a, b) = (Root::new("/w/a"), Root::new("/w/b"));
        let env = |r: &str| -> BTreeMap<Vec<u8>, Vec<u8>> {
            [
                ("CARGO_MANIFEST_DIR", format!("{r}/lib")),
                ("OUT_DIR", format!("{r}/target/debug/build/x-1/out")),
                ("CARGO", "/usr/bin/cargo".into()),
                ("CARGO_PKG_NAME", "x".into()),
            ]
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.into_bytes()))
            .collect()
        };
        let key = |root: Option<&Root>, r: &str| {
            let mut k = KeyHasher::new(domains::RUSTC);
            key_context(&mut k, root, Path::new(r), &env(r));
            let lib = format!("native={r}/target/debug/build/x-1/out");
            key_text(&mut k, "-L", root, Some(lib.as_bytes()));
            k.finish()
        };
        assert_eq!(key(Some(&a), "/w/a"), key(Some(&b), "/w/b"));
        assert_ne!(key(None, "/w/a"), key(None, "/w/b"));
        // Remap on is never remap off, even with the same paths.
        assert_ne!(key(Some(&a), "/w/a"), key(None, "/w/a"));
        let c = Root::new("/v/c");
        assert_ne!(
            key(Some(&a), "/w/a"),
            key(Some(&c), "/w/b"),
            "outside the root"
        );

        let mut entry = ManifestEntry {
            includes: vec![(b"\0R/target/debug/build/x-1/out/gen.rs".to_vec(), [1; 32])],
            negatives: vec![],
            temporal: Temporal::default(),
            env_deps: vec![b"OUT_DIR".to_vec()],
            remap: EntryRemap {
                origin_root: b"/w/a".to_vec(),
                root_bound: false,
            },
            result_key: [0; 32],
        };
        let rk = |e: &ManifestEntry, root: &Root, r: &str| {
            result_key_for(&[0; 32], e, &env(r), Some(root))
        };
        assert_eq!(rk(&entry, &a, "/w/a"), rk(&entry, &b, "/w/b"));
        let free = rk(&entry, &a, "/w/a");
        entry.remap.root_bound = true;
        assert_ne!(rk(&entry, &a, "/w/a"), free, "a root-bound entry is salted");
    }

    #[test]
    fn values_key_root_free_wherever_they_name_the_root() {
        let r = Root::new("/w/a");
        #[track_caller]
        fn check(root: Option<&Root>, v: &str, want: &[u8]) {
            let mut got = KeyHasher::new(domains::RUSTC);
            key_text(&mut got, "value", root, Some(v.as_bytes()));
            let mut k = KeyHasher::new(domains::RUSTC);
            k.bytes("value", want);
            assert_eq!(got.finish(), k.finish(), "{v}");
        }
        check(Some(&r), "native=/w/a/out", b"native=\0R/out");
        check(Some(&r), "all=/w/a", b"all=\0R");
        check(Some(&r), "/w/a/lib", b"\0R/lib");
        check(Some(&r), "native=/usr/lib", b"native=/usr/lib");
        check(Some(&r), "native=/w/ab", b"native=/w/ab");
        check(None, "native=/w/a/out", b"native=/w/a/out");
        check(Some(&r), "x=\"/w/a/cfg\"", b"x=\"\0R/cfg\"");
        check(
            Some(&r),
            "link-arg=-Wl,-rpath,/w/a/lib:/w/a/x",
            b"link-arg=-Wl,-rpath,\0R/lib:\0R/x",
        );
        // A path under the root keys as `tokenize` spells it.
        for p in ["/w/a/src/lib.rs", "/w/a", "src/lib.rs", "/w/ab/lib.rs"] {
            check(Some(&r), p, &r.tokenize(p.as_bytes()));
        }
        // Text already holding the token never keys like a tokenized value.
        let mut raw = KeyHasher::new(domains::RUSTC);
        key_text(&mut raw, "value", Some(&r), Some(b"\0R/cfg"));
        let mut tok = KeyHasher::new(domains::RUSTC);
        key_text(&mut tok, "value", Some(&r), Some(b"/w/a/cfg"));
        assert_ne!(raw.finish(), tok.finish());
    }

    #[test]
    fn a_value_naming_another_worktree_keys_apart_from_one_naming_its_own() {
        let (a, b) = (Root::new("/w/a"), Root::new("/w/b"));
        // The argv and env as the two worktrees send them, keyed as
        // `rust_lookup` and `key_context` do.
        let key = |root: &Root, r: &str, cfg: &str| {
            let mut k = KeyHasher::new(domains::RUSTC);
            for v in [
                format!("x=\"{cfg}/cfg\""),
                format!("link-arg=-Wl,-rpath,{cfg}/lib"),
            ] {
                k.bytes("opt", b"--cfg");
                key_text(&mut k, "value", Some(root), Some(v.as_bytes()));
            }
            let env: BTreeMap<Vec<u8>, Vec<u8>> = [
                ("CARGO_PKG_NAME", "x".to_string()),
                ("CARGO_CFG_DATA", format!("data:{cfg}/data")),
            ]
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.into_bytes()))
            .collect();
            key_context(&mut k, Some(root), Path::new(r), &env);
            k.finish()
        };
        // Each names its own tree: shared.
        assert_eq!(key(&a, "/w/a", "/w/a"), key(&b, "/w/b", "/w/b"));
        // The same literal naming A: its own tree in A, another in B.
        assert_ne!(key(&a, "/w/a", "/w/a"), key(&b, "/w/b", "/w/a"));
        // Text outside both roots stays shared.
        assert_eq!(key(&a, "/w/a", "/v/c"), key(&b, "/w/b", "/v/c"));

        let entry = ManifestEntry {
            includes: vec![(b"\0R/src/lib.rs".to_vec(), [1; 32])],
            negatives: vec![],
            temporal: Temporal::default(),
            env_deps: vec![b"DATA".to_vec()],
            remap: EntryRemap {
                origin_root: b"/w/a".to_vec(),
                root_bound: false,
            },
            result_key: [0; 32],
        };
        let rk = |root: &Root, data: &str| {
            let env = BTreeMap::from([(b"DATA".to_vec(), data.as_bytes().to_vec())]);
            result_key_for(&[0; 32], &entry, &env, Some(root))
        };
        assert_eq!(rk(&a, "x:/w/a/d"), rk(&b, "x:/w/b/d"));
        assert_ne!(rk(&a, "x:/w/a/d"), rk(&b, "x:/w/a/d"));
    }

    #[test]
    fn sources_naming_the_root_are_seen() {
        let dir = std::env::temp_dir().join(format!("zcc-rust-src-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let r = Root::new("/w/a");
        #[track_caller]
        fn check(dir: &Path, r: &Root, text: &str, want: bool) {
            let p = dir.join("lib.rs");
            std::fs::write(&p, text).unwrap();
            let d = *blake3::hash(text.as_bytes()).as_bytes();
            assert_eq!(source_names_root(r, &p, &d), Ok(want), "{text}");
        }
        check(
            &dir,
            &r,
            "const D: &str = include_str!(\"/w/a/data.txt\");",
            true,
        );
        check(&dir, &r, "fn f() { panic!(\"see /w/a\") }", true);
        check(
            &dir,
            &r,
            "const D: &str = include_str!(\"data.txt\");",
            false,
        );
        check(&dir, &r, "// /w/b/data.txt", false);
        // Content other than the keyed digest: the file changed since.
        let p = dir.join("lib.rs");
        assert_eq!(
            source_names_root(&r, &p, &[0; 32]),
            Err(NotStoredReason::ModifiedInputFile)
        );
        assert_eq!(
            source_names_root(&r, &dir.join("gone.rs"), &[0; 32]),
            Err(NotStoredReason::ModifiedInputFile)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn escaped_spellings_of_the_root_are_seen() {
        #[track_caller]
        fn check(root: &str, text: &[u8], want: bool) {
            assert_eq!(escaped_root_in(&Root::new(root), &[b"", text]), want);
        }
        check("/w/a b", b"/w/a\\ b/deps/x.d: src/lib.rs", true);
        check("/w/a b", b"{\"file\":\"/w/a b/src/lib.rs\"}", false);
        check("/w/a\"b", b"{\"file\":\"/w/a\\\"b/src/lib.rs\"}", true);
        check("/w/a", b"/w/a/deps/x.d: /w/a/src/lib.rs", false);
    }
}
