//! The rustc pipeline (cache-keys.md §8): a Lookup for rustc or clippy-driver becomes a Probe (toolchain unknown), a Hit (outputs written into the current out-dir, no rustc run) or a Miss; the Store after a miss records the outputs and a direct-mode manifest entry built from rustc's dep-info.
//!
//! Owns the rustc flow. It does not parse arguments (`args`), say what
//! goes into a key (`key`), identify toolchains (`toolchain`) or encode
//! manifests and entries (`manifest`, `store`). Failed compiles are never
//! stored.

mod args;
mod depinfo;
mod key;
mod link;
mod toolchain;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use frame::v1;

use crate::codec::{Dec, Enc};
use crate::journal;
use crate::manifest::{ManifestEntry, Temporal};
use crate::meta::{guard_moment, Digest, StatId};
use crate::outputs::{self, Descriptors};
use crate::pipeline::{
    check_finished, request_args, request_env, Core, Draft, DraftOutput, Finished, Keyed, Language,
    PendingMiss, Pipeline, Prepared, Pt,
};
use crate::reasons::{NotStoredReason, PassthroughReason, RemapFallback};
use crate::remap::{self, Decision, Root};
use crate::store::Entry;
use crate::worktree::{self, FreePath, Worktree};

use args::{Invocation, KeyArg};
use key::result_key_for;
use toolchain::{Ident, Toolchains};

/// 2: a root-bound entry's dep-info and streams are stored as rustc wrote
/// them (the one root-bound policy, `Worktree::store`); under 1 they were
/// root-free, and a hit still expands them.
const EXTRA_FORMAT: u8 = 2;

/// The outputs a crate compile exists for: never empty.
const PRIMARY: &[&str] = &["rlib", "staticlib", "rmeta", "bin", "dylib"];

/// The check of a crate that links (`--crate-type bin --emit=metadata`):
/// rustc writes its `.rmeta` empty (measured, rustc 1.95), so only the
/// dep-info must not be.
const PRIMARY_CHECKED_LINK: &[&str] = &["dep-info"];

/// What the Rust pipeline memoizes across requests.
#[derive(Default)]
pub(crate) struct RustPipeline {
    toolchains: Toolchains,
    /// The names of each system library directory a link searches, by the
    /// directory's stat (`link::system_lib_dirs`).
    dir_listings: dashmap::DashMap<std::path::PathBuf, (crate::meta::StatId, crate::meta::Digest)>,
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

    fn worktree(r: &Request) -> &Worktree {
        &r.view
    }

    fn key(&self, core: &Core, r: &Request, _: usize) -> Result<Keyed<Source>, Pt> {
        self.with(core).key(r)
    }

    fn result_key(r: &Request, manifest_key: &[u8; 32], entry: &ManifestEntry) -> Option<[u8; 32]> {
        Some(result_key_for(&r.view, manifest_key, entry, &r.env))
    }

    fn journal_unit(r: &Request, _: usize, source: &Source) -> journal::Unit {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        journal::Unit {
            sources: vec![source.path.display().to_string()],
            output: r.out_dir.display().to_string(),
            manifest_key: String::new(),
            inputs: journal::Inputs {
                compiler: journal::value_hash(&r.toolchain),
                source: journal::value_hash(&source.digest),
                args: r.inv.key_args.iter().map(shown_arg).collect(),
                env: key::keyed_env(&r.env)
                    .map(|(n, v)| (text(n), journal::value_hash(v)))
                    .collect(),
            },
        }
    }

    fn deliver(
        &self,
        core: &Core,
        r: &Request,
        _: usize,
        entry: &ManifestEntry,
        stored: &Entry,
        fds: &mut Descriptors,
    ) -> Option<v1::unit_answer::Answer> {
        self.with(core).rust_deliver(r, entry, stored, fds)
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
        if r.inv.link.is_some() {
            core.stats.bump(&core.stats.link_misses);
        }
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
    /// Where the compile runs (cwd, worktree root under path remap).
    view: Worktree,
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
    /// A linked crate: the linker's list of the files it read (ours,
    /// removed after Store) and the prefix of the crate's own objects.
    link_deps: Option<(PathBuf, Vec<u8>)>,
    /// The outputs that must not be empty.
    primary: &'static [&'static str],
}

impl Pending {
    /// The crate links (its link share is counted apart).
    pub(crate) fn links(&self) -> bool {
        self.link_deps.is_some()
    }
}

impl PendingMiss for Pending {
    fn touches(&self, under: &dyn Fn(&Path) -> bool) -> bool {
        under(self.view.cwd()) || under(&self.source) || under(&self.out_dir)
    }

    /// The dep-info or link list the daemon asked rustc to write for it (a
    /// linked crate always has cargo's dep-info: `args::classify`).
    fn private_file(&self) -> Option<&Path> {
        match &self.link_deps {
            Some((list, _)) => Some(list.as_path()),
            None => self.private_dep.then_some(self.dep_info.as_path()),
        }
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
    /// Where the compile runs: cwd and, when path remap applies to this
    /// call, the worktree root.
    view: Worktree,
    env: BTreeMap<Vec<u8>, Vec<u8>>,
    inv: Invocation,
    out_dir: PathBuf,
    /// The caller's argv[1..], clippy-driver's leading rustc included.
    all_args: Vec<OsString>,
    /// The toolchain identity.
    toolchain: [u8; 32],
    /// clippy-driver, which leads with a rustc path.
    clippy: bool,
    start_ns: i128,
    /// The toolchain's sysroot and host, where a link finds rustc's linker.
    sysroot: PathBuf,
    host: OsString,
}

/// A key argument as a person would write it, for `zccache explain`.
fn shown_arg(a: &KeyArg) -> String {
    let t = |s: &OsStr| s.to_string_lossy().into_owned();
    match a {
        KeyArg::Opt(name, None) => (*name).to_owned(),
        KeyArg::Opt(name, Some(v)) => format!("{name} {}", t(v)),
        KeyArg::Extern { name, path } => format!("--extern {}={}", t(name), t(path)),
        KeyArg::TargetFile(f) => format!("--target {}", t(f)),
        KeyArg::Input(f) => t(f),
        KeyArg::StaticLib { spec, .. } => format!("-l {}", t(spec)),
    }
}

/// What keying the crate learned about its root source, for its Miss.
pub(crate) struct Source {
    path: PathBuf,
    stat: StatId,
    digest: Digest,
}

/// Where a miss's dep-info goes: cargo's own, or one the daemon asks for.
struct DepInfoPlan {
    path: PathBuf,
    private: bool,
}

/// What the Store learned from the dep-info: the entry's sources (stored
/// root-free), its env-deps, and whether a source names the root.
struct DepSources {
    includes: Vec<(FreePath, Digest)>,
    env_deps: Vec<Vec<u8>>,
    named: Option<RemapFallback>,
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

        let out_dir = worktree::resolve(&cwd, inv.out_dir.as_bytes());
        let root = self.rust_remap_root(&env, &cwd, &out_dir, &inv);
        Ok(Prepared::Units(Request {
            view: Worktree::new(cwd, root),
            env,
            inv,
            out_dir,
            all_args,
            toolchain: tc.identity,
            clippy: lead.is_some(),
            start_ns: req.start_unix_ns as i128,
            sysroot: tc.sysroot.clone(),
            host: tc.host.clone(),
        }))
    }

    /// The crate's Miss; one that may be stored is remembered.
    fn rust_miss(&self, r: &Request, keyed: Keyed<Source>) -> v1::unit_answer::Answer {
        // A source too new to trust is found at Store, against the moment
        // rustc was spawned: a build script's `$OUT_DIR/gen.rs` written just
        // before this rustc is then still stored.
        let source = keyed.facts;
        let token = self.core.token();
        // Stored output is always coloured, whoever asked first.
        let mut args = args::with_colour(&r.all_args, r.inv.colour);
        args.extend(prefix_map(r));
        let outputs: Vec<(&'static str, PathBuf)> = r
            .inv
            .outputs()
            .into_iter()
            .map(|(role, name)| (role, r.out_dir.join(name)))
            .collect();
        let dep = self.dep_info_plan(&outputs, token, &mut args);
        let mut private_paths = if dep.private {
            vec![dep.path.as_os_str().as_bytes().to_vec()]
        } else {
            Vec::new()
        };
        let link_deps = r.inv.link.map(|_| {
            let list = self.core.private_dir.join(format!("rust-link-{token}.d"));
            args.push(link::dependency_file_arg(&list));
            private_paths.push(list.as_os_str().as_bytes().to_vec());
            let own = link::own_prefix(&r.inv.crate_name, &r.inv.extra_filename);
            (list, own)
        });
        let links = link_deps.is_some();
        (self.remember)(
            token,
            Pending {
                view: r.view.clone(),
                env: r.env.clone(),
                manifest_key: keyed.manifest_key,
                source: source.path,
                source_stat: source.stat,
                start_ns: r.start_ns,
                out_dir: r.out_dir.clone(),
                outputs,
                dep_info: dep.path,
                private_dep: dep.private,
                link_deps,
                primary: if r.inv.crate_types.is_empty() && !links {
                    PRIMARY_CHECKED_LINK
                } else {
                    PRIMARY
                },
            },
        );
        v1::unit_answer::Answer::Miss(v1::Miss {
            token,
            args: to_bytes(args),
            deps_args: Vec::new(),
            no_store_reason: String::new(),
            strip_ansi: !r.inv.colour.requested,
            // Every rustc cargo can drive knows `--remap-path-prefix`
            // (stable since 1.26), so nothing needs the refusal fallback,
            // which would rule out streaming stderr. A linker may not know
            // `--dependency-file` (ld.bfd before 2.35, gold): a link that
            // fails naming it reruns as the caller asked. No one waits for a
            // linked crate's metadata notice, so not streaming costs nothing.
            injected_option: if links {
                link::DEPENDENCY_FILE.into()
            } else {
                String::new()
            },
            stream_stderr: !links,
            private_paths,
            stderr_pty: false,
        })
    }

    /// cargo's dep-info when the crate emits one; otherwise the daemon asks
    /// rustc for a private one (added to `args`).
    fn dep_info_plan(
        &self,
        outputs: &[(&'static str, PathBuf)],
        token: u64,
        args: &mut Vec<OsString>,
    ) -> DepInfoPlan {
        if let Some((_, p)) = outputs.iter().find(|(role, _)| *role == "dep-info") {
            return DepInfoPlan {
                path: p.clone(),
                private: false,
            };
        }
        let p = self.core.private_dir.join(format!("rust-dep-{token}.d"));
        let mut emit = OsString::from("--emit=dep-info=");
        emit.push(&p);
        args.push(emit);
        DepInfoPlan {
            path: p,
            private: true,
        }
    }

    /// Every output the current request names from `stored`, for the
    /// wrapper to write; `None` makes it a miss.
    fn rust_deliver(
        &self,
        r: &Request,
        entry: &ManifestEntry,
        stored: &Entry,
        fds: &mut Descriptors,
    ) -> Option<v1::unit_answer::Answer> {
        let (format, old_out_dir, _stored_mtime_ns) = decode_extra(&stored.extra)?;
        let text = if format == 1 {
            r.view.delivery_root_free(&entry.remap)
        } else {
            r.view.delivery(&entry.remap)
        };
        // Under remap the stored out-dir is root-free: it names the current
        // worktree once expanded.
        let old_out_dir = r.view.expand_path(&old_out_dir)?;
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
                let bytes = depinfo::rewrite_out_dir(&text.text(&bytes), &old_out_dir, new_out_dir);
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
        let mut stderr =
            depinfo::rewrite_artifacts(&text.text(&stored.stderr), &old_out_dir, new_out_dir);
        if !r.inv.colour.requested {
            stderr = frame::ansi::strip(&stderr).into_owned();
        }
        // The engine counts this hit; the link share is counted here.
        if r.inv.link.is_some() {
            self.core.stats.bump(&self.core.stats.link_hits);
        }
        Some(v1::unit_answer::Answer::Hit(v1::Hit {
            stdout: text.text(&stored.stdout).into_owned(),
            stderr,
            exit_code: stored.exit_code,
            outputs: list,
            entry: stored.key().0.to_vec(),
        }))
    }

    /// The Store of a finished miss: the shared checks, the sources from
    /// the dep-info, then the one root-bound policy over the outputs.
    fn try_rust_store<'a>(
        &self,
        p: &'a Pending,
        st: &'a v1::Store,
    ) -> Result<Draft<'a>, NotStoredReason> {
        let newest_output_ns = check_finished(
            st,
            &Finished {
                source: &p.source,
                source_stat: &p.source_stat,
                extra_inputs: &[],
                outputs: &p.outputs,
                primary: p.primary,
            },
        )?;
        // The too-new guard's moment: rustc's spawn, as on the C side.
        let moment = guard_moment(st.spawn_unix_ns, p.start_ns);
        if p.source_stat.written_since(moment) {
            return Err(NotStoredReason::ModifiedInputFile);
        }
        let text = std::fs::read(&p.dep_info).map_err(|_| NotStoredReason::MissingDepfile)?;
        let mut deps = self.dep_sources(p, moment, &text)?;
        if let Some((list, own)) = &p.link_deps {
            let listed = std::fs::read(list).map_err(|_| NotStoredReason::MissingDepfile)?;
            let linked = self.linked_inputs(&p.view, moment, &p.out_dir, own, &listed)?;
            for (path, digest) in linked {
                if !deps.includes.iter().any(|(q, _)| *q == path) {
                    deps.includes.push((path, digest));
                }
            }
        }
        // The key holds env-dep values and OUT_DIR root-free, so a crate
        // that embeds such a value (`env!("CARGO_MANIFEST_DIR")` printed
        // or returned) would carry this root into another worktree. Its
        // output then holds the root's bytes: such an entry serves this
        // root only. A path read through `include!(concat!(env!("OUT_DIR"),
        // …))` leaves no trace, so it is shared. Not caught: a crate
        // that derives other data from a path value (its length, a hash).
        let binaries: Vec<&Path> = p
            .outputs
            .iter()
            .filter(|(role, _)| *role != "dep-info")
            .map(|(_, path)| path.as_path())
            .collect();
        let mut stored = p.view.store(
            &self.core.stats,
            deps.named,
            &binaries,
            &[&text, &st.stdout, &st.stderr],
        )?;
        let mut entry = ManifestEntry {
            includes: deps.includes,
            negatives: Vec::new(),
            temporal: Temporal::default(),
            env_deps: deps.env_deps,
            remap: stored.remap.clone(),
            result_key: [0; 32],
        };
        entry.result_key = result_key_for(&p.view, &p.manifest_key, &entry, &p.env);
        let dep_info = stored.take(0, &text).into_owned();
        let outputs = draft_outputs(p, dep_info);
        let out_dir = p.view.free_path(p.out_dir.as_os_str().as_bytes());
        Ok(Draft {
            manifest_key: p.manifest_key,
            entry,
            outputs,
            stdout: stored.take(1, &st.stdout),
            stderr: stored.take(2, &st.stderr),
            extra: encode_extra(out_dir.as_bytes(), newest_output_ns),
        })
    }

    /// The entry's sources from the dep-info `text`, each written before
    /// `moment` (the compile's spawn), and whether one of them names the
    /// root.
    fn dep_sources(
        &self,
        p: &Pending,
        moment: i128,
        text: &[u8],
    ) -> Result<DepSources, NotStoredReason> {
        let parsed = depinfo::parse(text).ok_or(NotStoredReason::BadDepfile)?;
        let mut includes = Vec::new();
        let mut read = Vec::new();
        for dep in parsed.sources {
            let abs = p.view.resolve_raw(&dep);
            let digest = self.core.input_digest(&abs, moment)?;
            includes.push((p.view.free_path(&dep), digest));
            read.push((abs, digest));
        }
        let named = p
            .view
            .inputs_name_root(read.iter().map(|(abs, d)| (abs.as_path(), d)))?;
        Ok(DepSources {
            includes,
            env_deps: parsed.env_deps,
            named,
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

/// The prefix map a remapped compile runs with: paths under the root
/// recorded relative to it.
fn prefix_map(r: &Request) -> Option<OsString> {
    r.view.root().map(|root| args::prefix_map_arg(root.bytes()))
}

fn to_bytes(v: Vec<OsString>) -> Vec<Vec<u8>> {
    v.into_iter().map(OsStringExt::into_vec).collect()
}

/// The draft's outputs in order: files as rustc wrote them, the dep-info
/// as stored.
fn draft_outputs(p: &Pending, dep_info: Vec<u8>) -> Vec<(&'static str, DraftOutput<'_>)> {
    let mut dep_info = Some(Cow::Owned(dep_info));
    p.outputs
        .iter()
        .map(|(role, path)| match (*role, dep_info.take()) {
            ("dep-info", Some(text)) => (*role, DraftOutput::Bytes(text)),
            (_, text) => {
                dep_info = text;
                (*role, DraftOutput::File(path.as_path()))
            }
        })
        .collect()
}

fn encode_extra(out_dir: &[u8], mtime_ns: i128) -> Vec<u8> {
    let mut e = Enc::new();
    e.u8(EXTRA_FORMAT);
    e.bytes(out_dir);
    e.i128(mtime_ns);
    e.0
}

/// The format, the stored out-dir and the newest output's mtime.
fn decode_extra(bytes: &[u8]) -> Option<(u8, Vec<u8>, i128)> {
    let mut d = Dec::new(bytes);
    let format = d.u8()?;
    if !(1..=EXTRA_FORMAT).contains(&format) {
        return None;
    }
    let dir = d.bytes()?.to_vec();
    let mtime = d.i128()?;
    d.is_empty().then_some((format, dir, mtime))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn extra_roundtrips_and_reads_the_format_before_the_one_policy() {
        assert_eq!(
            decode_extra(&encode_extra(b"/o", 5)),
            Some((EXTRA_FORMAT, b"/o".to_vec(), 5))
        );
        let mut old = encode_extra(b"/o", 5);
        old[0] = 1;
        assert_eq!(decode_extra(&old), Some((1, b"/o".to_vec(), 5)));
        old[0] = EXTRA_FORMAT + 1;
        assert_eq!(decode_extra(&old), None);
    }

    #[test]
    fn sources_naming_the_root_are_seen() {
        let dir = std::env::temp_dir().join(format!("zcc-rust-src-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let view = Worktree::at("/w/a", Some("/w/a"));
        let named = |p: &Path, d: &Digest| view.inputs_name_root([(p, d)]).map(|n| n.is_some());
        let p = dir.join("lib.rs");
        for (text, want) in [
            ("const D: &str = include_str!(\"/w/a/data.txt\");", true),
            ("fn f() { panic!(\"see /w/a\") }", true),
            ("const D: &str = include_str!(\"data.txt\");", false),
            ("// /w/b/data.txt", false),
        ] {
            std::fs::write(&p, text).unwrap();
            let d = *blake3::hash(text.as_bytes()).as_bytes();
            assert_eq!(named(&p, &d), Ok(want), "{text}");
        }
        // Content other than the keyed digest: the file changed since.
        assert_eq!(named(&p, &[0; 32]), Err(NotStoredReason::ModifiedInputFile));
        assert_eq!(
            named(&dir.join("gone.rs"), &[0; 32]),
            Err(NotStoredReason::ModifiedInputFile)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
