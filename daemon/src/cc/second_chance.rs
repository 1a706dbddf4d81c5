//! The second chance of a C/C++ direct-mode miss (issue 12 item 3): when
//! this source was compiled here before, the wrapper runs the caller's own
//! preprocessor (`-E`, in the Lookup's one Probe round) and the compile is
//! served from an entry whose compile preprocessed to the same text, as
//! ccache's "preprocessed cache hit" does. A child of `cc::pipeline`: it
//! reads the request's private facts and serves through its `deliver`.
//!
//! Three keys (cache-keys.md §3 has the direct ones):
//! - *seen* (`domains::CC_SEEN`): compiler identity, argv0, cwd, language,
//!   source name. Written at every Store this module may serve later; a
//!   direct miss asks for the preprocessor only where it exists, so a cold
//!   build pays one store read per miss and never a preprocessor run. It
//!   cannot be the manifest key: that covers the argv and the source's
//!   bytes, which are exactly what a near miss changes.
//! - *near* (`domains::CC_PREPROCESSED`): the request's key inputs with the
//!   preprocessor-only arguments left out (`-D`, `-U`, `-I`, `-include`,
//!   `-Wp,-D…`/`-Wp,-U…`; everything else stays), then the language, the
//!   source's name, the preprocessor's text (root-free under path remap)
//!   and its dependency list (from `-MD -MF` of the same run, so a depfile
//!   served equals the one the compiler writes now). It names a manifest
//!   with one entry: the direct entry of the last compile of that text.
//! - the direct result key that entry points at, served as it is.
//!
//! What it deliberately does not do: try where the text does not decide the
//! object (debug info, coverage, sanitizers, OpenMP, `.su` files and other
//! flags that record columns or the command line, modules, PCH, LTO; see
//! [`eligible`]), multi-source calls or emcc. A Lookup that needs a Probe
//! round anyway gets the `-E` run in it when the source was seen
//! ([`Cc::early_run`]): there is one round per Lookup. It serves only results
//! whose compile wrote nothing to stdout or stderr and whose preprocessor
//! run wrote nothing to stderr: a diagnostic quotes source lines as they
//! are on disk, which the text does not show. A hit records the compile's
//! direct-mode entry (so the same compile again is a direct hit); the
//! index is local only (never published to a remote tier).

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use frame::v1;

use super::{file_prefix_map, probe_reply, result_key_for, search_chain, Cc, CcPipeline};
use super::{Call, Pending, Request, Source};
use crate::cc::flags::{self, FlagClass};
use crate::cc::key::{self, KeyInputs};
use crate::cc::{Family, Invocation, Mode};
use crate::depfile;
use crate::domains;
use crate::keys::KeyHasher;
use crate::manifest::{ManifestEntry, Temporal};
use crate::meta::{guard_moment, StatId};
use crate::outputs::Descriptors;
use crate::pipeline::{Core, Keyed, SecondChance};
use crate::store::{Entry, Key, Store};
use crate::worktree::Worktree;

/// Arguments whose meaning the preprocessor's text does not show, or which
/// record columns or the command line in an output: a call with one is
/// never given a second chance.
const DENIED_PREFIXES: &[&str] = &[
    "-fsanitize",
    "-fopenmp",
    "-fstack-usage",
    "-fcallgraph-info",
    "-flto",
    "-fembed-bitcode",
    "-frecord",
    "-grecord",
    "-fmodule",
    "-fplugin",
    "-fprofile",
    "-fdebug-macro",
    "-fverbose-asm",
    "-fdump",
    "-fopt-info",
    "-save-temps",
    "-Xclang",
    "-Xpreprocessor",
    "-Wa,",
    "-Xassembler",
    "-MG",
    "-fdirectives-only",
    "-fpch",
    // Dumps and annotations (`-dA`, `-dp`), `-dumpbase`: unsure, so out.
    "-d",
];

/// `-P` drops the line markers: two layouts of one token stream would
/// share a text while `__builtin_LINE` tells them apart.
fn drops_line_markers(arg: &[u8]) -> bool {
    arg == b"-P"
        || arg
            .strip_prefix(b"-Wp,")
            .is_some_and(|v| v.split(|&b| b == b',').any(|p| p == b"-P"))
}

/// Builtins that expand to a column, which the text does not keep (`-E`
/// collapses the spaces between tokens).
const COLUMN_BUILTINS: &[&[u8]] = &[b"__builtin_COLUMN", b"__builtin_source_location"];

/// The request-wide part of the second chance, made in `prepare`.
pub(super) struct Base {
    /// The key inputs without preprocessor-only arguments (`domains::CC_PREPROCESSED`).
    near: KeyHasher,
    /// The *seen* key of the call's one source.
    seen: [u8; 32],
    /// The Lookup already carries probe answers: no round is left to ask.
    probed: bool,
    /// Our preprocessor run's answer, when this Lookup carries it.
    answer: Option<v1::ProbeResult>,
    /// Its private depfile, removed with the request whatever the
    /// outcome (a direct hit never reads it).
    depfile: Option<Removed>,
}

/// What a second-chance miss's Store registers the text under.
#[derive(Clone)]
pub(super) struct Preprocessed {
    key: [u8; 32],
    /// Every file the preprocessor read: none may have been written since
    /// the wrapper started, or the compile may have read other bytes.
    deps: Vec<PathBuf>,
}

/// What a miss's Store indexes for later second chances.
pub(super) struct Indexing {
    seen: [u8; 32],
    preprocessed: Option<Preprocessed>,
}

/// The second chance's request-wide part, or `None` when `inv` is never
/// given one. `inputs` are the request's key inputs as keyed.
pub(super) fn base(
    view: &Worktree,
    inv: &Invocation,
    inputs: &KeyInputs,
    probes: &[v1::ProbeResult],
    private_dir: &Path,
) -> Option<Base> {
    if !eligible(inv) {
        return None;
    }
    let answer = probes.iter().find(|p| is_preprocessor_run(&p.args));
    // Only a file of ours is ever read or removed.
    let depfile = answer
        .and_then(|a| a.args.last())
        .map(|p| PathBuf::from(std::ffi::OsStr::from_bytes(p)))
        .filter(|p| {
            p.parent() == Some(private_dir)
                && p.file_name()
                    .is_some_and(|n| n.as_bytes().starts_with(b"pp-"))
        })
        .map(Removed);
    let near = KeyInputs {
        args: near_args(inv.family, &inputs.args),
        ..inputs.clone()
    };
    Some(Base {
        near: key::base_key(view, &near).into_hasher(),
        seen: seen_key(view, &inputs.identity, &inputs.argv0, inv),
        probed: !probes.is_empty(),
        answer: answer.cloned(),
        depfile,
    })
}

/// Whether the object of `inv` is decided by its preprocessed text, its
/// arguments and the key's other inputs alone.
fn eligible(inv: &Invocation) -> bool {
    let [unit] = &inv.units[..] else {
        return false;
    };
    matches!(inv.family, Family::Gcc | Family::Clang)
        && matches!(inv.mode, Mode::Compile | Mode::Assemble)
        && unit.language.is_preprocessed_by_compiler()
        // Debug info and coverage notes hold columns, which `-E` does not
        // keep (`int  x;` and `int x;` preprocess alike).
        && inv.debug_level == 0
        && !inv.coverage
        && !inv.profile_generate
        && !inv.split_dwarf
        && !inv.record_command_line
        && !inv.include_pch
        && !inv.cwd_in_output
        && inv.serialize_diagnostics.is_none()
        && !inv.dep.missing_ok
        && unit.stack_usage.is_none()
        && unit.listing.is_none()
        && !inv.key_args.iter().any(|a| {
            let a = a.as_bytes();
            drops_line_markers(a) || DENIED_PREFIXES.iter().any(|p| a.starts_with(p.as_bytes()))
        })
}

/// `args` (key arguments as keyed) without those only the preprocessor
/// reads: `-D`, `-U`, `-I`, `-include` and `-Wp,` of only `-D…`/`-U…`.
/// Their effect is in the text; anything unsure stays.
fn near_args(family: Family, args: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let os: Vec<OsString> = args.iter().map(|a| OsString::from_vec(a.clone())).collect();
    let Ok(items) = flags::split(family, &os) else {
        return args.to_vec();
    };
    let mut kept = Vec::with_capacity(args.len());
    for item in items {
        let preprocessor_only = item.spec.is_some_and(|spec| match spec.class {
            FlagClass::Wp => item.value.as_ref().is_some_and(|v| {
                v.as_bytes()
                    .split(|&b| b == b',')
                    .all(|part| part.starts_with(b"-D") || part.starts_with(b"-U"))
            }),
            _ => matches!(spec.name, "-D" | "-U" | "-I" | "-include"),
        });
        if !preprocessor_only {
            kept.extend_from_slice(&args[item.start..item.start + item.len]);
        }
    }
    kept
}

/// The tail every preprocessor run we ask for ends with, before its path.
const RUN_TAIL: [&[u8]; 3] = [b"-E", b"-MD", b"-MF"];

fn is_preprocessor_run(args: &[Vec<u8>]) -> bool {
    args.len() > RUN_TAIL.len()
        && args[args.len() - 4..args.len() - 1]
            .iter()
            .zip(RUN_TAIL)
            .all(|(a, t)| a == t)
}

/// The preprocessor run of the single unit of `inv` (argv `expanded`,
/// in `view`), its dependency list written to `depfile`: the caller's
/// arguments as a dependency run gets them (no mode, output or depfile
/// flags), the prefix map a remapped compile gets, then `-E -MD -MF
/// depfile`. Line markers stay: they are what `__LINE__` and the depfile
/// follow.
fn run_args(
    inv: &Invocation,
    expanded: &[OsString],
    view: &Worktree,
    depfile: &Path,
) -> Vec<Vec<u8>> {
    let mut args = inv.dependency_probe_args(expanded, 0);
    if let Some(root) = view.root() {
        args.push(file_prefix_map(root));
    }
    let mut args: Vec<Vec<u8>> = args.into_iter().map(OsString::into_vec).collect();
    args.extend(RUN_TAIL.iter().map(|t| t.to_vec()));
    args.push(depfile.as_os_str().as_bytes().to_vec());
    args
}

/// The *seen* key of the single unit of `inv`, compiled in `view` by the
/// compiler `identity` called as `argv0`.
fn seen_key(view: &Worktree, identity: &[u8], argv0: &[u8], inv: &Invocation) -> [u8; 32] {
    let unit = &inv.units[0];
    let mut h = view.keyer(domains::CC_SEEN);
    h.bytes("compiler", identity)
        .bytes("argv0", argv0)
        .path("cwd", view.cwd().as_os_str().as_bytes())
        .bytes("lang", unit.language.as_str().as_bytes())
        .path("source", unit.source.as_bytes());
    h.finish()
}

/// A fresh private depfile name for a preprocessor run.
fn fresh_depfile(core: &Core) -> PathBuf {
    core.private_dir.join(format!("pp-{}.d", core.token()))
}

impl Cc<'_> {
    /// The preprocessor run to add to a Probe round the call needs anyway
    /// (its compiler's facts for a new directory or a new daemon), when a
    /// second chance is plausible: the Lookup has only that one round.
    pub(super) fn early_run(&self, call: &Call, identity: &[u8]) -> Option<Vec<Vec<u8>>> {
        if !eligible(&call.inv) {
            return None;
        }
        let root = self.remap_decision(&call.env, &call.cwd, &call.inv, &call.expanded);
        let view = Worktree::new(call.cwd.clone(), root.ok().flatten());
        let seen = seen_key(&view, identity, call.argv0.as_bytes(), &call.inv);
        self.core.local_manifest(&seen)?;
        let depfile = fresh_depfile(self.core);
        Some(run_args(&call.inv, &call.expanded, &view, &depfile))
    }

    /// Unit `index`'s second chance after a direct-mode miss.
    pub(super) fn second_chance(
        &self,
        r: &Request,
        index: usize,
        keyed: &mut Keyed<Source>,
        fds: &mut Descriptors,
    ) -> SecondChance {
        let Some(base) = &r.second else {
            return SecondChance::NotTried;
        };
        let (no_store, ask_date_time) =
            self.no_store_reason(r, &keyed.facts.scan, &keyed.manifest_key);
        if no_store.is_some() || ask_date_time {
            // Its text changes from call to call (`__TIME__`), or may.
            return SecondChance::NotTried;
        }
        let Some(answer) = &base.answer else {
            if base.probed || self.core.local_manifest(&base.seen).is_none() {
                return SecondChance::NotTried;
            }
            let depfile = fresh_depfile(self.core);
            let run = run_args(&r.inv, &r.expanded, &r.view, &depfile);
            return SecondChance::Ask(probe_reply(vec![run]));
        };
        let Some(depfile) = our_depfile(r, base, answer) else {
            return SecondChance::Missed;
        };
        let Some(pre) = self.preprocessed(r, index, answer, depfile) else {
            return SecondChance::Missed;
        };
        if let Some((hit, entry, stored)) = self.served(r, index, &pre.key, fds) {
            self.record_direct(r, index, keyed, depfile, &entry, &stored);
            return SecondChance::Hit(hit);
        }
        keyed.facts.preprocessed = Some(pre);
        SecondChance::Missed
    }

    /// The *near* key of unit `index` from the preprocessor run `answer`,
    /// `None` when the run is not ours, failed or said anything.
    fn preprocessed(
        &self,
        r: &Request,
        index: usize,
        answer: &v1::ProbeResult,
        depfile: &Path,
    ) -> Option<Preprocessed> {
        let deps = std::fs::read(depfile);
        if answer.exit_code != 0 || !answer.stderr.is_empty() {
            return None;
        }
        let rule = depfile::parse(&deps.ok()?)?;
        // The text itself may name a file whose bytes it does not show, or
        // ask for a column.
        let text = &answer.stdout;
        let column = COLUMN_BUILTINS
            .iter()
            .any(|b| text.windows(b.len()).any(|w| w == *b));
        if column || crate::scan::scan(text).embeds {
            return None;
        }
        let unit = &r.inv.units[index];
        let near = r.view.resume(r.second.as_ref()?.near.clone()).finish();
        let mut h = r.view.keyer(domains::CC_PREPROCESSED);
        h.bytes("near", &near);
        h.bytes("lang", unit.language.as_str().as_bytes());
        h.path("source", unit.source.as_bytes());
        h.text("text", Some(&answer.stdout));
        let mut paths = Vec::with_capacity(rule.deps.len());
        for dep in &rule.deps {
            let raw = depfile::unescape(dep);
            h.path("dep", &raw);
            paths.push(r.view.resolve_raw(&raw));
        }
        Some(Preprocessed {
            key: h.finish(),
            deps: paths,
        })
    }

    /// The hit the text under `near` names, if its result is stored, wrote
    /// nothing to the streams and `deliver` hands it out; with the entry
    /// that named it and the stored result.
    fn served(
        &self,
        r: &Request,
        index: usize,
        near: &[u8; 32],
        fds: &mut Descriptors,
    ) -> Option<(v1::unit_answer::Answer, ManifestEntry, Entry)> {
        let m = self.core.local_manifest(near)?;
        m.entries.iter().find_map(|entry| {
            let stored = self.core.entry(&Key(entry.result_key)).ok()??;
            let quiet =
                stored.exit_code == 0 && stored.stdout.is_empty() && stored.stderr.is_empty();
            if !quiet || !r.view.serves(&entry.remap) {
                return None;
            }
            let hit = self.deliver(r, index, entry, &stored, fds)?;
            Some((hit, entry.clone(), stored))
        })
    }

    /// After a second-chance hit: this compile's direct-mode entry, from
    /// the preprocessor run's dependency list (`depfile`) as a Store makes
    /// one from the compile's, pointing at a copy of the result `stored`
    /// (named by `served`) under the result key the direct mode computes,
    /// so the same compile again is a direct hit. Nothing is recorded when
    /// an input was written since the wrapper started (the preprocessor
    /// may have read other bytes), when an input binds it to the root, or
    /// on any failure: that costs the next compile the preprocessor only.
    fn record_direct(
        &self,
        r: &Request,
        index: usize,
        keyed: &Keyed<Source>,
        depfile: &Path,
        served: &ManifestEntry,
        stored: &Entry,
    ) {
        let unit = &r.inv.units[index];
        let p = Pending {
            view: r.view.clone(),
            family: r.inv.family,
            mode: r.inv.mode,
            manifest_key: keyed.manifest_key,
            source: keyed.facts.path.clone(),
            source_stat: keyed.facts.stat,
            source_digest: keyed.facts.digest,
            extra_stats: r.extra_stats.clone(),
            extra_digests: r.extra_digests.clone(),
            start_ns: r.start_ns,
            outputs: Vec::new(),
            dep_source: Some(depfile.to_path_buf()),
            private_dep: None,
            user_depfile: None,
            dep_targets: Vec::new(),
            dep_phony: false,
            search_dirs: search_chain(
                r.view.cwd(),
                unit.source.as_bytes(),
                &r.inv,
                &r.search_tails[index],
            ),
            moment: r.moment.clone(),
            args_scan: r.args_scan.clone(),
            paste_ruled_out: false,
            terminal_form: r.terminal_form,
            second: None,
        };
        let moment = guard_moment(0, r.start_ns);
        let Ok((mut entry, None)) = self.inputs_entry(&p, moment) else {
            return;
        };
        entry.remap = served.remap.clone();
        let Some(result_key) = result_key_for(&r.view, &keyed.manifest_key, &entry, &r.moment)
        else {
            return;
        };
        entry.result_key = result_key;
        if copy_entry(&self.core.store, stored, &Key(result_key)).is_some() {
            let _ = self.core.add_manifest_entry(&keyed.manifest_key, entry);
        }
    }
}

/// `stored` again under `key` (outputs read back verified), unless an
/// entry is there already.
fn copy_entry(store: &Store, stored: &Entry, key: &Key) -> Option<()> {
    if matches!(store.get(key), Ok(Some(_))) {
        return Some(());
    }
    let mut writer = store.begin_entry().ok()?;
    for (index, output) in stored.outputs.iter().enumerate() {
        let bytes = store.deliver_bytes(stored, index).ok()?;
        writer.add_output_bytes(&output.role, &bytes).ok()?;
    }
    let (stdout, stderr) = (&stored.stdout, &stored.stderr);
    writer
        .commit(key, stored.exit_code, stdout, stderr, &stored.extra)
        .ok()
        .map(drop)
}

/// The private depfile of the preprocessor run `answer`, when the run is
/// exactly one we ask for of `r` (its path is ours).
fn our_depfile<'b>(r: &Request, base: &'b Base, answer: &v1::ProbeResult) -> Option<&'b Path> {
    let depfile = &base.depfile.as_ref()?.0;
    (answer.args == run_args(&r.inv, &r.expanded, &r.view, depfile)).then_some(depfile)
}

/// A preprocessor run's private depfile, removed when dropped.
struct Removed(PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// What the Store of unit `index`'s miss indexes, if anything.
pub(super) fn indexing(r: &Request, preprocessed: Option<Preprocessed>) -> Option<Indexing> {
    Some(Indexing {
        seen: r.second.as_ref()?.seen,
        preprocessed,
    })
}

/// The one entry of a *seen* manifest: it points at no result (all-zero
/// key), only its existence is read.
fn seen_marker() -> ManifestEntry {
    ManifestEntry::default()
}

/// Whether `m` is a *seen* index manifest rather than one of compiles.
#[cfg(test)]
pub(crate) fn is_seen_index(m: &crate::manifest::Manifest) -> bool {
    m.entries.iter().all(|e| *e == seen_marker())
}

impl CcPipeline {
    /// After the Store of `p` committed `entry`: marks its source seen and,
    /// when its miss was a second chance's, points the text's *near* key at
    /// it. Only a quiet compile (nothing on stdout or stderr) of an entry
    /// any worktree may use is pointed at, and only when no file the
    /// preprocessor read was written since the wrapper started (the
    /// compile, spawned after the preprocessor ran, read the same bytes).
    /// Failures cost a later hit only.
    pub(crate) fn index_stored(
        &self,
        core: &Core,
        p: &Pending,
        st: &v1::Store,
        entry: &ManifestEntry,
    ) {
        let Some(ix) = &p.second else {
            return;
        };
        let pointer = || ManifestEntry {
            includes: Vec::new(),
            negatives: Vec::new(),
            temporal: Temporal::default(),
            env_deps: entry.env_deps.clone(),
            remap: entry.remap.clone(),
            result_key: entry.result_key,
        };
        if core.local_manifest(&ix.seen).is_none() {
            let _ = core.add_manifest_entry(&ix.seen, seen_marker());
        }
        let Some(pre) = &ix.preprocessed else {
            return;
        };
        // A temporal macro expanded by the preprocessor may have expanded
        // otherwise in the compile (a day that ended in between).
        let temporal = entry.temporal != Temporal::default();
        if !st.stdout.is_empty() || !st.stderr.is_empty() || entry.remap.root_bound || temporal {
            return;
        }
        let moment = guard_moment(0, p.start_ns);
        let unchanged = |path: &PathBuf| {
            std::fs::metadata(path).is_ok_and(|md| !StatId::of(&md).written_since(moment))
        };
        let includes = entry.includes.iter().map(|(f, _)| p.view.resolve(f));
        let same_bytes = pre.deps.iter().all(unchanged)
            && includes
                .into_iter()
                .all(|i| i.as_ref().is_some_and(unchanged));
        if same_bytes {
            let _ = core.add_manifest_entry(&pre.key, pointer());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn near(args: &[&str]) -> Vec<String> {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        near_args(Family::Gcc, &args)
            .into_iter()
            .map(|a| String::from_utf8(a).unwrap())
            .collect()
    }

    #[test]
    fn only_preprocessor_arguments_leave_the_near_key() {
        assert_eq!(
            near(&["-O2", "-DA=1", "-D", "B", "-UC", "-Iinc", "-I", "x", "-Wall"]),
            ["-O2", "-Wall"]
        );
        assert_eq!(
            near(&["-Wp,-DX,-UY", "-include", "p.h"]),
            Vec::<String>::new()
        );
        // Anything else stays, `-Wp,` with a depfile too.
        assert_eq!(
            near(&["-Wp,-DX,-MD,f", "-isystem", "s", "-iquote", "q", "-dD"]),
            ["-Wp,-DX,-MD,f", "-isystem", "s", "-iquote", "q", "-dD"]
        );
    }

    #[test]
    fn our_runs_are_told_by_their_tail() {
        let run = |a: &[&str]| a.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        assert!(is_preprocessor_run(&run(&[
            "a.c",
            "-E",
            "-MD",
            "-MF",
            "/p/pp-1.d"
        ])));
        assert!(!is_preprocessor_run(&run(&["-MD", "-MF", "/p"])));
        assert!(!is_preprocessor_run(&run(&[
            "-E",
            "-v",
            "-x",
            "c",
            "/dev/null"
        ])));
    }

    #[test]
    fn line_markers_dropped_are_told() {
        assert!(drops_line_markers(b"-P"));
        assert!(drops_line_markers(b"-Wp,-DX,-P"));
        assert!(!drops_line_markers(b"-Wp,-DP"));
        assert!(!drops_line_markers(b"-Pfoo"));
    }
}
