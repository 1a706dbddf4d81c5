//! The C manifest key's request-wide part and the C result key as pure
//! functions of plain inputs and the request's worktree view: what each
//! field is and in which order it is hashed.
//!
//! It deliberately reads nothing (no file system, no environment, no
//! memo): the pipeline gathers every digest and stat (a `__TIMESTAMP__`
//! file's mtime too) first, so each key can be tested field by field. Paths and texts are keyed through a
//! [`KeyBuilder`] bound to the view, so path remap never shows here.
//! Per-unit fields (language, source, object) are added by the pipeline's
//! `key_unit`.

use crate::cc::moment::Moment;
use crate::domains;
use crate::meta::Digest;
use crate::worktree::{EntryRemap, FreePath, KeyBuilder, Worktree};

/// Everything the request-wide C key is made of, already read and mapped.
#[derive(Clone, Default)]
pub(crate) struct KeyInputs {
    /// The compiler's identity (its bytes, or emcc's parts).
    pub(crate) identity: Vec<u8>,
    /// Each sub-program the driver runs, by name, and its bytes' digest.
    pub(crate) programs: Vec<(String, Option<Digest>)>,
    /// clang's default configuration files: path and digest.
    pub(crate) configs: Vec<(Vec<u8>, Digest)>,
    /// The file name the compiler was called by.
    pub(crate) argv0: Vec<u8>,
    /// The key arguments, their path values as the view spells them
    /// (`Worktree::free_bytes`), with cwd-independent prefix maps.
    pub(crate) args: Vec<Vec<u8>>,
    /// `None` for a pipe caller; a terminal caller's facts otherwise.
    pub(crate) terminal: Option<Facts>,
    /// The keyed environment variables and their values.
    pub(crate) env: Facts,
    /// A `#!` compiler: its interpreter and its environment.
    pub(crate) script: Option<Script>,
    /// emcc's own variables, name and value.
    pub(crate) emcc_env: Vec<(Vec<u8>, Vec<u8>)>,
    /// The cwd as it ends up in outputs, and `$PWD` when it names it
    /// through a symlink; `None` when outputs do not hold it.
    pub(crate) cwd: Option<(Vec<u8>, Option<Vec<u8>>)>,
    /// The extra inputs (`-include`, profiles, sanitizer lists…), in
    /// command-line order.
    pub(crate) extras: Vec<ExtraKey>,
}

/// Named values, each keyed under its name; `None` when unset.
pub(crate) type Facts = Vec<(&'static str, Option<Vec<u8>>)>;

/// A `#!` compiler's part of the key.
#[derive(Clone, Default)]
pub(crate) struct Script {
    pub(crate) interpreter: Digest,
    /// Every non-volatile variable, name and value.
    pub(crate) env: Vec<(Vec<u8>, Vec<u8>)>,
}

/// One extra input as keyed.
#[derive(Clone)]
pub(crate) struct ExtraKey {
    /// Digests of the precompiled headers an `-include` silently uses.
    pub(crate) pch: Vec<Digest>,
    /// The path as spelled.
    pub(crate) path: Vec<u8>,
    pub(crate) state: ExtraState,
}

/// What of an extra input's file joins the key; `None` when it is absent.
#[derive(Clone, Copy)]
pub(crate) enum ExtraState {
    Digest(Option<Digest>),
    MtimeNs(Option<i128>),
}

/// The request-wide C manifest key in the worktree `view`, ready for
/// per-unit fields. Under remap, the worktree anywhere in a value that is
/// not a path (`-DCFG="<tree>/cfg.h"`, `CPATH`) is keyed free of it too: in
/// this worktree it names this worktree, while the same text in another
/// worktree names ours, so the two must not share a key (outputs that then
/// embed it are bound to their worktree at Store).
pub(crate) fn base_key<'v>(view: &'v Worktree, k: &KeyInputs) -> KeyBuilder<'v> {
    let mut h = view.keyer(domains::CC);
    h.bytes("compiler", &k.identity);
    for (name, digest) in &k.programs {
        h.bytes("program", name.as_bytes());
        h.opt("digest", digest.as_ref().map(|d| &d[..]));
    }
    for (path, digest) in &k.configs {
        h.bytes("config", path).bytes("digest", digest);
    }
    h.bytes("argv0", &k.argv0);
    // Remapped outputs differ from raw ones: never served across.
    h.remap_mark();
    for a in &k.args {
        h.mapped_text("arg", a);
    }
    match &k.terminal {
        // A pipe caller's key, as before terminals were keyed.
        None => {
            h.bytes("color_forced", &[0]);
        }
        Some(facts) => {
            for (tag, value) in facts {
                h.opt(tag, value.as_deref());
            }
        }
    }
    for (var, value) in &k.env {
        h.text(var, value.as_deref());
    }
    if let Some(s) = &k.script {
        h.bytes("interpreter", &s.interpreter);
        for (name, value) in &s.env {
            h.bytes("script_env", name).text("value", Some(value));
        }
    }
    for (name, value) in &k.emcc_env {
        h.bytes("emcc_env", name).text("value", Some(value));
    }
    if let Some((cwd, logical)) = &k.cwd {
        h.path("cwd", cwd);
        if let Some(pwd) = logical {
            h.bytes("logical_cwd", pwd);
        }
    }
    for e in &k.extras {
        key_extra(&mut h, e);
    }
    h
}

fn key_extra(h: &mut KeyBuilder<'_>, e: &ExtraKey) {
    for d in &e.pch {
        h.bytes("pch", d);
    }
    h.path("extra_input", &e.path);
    match e.state {
        ExtraState::Digest(d) => h.opt("digest", d.as_ref().map(|d| &d[..])),
        ExtraState::MtimeNs(m) => h.opt("mtime", m.map(i128::to_le_bytes).as_ref().map(|b| &b[..])),
    };
}

/// Everything a C result key is made of, the mtimes already read.
pub(crate) struct ResultInputs<'a> {
    pub(crate) manifest_key: &'a [u8; 32],
    /// The include set as stored (root-free under remap), in any order.
    pub(crate) includes: &'a [(FreePath, Digest)],
    /// The set uses `__DATE__` or `__TIME__`.
    pub(crate) date: bool,
    /// The set uses `__TIME__`: the time of day matters, not only the day.
    pub(crate) time: bool,
    /// Each file `__TIMESTAMP__` may expand in, as stored, with its mtime.
    pub(crate) timestamps: Vec<(&'a FreePath, i128)>,
    pub(crate) moment: &'a Moment,
    /// Where the entry was stored and whether it is bound there.
    pub(crate) home: &'a EntryRemap,
}

/// The result key: the manifest key, its include set and temporal inputs.
/// The manifest key must be in it: two compiles with the same headers but
/// different flags or sources share an include set, never a result.
/// Include paths are hashed as stored (root-free under remap), so worktrees
/// share the key; a bound entry's key is salted with its origin
/// ([`KeyBuilder::home`]). `None` when the set uses the date and the
/// caller's day is unknown.
pub(crate) fn result_key(view: &Worktree, k: &ResultInputs<'_>) -> Option<[u8; 32]> {
    let mut h = view.keyer(domains::CC_RESULT);
    h.bytes("manifest", k.manifest_key);
    let mut sorted: Vec<&(FreePath, Digest)> = k.includes.iter().collect();
    sorted.sort();
    for (p, d) in sorted {
        h.bytes("include", p.as_bytes()).bytes("digest", d);
    }
    if k.date || !k.timestamps.is_empty() {
        let m = k.moment;
        // clang 16 formats `__TIMESTAMP__` from the epoch too, to the second.
        let only_the_day = m.sde_fixes_time && !k.time && k.timestamps.is_empty();
        match (&m.sde, only_the_day) {
            // Only the date comes from the epoch: two epochs of one (UTC)
            // day make the same object, so the day is keyed, not the epoch.
            (Some(sde), true) => {
                h.bytes("source_date_epoch_day", &epoch_day(sde));
            }
            (sde, _) => {
                h.opt("source_date_epoch", sde.as_deref());
            }
        }
        if k.date && !m.sde_fixes_time {
            h.bytes("today", m.today.as_deref()?);
        }
        if !k.timestamps.is_empty() {
            // `__TIMESTAMP__` is the file's mtime in the caller's zone.
            h.bytes("zone", &m.zone);
        }
        for (f, mtime_ns) in &k.timestamps {
            h.bytes("timestamp", f.as_bytes())
                .bytes("mtime", &mtime_ns.to_le_bytes());
        }
    }
    h.home(k.home);
    Some(h.finish())
}

/// The UTC day number of a valid `SOURCE_DATE_EPOCH` (decimal seconds),
/// as the compilers format `__DATE__` from it; the bytes themselves when
/// they do not parse (never merged with another value).
fn epoch_day(sde: &[u8]) -> Vec<u8> {
    std::str::from_utf8(sde)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or_else(
            || sde.to_vec(),
            |secs| (secs / 86_400).to_le_bytes().to_vec(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> KeyInputs {
        KeyInputs {
            identity: b"id".to_vec(),
            programs: vec![("cc1".into(), Some([1; 32])), ("as".into(), None)],
            configs: vec![(b"/etc/clang.cfg".to_vec(), [2; 32])],
            argv0: b"gcc".to_vec(),
            args: vec![b"-O2".to_vec(), b"-g".to_vec()],
            terminal: Some(vec![("TERM", Some(b"xterm".to_vec())), ("COLUMNS", None)]),
            env: vec![("CPATH", Some(b"/x".to_vec())), ("LANG", None)],
            script: Some(Script {
                interpreter: [3; 32],
                env: vec![
                    (b"A".to_vec(), b"1".to_vec()),
                    (b"B".to_vec(), b"2".to_vec()),
                ],
            }),
            emcc_env: vec![(b"EMCC_X".to_vec(), b"1".to_vec())],
            cwd: Some((b"/w".to_vec(), Some(b"/l".to_vec()))),
            extras: vec![
                ExtraKey {
                    pch: vec![[4; 32]],
                    path: b"pre.h".to_vec(),
                    state: ExtraState::Digest(Some([5; 32])),
                },
                ExtraKey {
                    pch: vec![],
                    path: b"prof".to_vec(),
                    state: ExtraState::MtimeNs(Some(7)),
                },
            ],
        }
    }

    /// A view of a worktree at `/w`, remapped or not.
    fn view(remap: bool) -> Worktree {
        Worktree::at("/w/b", remap.then_some("/w"))
    }

    fn key(k: &KeyInputs) -> [u8; 32] {
        base_key(&view(true), k).finish()
    }

    type Change = (&'static str, fn(&mut KeyInputs));

    /// Each change of one input, applied to the full set of inputs.
    fn changes() -> Vec<Change> {
        vec![
            ("identity", |k| k.identity = b"id2".to_vec()),
            ("program digest", |k| k.programs[0].1 = Some([9; 32])),
            ("program absent", |k| k.programs[0].1 = None),
            ("program name", |k| k.programs[1].0 = "ld".into()),
            ("no programs", |k| k.programs.clear()),
            ("config path", |k| {
                k.configs[0].0 = b"/etc/other.cfg".to_vec()
            }),
            ("config digest", |k| k.configs[0].1 = [9; 32]),
            ("argv0", |k| k.argv0 = b"g++".to_vec()),
            ("arg", |k| k.args[1] = b"-g3".to_vec()),
            ("args order", |k| k.args.reverse()),
            ("arg split", |k| k.args = vec![b"-O2-g".to_vec()]),
            ("pipe caller", |k| k.terminal = None),
            ("terminal fact", |k| {
                k.terminal.as_mut().unwrap()[1].1 = Some(b"80".to_vec())
            }),
            ("env value", |k| k.env[0].1 = Some(b"/y".to_vec())),
            ("env absent vs empty", |k| k.env[1].1 = Some(Vec::new())),
            ("not a script", |k| k.script = None),
            ("interpreter", |k| {
                k.script.as_mut().unwrap().interpreter = [9; 32]
            }),
            ("script env order", |k| {
                k.script.as_mut().unwrap().env.reverse()
            }),
            ("script env value", |k| {
                k.script.as_mut().unwrap().env[0].1 = b"0".to_vec()
            }),
            ("emcc env", |k| k.emcc_env.clear()),
            ("cwd", |k| {
                k.cwd = Some((b"/v".to_vec(), Some(b"/l".to_vec())))
            }),
            ("logical cwd", |k| k.cwd.as_mut().unwrap().1 = None),
            ("cwd unkeyed", |k| k.cwd = None),
            ("extras order", |k| k.extras.reverse()),
            ("pch", |k| k.extras[0].pch.clear()),
            ("extra path", |k| k.extras[0].path = b"pre2.h".to_vec()),
            ("extra digest", |k| {
                k.extras[0].state = ExtraState::Digest(Some([9; 32]))
            }),
            ("extra missing", |k| {
                k.extras[0].state = ExtraState::Digest(None)
            }),
            ("extra mtime", |k| {
                k.extras[1].state = ExtraState::MtimeNs(Some(8))
            }),
            ("extra mtime vs digest", |k| {
                k.extras[1].state = ExtraState::Digest(None)
            }),
            ("extra mtime missing", |k| {
                k.extras[1].state = ExtraState::MtimeNs(None)
            }),
        ]
    }

    #[test]
    fn every_input_changes_the_key() {
        let base = key(&full());
        let mut seen = vec![base];
        for (what, change) in changes() {
            let mut k = full();
            change(&mut k);
            let changed = key(&k);
            assert_ne!(changed, base, "{what} did not change the key");
            assert!(
                !seen.contains(&changed),
                "{what} collides with another change"
            );
            seen.push(changed);
        }
    }

    #[test]
    fn remap_marks_the_key_and_frees_paths_and_values_of_the_worktree() {
        let k = full();
        let on = |tree: &str| base_key(&Worktree::at(tree, Some(tree)), &k).finish();
        assert_ne!(on("/w"), base_key(&view(false), &k).finish());
        // `/w` names the worktree in `cwd` and in `CPATH`; `/v` does not.
        assert_ne!(on("/w"), on("/v"));
        let moved = |tree: &str| {
            let mut k = full();
            k.cwd = Some((format!("{tree}/b").into_bytes(), None));
            k.env[0].1 = Some(format!("{tree}/inc").into_bytes());
            k.extras[0].path = format!("{tree}/pre.h").into_bytes();
            base_key(&Worktree::at(tree, Some(tree)), &k).finish()
        };
        assert_eq!(moved("/w/a"), moved("/w/c"), "one key across worktrees");
    }

    #[test]
    fn the_same_inputs_give_the_same_key() {
        assert_eq!(key(&full()), key(&full()));
        assert_eq!(key(&KeyInputs::default()), key(&KeyInputs::default()));
        assert_ne!(key(&KeyInputs::default()), key(&full()));
    }

    #[test]
    fn a_field_moved_between_neighbours_changes_the_key() {
        // The program list and the config list are both (name, digest)
        // pairs: the tags keep a program from passing for a config.
        let a = KeyInputs {
            programs: vec![("x".into(), Some([1; 32]))],
            ..KeyInputs::default()
        };
        let b = KeyInputs {
            configs: vec![(b"x".to_vec(), [1; 32])],
            ..KeyInputs::default()
        };
        assert_ne!(key(&a), key(&b));
        // An arg never passes for an emcc variable's value.
        let c = KeyInputs {
            args: vec![b"1".to_vec()],
            ..KeyInputs::default()
        };
        let d = KeyInputs {
            emcc_env: vec![(Vec::new(), b"1".to_vec())],
            ..KeyInputs::default()
        };
        assert_ne!(key(&c), key(&d));
    }
}

#[cfg(test)]
mod result_tests {
    use super::*;

    /// The plain facts a result key is made of, owned so a test can change one.
    #[derive(Clone)]
    struct Facts {
        manifest_key: [u8; 32],
        includes: Vec<(FreePath, Digest)>,
        date: bool,
        time: bool,
        timestamps: Vec<(FreePath, i128)>,
        moment: Moment,
        home: EntryRemap,
    }

    fn full() -> Facts {
        Facts {
            manifest_key: [1; 32],
            includes: vec![
                (FreePath::new(b"\0R/a.h"), [2; 32]),
                (FreePath::new(b"/usr/include/b.h"), [3; 32]),
            ],
            date: true,
            time: true,
            timestamps: vec![(FreePath::new(b"\0R/a.c"), 5)],
            moment: Moment {
                sde: Some(b"100".to_vec()),
                sde_fixes_time: false,
                zone: b"UTC".to_vec(),
                today: Some(b"20000".to_vec()),
            },
            home: EntryRemap::stored_in(b"/w/a", true),
        }
    }

    fn key_in(view: &Worktree, f: &Facts) -> Option<[u8; 32]> {
        result_key(
            view,
            &ResultInputs {
                manifest_key: &f.manifest_key,
                includes: &f.includes,
                date: f.date,
                time: f.time,
                timestamps: f.timestamps.iter().map(|(p, m)| (p, *m)).collect(),
                moment: &f.moment,
                home: &f.home,
            },
        )
    }

    fn key(f: &Facts) -> [u8; 32] {
        key_in(&Worktree::at("/w/a", Some("/w/a")), f).expect("a key")
    }

    type Change = (&'static str, fn(&mut Facts));

    /// Each change of one fact, applied to the full set.
    fn changes() -> Vec<Change> {
        vec![
            ("manifest key", |f| f.manifest_key = [9; 32]),
            ("include path", |f| {
                f.includes[0].0 = FreePath::new(b"\0R/c.h")
            }),
            ("include digest", |f| f.includes[1].1 = [9; 32]),
            ("include dropped", |f| {
                f.includes.pop();
            }),
            ("include added", |f| {
                f.includes.push((FreePath::new(b"/x.h"), [0; 32]))
            }),
            ("no date", |f| f.date = false),
            ("timestamp path", |f| {
                f.timestamps[0].0 = FreePath::new(b"\0R/b.c")
            }),
            ("mtime", |f| f.timestamps[0].1 = 6),
            ("second timestamp", |f| {
                f.timestamps.push((FreePath::new(b"/x.h"), 5))
            }),
            ("no timestamp", |f| f.timestamps.clear()),
            ("source date epoch", |f| f.moment.sde = None),
            ("today", |f| f.moment.today = Some(b"20001".to_vec())),
            ("zone", |f| f.moment.zone = b"Europe/Paris".to_vec()),
            ("not bound", |f| {
                f.home = EntryRemap::stored_in(b"/w/a", false)
            }),
            ("bound elsewhere", |f| {
                f.home = EntryRemap::stored_in(b"/w/b", true)
            }),
        ]
    }

    #[test]
    fn every_fact_changes_the_result_key() {
        let base = key(&full());
        let mut seen = vec![base];
        for (what, change) in changes() {
            let mut f = full();
            change(&mut f);
            let changed = key(&f);
            assert_ne!(changed, base, "{what} did not change the key");
            assert!(
                !seen.contains(&changed),
                "{what} collides with another change"
            );
            seen.push(changed);
        }
    }

    #[test]
    fn include_order_does_not_matter() {
        let mut f = full();
        f.includes.reverse();
        assert_eq!(key(&f), key(&full()));
    }

    #[test]
    fn the_moment_joins_only_when_a_temporal_macro_is_used() {
        let mut plain = full();
        plain.date = false;
        plain.timestamps.clear();
        let mut other = plain.clone();
        other.moment = Moment {
            sde: None,
            sde_fixes_time: true,
            zone: b"Asia/Tokyo".to_vec(),
            today: None,
        };
        assert_eq!(key(&plain), key(&other));
        // The zone formats `__TIMESTAMP__` only; the day `__DATE__` only.
        let mut date_only = full();
        date_only.timestamps.clear();
        let mut zoned = date_only.clone();
        zoned.moment.zone = b"Asia/Tokyo".to_vec();
        assert_eq!(key(&date_only), key(&zoned));
        let mut stamp_only = full();
        stamp_only.date = false;
        let mut dated = stamp_only.clone();
        dated.moment.today = None;
        assert_eq!(key(&stamp_only), key(&dated));
        // A date fixed by SOURCE_DATE_EPOCH needs no day: the key then
        // drops it (and equals the key of a set without `__DATE__`, whose
        // expansion the keyed epoch decides alike).
        let mut fixed = full();
        fixed.moment.sde_fixes_time = true;
        assert_ne!(key(&fixed), key(&full()));
        let mut unknown_day = fixed.clone();
        unknown_day.moment.today = None;
        assert_eq!(key(&fixed), key(&unknown_day));
    }

    #[test]
    fn a_date_without_a_known_day_has_no_key() {
        let mut f = full();
        f.moment.today = None;
        assert_eq!(key_in(&Worktree::at("/w/a", Some("/w/a")), &f), None);
    }

    #[test]
    fn a_shared_entry_has_one_key_across_worktrees_and_a_bound_one_does_not() {
        let mut shared = full();
        shared.home = EntryRemap::stored_in(b"/w/a", false);
        let in_tree = |tree: &str, f: &Facts| key_in(&Worktree::at(tree, Some(tree)), f);
        assert_eq!(in_tree("/w/a", &shared), in_tree("/w/b", &shared));
        // A bound entry's key is salted by where it was stored, not by the
        // view: the same entry read from another worktree keeps its key.
        assert_eq!(in_tree("/w/a", &full()), in_tree("/w/b", &full()));
        assert_ne!(in_tree("/w/a", &full()), in_tree("/w/a", &shared));
    }

    #[test]
    fn a_date_only_set_keys_the_epochs_day_when_the_compiler_takes_it() {
        let mut f = full();
        f.timestamps.clear();
        f.time = false;
        f.moment.sde_fixes_time = true;
        f.moment.sde = Some(b"86400".to_vec());
        let day1 = key(&f);
        f.moment.sde = Some(b"172799".to_vec());
        assert_eq!(key(&f), day1, "one UTC day, one __DATE__");
        f.moment.sde = Some(b"172800".to_vec());
        assert_ne!(key(&f), day1, "the next day");
        f.time = true;
        let with_time = key(&f);
        f.moment.sde = Some(b"172801".to_vec());
        assert_ne!(key(&f), with_time, "__TIME__ takes the second");
        f.time = false;
        f.moment.sde_fixes_time = false;
        let unknown = key(&f);
        f.moment.sde = Some(b"172802".to_vec());
        assert_ne!(
            key(&f),
            unknown,
            "a compiler that may not take it: the whole epoch"
        );
        f.moment.sde_fixes_time = true;
        f.timestamps = full().timestamps;
        let stamped = key(&f);
        f.moment.sde = Some(b"172803".to_vec());
        assert_ne!(key(&f), stamped, "clang's __TIMESTAMP__ takes the second");
    }
}
