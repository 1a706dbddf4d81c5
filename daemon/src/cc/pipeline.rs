//! The C/C++/emcc pipeline: a Lookup becomes per-source Hit or Miss
//! answers; a Store after a miss records outputs, the include set and a
//! manifest entry.
//!
//! This module owns what goes into a C key (cache-keys.md §2-§5). It does
//! not parse arguments (the rest of `cc`), keep misses between Lookup and
//! Store (`engine`), encode records (`manifest`, `store`) or speak the wire
//! beyond building reply messages.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dashmap::DashMap;
use frame::v1::{self, WriteMode};

use crate::cc::key::{self, ExtraKey, ExtraState, KeyInputs, ResultInputs};
use crate::cc::moment::{Moment, MomentError, SdeSupport};
use crate::cc::toolchain::{self, Programs, Selection};
use crate::cc::{self, date_time, Classified, DepMode, Driver, Family, Invocation, Mode, Unit};
use crate::depfile::{self, DepRule, Style};
use crate::domains;
use crate::journal;
use crate::keys::KeyHasher;
use crate::manifest::{ManifestEntry, NegativeDir, Temporal};
use crate::meta::{guard_moment, Digest, StatId};
use crate::outputs::{self, Descriptors};
use crate::pipeline::{
    check_finished, request_args, request_env, Core, Draft, DraftOutput, Finished, Keyed, Language,
    PendingMiss, Pipeline, Prepared, Pt, SecondChance,
};
use crate::reasons::{NotStoredReason, PassthroughReason, RemapFallback};
use crate::remap::{self, Root};
use crate::scan::{self, ScanResult};
use crate::store::{is_dev_null, Entry};
use crate::worktree::{self, StoredTexts, Worktree};

#[path = "second_chance.rs"]
pub(crate) mod second_chance;

/// What the C pipeline memoizes across requests.
#[derive(Default)]
pub(crate) struct CcPipeline {
    scans: DashMap<Digest, Arc<ScanResult>>,
    /// How each compiler (by identity) treats `SOURCE_DATE_EPOCH`.
    sde_support: DashMap<Vec<u8>, SdeSupport>,
    /// What each driver printed for its sub-programs, by selection.
    programs: DashMap<Vec<u8>, Programs>,
    /// Each compiler not named after its driver, by content digest: the
    /// driver its answers showed, `None` for no gcc or clang.
    drivers: DashMap<Digest, Option<Driver>>,
    /// Each driver's built-in include chain, by what selects it
    /// ([`Cc::builtin_chain`]); `None` when it could not tell.
    builtin_chains: DashMap<[u8; 32], Option<Arc<Vec<PathBuf>>>>,
    config_dirs: toolchain::ConfigDirs,
    /// Manifest keys whose Store a `##` paste alone refused: their next
    /// miss asks the compiler (`date_time::check_run`).
    paste_suspects: DashMap<[u8; 32], ()>,
}

/// How many manifest keys `paste_suspects` holds before it starts over.
const PASTE_SUSPECTS_MAX: usize = 4096;

impl Pipeline for CcPipeline {
    const LANGUAGE: Language = Language::Cc;
    type Request = Request;
    type Facts = Source;
    type Pending = Pending;

    fn prepare(&self, core: &Core, req: &v1::Lookup) -> Result<Prepared<Request>, Pt> {
        self.with(core).prepare(req)
    }

    fn units(r: &Request) -> usize {
        r.inv.units.len()
    }

    fn worktree(r: &Request) -> &Worktree {
        &r.view
    }

    fn key(&self, core: &Core, r: &Request, index: usize) -> Result<Keyed<Source>, Pt> {
        self.with(core).key_unit(r, index)
    }

    fn result_key(r: &Request, manifest_key: &[u8; 32], entry: &ManifestEntry) -> Option<[u8; 32]> {
        let plain = result_key_for(&r.view, manifest_key, entry, &r.moment)?;
        match (entry_terminal_form(entry), r.terminal_form) {
            (None, _) => Some(plain),
            (Some(stored), Some(ours)) if stored == ours => {
                Some(terminal_result_key(&plain, &ours))
            }
            // Coloured for another terminal, or for one when we are a pipe.
            (Some(_), _) => None,
        }
    }

    fn deliver(
        &self,
        core: &Core,
        r: &Request,
        index: usize,
        entry: &ManifestEntry,
        stored: &Entry,
        fds: &mut Descriptors,
    ) -> Option<v1::unit_answer::Answer> {
        self.with(core).deliver(r, index, entry, stored, fds)
    }

    fn miss(
        &self,
        core: &Core,
        r: &Request,
        index: usize,
        keyed: Keyed<Source>,
        remember: &dyn Fn(u64, Pending),
    ) -> v1::unit_answer::Answer {
        let cc = Cc {
            core,
            pipe: self,
            remember,
        };
        cc.miss(r, index, keyed)
    }

    fn second_chance(
        &self,
        core: &Core,
        r: &Request,
        index: usize,
        keyed: &mut Keyed<Source>,
        fds: &mut Descriptors,
    ) -> SecondChance {
        self.with(core).second_chance(r, index, keyed, fds)
    }

    fn journal_unit(r: &Request, index: usize, source: &Source) -> journal::Unit {
        let unit = &r.inv.units[index];
        let output = unit_outputs(r.view.cwd(), &r.inv, unit)
            .into_iter()
            .next()
            .map_or_else(String::new, |(_, p)| p.display().to_string());
        journal::Unit {
            sources: vec![source.path.display().to_string()],
            output,
            manifest_key: String::new(),
            inputs: journal::Inputs {
                source: journal::value_hash(&source.digest),
                ..r.explain.clone()
            },
        }
    }

    fn record<'a>(
        &self,
        core: &Core,
        p: &'a Pending,
        st: &'a v1::Store,
    ) -> Result<Draft<'a>, NotStoredReason> {
        self.with(core).try_store(p, st)
    }
}

impl CcPipeline {
    /// This pipeline over the engine's `core`, for work that remembers no
    /// miss.
    fn with<'a>(&'a self, core: &'a Core) -> Cc<'a> {
        Cc {
            core,
            pipe: self,
            remember: &|_, _| {},
        }
    }

    /// Drops every memoized scan result; returns how many.
    pub(crate) fn release_scans(&self) -> usize {
        let n = self.scans.len();
        self.scans.clear();
        n
    }
}

/// What keying a unit learned about its source, for its Miss.
pub(crate) struct Source {
    path: PathBuf,
    stat: StatId,
    /// As keyed: Store finds the same bytes or stores nothing.
    digest: Digest,
    scan: Arc<ScanResult>,
    /// Its second chance missed: the text's key, for the Store.
    preprocessed: Option<second_chance::Preprocessed>,
}

/// One request's view of the pipeline: the engine's core, the memos and
/// where misses go.
struct Cc<'a> {
    core: &'a Core,
    pipe: &'a CcPipeline,
    remember: &'a dyn Fn(u64, Pending),
}

/// What the daemon remembers between a Miss and its Store.
pub(crate) struct Pending {
    /// Where the compile runs (cwd, worktree root under path remap).
    view: Worktree,
    family: Family,
    mode: Mode,
    pub(crate) manifest_key: [u8; 32],
    source: PathBuf,
    source_stat: StatId,
    source_digest: Digest,
    /// The extra inputs as keyed at Lookup.
    extra_stats: Vec<(PathBuf, StatId)>,
    extra_digests: Vec<(PathBuf, Digest)>,
    /// The wrapper's start: the too-new guard's moment only when the Store
    /// does not say when the compiler was spawned.
    start_ns: i128,
    outputs: Vec<(&'static str, PathBuf)>,
    /// Where the full include list will be: the user's depfile or ours.
    dep_source: Option<PathBuf>,
    private_dep: Option<PathBuf>,
    user_depfile: Option<PathBuf>,
    dep_targets: Vec<Vec<u8>>,
    dep_phony: bool,
    search_dirs: Vec<SearchDir>,
    moment: Moment,
    args_scan: ScanResult,
    /// The dependency run also checks that no temporal macro expands
    /// (`date_time::check_run`); a Store, which needs it to have passed,
    /// then knows that no paste forms one.
    paste_ruled_out: bool,
    /// The caller's terminal form ([`TerminalForm`]); `None` for a pipe.
    terminal_form: Option<TerminalForm>,
    /// What the Store indexes for later second chances.
    second: Option<second_chance::Indexing>,
}

/// Per-request facts shared by every unit.
pub(crate) struct Request {
    /// Where the compile runs: cwd and, when path remap applies to this
    /// call, the worktree root.
    view: Worktree,
    inv: Invocation,
    start_ns: i128,
    /// Misses run with stderr on a pseudo-terminal (`Miss.stderr_pty`).
    stderr_pty: bool,
    /// A terminal caller's form ([`TerminalForm`]); `None` for a pipe.
    terminal_form: Option<TerminalForm>,
    original_args: Vec<OsString>,
    expanded: Vec<OsString>,
    /// The request-wide key, resumed per unit in `view`.
    base_key: KeyHasher,
    moment: Moment,
    /// The arguments scanned like a source (`-DSTAMP=__TIME__`).
    args_scan: ScanResult,
    /// A gcc or clang itself, with no config files: its `-Wdate-time` can
    /// be asked (`date_time::check_run`).
    date_time_askable: bool,
    /// The extra inputs as keyed: each must be unchanged at Store.
    extra_stats: Vec<(PathBuf, StatId)>,
    extra_digests: Vec<(PathBuf, Digest)>,
    /// Per unit: the search chain after the command line's directories.
    search_tails: Vec<SearchTail>,
    /// The key's inputs as the journal compares them (`zccache explain`).
    explain: journal::Inputs,
    /// A direct miss's second chance, when the call may have one.
    second: Option<second_chance::Base>,
}

impl PendingMiss for Pending {
    fn touches(&self, under: &dyn Fn(&Path) -> bool) -> bool {
        under(self.view.cwd())
            || under(&self.source)
            || self.outputs.iter().any(|(_, o)| under(o))
            || self.dep_source.as_deref().is_some_and(under)
            || self.user_depfile.as_deref().is_some_and(under)
    }

    /// The depfile the daemon asked the compiler to write for it.
    fn private_file(&self) -> Option<&Path> {
        self.private_dep.as_deref()
    }
}

impl Cc<'_> {
    /// The facts every unit of `req` shares, or the Probe round that must
    /// come first.
    fn prepare(&self, req: &v1::Lookup) -> Result<Prepared<Request>, Pt> {
        let driver = match self.driver(req)? {
            Identified::Driver(driver) => driver,
            Identified::Ask(runs) => return Ok(Prepared::Reply(probe_reply(runs))),
        };
        let call = Call::read(req, driver)?;
        let identity = self
            .compiler_identity(&call.compiler, call.family, &call.env, &call.inv, &call.cwd)
            .map_err(|e| Pt::new(PassthroughReason::CompilerCheckFailed, &e))?;
        let mut asked = self.ask(&call, &identity, &req.probes)?;
        if !asked.runs.is_empty() {
            asked.runs.extend(self.early_run(&call, &identity));
            return Ok(Prepared::Reply(probe_reply(asked.runs)));
        }
        let start_secs = (req.start_unix_ns / 1_000_000_000) as i64;
        let moment = Moment::of(&call.env, asked.support, start_secs).map_err(|e| match e {
            MomentError::InvalidSourceDateEpoch => Pt::new(
                PassthroughReason::UnsupportedEnvironmentVariable,
                "SOURCE_DATE_EPOCH is not a valid epoch",
            ),
        })?;
        let root = self.remap_root(&call.env, &call.cwd, &call.inv, &call.expanded);
        let view = Worktree::new(call.cwd.clone(), root);
        let start_ns = req.start_unix_ns as i128;
        let (inputs, extras) = self.key_inputs(&call, identity, &asked, &view)?;
        let date_time_askable = asked.interpreter.is_none() && inputs.configs.is_empty();
        let args_scan = scan::scan(&call.inv.key_args.join(OsStr::new("\n")).into_vec());
        let base_key = key::base_key(&view, &inputs).into_hasher();
        let private = &self.core.private_dir;
        let second = second_chance::base(&view, &call.inv, &inputs, &req.probes, private);
        let explain = explain_inputs(&inputs);
        let terminal_form = call
            .terminal
            .as_ref()
            .map(|t| TerminalForm::of(&cc::terminal_facts(&|k| call.getenv(k), t)));
        Ok(Prepared::Units(Request {
            view,
            inv: call.inv,
            start_ns,
            stderr_pty: call.terminal.is_some(),
            terminal_form,
            original_args: call.args,
            expanded: call.expanded,
            base_key,
            moment,
            extra_stats: extras.stats,
            extra_digests: extras.digests,
            args_scan,
            date_time_askable,
            search_tails: asked.search_tails,
            explain,
            second,
        }))
    }

    /// Which driver the compiler is: by its name when the name says it
    /// (`gcc`, `clang-16`, `x86_64-linux-gnu-g++`, `emcc`), else by what it
    /// answered to the identification probes, memoized by its content
    /// digest. A compiler not yet identified is asked, in the same round,
    /// everything a gcc or a clang driver would be asked for this call, so
    /// that the one Probe round the wrapper runs answers both.
    fn driver(&self, req: &v1::Lookup) -> Result<Identified, Pt> {
        let argv0 = Call::argv0(req);
        let compiler = Path::new(OsStr::from_bytes(&req.compiler));
        if let Some(driver) = Driver::named(&argv0, compiler) {
            return Ok(Identified::Driver(driver));
        }
        let unsupported = |detail: &str| Pt::new(PassthroughReason::UnsupportedCompiler, detail);
        if shebang_interpreter(compiler).is_some() {
            // A script may do anything with a probe's arguments.
            return Err(unsupported("a script not named after its compiler"));
        }
        let (_, digest) = self
            .core
            .meta
            .digest(compiler)
            .map_err(|e| Pt::new(PassthroughReason::CompilerCheckFailed, &e.to_string()))?;
        let known = match self.pipe.drivers.get(&digest) {
            Some(known) => *known,
            None if req.probes.is_empty() => {
                return self.identification_runs(req, &argv0).map(Identified::Ask);
            }
            None => {
                let found = cc::identify_driver(&argv0, &|args: &[&str]| {
                    req.probes
                        .iter()
                        .find(|p| {
                            p.args
                                .iter()
                                .map(Vec::as_slice)
                                .eq(args.iter().map(|a| a.as_bytes()))
                        })
                        .map(|p| (p.exit_code, p.stdout.as_slice(), p.stderr.as_slice()))
                });
                self.pipe.drivers.insert(digest, found);
                found
            }
        };
        known
            .map(Identified::Driver)
            .ok_or_else(|| unsupported("not a gcc or clang driver by its answers"))
    }

    /// The identification probes, then what each candidate driver would be
    /// asked for this call (its classification failing asks nothing). A
    /// call no candidate would cache is not worth running an unknown
    /// program for: it passes through with the first candidate's reason.
    fn identification_runs(
        &self,
        req: &v1::Lookup,
        argv0: &OsStr,
    ) -> Result<Vec<Vec<Vec<u8>>>, Pt> {
        let mut runs: Vec<Vec<Vec<u8>>> = cc::IDENTIFY_RUNS
            .iter()
            .map(|run| run.iter().map(|a| a.as_bytes().to_vec()).collect())
            .collect();
        let mut refused = None;
        let mut cacheable = false;
        for driver in Driver::candidates(argv0) {
            let call = match Call::read(req, driver) {
                Ok(call) => call,
                Err(pt) => {
                    refused.get_or_insert(pt);
                    continue;
                }
            };
            cacheable = true;
            let Ok(identity) = self.compiler_identity(
                &call.compiler,
                call.family,
                &call.env,
                &call.inv,
                &call.cwd,
            ) else {
                continue;
            };
            if let Ok(asked) = self.ask(&call, &identity, &[]) {
                for run in asked.runs {
                    if !runs.contains(&run) {
                        runs.push(run);
                    }
                }
            }
        }
        match refused {
            Some(pt) if !cacheable => Err(pt),
            _ => Ok(runs),
        }
    }

    /// The facts only the compiler can tell, from the memos or `probes`;
    /// what is still unknown is in `runs`, to ask in one Probe round. A `#!`
    /// compiler is never run for a probe: a script may do anything with the
    /// arguments (write files, wait); its facts are taken conservatively,
    /// and its environment is keyed whole instead.
    fn ask(&self, call: &Call, identity: &[u8], probes: &[v1::ProbeResult]) -> Result<Asked, Pt> {
        let interpreter = (call.family != Family::Emcc)
            .then(|| shebang_interpreter(&call.compiler))
            .flatten();
        let mut runs: Vec<Vec<Vec<u8>>> = Vec::new();
        let support = if !call.env.contains_key(&b"SOURCE_DATE_EPOCH"[..]) {
            None
        } else if interpreter.is_some() {
            Some(SdeSupport::Unknown)
        } else {
            let support = self.sde_support(identity, call.family, probes);
            if support.is_none() {
                runs.push(vec![SdeSupport::PROBE.to_vec()]);
            }
            support
        };
        let selection = Selection::of(
            identity,
            call.family,
            &call.inv.program_prefixes,
            &call.expanded,
            &call.env,
        );
        let programs = if interpreter.is_some() {
            Some(Programs::default())
        } else {
            self.programs(&selection, probes)?
        };
        if programs.is_none() {
            runs.extend(selection.probe_runs().iter().map(|r| selection.run_args(r)));
        }
        let search_tails =
            self.search_tails(call, identity, interpreter.is_some(), probes, &mut runs);
        Ok(Asked {
            interpreter,
            support,
            programs,
            search_tails,
            runs,
        })
    }

    /// Each unit's search chain after the command line's directories; a
    /// built-in chain the driver must be asked for joins `runs`.
    fn search_tails(
        &self,
        call: &Call,
        identity: &[u8],
        script: bool,
        probes: &[v1::ProbeResult],
        runs: &mut Vec<Vec<Vec<u8>>>,
    ) -> Vec<SearchTail> {
        let query = ChainQuery {
            identity,
            family: call.family,
            args: &call.expanded,
            env: &call.env,
            cwd: &call.cwd,
            probes,
        };
        let mut tails = Vec::with_capacity(call.inv.units.len());
        for unit in &call.inv.units {
            let env_dirs = cc::env_dirs(unit.language, &|k| call.getenv(k));
            let builtin = if script {
                None
            } else {
                match self.builtin_chain(&query, unit.language) {
                    Ok(chain) => chain,
                    Err(run) => {
                        if !runs.contains(&run) {
                            runs.push(run);
                        }
                        None
                    }
                }
            };
            tails.push(SearchTail { env_dirs, builtin });
        }
        tails
    }

    /// Everything the request-wide key is made of, read from the file
    /// system and mapped here so that [`key::base_key`] reads nothing.
    fn key_inputs(
        &self,
        call: &Call,
        identity: Vec<u8>,
        asked: &Asked,
        view: &Worktree,
    ) -> Result<(KeyInputs, Extras), Pt> {
        let env = &call.env;
        let (programs, configs) =
            self.toolchain_inputs(&call.compiler, call.family, asked.programs.as_ref(), env)?;
        // Path values as the view spells them; the rest of each argument is
        // keyed as a text of the view (`key::base_key`).
        let args = call
            .inv
            .key_args_mapped(&|p| view.free_bytes(p))
            .iter()
            .map(|a| cwd_independent_prefix_map(a, &call.cwd).into_vec())
            .collect();
        let env_values = cc::key_env_vars(call.family, &call.inv)
            .into_iter()
            .map(|var| (var, env.get(var.as_bytes()).cloned()))
            .collect();
        // emcc is a script too, keyed its own way (cache-keys.md §9).
        let script = match &asked.interpreter {
            Some(interpreter) => Some(self.script_inputs(interpreter, env)?),
            None => None,
        };
        let emcc_env = if call.family == Family::Emcc {
            pairs(env, cc::is_emcc_env)
        } else {
            Vec::new()
        };
        // The cwd as it ends up in outputs (remapped by prefix maps), if at
        // all; gcc and clang record `$PWD` when it names the cwd through a
        // symlink.
        let cwd = call
            .inv
            .cwd_key(&call.cwd)
            .map(|k| (k.into_vec(), logical_cwd(env, &call.cwd)));
        let extras = self.extra_inputs(call)?;
        let inputs = KeyInputs {
            identity,
            programs,
            configs,
            argv0: call.argv0.as_bytes().to_vec(),
            args,
            // Terminal and pipe callers share the manifest key: what a
            // terminal decides is in the result key of an entry stored in
            // its form (`TerminalForm`).
            terminal: None,
            env: env_values,
            script,
            emcc_env,
            cwd,
            extras: extras.keys.clone(),
        };
        Ok((inputs, extras))
    }

    /// A `#!` compiler's interpreter digest and its environment, but for
    /// the variables that change from call to call.
    fn script_inputs(
        &self,
        interpreter: &Path,
        env: &BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Result<key::Script, Pt> {
        let (_, d) = self
            .core
            .meta
            .digest(interpreter)
            .map_err(|e| Pt::new(PassthroughReason::CompilerCheckFailed, &e.to_string()))?;
        Ok(key::Script {
            interpreter: d,
            env: pairs(env, |k| !cc::is_volatile_for_scripts(k)),
        })
    }

    /// The extra inputs as keyed, and what Store must find unchanged.
    fn extra_inputs(&self, call: &Call) -> Result<Extras, Pt> {
        let mut extras = Extras::default();
        for extra in &call.inv.extra_inputs {
            let default_profile;
            let extra = if extra.path.is_empty() {
                let pwd = logical_cwd(&call.env, &call.cwd)
                    .unwrap_or_else(|| call.cwd.as_os_str().as_bytes().to_vec());
                default_profile = cc::ExtraInput {
                    path: cc::profile::default_profile_path(&call.inv, &pwd).ok_or_else(|| {
                        Pt::new(
                            PassthroughReason::UnsupportedCompilerOption,
                            "profile data at a default path",
                        )
                    })?,
                    kind: extra.kind,
                };
                &default_profile
            } else {
                extra
            };
            let mut path = worktree::resolve(&call.cwd, extra.path.as_bytes());
            if extra.kind == cc::ExtraInputKind::ProfileUse
                && call.family != Family::Gcc
                && path.is_dir()
            {
                // clang reads `default.profdata` in a profile directory.
                path.push("default.profdata");
            }
            let pch = if extra.kind == cc::ExtraInputKind::Include {
                self.pch_digests(&path)?
            } else {
                Vec::new()
            };
            let (state, stat) = self.extra_state(&path, extra.kind)?;
            if let ExtraState::Digest(Some(d)) = state {
                extras.digests.push((path.clone(), d));
            }
            if let Some(stat) = stat {
                extras.stats.push((path, stat));
            }
            extras.keys.push(ExtraKey {
                pch,
                path: extra.path.as_bytes().to_vec(),
                state,
            });
        }
        Ok(extras)
    }

    /// `-include x.h` silently uses a precompiled `x.h.gch` / `x.h.pch`:
    /// the digests of those that exist.
    fn pch_digests(&self, path: &Path) -> Result<Vec<Digest>, Pt> {
        let mut digests = Vec::new();
        for suffix in [".gch", ".pch"] {
            let mut pch = path.to_path_buf().into_os_string();
            pch.push(suffix);
            if let Ok((_, d)) = self.core.meta.digest(Path::new(&pch)) {
                digests.push(d);
            } else if Path::new(&pch).exists() {
                return Err(Pt::new(
                    PassthroughReason::CouldNotUsePrecompiledHeader,
                    "unreadable precompiled header",
                ));
            }
        }
        Ok(digests)
    }

    /// What of the extra input at `path` joins the key, and its stat when
    /// it exists.
    fn extra_state(
        &self,
        path: &Path,
        kind: cc::ExtraInputKind,
    ) -> Result<(ExtraState, Option<StatId>), Pt> {
        match kind {
            cc::ExtraInputKind::Content
            | cc::ExtraInputKind::Include
            | cc::ExtraInputKind::ProfileUse => match self.core.meta.digest(path) {
                Ok((stat, d)) => Ok((ExtraState::Digest(Some(d)), Some(stat))),
                Err(_) if path.is_dir() => Err(Pt::new(
                    PassthroughReason::UnsupportedCompilerOption,
                    "input directory",
                )),
                Err(_) => Ok((ExtraState::Digest(None), None)),
            },
            cc::ExtraInputKind::MtimeOnly => match std::fs::metadata(path) {
                Ok(md) => {
                    let stat = StatId::of(&md);
                    Ok((ExtraState::MtimeNs(Some(stat.mtime_ns)), Some(stat)))
                }
                Err(_) => Ok((ExtraState::MtimeNs(None), None)),
            },
        }
    }

    /// Unit `index` keyed: its manifest key and the source facts its Miss
    /// needs.
    fn key_unit(&self, r: &Request, index: usize) -> Result<Keyed<Source>, Pt> {
        let inv = &r.inv;
        let unit = &inv.units[index];
        if let Some(o) = &unit.output {
            if r.view.resolve_raw(o.as_bytes()).is_dir() {
                return Err(Pt::new(
                    PassthroughReason::BadOutputFile,
                    "the output is a directory",
                ));
            }
        }
        if outputs_collide(r.view.cwd(), inv, unit) {
            // Bare, the file ends as whichever the compiler writes last
            // (`-o x.d -MD`: the object); a hit writes each output in turn.
            return Err(Pt::new(
                PassthroughReason::BadOutputFile,
                "two outputs are one file",
            ));
        }
        let source = r.view.resolve_raw(unit.source.as_bytes());
        let (source_stat, source_digest) = self.source_digest(&source).map_err(|e| {
            Pt::new(
                PassthroughReason::NoInputFile,
                &format!("{}: {e}", source.display()),
            )
        })?;
        let source_scan = self.scan(&source, &source_digest);
        if source_scan.embeds {
            return Err(Pt::new(
                PassthroughReason::UnsupportedSourceFeature,
                "#embed or .incbin in the source",
            ));
        }
        let mut key = r.view.resume(r.base_key.clone());
        key.bytes("lang", unit.language.as_str().as_bytes());
        key.path("source", unit.source.as_bytes());
        key.bytes("source_digest", &source_digest);
        if inv.object_path_matters() {
            key.opt("object", unit.output.as_ref().map(|o| o.as_bytes()));
        }
        Ok(Keyed {
            manifest_key: key.finish(),
            facts: Source {
                path: source,
                stat: source_stat,
                digest: source_digest,
                scan: source_scan,
                preprocessed: None,
            },
        })
    }

    /// Why a miss of `r` must not be stored, if it must not: a temporal
    /// macro we cannot pin. Inputs too new to trust are Store's to judge,
    /// from the compiler's spawn. Also whether the miss should ask the
    /// compiler if a paste forms one: when only a paste in the source or
    /// arguments could, or a paste in the include set kept the last Store
    /// of this key.
    fn no_store_reason(
        &self,
        r: &Request,
        source_scan: &ScanResult,
        manifest_key: &[u8; 32],
    ) -> (Option<NotStoredReason>, bool) {
        let uses = TemporalUses::of(&[source_scan, &r.args_scan], false);
        let reason = temporal_no_store(&uses, &r.moment);
        if !r.date_time_askable {
            return (reason, false);
        }
        if reason.is_some() && uses.only_by_paste {
            return (None, true);
        }
        let suspect = self.pipe.paste_suspects.contains_key(manifest_key);
        (reason, reason.is_none() && suspect)
    }

    /// Remembers that only a paste kept `p` from being stored, so that the
    /// next miss of its key asks the compiler.
    fn suspect_paste(&self, p: &Pending) {
        let suspects = &self.pipe.paste_suspects;
        if suspects.len() >= PASTE_SUSPECTS_MAX {
            suspects.clear();
        }
        suspects.insert(p.manifest_key, ());
    }

    /// The Miss of unit `index`; one that may be stored is remembered.
    fn miss(&self, r: &Request, index: usize, keyed: Keyed<Source>) -> v1::unit_answer::Answer {
        let inv = &r.inv;
        let unit = &inv.units[index];
        let manifest_key = keyed.manifest_key;
        let Source {
            path: source,
            stat: source_stat,
            digest: source_digest,
            scan: source_scan,
            preprocessed,
        } = keyed.facts;
        let token = self.core.token();
        let (mut args, injected) = compile_args(r, index);
        let (no_store_reason, ask_date_time) = self.no_store_reason(r, &source_scan, &manifest_key);
        let to_bytes = |v: Vec<OsString>| v.into_iter().map(|a| a.into_vec()).collect::<Vec<_>>();
        if let Some(no_store_reason) = no_store_reason {
            // Nothing will be stored, so nothing needs learning: the miss
            // runs without a private depfile.
            self.core.stats.not_stored(no_store_reason);
            return v1::unit_answer::Answer::Miss(v1::Miss {
                token: 0,
                args: to_bytes(args),
                deps_args: Vec::new(),
                no_store_reason: no_store_reason.as_str().into(),
                strip_ansi: false,
                injected_option: injected,
                stream_stderr: false,
                private_paths: Vec::new(),
                stderr_pty: r.stderr_pty,
            });
        }
        let private_dep = self.core.private_dir.join(format!("dep-{token}.d"));
        let mut deps = dep_plan(r, index, &private_dep, &mut args);
        let paste_ruled_out = ask_date_time && deps.check_date_time(r, index, &private_dep);
        let outputs = unit_outputs(r.view.cwd(), inv, unit);
        let search_dirs = search_chain(
            r.view.cwd(),
            unit.source.as_bytes(),
            inv,
            &r.search_tails[index],
        );
        (self.remember)(
            token,
            Pending {
                view: r.view.clone(),
                family: inv.family,
                mode: inv.mode,
                manifest_key,
                source,
                source_stat,
                source_digest,
                extra_stats: r.extra_stats.clone(),
                extra_digests: r.extra_digests.clone(),
                start_ns: r.start_ns,
                outputs,
                dep_source: deps.source,
                private_dep: Some(private_dep.clone()),
                user_depfile: deps.user_depfile.filter(|p| !is_dev_null(p)),
                dep_targets: unit_dep_targets(inv, unit),
                dep_phony: inv.dep.phony,
                search_dirs,
                moment: r.moment.clone(),
                args_scan: r.args_scan.clone(),
                paste_ruled_out,
                terminal_form: r.terminal_form,
                second: second_chance::indexing(r, preprocessed),
            },
        );
        v1::unit_answer::Answer::Miss(v1::Miss {
            token,
            args: to_bytes(args),
            deps_args: to_bytes(deps.args),
            no_store_reason: String::new(),
            strip_ansi: false,
            injected_option: injected,
            stream_stderr: false,
            private_paths: if deps.private_in_args {
                vec![private_dep.into_os_string().into_vec()]
            } else {
                Vec::new()
            },
            stderr_pty: r.stderr_pty,
        })
    }

    /// Every output of a stored result the current request names, for the
    /// wrapper to write; `None` makes it a miss.
    fn deliver(
        &self,
        r: &Request,
        index: usize,
        entry: &ManifestEntry,
        stored: &Entry,
        fds: &mut Descriptors,
    ) -> Option<v1::unit_answer::Answer> {
        let inv = &r.inv;
        let unit = &inv.units[index];
        if r.terminal_form.is_some()
            && entry_terminal_form(entry).is_none()
            && !plain_is_exact(inv.family, &stored.stderr)
        {
            return None;
        }
        let text = r.view.delivery(&entry.remap);
        let role_index = |role: &str| stored.outputs.iter().position(|o| o.role == role);
        let write_mode = |role| write_mode(inv.family, inv.mode, role);
        let want = |role: &'static str, p: &Option<OsString>| p.as_ref().map(|p| (role, p.clone()));
        let object = if inv.mode == Mode::SyntaxOnly {
            None
        } else {
            want("object", &unit.output)
        };
        let mut list = Vec::new();
        for (role, p) in [
            object,
            want("dwo", &unit.dwo),
            want("gcno", &unit.gcno),
            want("dia", &inv.serialize_diagnostics),
            want("su", &unit.stack_usage),
            want("listing", &unit.listing),
        ]
        .into_iter()
        .flatten()
        {
            let dest = r.view.resolve_raw(p.as_bytes());
            // Stored without it: the compiler writes nothing there.
            if is_dev_null(&dest) {
                continue;
            }
            let idx = role_index(role)?;
            match fds.blob(&self.core.store, stored, idx, &dest, write_mode(role)) {
                Ok(out) => list.push(out),
                Err(outputs::Unavailable::Store { unexpected: true }) => {
                    self.core.stats.bump(&self.core.stats.errors);
                    return None;
                }
                Err(_) => return None,
            }
        }
        if let Some(d) = unit
            .depfile
            .as_ref()
            .filter(|_| inv.dep.mode != DepMode::None)
        {
            let dest = r.view.resolve_raw(d.as_bytes());
            if !is_dev_null(&dest) {
                let idx = role_index("depfile")?;
                let bytes = self.core.store.deliver_bytes(stored, idx).ok()?;
                let bytes = retarget_depfile(
                    &text.text(&bytes),
                    &stored.extra,
                    &unit_dep_targets(inv, unit),
                    inv.dep.phony,
                    text.relaid(),
                )?;
                list.push(outputs::text(&dest, write_mode("depfile"), bytes));
            }
        }
        Some(v1::unit_answer::Answer::Hit(v1::Hit {
            stdout: text.text(&stored.stdout).into_owned(),
            stderr: text.text(&stored.stderr).into_owned(),
            exit_code: stored.exit_code,
            outputs: list,
            entry: stored.key().0.to_vec(),
        }))
    }

    /// The Store of a finished miss: the shared checks, the include set
    /// with its probes, shadow candidates and temporal inputs, then the one
    /// root-bound policy over the outputs.
    fn try_store<'a>(
        &self,
        p: &'a Pending,
        st: &'a v1::Store,
    ) -> Result<Draft<'a>, NotStoredReason> {
        check_finished(
            st,
            &Finished {
                source: &p.source,
                source_stat: &p.source_stat,
                extra_inputs: &p.extra_stats,
                outputs: &p.outputs,
                primary: &["object"],
            },
        )
        .map_err(|e| match e {
            // The dependency run failed its `-Wdate-time` check.
            NotStoredReason::PreprocessorError if p.paste_ruled_out => NotStoredReason::TimeMacro,
            e => e,
        })?;
        let moment = guard_moment(st.spawn_unix_ns, p.start_ns);
        let (mut entry, named) = self.inputs_entry(p, moment)?;
        let depfile = match &p.user_depfile {
            Some(user_dep) => {
                Some(std::fs::read(user_dep).map_err(|_| NotStoredReason::MissingDepfile)?)
            }
            None => None,
        };
        let binaries: Vec<&Path> = p.outputs.iter().map(|(_, path)| path.as_path()).collect();
        let mut texts = vec![&st.stdout[..], &st.stderr[..]];
        texts.extend(depfile.as_deref());
        let stored = p.view.store(&self.core.stats, named, &binaries, &texts)?;
        entry.remap = stored.remap.clone();
        entry.result_key = result_key_for(&p.view, &p.manifest_key, &entry, &p.moment)
            .ok_or(NotStoredReason::ModifiedInputFile)?;
        if let Some(form) = p
            .terminal_form
            .filter(|_| !plain_is_exact(p.family, &st.stderr))
        {
            entry.env_deps = vec![form.tag()];
            entry.result_key = terminal_result_key(&entry.result_key, &form);
        }
        Ok(draft(p, st, entry, depfile, stored))
    }

    /// The manifest entry of `p`'s compile as its inputs make it (include
    /// set with its probes, shadow candidates, temporal inputs; no remap
    /// state or result key yet), and why the inputs bind it to the root.
    fn inputs_entry(
        &self,
        p: &Pending,
        moment: i128,
    ) -> Result<(ManifestEntry, Option<RemapFallback>), NotStoredReason> {
        self.keyed_inputs_unchanged(p, moment)?;
        let (mut includes, scans) = self.include_set(p, moment)?;
        let mut probes: BTreeSet<Vec<u8>> = BTreeSet::new();
        for (_, s) in &scans {
            if s.embeds {
                return Err(NotStoredReason::UnsupportedSourceFeature);
            }
            probes.extend(s.has_include.iter().cloned());
        }
        let temporal = temporal_of(p, &scans).map_err(|(reason, only_by_paste)| {
            if only_by_paste && !p.paste_ruled_out {
                self.suspect_paste(p);
            }
            reason
        })?;
        self.key_probed_headers(p, &probes, &mut includes, moment)?;
        let negatives = negative_candidates(&p.view, &includes, &p.search_dirs, &probes, moment)?;
        let named = self.root_named(p, &includes)?;
        let entry = ManifestEntry {
            // Paths under the root are stored root-free so that another
            // worktree's request resolves them in its own tree.
            includes: includes
                .iter()
                .map(|(path, d)| (p.view.free_path(path), *d))
                .collect(),
            negatives,
            temporal,
            env_deps: Vec::new(),
            remap: Default::default(),
            result_key: [0; 32],
        };
        Ok((entry, named))
    }

    /// The too-new guard over what Lookup keyed (the source, the extra
    /// inputs): each still has the bytes keyed, and none was written at or
    /// after `moment`, so the compiler, spawned then, read those bytes. A
    /// file written just before the compile is stored (a generated header,
    /// a configure probe); the digest taken again here covers a write
    /// between Lookup's read and the spawn that kept the stat data.
    fn keyed_inputs_unchanged(&self, p: &Pending, moment: i128) -> Result<(), NotStoredReason> {
        for (_, stat) in &p.extra_stats {
            if stat.written_since(moment) {
                return Err(NotStoredReason::ModifiedInputFile);
            }
        }
        // `/dev/null` as the source is keyed as empty text, which it stays.
        let source = Some((&p.source, &p.source_digest)).filter(|(s, _)| !is_dev_null(s));
        let keyed = source
            .into_iter()
            .chain(p.extra_digests.iter().map(|(path, d)| (path, d)));
        for (path, digest) in keyed {
            if self.core.input_digest(path, moment)? != *digest {
                return Err(NotStoredReason::ModifiedInputFile);
            }
        }
        Ok(())
    }

    /// The include set from the full depfile, and the scan of every file
    /// of it, the source first.
    fn include_set(&self, p: &Pending, moment: i128) -> Result<IncludeSet, NotStoredReason> {
        let mut includes: Vec<(Vec<u8>, Digest)> = Vec::new();
        let (_, source_digest) = self
            .source_digest(&p.source)
            .map_err(|_| NotStoredReason::ModifiedInputFile)?;
        let mut scans = vec![(
            p.source.as_os_str().as_bytes().to_vec(),
            self.scan(&p.source, &source_digest),
        )];
        if let Some(dep_path) = &p.dep_source {
            let text = std::fs::read(dep_path).map_err(|_| NotStoredReason::MissingDepfile)?;
            let rule = depfile::parse(&text).ok_or(NotStoredReason::BadDepfile)?;
            let mut seen = BTreeSet::new();
            for dep in &rule.deps {
                let raw = depfile::unescape(dep);
                let abs = p.view.resolve_raw(&raw);
                if abs == p.source || !seen.insert(raw.clone()) {
                    continue;
                }
                let digest = self.core.input_digest(&abs, moment)?;
                scans.push((raw.clone(), self.scan(&abs, &digest)));
                includes.push((raw, digest));
            }
        }
        Ok((includes, scans))
    }

    /// A `__has_include` that found its header leaves no trace in gcc's
    /// depfile (the header is not opened): key every header a probe can
    /// see, so that its removal misses and its presence is in the key.
    fn key_probed_headers(
        &self,
        p: &Pending,
        probes: &BTreeSet<Vec<u8>>,
        includes: &mut Vec<(Vec<u8>, Digest)>,
        moment: i128,
    ) -> Result<(), NotStoredReason> {
        let mut probe_dirs: Vec<SearchDir> = p.search_dirs.clone();
        for (i, _) in includes.iter() {
            probe_dirs.extend(SearchDir::parent_of(p.view.cwd(), i));
        }
        probe_dirs.extend(
            ["/usr/include", "/usr/local/include"]
                .map(|d| SearchDir::new(p.view.cwd(), d.as_bytes())),
        );
        for probe in probes {
            for dir in &probe_dirs {
                let found = dir.abs.join(OsStr::from_bytes(probe));
                if !found.is_file() || includes.iter().any(|(i, _)| p.view.resolve_raw(i) == found)
                {
                    continue;
                }
                let digest = self.core.input_digest(&found, moment)?;
                // As the compiler would name it from a relative search dir.
                let spelled = dir.spelled.join(OsStr::from_bytes(probe));
                includes.push((spelled.into_os_string().into_vec(), digest));
            }
        }
        Ok(())
    }

    /// The worktree root when path remap is asked for and can be applied to
    /// this call; every reason it cannot is counted, and the call then
    /// behaves exactly as without remap.
    fn remap_root(
        &self,
        env: &BTreeMap<Vec<u8>, Vec<u8>>,
        cwd: &Path,
        inv: &Invocation,
        args: &[OsString],
    ) -> Option<Root> {
        self.remap_decision(env, cwd, inv, args)
            .unwrap_or_else(|reason| {
                self.core.stats.remap_fallback(reason);
                None
            })
    }

    /// [`Cc::remap_root`] without counting: the root, none (remap is off)
    /// or why remap cannot apply.
    fn remap_decision(
        &self,
        env: &BTreeMap<Vec<u8>, Vec<u8>>,
        cwd: &Path,
        inv: &Invocation,
        args: &[OsString],
    ) -> Result<Option<Root>, RemapFallback> {
        let root = match remap::decide(env, cwd) {
            remap::Decision::Off => return Ok(None),
            remap::Decision::Fallback(reason) => return Err(reason),
            remap::Decision::On(root) => root,
        };
        let blocker = remap_blocker(inv)
            .or_else(|| {
                // `-include x.h` silently reads `x.h.gch`, whose recorded paths
                // we cannot see.
                let pch = inv.extra_inputs.iter().any(|e| {
                    e.kind == cc::ExtraInputKind::Include
                        && [".gch", ".pch"].iter().any(|suffix| {
                            let mut p = worktree::resolve(cwd, e.path.as_bytes()).into_os_string();
                            p.push(suffix);
                            Path::new(&p).exists()
                        })
                });
                pch.then_some(RemapFallback::Pch)
            })
            .or_else(|| {
                // The compiler records `$PWD`, not the physical cwd we map,
                // when the checkout is reached through a symlink.
                logical_cwd(env, cwd).map(|_| RemapFallback::LogicalCwd)
            })
            .or_else(|| {
                let sibling = args.iter().any(|a| root.sibling_in(a.as_bytes()))
                    || cc::key_env_vars(inv.family, inv)
                        .iter()
                        .filter_map(|v| env.get(v.as_bytes()))
                        .any(|v| root.sibling_in(v));
                sibling.then_some(RemapFallback::RootPrefixOfOtherPath)
            })
            .or_else(|| wraps_diagnostics(args).then_some(RemapFallback::MessageLength));
        match blocker {
            Some(reason) => Err(reason),
            None => Ok(Some(root)),
        }
    }

    /// Whether an input names the root, so the entry serves its own
    /// worktree only: a header reached as `/w/ab/…`, which the string
    /// prefix map of `/w/a` rewrites (gcc's own rule, so it stays here),
    /// or the source or any header, under the root or not, whose text holds
    /// the root ([`Worktree::inputs_name_root`], the rule C and Rust
    /// share).
    fn root_named(
        &self,
        p: &Pending,
        includes: &[(Vec<u8>, Digest)],
    ) -> Result<Option<RemapFallback>, NotStoredReason> {
        let Some(root) = p.view.root() else {
            return Ok(None);
        };
        if includes.iter().any(|(path, _)| root.sibling_in(path)) {
            return Ok(Some(RemapFallback::RootPrefixOfOtherPath));
        }
        let (_, source_digest) = self
            .core
            .meta
            .digest(&p.source)
            .map_err(|_| NotStoredReason::ModifiedInputFile)?;
        let read: Vec<(PathBuf, Digest)> = includes
            .iter()
            .map(|(path, d)| (p.view.resolve_raw(path), *d))
            .chain([(p.source.clone(), source_digest)])
            .collect();
        p.view
            .inputs_name_root(read.iter().map(|(abs, d)| (abs.as_path(), d)))
    }

    /// A source's stat and digest. `/dev/null` (`gcc -x c -c /dev/null`)
    /// is a device, not a file: it always reads empty, so it is keyed as
    /// the empty text, with the device's own stat data for the checks at
    /// Store.
    fn source_digest(&self, path: &Path) -> std::io::Result<(StatId, Digest)> {
        if is_dev_null(path) {
            let md = std::fs::metadata(path)?;
            return Ok((StatId::of(&md), *blake3::hash(b"").as_bytes()));
        }
        self.core.meta.digest(path)
    }

    fn scan(&self, path: &Path, digest: &Digest) -> Arc<ScanResult> {
        if let Some(s) = self.pipe.scans.get(digest) {
            return s.clone();
        }
        let s = Arc::new(
            std::fs::read(path)
                .map(|b| scan::scan(&b))
                .unwrap_or_default(),
        );
        self.pipe.scans.insert(*digest, s.clone());
        s
    }

    /// Blake3 identity of the compiler: its bytes, memoized by stat. For
    /// emcc, the launcher is a script: key the Emscripten version, its
    /// config and the real clang behind it instead (cache-keys.md §9).
    fn compiler_identity(
        &self,
        compiler: &Path,
        family: Family,
        env: &BTreeMap<Vec<u8>, Vec<u8>>,
        inv: &Invocation,
        cwd: &Path,
    ) -> Result<Vec<u8>, String> {
        let digest = |p: &Path| {
            self.core
                .meta
                .digest(p)
                .map(|(_, d)| d)
                .map_err(|e| format!("{}: {e}", p.display()))
        };
        let mut h = KeyHasher::new(domains::CC_COMPILER);
        h.bytes("driver", &digest(compiler)?);
        if family == Family::Emcc {
            let real = std::fs::canonicalize(compiler).map_err(|e| e.to_string())?;
            let root = real.parent().ok_or("emcc without a directory")?;
            for f in ["emscripten-version.txt", "emcc.py", "em++.py"] {
                if let Ok(d) = digest(&root.join(f)) {
                    h.bytes(f, &d);
                }
            }
            let config = inv
                .em_config
                .as_ref()
                .map(|c| worktree::resolve(cwd, c.as_bytes()))
                .or_else(|| {
                    env.get(&b"EM_CONFIG"[..])
                        .map(|v| PathBuf::from(OsStr::from_bytes(v)))
                })
                .unwrap_or_else(|| root.join(".emscripten"));
            let text = std::fs::read(&config).map_err(|e| format!("{}: {e}", config.display()))?;
            h.bytes("config", &text);
            let clang = emscripten_clang(&String::from_utf8_lossy(&text));
            h.bytes("clang", &digest(&clang)?);
        }
        Ok(h.finish().to_vec())
    }

    /// How the compiler of `identity` treats `SOURCE_DATE_EPOCH`, memoized;
    /// `None` when its `--version` must be probed first. A failed probe
    /// (or emcc, whose `--version` does not name its clang) is `Unknown`.
    fn sde_support(
        &self,
        identity: &[u8],
        family: Family,
        probes: &[v1::ProbeResult],
    ) -> Option<SdeSupport> {
        if family == Family::Emcc {
            return Some(SdeSupport::Unknown);
        }
        if let Some(known) = self.pipe.sde_support.get(identity) {
            return Some(*known);
        }
        if probes.is_empty() {
            return None;
        }
        let support = probes
            .iter()
            .find(|p| p.args == [SdeSupport::PROBE] && p.exit_code == 0)
            .map_or(SdeSupport::Unknown, |p| {
                SdeSupport::from_version(family, &p.stdout)
            });
        self.pipe.sde_support.insert(identity.to_vec(), support);
        Some(support)
    }

    /// The built-in include chain of the driver of `identity` for a unit in
    /// `language` (`cc::builtin_probe`: what `-E -v` prints, with the
    /// caller's flags that move it), memoized by everything that selects
    /// it. `Err(run)` when the driver must be asked first; `Ok(None)` when
    /// it cannot tell (emcc, whose `-v` may build its system headers, or a
    /// failed run): the chain's tail is then guessed conservatively.
    fn builtin_chain(
        &self,
        q: &ChainQuery,
        language: cc::Language,
    ) -> Result<Option<Arc<Vec<PathBuf>>>, Vec<Vec<u8>>> {
        let ChainQuery {
            identity,
            family,
            args,
            env,
            cwd,
            probes,
        } = *q;
        if family == Family::Emcc {
            return Ok(None);
        }
        let Some(run) = cc::builtin_probe(family, args, language) else {
            return Ok(Some(Arc::new(Vec::new())));
        };
        let run: Vec<Vec<u8>> = run.into_iter().map(OsString::into_vec).collect();
        let mut h = KeyHasher::new(domains::CC_BUILTIN_CHAIN);
        h.bytes("compiler", identity);
        for a in &run {
            h.bytes("arg", a);
        }
        // Relative `--sysroot`, `-B` or include-path elements resolve here.
        h.bytes("cwd", cwd.as_os_str().as_bytes());
        for var in cc::INCLUDE_PATH_VARS {
            h.opt(var, env.get(var.as_bytes()).map(Vec::as_slice));
        }
        let key = h.finish();
        if let Some(known) = self.pipe.builtin_chains.get(&key) {
            return Ok(known.clone());
        }
        let Some(answer) = probes.iter().find(|p| p.args == run) else {
            return if probes.is_empty() {
                Err(run)
            } else {
                Ok(None)
            };
        };
        let chain = (answer.exit_code == 0)
            .then(|| cc::parse_builtin_chain(&answer.stderr))
            .flatten()
            .map(|dirs| Arc::new(dirs.into_iter().map(|d| cwd.join(d)).collect()));
        self.pipe.builtin_chains.insert(key, chain.clone());
        Ok(chain)
    }

    /// What the driver printed for its sub-programs under `selection`,
    /// memoized; `Ok(None)` when it must be asked first.
    fn programs(
        &self,
        selection: &Selection,
        probes: &[v1::ProbeResult],
    ) -> Result<Option<Programs>, Pt> {
        if selection.is_empty() {
            return Ok(Some(Programs::default()));
        }
        if let Some(known) = self.pipe.programs.get(&selection.key) {
            return Ok(Some(known.clone()));
        }
        if probes.is_empty() {
            return Ok(None);
        }
        let programs = selection.answers(probes).ok_or_else(|| {
            Pt::new(
                PassthroughReason::CompilerCheckFailed,
                "the driver did not name its programs",
            )
        })?;
        if selection.memoizable {
            self.pipe
                .programs
                .insert(selection.key.clone(), programs.clone());
        }
        Ok(Some(programs))
    }

    /// The toolchain behind the driver, for the key: the digest of each
    /// program gcc runs (as it finds them for this caller), and for clang
    /// the default configuration files beside its executable.
    fn toolchain_inputs(
        &self,
        compiler: &Path,
        family: Family,
        programs: Option<&Programs>,
        env: &BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Result<ToolchainInputs, Pt> {
        let resolved = programs
            .map(|p| p.resolve(env))
            .transpose()
            .map_err(|_| {
                Pt::new(
                    PassthroughReason::UnsupportedEnvironmentVariable,
                    "PATH holds a relative directory",
                )
            })?
            .unwrap_or_default();
        let programs = resolved
            .into_iter()
            .map(|(name, path)| {
                let digest = path.and_then(|p| self.core.meta.digest(&p).ok());
                (name, digest.map(|(_, d)| d))
            })
            .collect();
        let mut configs = Vec::new();
        if family == Family::Clang {
            let check = |e: &dyn std::fmt::Display| {
                Pt::new(PassthroughReason::CompilerCheckFailed, &e.to_string())
            };
            for config in self
                .pipe
                .config_dirs
                .files(compiler)
                .map_err(|e| check(&e))?
            {
                let (_, d) = self.core.meta.digest(&config).map_err(|e| check(&e))?;
                configs.push((config.into_os_string().into_vec(), d));
            }
        }
        Ok((programs, configs))
    }
}

/// The include set (path as spelled, digest) and the scan of each file.
type IncludeSet = (Vec<(Vec<u8>, Digest)>, Vec<(Vec<u8>, Arc<ScanResult>)>);

/// What temporal macros the set uses, or why it cannot be stored (and
/// whether only a paste could form one).
fn temporal_of(
    p: &Pending,
    scans: &[(Vec<u8>, Arc<ScanResult>)],
) -> Result<Temporal, (NotStoredReason, bool)> {
    let all: Vec<&ScanResult> = scans
        .iter()
        .map(|(_, s)| &**s)
        .chain([&p.args_scan])
        .collect();
    let uses = TemporalUses::of(&all, p.paste_ruled_out);
    if let Some(reason) = temporal_no_store(&uses, &p.moment) {
        return Err((reason, uses.only_by_paste));
    }
    let mut temporal = Temporal {
        date: uses.date,
        time: uses.time,
        timestamp_files: Vec::new(),
    };
    if uses.timestamp {
        // `__TIMESTAMP__` is the mtime of the file where it expands,
        // which a macro (`#define TS __TIMESTAMP__` in a header, `TS`
        // in the source) or `-D` can move to any file of the set.
        temporal.timestamp_files = scans
            .iter()
            .map(|(path, _)| p.view.free_path(path))
            .collect();
    }
    Ok(temporal)
}

/// The Store's draft: the outputs as the compiler wrote them, the streams
/// and depfile (texts 0, 1 and 2) as `texts` stores them.
fn draft<'a>(
    p: &'a Pending,
    st: &'a v1::Store,
    entry: ManifestEntry,
    depfile: Option<Vec<u8>>,
    mut texts: StoredTexts,
) -> Draft<'a> {
    let mut outputs: Vec<(&'static str, DraftOutput<'a>)> = p
        .outputs
        .iter()
        .map(|(role, path)| (*role, DraftOutput::File(path)))
        .collect();
    let mut extra = Vec::new();
    if let Some(bytes) = depfile {
        // The style check runs on the compiler's own bytes; a hit
        // expands the stored text first and then retargets.
        extra = depfile_meta(&bytes, p.family, &p.dep_targets, p.dep_phony);
        let stored = texts.take(2, &bytes).into_owned();
        outputs.push(("depfile", DraftOutput::Bytes(Cow::Owned(stored))));
    }
    let _ = p.mode;
    Draft {
        manifest_key: p.manifest_key,
        entry,
        outputs,
        stdout: texts.take(0, &st.stdout),
        stderr: texts.take(1, &st.stderr),
        extra,
    }
}

/// The arguments unit `index` of `r` is compiled with on a miss, and
/// the option the daemon added to them (`Miss.injected_option`).
fn compile_args(r: &Request, index: usize) -> (Vec<OsString>, String) {
    let mut args: Vec<OsString> = if r.inv.units.len() == 1 {
        r.original_args.clone()
    } else {
        r.inv.args_for_unit(&r.expanded, index)
    };
    let mut injected = String::new();
    if let Some(root) = r.view.root() {
        args.push(file_prefix_map(root));
        injected = "-ffile-prefix-map".into();
    }
    (args, injected)
}

/// How a storable miss learns its include list.
struct DepPlan {
    /// Where the full include list will be: the user's depfile or ours.
    source: Option<PathBuf>,
    /// A separate dependency run, when the compile itself must not change.
    args: Vec<OsString>,
    /// The compile itself writes the private depfile (not only the
    /// dependency pass after it): the wrapper must be able to create it, or
    /// the caller's own command runs instead.
    private_in_args: bool,
    user_depfile: Option<PathBuf>,
}

impl DepPlan {
    /// Makes the dependency run also fail when a temporal macro expands
    /// (`date_time::check_run`), keeping the include list it learns.
    /// Whether it does.
    fn check_date_time(&mut self, r: &Request, index: usize, private_dep: &Path) -> bool {
        let depfile = (!self.args.is_empty()).then_some(private_dep.as_os_str());
        let probe = r.inv.dependency_probe_args(&r.expanded, index);
        match date_time::check_run(r.inv.family, probe, depfile) {
            Some(args) => {
                self.args = args;
                true
            }
            None => false,
        }
    }
}

/// How unit `index` of `r` learns its include list into `private_dep` or
/// the user's depfile; flags the compile itself needs join `args`.
fn dep_plan(r: &Request, index: usize, private_dep: &Path, args: &mut Vec<OsString>) -> DepPlan {
    let inv = &r.inv;
    let unit = &inv.units[index];
    let user_depfile = unit
        .depfile
        .as_ref()
        .map(|d| r.view.resolve_raw(d.as_bytes()));
    let mut plan = DepPlan {
        source: None,
        args: Vec::new(),
        private_in_args: false,
        user_depfile,
    };
    if !unit.language.is_preprocessed_by_compiler() {
        return plan;
    }
    let private = || private_dep.to_path_buf().into_os_string();
    let separate_run = |plan: &mut DepPlan| {
        plan.args = inv.dependency_probe_args(&r.expanded, index);
        plan.args.extend(["-M".into(), "-MF".into(), private()]);
        Some(private_dep.to_path_buf())
    };
    let user = plan.user_depfile.clone();
    plan.source = match inv.dep.mode {
        // The object records the command line: added flags would show in
        // it, so learn the headers in a separate run.
        DepMode::None | DepMode::Md
            if inv.record_command_line && user.as_deref().is_none_or(is_dev_null) =>
        {
            separate_run(&mut plan)
        }
        DepMode::None => {
            args.extend(["-MD".into(), "-MF".into(), private()]);
            plan.private_in_args = true;
            Some(private_dep.to_path_buf())
        }
        DepMode::Md if user.as_deref().is_some_and(|p| !is_dev_null(p)) => user,
        DepMode::Md => {
            args.extend(["-MF".into(), private()]);
            plan.private_in_args = true;
            Some(private_dep.to_path_buf())
        }
        DepMode::Mmd => separate_run(&mut plan),
    };
    plan
}

/// The files unit `unit` of `inv` writes besides its depfile, by role.
fn unit_outputs(cwd: &Path, inv: &Invocation, unit: &Unit) -> Vec<(&'static str, PathBuf)> {
    let mut outputs: Vec<(&'static str, PathBuf)> = Vec::new();
    if inv.mode != Mode::SyntaxOnly {
        if let Some(o) = &unit.output {
            outputs.push(("object", worktree::resolve(cwd, o.as_bytes())));
        }
    }
    for (role, p) in [
        ("dwo", &unit.dwo),
        ("gcno", &unit.gcno),
        ("dia", &inv.serialize_diagnostics),
        ("su", &unit.stack_usage),
        ("listing", &unit.listing),
    ] {
        if let Some(p) = p {
            outputs.push((role, worktree::resolve(cwd, p.as_bytes())));
        }
    }
    outputs
}

/// The key's inputs as `zccache explain` compares two compiles: the
/// compiler (its bytes and sub-programs, hashed), the key arguments, and
/// each keyed variable with its value hashed.
fn explain_inputs(k: &KeyInputs) -> journal::Inputs {
    let mut compiler = k.identity.clone();
    for (name, digest) in &k.programs {
        compiler.extend_from_slice(name.as_bytes());
        compiler.extend_from_slice(digest.as_ref().map_or(&[][..], |d| &d[..]));
    }
    for (path, digest) in &k.configs {
        compiler.extend_from_slice(path);
        compiler.extend_from_slice(digest);
    }
    let named = k
        .env
        .iter()
        .filter_map(|(name, v)| Some((name.as_bytes(), v.as_deref()?)));
    let pairs = k
        .emcc_env
        .iter()
        .chain(k.script.iter().flat_map(|s| s.env.iter()))
        .map(|(n, v)| (n.as_slice(), v.as_slice()));
    journal::Inputs {
        compiler: journal::value_hash(&compiler),
        source: String::new(),
        args: k
            .args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
        env: named
            .chain(pairs)
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    journal::value_hash(v),
                )
            })
            .collect(),
    }
}

/// A Lookup read and classified: what every later step of `prepare` uses.
struct Call {
    cwd: PathBuf,
    env: BTreeMap<Vec<u8>, Vec<u8>>,
    compiler: PathBuf,
    /// The file name the compiler was called by.
    argv0: OsString,
    family: Family,
    args: Vec<OsString>,
    expanded: Vec<OsString>,
    inv: Invocation,
    /// `None` for a pipe caller.
    terminal: Option<v1::Terminal>,
}

impl Call {
    /// The file name the compiler was called by.
    fn argv0(req: &v1::Lookup) -> OsString {
        Path::new(OsStr::from_bytes(&req.argv0))
            .file_name()
            .unwrap_or_default()
            .to_os_string()
    }

    /// `req` classified for `driver`, or why it passes through.
    fn read(req: &v1::Lookup, driver: Driver) -> Result<Call, Pt> {
        let cwd = PathBuf::from(OsStr::from_bytes(&req.cwd));
        let compiler = PathBuf::from(OsStr::from_bytes(&req.compiler));
        let argv0 = Call::argv0(req);
        let family = driver.family;
        let args = request_args(req);
        let expanded = cc::expand_response_files(family, &args, &cwd, &cc::FsReader)
            .map_err(|p| Pt::new(p.reason.counter(), &p.detail))?;
        let env = request_env(req);
        let inv = classify(driver, &expanded, &env)?;
        Ok(Call {
            cwd,
            env,
            compiler,
            argv0,
            family,
            args,
            expanded,
            inv,
            terminal: terminal(req)?,
        })
    }

    fn getenv(&self, k: &str) -> Option<OsString> {
        self.env
            .get(k.as_bytes())
            .map(|v| OsString::from_vec(v.clone()))
    }
}

/// The expanded arguments classified: a compile we can cache, or why not.
fn classify(
    driver: Driver,
    expanded: &[OsString],
    env: &BTreeMap<Vec<u8>, Vec<u8>>,
) -> Result<Invocation, Pt> {
    let getenv = |k: &str| env.get(k.as_bytes()).map(|v| OsString::from_vec(v.clone()));
    let inv = match cc::classify(driver.family, driver.cplusplus, expanded, &getenv) {
        Classified::Compile(inv) => inv,
        Classified::Passthrough(p) => return Err(Pt::new(p.reason.counter(), &p.detail)),
    };
    if !inv.color_flag_valid {
        return Err(Pt::new(
            PassthroughReason::UnsupportedCompilerOption,
            "colour flag of another compiler",
        ));
    }
    if inv.march_native {
        // Its meaning depends on the build machine's CPU, which we do
        // not probe: passthrough by design.
        return Err(Pt::new(
            PassthroughReason::UnsupportedCompilerOption,
            "-march/-mcpu/-mtune=native",
        ));
    }
    Ok(inv)
}

/// A caller on a terminal: its misses run with stderr on a
/// pseudo-terminal, so the compiler itself decides colour, URLs and width,
/// from facts the key then holds.
fn terminal(req: &v1::Lookup) -> Result<Option<v1::Terminal>, Pt> {
    match (req.stderr_is_tty, req.terminal) {
        (false, _) => Ok(None),
        (true, Some(t)) => Ok(Some(t)),
        (true, None) => Err(Pt::new(
            PassthroughReason::TerminalUnknown,
            "stderr is a terminal the wrapper did not measure",
        )),
    }
}

/// A compiler's driver, or the probes that tell it.
enum Identified {
    Driver(Driver),
    Ask(Vec<Vec<Vec<u8>>>),
}

/// What the compiler told (from memos or probes), and what it still must.
struct Asked {
    /// A `#!` compiler's interpreter.
    interpreter: Option<PathBuf>,
    support: Option<SdeSupport>,
    programs: Option<Programs>,
    search_tails: Vec<SearchTail>,
    /// The runs to ask in a Probe round; empty when all is known.
    runs: Vec<Vec<Vec<u8>>>,
}

/// The extra inputs of a request as keyed.
#[derive(Default)]
struct Extras {
    keys: Vec<ExtraKey>,
    /// Each must be unchanged at Store.
    stats: Vec<(PathBuf, StatId)>,
    /// The digests keyed: Store finds the same bytes or stores nothing.
    digests: Vec<(PathBuf, Digest)>,
}

/// What selects a driver's built-in include chain, but the language.
struct ChainQuery<'a> {
    identity: &'a [u8],
    family: Family,
    args: &'a [OsString],
    env: &'a BTreeMap<Vec<u8>, Vec<u8>>,
    cwd: &'a Path,
    probes: &'a [v1::ProbeResult],
}

/// The variables of `env` whose name passes `keep`, in name order.
fn pairs(
    env: &BTreeMap<Vec<u8>, Vec<u8>>,
    keep: impl Fn(&OsStr) -> bool,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    env.iter()
        .filter(|(k, _)| keep(OsStr::from_bytes(k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The programs a driver runs and clang's config files, with digests.
type ToolchainInputs = (Vec<(String, Option<Digest>)>, Vec<(Vec<u8>, Digest)>);

/// The interpreter of a `#!` compiler (`#!/bin/sh`, `#!/usr/bin/env
/// python3`: its first word), or `None` for a binary. Such a compiler
/// runs whatever its script and environment pick, so the script's bytes
/// alone do not identify it.
fn shebang_interpreter(compiler: &Path) -> Option<PathBuf> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(compiler).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&c| c == b'\n').unwrap_or(line.len())];
    let word = line
        .split(|c| *c == b' ' || *c == b'\t')
        .find(|w| !w.is_empty())?;
    Some(PathBuf::from(OsStr::from_bytes(word)))
}

/// Why path remap cannot serve this call across worktrees, if it cannot: the
/// user maps paths already, or an output would record a path the injected map
/// does not cover (cache-keys.md §2 "Remap state").
fn remap_blocker(inv: &Invocation) -> Option<RemapFallback> {
    if inv.user_prefix_map {
        return Some(RemapFallback::UserPrefixMap);
    }
    if inv.include_pch {
        return Some(RemapFallback::Pch);
    }
    if inv
        .extra_inputs
        .iter()
        .any(|e| e.kind == cc::ExtraInputKind::ProfileUse)
    {
        return Some(RemapFallback::ProfileUse);
    }
    if inv.split_dwarf {
        return Some(RemapFallback::SplitDwarf);
    }
    if inv.coverage {
        return Some(RemapFallback::Coverage);
    }
    if inv.cwd_in_output {
        return Some(RemapFallback::CwdInOutput);
    }
    if inv.record_command_line {
        return Some(RemapFallback::RecordCommandLine);
    }
    if inv.asm_listing {
        // `as` quotes the source lines it finds through the debug info's
        // paths, which the injected map rewrites.
        return Some(RemapFallback::AsmListing);
    }
    None
}

/// Whether two of the files this unit writes (object, depfile, `.dwo`,
/// `.gcno`, `.dia`) are one file: the same path once the directory is
/// resolved, or one existing inode under two names.
fn outputs_collide(cwd: &Path, inv: &Invocation, unit: &Unit) -> bool {
    let object = unit
        .output
        .as_ref()
        .filter(|_| inv.mode != Mode::SyntaxOnly);
    let depfile = unit
        .depfile
        .as_ref()
        .filter(|_| inv.dep.mode != DepMode::None);
    let paths: Vec<PathBuf> = [
        object,
        depfile,
        unit.dwo.as_ref(),
        unit.gcno.as_ref(),
        inv.serialize_diagnostics.as_ref(),
        unit.stack_usage.as_ref(),
        unit.listing.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|p| worktree::resolve(cwd, p.as_bytes()))
    .filter(|p| !is_dev_null(p))
    .collect();
    let physical = |p: &Path| -> PathBuf {
        match (p.parent().map(std::fs::canonicalize), p.file_name()) {
            (Some(Ok(dir)), Some(name)) => dir.join(name),
            _ => p.to_path_buf(),
        }
    };
    let inode = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
    };
    paths.iter().enumerate().any(|(i, a)| {
        paths[i + 1..]
            .iter()
            .any(|b| physical(a) == physical(b) || inode(a).is_some_and(|ia| inode(b) == Some(ia)))
    })
}

/// gcc's `-fmessage-length=N` (N > 0) wraps diagnostics by column, so a
/// path of another length in them would wrap them differently.
fn wraps_diagnostics(args: &[OsString]) -> bool {
    args.iter()
        .filter_map(|a| a.as_bytes().strip_prefix(b"-fmessage-length="))
        .next_back()
        .is_some_and(|n| n.iter().any(|d| *d != b'0'))
}

/// `$PWD` when it names the cwd by another path (through a symlink): gcc
/// and clang then record it, not the physical cwd, as the compilation dir.
fn logical_cwd(env: &BTreeMap<Vec<u8>, Vec<u8>>, cwd: &Path) -> Option<Vec<u8>> {
    use std::os::unix::fs::MetadataExt;
    let pwd = env.get(&b"PWD"[..])?;
    if pwd.first() != Some(&b'/') || pwd.as_slice() == cwd.as_os_str().as_bytes() {
        return None;
    }
    let a = std::fs::metadata(OsStr::from_bytes(pwd)).ok()?;
    let b = std::fs::metadata(cwd).ok()?;
    (a.dev() == b.dev() && a.ino() == b.ino()).then(|| pwd.clone())
}

/// The map a remapped miss compiles with: every recorded path under the
/// root (`__FILE__`, debug info, `DW_AT_comp_dir`) becomes relative to it.
fn file_prefix_map(root: &Root) -> OsString {
    let mut arg = b"-ffile-prefix-map=".to_vec();
    arg.extend_from_slice(root.bytes());
    arg.extend_from_slice(b"=.");
    OsString::from_vec(arg)
}

/// `-fdebug-prefix-map=OLD=NEW` (and the file and macro variants) with OLD
/// equal to cwd is keyed with a placeholder for OLD: every path it maps is
/// keyed elsewhere (cwd through `cwd_key`, sources and headers as spelled),
/// so two checkouts built with `-fdebug-prefix-map=$PWD=X` share entries.
fn cwd_independent_prefix_map(arg: &OsStr, cwd: &Path) -> OsString {
    let bytes = arg.as_bytes();
    for flag in [
        "-fdebug-prefix-map=",
        "-ffile-prefix-map=",
        "-fmacro-prefix-map=",
    ] {
        let Some(rest) = bytes.strip_prefix(flag.as_bytes()) else {
            continue;
        };
        let Some(eq) = rest.iter().position(|b| *b == b'=') else {
            break;
        };
        let old = rest[..eq].strip_suffix(b"/").unwrap_or(&rest[..eq]);
        if old == cwd.as_os_str().as_bytes() {
            let mut out = flag.as_bytes().to_vec();
            out.extend_from_slice(b"\0cwd");
            out.extend_from_slice(&rest[eq..]);
            return OsString::from_vec(out);
        }
        break;
    }
    arg.to_os_string()
}

/// Why a compile using `scan`'s temporal macros cannot be stored at
/// `moment`: `__TIME__` from the clock, or `__DATE__` in a zone we cannot
/// evaluate.
fn temporal_no_store(uses: &TemporalUses, moment: &Moment) -> Option<NotStoredReason> {
    if moment.sde_fixes_time {
        return None;
    }
    if uses.time {
        return Some(NotStoredReason::TimeMacro);
    }
    (uses.date && moment.today.is_none()).then_some(NotStoredReason::TimeZone)
}

/// Which temporal macros a compile may expand, from the scans of its
/// files and of its arguments (`-DSTAMP=__TIME__`). A paste that could
/// form a name counts as every one of them.
struct TemporalUses {
    /// `__DATE__` or `__TIME__`: the date.
    date: bool,
    time: bool,
    timestamp: bool,
    /// No file spells a name: a paste alone could form one.
    only_by_paste: bool,
}

impl TemporalUses {
    /// `paste_ruled_out`: the compiler said no temporal macro expands
    /// (`date_time::check_run`), which a file that mutes `-Wdate-time`
    /// makes no proof of.
    fn of(scans: &[&ScanResult], paste_ruled_out: bool) -> TemporalUses {
        let ruled_out = paste_ruled_out && !scans.iter().any(|s| s.mutes_date_time);
        let pasted = !ruled_out && ScanResult::could_paste_temporal(scans);
        let spelled = |f: fn(&ScanResult) -> bool| scans.iter().any(|s| f(s));
        let uses = TemporalUses {
            date: spelled(|s| s.date || s.time),
            time: spelled(|s| s.time),
            timestamp: spelled(|s| s.timestamp),
            only_by_paste: false,
        };
        if !pasted {
            return uses;
        }
        TemporalUses {
            date: true,
            time: true,
            timestamp: true,
            only_by_paste: !(uses.date || uses.timestamp),
        }
    }
}

/// Asks the wrapper to run the compiler with each of `runs` (argv\[1..\])
/// and send the Lookup again with what they printed.
fn probe_reply(runs: Vec<Vec<Vec<u8>>>) -> v1::LookupReply {
    v1::LookupReply {
        outcome: Some(v1::lookup_reply::Outcome::Probe(v1::Probe {
            runs: runs.into_iter().map(|args| v1::ProbeRun { args }).collect(),
        })),
    }
}

/// What decides the bytes a compiler writes to a terminal caller's stderr
/// beyond the key ([`cc::terminal_facts`]: `TERM` and the variables next
/// to it, the widths), as one digest. Terminal and pipe callers share
/// manifest keys; an entry a terminal caller stored in its own form (its
/// stderr as the compiler wrote it to the pseudo-terminal: colour, URLs,
/// caret lines narrowed to the width) carries this digest, as the entry's
/// one `env_deps` tag (C-family entries have no other), and its result key
/// is salted with it: only a caller of the same form finds it. Deriving a
/// pipe's bytes by stripping colour from a terminal's is not exact (gcc
/// narrows caret lines to the terminal, clang wraps at `COLUMNS`, gcc's
/// URLs follow `TERM`), so such an entry is never served to a pipe.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct TerminalForm([u8; 32]);

const TERMINAL_FORM_TAG: &[u8] = b"\0zccache-terminal-form:";

impl TerminalForm {
    fn of(facts: &[(&'static str, Option<Vec<u8>>)]) -> TerminalForm {
        let mut h = blake3::Hasher::new_derive_key("zccache cc terminal form v1");
        for (tag, value) in facts {
            h.update(&(tag.len() as u64).to_le_bytes())
                .update(tag.as_bytes());
            match value {
                None => h.update(&[0]),
                Some(v) => h
                    .update(&[1])
                    .update(&(v.len() as u64).to_le_bytes())
                    .update(v),
            };
        }
        TerminalForm(*h.finalize().as_bytes())
    }

    /// The manifest entry's mark.
    fn tag(&self) -> Vec<u8> {
        [TERMINAL_FORM_TAG, &self.0].concat()
    }
}

/// The terminal form an entry was stored in; `None` for the plain form.
fn entry_terminal_form(entry: &ManifestEntry) -> Option<TerminalForm> {
    entry.env_deps.iter().find_map(|d| {
        let form = d.strip_prefix(TERMINAL_FORM_TAG)?;
        Some(TerminalForm(form.try_into().ok()?))
    })
}

/// The result key of an entry stored in terminal form `form`.
fn terminal_result_key(plain: &[u8; 32], form: &TerminalForm) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("zccache cc terminal-form result v1");
    h.update(plain).update(&form.0);
    *h.finalize().as_bytes()
}

/// Whether a compile's `stderr` is the same bytes on a terminal and on a
/// pipe, so that its entry is stored in the plain form and serves both: gcc
/// and clang write nothing to a terminal exactly when they write nothing to
/// a pipe (colour, URLs and width only shape diagnostics). emcc's own
/// messages are not shown to be, so its terminal entries keep their form.
fn plain_is_exact(family: Family, stderr: &[u8]) -> bool {
    matches!(family, Family::Gcc | Family::Clang) && stderr.is_empty()
}

/// The result key of `entry` in this view: the pipeline reads the mtime of
/// each `__TIMESTAMP__` file, [`key::result_key`] hashes. `None` when one
/// can no longer be read, or the date is needed and unknown.
fn result_key_for(
    view: &Worktree,
    manifest_key: &[u8; 32],
    entry: &ManifestEntry,
    moment: &Moment,
) -> Option<[u8; 32]> {
    let mut timestamps = Vec::with_capacity(entry.temporal.timestamp_files.len());
    for f in &entry.temporal.timestamp_files {
        let md = std::fs::metadata(view.resolve(f)?).ok()?;
        timestamps.push((f, StatId::of(&md).mtime_ns));
    }
    key::result_key(
        view,
        &ResultInputs {
            manifest_key,
            includes: &entry.includes,
            date: entry.temporal.date,
            time: entry.temporal.time,
            timestamps,
            moment,
            home: &entry.remap,
        },
    )
}

/// A directory headers are searched in: as spelled (relative to the cwd
/// when the compile spelled it so) and resolved. Manifests record the
/// spelling, so that a request from another cwd with the same key checks
/// its own directory, as its compiler would.
#[derive(Clone, Debug)]
struct SearchDir {
    spelled: PathBuf,
    abs: PathBuf,
}

impl SearchDir {
    fn new(cwd: &Path, spelled: &[u8]) -> SearchDir {
        let spelled = match spelled {
            b"" => PathBuf::from("."),
            s => PathBuf::from(OsStr::from_bytes(s)),
        };
        let abs = worktree::resolve(cwd, spelled.as_os_str().as_bytes());
        SearchDir { spelled, abs }
    }

    /// The directory of the file `p` (as a depfile names it).
    fn parent_of(cwd: &Path, p: &[u8]) -> Option<SearchDir> {
        let parent = Path::new(OsStr::from_bytes(p)).parent()?;
        Some(SearchDir::new(cwd, parent.as_os_str().as_bytes()))
    }
}

/// The search chain after the command line's own directories.
struct SearchTail {
    env_dirs: cc::EnvDirs,
    /// As the compiler printed it (absolute); `None` when unknown.
    builtin: Option<Arc<Vec<PathBuf>>>,
}

/// The directories a header could be found in, in search order: the
/// source's own directory (for `"…"` includes), `-iquote`, `-I`, `CPATH`,
/// `-isystem`, `C_INCLUDE_PATH`/`CPLUS_INCLUDE_PATH`, the compiler's
/// built-in directories (which repeat the environment's that exist), then
/// `-idirafter`. A directory may appear twice: a header is taken as found
/// in its last place, so every place before it is watched, which errs on
/// the side of a miss (gcc drops a `-I` that names a system directory).
fn search_chain(cwd: &Path, source: &[u8], inv: &Invocation, tail: &SearchTail) -> Vec<SearchDir> {
    let mut chain = Vec::new();
    chain.extend(SearchDir::parent_of(cwd, source));
    let s = &inv.search;
    let before_builtin = s
        .iquote
        .iter()
        .chain(&s.angled)
        .chain(&tail.env_dirs.angled)
        .chain(&s.system)
        .chain(&tail.env_dirs.system)
        .map(|d| d.as_bytes());
    let builtin = tail
        .builtin
        .iter()
        .flat_map(|dirs| dirs.iter())
        .map(|d| d.as_os_str().as_bytes());
    for d in before_builtin
        .chain(builtin)
        .chain(s.after.iter().map(|d| d.as_bytes()))
    {
        chain.push(SearchDir::new(cwd, d));
    }
    chain
}

/// A recorded directory mtime that no directory has: the names under it
/// are checked one by one on every lookup.
const UNTRUSTED_DIR_MTIME: i128 = i128::MIN;

/// Search directories by spelling: the resolved path and candidate names.
type Candidates = BTreeMap<PathBuf, (PathBuf, BTreeSet<Vec<u8>>)>;

/// Headers that, had they existed, would have been found before ours
/// (cache-keys.md §3 "Header shadowing"); only absent ones are recorded,
/// under each directory's spelling. A directory that changed while the
/// compiler ran (the too-new guard, `moment`) keeps no mtime shortcut,
/// and a candidate that exists but may have appeared during the compile
/// (the compiler may have looked before it did) stores nothing.
fn negative_candidates(
    view: &Worktree,
    includes: &[(Vec<u8>, Digest)],
    chain: &[SearchDir],
    probes: &BTreeSet<Vec<u8>>,
    moment: i128,
) -> Result<Vec<NegativeDir>, NotStoredReason> {
    let per_dir = candidate_names(view.cwd(), includes, chain, probes);
    witnessed_dirs(view, per_dir, moment)
}

/// Each search directory (by spelling, with its resolved path) and the
/// names under it that, created, would shadow a header of the set.
fn candidate_names(
    cwd: &Path,
    includes: &[(Vec<u8>, Digest)],
    chain: &[SearchDir],
    probes: &BTreeSet<Vec<u8>>,
) -> Candidates {
    // Keyed by spelling; the resolved path rides along.
    let mut per_dir = Candidates::new();
    let mut add = |d: &SearchDir, name: Vec<u8>| {
        per_dir
            .entry(d.spelled.clone())
            .or_insert_with(|| (d.abs.clone(), BTreeSet::new()))
            .1
            .insert(name);
    };
    let mut quote_dirs: Vec<SearchDir> = Vec::new();
    for (p, _) in includes {
        let abs = worktree::resolve(cwd, p);
        let found = chain
            .iter()
            .enumerate()
            .filter(|(_, d)| abs.starts_with(&d.abs))
            .max_by_key(|(_, d)| d.abs.as_os_str().len());
        match found {
            Some((idx, dir)) => {
                let name = abs
                    .strip_prefix(&dir.abs)
                    .unwrap_or(&abs)
                    .as_os_str()
                    .as_bytes()
                    .to_vec();
                if let Some(parent) = SearchDir::parent_of(cwd, p) {
                    if !quote_dirs.iter().any(|q| q.abs == parent.abs) {
                        quote_dirs.push(parent);
                    }
                }
                for earlier in &chain[..idx] {
                    add(earlier, name.clone());
                }
            }
            None => {
                // A system header: we do not know which built-in directory
                // found it, so every plausible name under every user dir.
                let comps: Vec<&OsStr> = abs.iter().collect();
                for k in 1..comps.len().min(5) {
                    let name: PathBuf = comps[comps.len() - k..].iter().collect();
                    for d in chain {
                        add(d, name.as_os_str().as_bytes().to_vec());
                    }
                }
            }
        }
    }
    // Quote includes search the including file's directory first.
    for (p, _) in includes {
        let abs = worktree::resolve(cwd, p);
        if let Some(name) = abs.file_name() {
            for d in &quote_dirs {
                if abs.parent() != Some(d.abs.as_path()) {
                    add(d, name.as_bytes().to_vec());
                }
            }
        }
    }
    for probe in probes {
        for d in chain.iter().chain(quote_dirs.iter()) {
            add(d, probe.clone());
        }
        for d in ["/usr/include", "/usr/local/include"] {
            add(&SearchDir::new(cwd, d.as_bytes()), probe.clone());
        }
    }
    per_dir
}

/// The candidates grouped under the directory that witnesses their
/// absence, with its mtime (untrusted when too new or not trusted).
fn witnessed_dirs(
    view: &Worktree,
    per_dir: Candidates,
    moment: i128,
) -> Result<Vec<NegativeDir>, NotStoredReason> {
    // (witness as spelled, trusted) → (witness resolved, names under it).
    type Witnessed = BTreeMap<(PathBuf, bool), (PathBuf, BTreeSet<Vec<u8>>)>;
    let mut witnessed = Witnessed::new();
    for (spelled, (abs, names)) in per_dir {
        for name in names {
            let Some(w) = witness(&spelled, &abs, &name, moment)? else {
                continue;
            };
            witnessed
                .entry((w.spelled, w.trusted))
                .or_insert_with(|| (w.abs, BTreeSet::new()))
                .1
                .insert(w.rest);
        }
    }
    let mut out = Vec::new();
    for ((spelled, trusted), (abs, names)) in witnessed {
        let dir = std::fs::metadata(&abs).ok().map(|m| StatId::of(&m));
        let mtime_ns = match dir {
            _ if !trusted => UNTRUSTED_DIR_MTIME,
            Some(d) if d.written_since(moment) => UNTRUSTED_DIR_MTIME,
            Some(d) => d.mtime_ns,
            None => 0,
        };
        out.push(NegativeDir {
            dir: view.free_path(spelled.as_os_str().as_bytes()),
            existed: dir.is_some(),
            mtime_ns,
            names: names.into_iter().collect(),
        });
    }
    Ok(out)
}

/// The directory whose mtime proves an absent candidate stays absent, and
/// the candidate's name under it.
struct Witness {
    spelled: PathBuf,
    abs: PathBuf,
    rest: Vec<u8>,
    /// False when no directory mtime can prove it: a symlink on the way
    /// (its target may appear, or it may be retargeted, without touching
    /// the directory we would watch). Such names are checked one by one on
    /// every lookup.
    trusted: bool,
}

/// Where the absent candidate `name` (may hold `/`) under the search dir
/// `spelled`/`abs` is witnessed: the deepest directory of its path that
/// exists (a header appearing in an existing `sub/` changes `sub`'s mtime,
/// not the search dir's). `None` when the candidate exists, as the compiler
/// would open it (following links): it is no negative. A candidate that
/// exists but may have appeared during the compile stores nothing.
fn witness(
    spelled: &Path,
    abs: &Path,
    name: &[u8],
    moment: i128,
) -> Result<Option<Witness>, NotStoredReason> {
    let full = abs.join(OsStr::from_bytes(name));
    match std::fs::metadata(&full) {
        Ok(md) if StatId::of(&md).written_since(moment) => {
            return Err(NotStoredReason::ModifiedInputFile)
        }
        Ok(_) => return Ok(None),
        Err(_) => {}
    }
    let comps: Vec<std::path::Component> =
        Path::new(OsStr::from_bytes(name)).components().collect();
    let (mut at_spelled, mut at_abs) = (spelled.to_path_buf(), abs.to_path_buf());
    let mut depth = 0;
    for (i, c) in comps.iter().enumerate() {
        let next = at_abs.join(c);
        // Not a link, so `lstat` says what `stat` would: one call decides.
        let md = std::fs::symlink_metadata(&next);
        if md.as_ref().is_ok_and(|m| m.file_type().is_symlink()) {
            return Ok(Some(Witness {
                spelled: spelled.to_path_buf(),
                abs: abs.to_path_buf(),
                rest: name.to_vec(),
                trusted: false,
            }));
        }
        let descend = i + 1 < comps.len()
            && matches!(c, std::path::Component::Normal(_))
            && md.is_ok_and(|m| m.is_dir());
        if !descend {
            break;
        }
        at_spelled.push(c);
        at_abs = next;
        depth = i + 1;
    }
    let rest: PathBuf = comps[depth..].iter().collect();
    Ok(Some(Witness {
        spelled: at_spelled,
        abs: at_abs,
        rest: rest.into_os_string().into_vec(),
        trusted: true,
    }))
}

/// The targets the compiler would write for this unit's first depfile rule.
fn unit_dep_targets(_inv: &Invocation, unit: &Unit) -> Vec<Vec<u8>> {
    unit.dep_targets
        .iter()
        .map(|t| t.to_make().into_vec())
        .collect()
}

/// Stored beside a depfile: the compiler style that reproduces it, if any.
fn depfile_meta(bytes: &[u8], family: Family, targets: &[Vec<u8>], phony: bool) -> Vec<u8> {
    let style = match family {
        Family::Gcc => Style::Gcc,
        Family::Clang | Family::Emcc => Style::Clang,
    };
    let Some(rule) = depfile::parse(bytes) else {
        return vec![0];
    };
    let again = DepRule {
        targets: targets.to_vec(),
        deps: rule.deps.clone(),
    };
    if rule.targets == targets && depfile::format(style, &again, phony) == bytes {
        vec![if style == Style::Gcc { 1 } else { 2 }]
    } else {
        vec![0]
    }
}

/// The stored depfile with the current request's targets, or `None` when
/// they differ (or its paths changed length, `relaid`) and the stored text
/// cannot be re-emitted faithfully.
fn retarget_depfile(
    bytes: &[u8],
    meta: &[u8],
    targets: &[Vec<u8>],
    phony: bool,
    relaid: bool,
) -> Option<Vec<u8>> {
    let rule = depfile::parse(bytes)?;
    if rule.targets == targets && !relaid {
        return Some(bytes.to_vec());
    }
    let style = match meta.first() {
        Some(1) => Style::Gcc,
        Some(2) => Style::Clang,
        _ => return None,
    };
    Some(depfile::format(
        style,
        &DepRule {
            targets: targets.to_vec(),
            deps: rule.deps,
        },
        phony,
    ))
}

/// `LLVM_ROOT` (and `CLANG_ADD_VERSION`) from an Emscripten config file.
fn emscripten_clang(config: &str) -> PathBuf {
    let value = |name: &str| {
        config.lines().find_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix(name)?.trim_start().strip_prefix('=')?.trim();
            let q = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
            rest[1..].split(q).next().map(str::to_owned)
        })
    };
    let root = value("LLVM_ROOT").unwrap_or_else(|| "/usr/bin".into());
    match value("CLANG_ADD_VERSION") {
        Some(v) if Path::new(&root).join(format!("clang-{v}")).exists() => {
            Path::new(&root).join(format!("clang-{v}"))
        }
        _ => Path::new(&root).join("clang"),
    }
}
/// How a C-family compiler opens an output of `role`, measured on gcc 12,
/// clang 14 and 16 (corrections.md finding 12): gcc's assembler replaces an
/// existing name but writes through a dangling symlink; gcc's `-S` output,
/// every depfile and `.gcno` are written through a symlink; clang replaces
/// its object, assembly and `.dwo`.
fn write_mode(family: Family, mode: Mode, role: &str) -> WriteMode {
    match (role, family) {
        // gcc's `.su` (fopen), clang's (raw_fd_ostream) and as's listing
        // (fopen) are truncated in place too.
        ("depfile" | "gcno" | "su" | "listing", _) => WriteMode::WriteThrough,
        ("object", Family::Gcc) if mode == Mode::Assemble => WriteMode::WriteThrough,
        ("object" | "dwo", Family::Gcc) => WriteMode::ReplaceUnlessDangling,
        _ => WriteMode::Replace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, PeerView};
    use crate::stats::Stats;
    use crate::store::Store;
    use std::borrow::Cow;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn classified(args: &[&str]) -> Invocation {
        match cc::classify(Family::Gcc, false, &os(args), &|_| None) {
            Classified::Compile(inv) => inv,
            Classified::Passthrough(p) => panic!("{args:?}: {p:?}"),
        }
    }

    #[test]
    fn write_modes_follow_the_compilers() {
        use WriteMode::*;
        let cases = [
            (Family::Gcc, Mode::Compile, "object", ReplaceUnlessDangling),
            (Family::Gcc, Mode::Compile, "dwo", ReplaceUnlessDangling),
            (Family::Gcc, Mode::Assemble, "object", WriteThrough),
            (Family::Gcc, Mode::Compile, "depfile", WriteThrough),
            (Family::Gcc, Mode::Compile, "gcno", WriteThrough),
            (Family::Gcc, Mode::Compile, "su", WriteThrough),
            (Family::Clang, Mode::Compile, "su", WriteThrough),
            (Family::Gcc, Mode::Compile, "listing", WriteThrough),
            (Family::Clang, Mode::Compile, "object", Replace),
            (Family::Clang, Mode::Assemble, "object", Replace),
            (Family::Clang, Mode::Compile, "depfile", WriteThrough),
            (Family::Emcc, Mode::Compile, "object", Replace),
        ];
        for (family, mode, role, want) in cases {
            assert_eq!(
                write_mode(family, mode, role),
                want,
                "{family:?} {mode:?} {role}"
            );
        }
    }

    #[test]
    fn message_length_wraps_only_when_non_zero_and_last() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(wraps_diagnostics(&os(&["-c", "-fmessage-length=72"])));
        assert!(!wraps_diagnostics(&os(&["-fmessage-length=0"])));
        assert!(!wraps_diagnostics(&os(&[
            "-fmessage-length=72",
            "-fmessage-length=0"
        ])));
        assert!(!wraps_diagnostics(&os(&["-c", "x.c"])));
    }

    #[test]
    fn remap_blockers() {
        #[track_caller]
        fn check(args: &[&str], want: Option<&str>) {
            assert_eq!(
                remap_blocker(&classified(args)).map(RemapFallback::as_str),
                want,
                "{args:?}"
            );
        }
        check(&["-c", "x.c", "-g", "-I/w/a/inc"], None);
        for map in [
            "-ffile-prefix-map=/w/a=.",
            "-fdebug-prefix-map=/w/a=.",
            "-fmacro-prefix-map=/w/a=.",
            "-fdebug-compilation-dir=.",
        ] {
            check(&["-c", "x.c", map], Some("user_prefix_map"));
        }
        check(&["-c", "x.c", "-fprofile-use=p"], Some("profile_use"));
        check(&["-c", "x.c", "-g", "-gsplit-dwarf"], Some("split_dwarf"));
        check(&["-c", "x.c", "--coverage"], Some("coverage"));
        check(&["-c", "x.c", "-ftest-coverage"], Some("coverage"));
        check(&["-c", "x.c", "-fprofile-generate"], Some("cwd_in_output"));
        match cc::classify(
            Family::Clang,
            false,
            &os(&["-c", "x.c", "-include-pch", "p.pch"]),
            &|_| None,
        ) {
            Classified::Compile(inv) => {
                assert_eq!(remap_blocker(&inv).map(RemapFallback::as_str), Some("pch"))
            }
            Classified::Passthrough(p) => panic!("{p:?}"),
        }
    }

    #[test]
    fn key_paths_are_root_free_only_under_the_root() {
        let inv = classified(&[
            "-c",
            "/w/a/src/x.c",
            "-I/w/a/inc",
            "-isystem",
            "/w/a/sys",
            "-I/w/ab/inc",
            "--sysroot=/w/a/sr",
            "-include",
            "/w/a/cfg.h",
            "-DDIR=\"/w/a\"",
            "-B/w/a/bin",
            "-o",
            "/w/a/x.o",
        ]);
        let (on, off) = (
            Worktree::at("/w/a", Some("/w/a")),
            Worktree::at("/w/a", None),
        );
        let mapped: Vec<OsString> = inv
            .key_args_mapped(&|p| on.free_bytes(p))
            .into_iter()
            .map(Cow::into_owned)
            .collect();
        assert_eq!(
            mapped,
            os(&[
                "-c",
                "-I\0R/inc",
                "-isystem",
                "\0R/sys",
                "-I/w/ab/inc",
                "--sysroot=\0R/sr",
                "-include",
                "\0R/cfg.h",
                "-DDIR=\"/w/a\"",
                "-B/w/a/bin",
            ])
        );
        let raw: Vec<OsString> = inv
            .key_args_mapped(&|p| off.free_bytes(p))
            .into_iter()
            .map(Cow::into_owned)
            .collect();
        assert_eq!(raw, inv.key_args);
        assert_eq!(
            file_prefix_map(on.root().unwrap()),
            OsString::from("-ffile-prefix-map=/w/a=.")
        );
    }

    /// Two worktrees of one repository, a fake compiler and an engine.
    struct World {
        base: PathBuf,
        engine: Engine,
    }

    impl World {
        fn new(name: &str) -> World {
            let base =
                std::env::temp_dir().join(format!("zcc-cc-remap-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&base);
            for wt in ["a", "b"] {
                let w = base.join(wt);
                std::fs::create_dir_all(w.join("src")).unwrap();
                std::fs::create_dir_all(w.join("inc")).unwrap();
                std::fs::create_dir_all(w.join("build")).unwrap();
                std::fs::write(w.join(".git"), "gitdir: /x\n").unwrap();
                std::fs::write(w.join("src/x.c"), "#include \"x.h\"\nint x = X;\n").unwrap();
                std::fs::write(w.join("inc/x.h"), "#define X 1\n").unwrap();
            }
            std::fs::create_dir_all(base.join("bin")).unwrap();
            std::fs::write(base.join("bin/gcc"), "fake compiler").unwrap();
            let store = Store::open(&base.join("cache"), 1 << 30).unwrap();
            let engine = Engine::new(store, Stats::default(), base.join("private"));
            World { base, engine }
        }

        fn root(&self, wt: &str) -> String {
            self.base.join(wt).to_str().unwrap().to_owned()
        }

        fn lookup(&self, wt: &str, remap: bool) -> v1::unit_answer::Answer {
            let root = self.root(wt);
            let args = [
                "-g".to_owned(),
                "-c".to_owned(),
                format!("{root}/src/x.c"),
                format!("-I{root}/inc"),
                "-o".to_owned(),
                "x.o".to_owned(),
                "-MD".to_owned(),
                "-MF".to_owned(),
                "x.d".to_owned(),
            ];
            let mut env = vec![v1::EnvVar {
                name: b"PATH".to_vec(),
                value: b"/usr/bin".to_vec(),
            }];
            if remap {
                env.push(v1::EnvVar {
                    name: b"ZCCACHE_PATH_REMAP".to_vec(),
                    value: b"auto".to_vec(),
                });
            }
            let start =
                SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(5);
            let cwd = format!("{root}/build");
            let peer = PeerView::Ours {
                cwd: PathBuf::from(&cwd),
            };
            let mut lookup = v1::Lookup {
                compiler: self.base.join("bin/gcc").into_os_string().into_vec(),
                argv0: b"gcc".to_vec(),
                args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
                cwd: cwd.into_bytes(),
                env,
                start_unix_ns: start.as_nanos() as u64,
                ..Default::default()
            };
            let (mut reply, _) = self.engine.lookup(&lookup, &peer);
            if let Some(v1::lookup_reply::Outcome::Probe(probe)) = reply.outcome {
                // The fake gcc names its programs bare: found through PATH.
                lookup.probes = probe
                    .runs
                    .into_iter()
                    .map(|run| v1::ProbeResult {
                        stdout: run
                            .args
                            .last()
                            .and_then(|a| a.strip_prefix(b"-print-prog-name="))
                            .map(|p| [p, b"\n"].concat())
                            .unwrap_or_default(),
                        args: run.args,
                        exit_code: 0,
                        stderr: Vec::new(),
                    })
                    .collect();
                reply = self.engine.lookup(&lookup, &peer).0;
            }
            match reply.outcome {
                Some(v1::lookup_reply::Outcome::Units(mut u)) => u.units.remove(0).answer.unwrap(),
                other => panic!("{other:?}"),
            }
        }

        fn manifest_key(&self, answer: &v1::unit_answer::Answer) -> [u8; 32] {
            match answer {
                v1::unit_answer::Answer::Miss(m) => {
                    self.engine.pending_manifest_key(m.token).unwrap()
                }
                other => panic!("{other:?}"),
            }
        }

        /// Plays the compiler of a miss: writes the object and depfile.
        fn compile(
            &self,
            wt: &str,
            answer: &v1::unit_answer::Answer,
            object: &[u8],
        ) -> v1::StoreReply {
            let v1::unit_answer::Answer::Miss(m) = answer else {
                panic!("{answer:?}");
            };
            let root = self.root(wt);
            let build = self.base.join(wt).join("build");
            std::fs::write(build.join("x.o"), object).unwrap();
            std::fs::write(
                build.join("x.d"),
                format!("x.o: {root}/src/x.c {root}/inc/x.h\n"),
            )
            .unwrap();
            self.engine.store_result(&v1::Store {
                token: m.token,
                stderr: format!("{root}/src/x.c:2: warning: w\n").into_bytes(),
                ..Default::default()
            })
        }

        fn fallbacks(&self) -> serde_json::Value {
            self.engine.core.stats.to_json()["remap_fallbacks"].clone()
        }
    }

    impl Drop for World {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }

    #[test]
    fn worktrees_share_entries_and_hits_get_their_own_paths() {
        let w = World::new("share");
        let (ra, rb) = (w.root("a"), w.root("b"));
        let a = w.lookup("a", true);
        let v1::unit_answer::Answer::Miss(m) = &a else {
            panic!("{a:?}");
        };
        let map = format!("-ffile-prefix-map={ra}=.");
        assert_eq!(m.args.last().map(|a| &a[..]), Some(map.as_bytes()));
        let b_miss = w.lookup("b", true);
        assert_eq!(
            w.manifest_key(&a),
            w.manifest_key(&b_miss),
            "remap on: one key"
        );
        assert_ne!(
            w.manifest_key(&w.lookup("a", false)),
            w.manifest_key(&w.lookup("b", false)),
            "remap off: roots differ"
        );
        assert_ne!(
            w.manifest_key(&a),
            w.manifest_key(&w.lookup("a", false)),
            "remap on and off never share"
        );
        assert!(w.compile("a", &a, b"OBJ without paths").stored);

        let hit = match w.lookup("b", true) {
            v1::unit_answer::Answer::Hit(h) => h,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            hit.stderr,
            format!("{rb}/src/x.c:2: warning: w\n").into_bytes()
        );
        let output = |name: &str| {
            let path = w.base.join("b/build").join(name);
            let out = hit
                .outputs
                .iter()
                .find(|o| o.path == path.as_os_str().as_bytes())
                .unwrap_or_else(|| panic!("no output {}", path.display()));
            assert_eq!(out.digest, blake3::hash(&out.content).as_bytes());
            (out.content.clone(), out.write)
        };
        assert_eq!(
            output("x.d"),
            (
                format!("x.o: {rb}/src/x.c {rb}/inc/x.h\n").into_bytes(),
                v1::WriteMode::WriteThrough as i32
            )
        );
        assert_eq!(
            output("x.o"),
            (
                b"OBJ without paths".to_vec(),
                v1::WriteMode::ReplaceUnlessDangling as i32
            )
        );
        assert_eq!(
            w.engine.core.stats.cross_root_hits.load(Ordering::Relaxed),
            1
        );
        assert!(matches!(
            w.lookup("a", true),
            v1::unit_answer::Answer::Hit(_)
        ));
        assert_eq!(
            w.engine.core.stats.cross_root_hits.load(Ordering::Relaxed),
            1
        );
        // Without remap nothing stored with it is served.
        assert!(matches!(
            w.lookup("b", false),
            v1::unit_answer::Answer::Miss(_)
        ));
    }

    #[test]
    fn an_object_holding_the_root_serves_its_root_only() {
        let w = World::new("bound");
        let ra = w.root("a");
        let a = w.lookup("a", true);
        let object = format!("OBJ {ra}/src/x.c");
        assert!(w.compile("a", &a, object.as_bytes()).stored);
        assert_eq!(w.fallbacks()["root_in_output"], 1);
        assert!(matches!(
            w.lookup("b", true),
            v1::unit_answer::Answer::Miss(_)
        ));
        match w.lookup("a", true) {
            v1::unit_answer::Answer::Hit(h) => {
                assert_eq!(
                    h.stderr,
                    format!("{ra}/src/x.c:2: warning: w\n").into_bytes()
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            w.engine.core.stats.cross_root_hits.load(Ordering::Relaxed),
            0
        );
    }

    #[test]
    fn a_terminal_form_tells_unset_from_empty_and_tags_its_entry() {
        let form = |v: Option<&[u8]>| TerminalForm::of(&[("TERM", v.map(<[u8]>::to_vec))]);
        assert!(form(None) != form(Some(b"")));
        assert!(form(Some(b"xterm")) != form(Some(b"vt220")));
        let xterm = form(Some(b"xterm"));
        let mut entry = ManifestEntry::default();
        assert!(entry_terminal_form(&entry).is_none());
        entry.env_deps = vec![xterm.tag()];
        assert!(entry_terminal_form(&entry) == Some(xterm));
        // Salted: never the plain entry's key, and per form.
        let plain = [7; 32];
        assert_ne!(terminal_result_key(&plain, &xterm), plain);
        assert_ne!(
            terminal_result_key(&plain, &xterm),
            terminal_result_key(&plain, &form(None))
        );
        // Only an empty stderr of gcc or clang is the same on a terminal.
        assert!(plain_is_exact(Family::Gcc, b""));
        assert!(plain_is_exact(Family::Clang, b""));
        assert!(!plain_is_exact(Family::Gcc, b"w.c:1: warning\n"));
        assert!(!plain_is_exact(Family::Emcc, b""));
    }

    #[test]
    fn a_terminal_the_wrapper_did_not_measure_passes_through() {
        let dir = std::env::temp_dir().join(format!("zccache-tty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let engine = Engine::new(
            Store::open(&dir.join("store"), 1 << 20).unwrap(),
            Stats::default(),
            dir.join("private"),
        );
        let lookup = v1::Lookup {
            compiler: b"/usr/bin/gcc".to_vec(),
            argv0: b"gcc".to_vec(),
            args: vec![b"-c".to_vec(), b"a.c".to_vec()],
            cwd: dir.as_os_str().as_bytes().to_vec(),
            stderr_is_tty: true,
            terminal: None,
            ..Default::default()
        };
        let (reply, _) = engine.lookup(&lookup, &PeerView::Ours { cwd: dir.clone() });
        assert!(
            matches!(
                &reply.outcome,
                Some(v1::lookup_reply::Outcome::Passthrough(p)) if p.reason == PassthroughReason::TerminalUnknown.as_str()
            ),
            "{reply:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
