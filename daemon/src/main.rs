//! zccache-daemon: serves compiles for one (cache root, namespace) over a
//! Unix socket until it idles out or is told to stop.
//!
//! Started only by the broker (`--cache-root R --namespace N --endpoint E
//! --identity F`). It binds before any slow initialization, publishes its
//! identity after binding, and never runs a program a client names: the
//! wrapper compiles and writes a hit's outputs, the daemon keys, stores and
//! hands the stored outputs over.

mod cc;
mod codec;
mod config;
mod depfile;
mod domains;
mod engine;
#[cfg(test)]
mod golden_keys;
mod journal;
mod keys;
mod manifest;
mod meta;
#[cfg(unix)]
#[path = "os/unix.rs"]
mod os;
mod outputs;
mod pipeline;
mod reasons;
mod remap;
mod remote;
mod rust;
mod scan;
mod server;
mod stats;
mod store;
mod worktree;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::UnixListener;

struct Options {
    cache_root: PathBuf,
    namespace: String,
    endpoint: PathBuf,
    identity: PathBuf,
    /// `--config F` (repeated): the config files, lowest precedence first.
    config_files: Vec<PathBuf>,
    /// `--settings-file F`: settings from the starting request, `key=value`
    /// lines in a private file the broker wrote (read once, then removed).
    overrides: Vec<(String, String)>,
}

fn main() {
    let opts = match parse_args(std::env::args_os().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("zccache-daemon: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .build();
    let code = match rt
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(run(opts)))
    {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("zccache-daemon: {e}");
            1
        }
    };
    std::process::exit(code);
}

fn parse_args(mut args: impl Iterator<Item = std::ffi::OsString>) -> Result<Options, String> {
    let (mut root, mut ns, mut ep, mut id) = (None, None, None, None);
    let (mut config_files, mut overrides) = (Vec::new(), Vec::new());
    while let Some(a) = args.next() {
        let slot = match a.to_str() {
            Some("--config") => {
                let f = args.next().ok_or("--config needs a value")?;
                config_files.push(PathBuf::from(f));
                continue;
            }
            Some("--settings-file") => {
                let f = PathBuf::from(args.next().ok_or("--settings-file needs a value")?);
                overrides.extend(config::read_settings_file(&f)?);
                continue;
            }
            Some("--cache-root") => &mut root,
            Some("--namespace") => &mut ns,
            Some("--endpoint") => &mut ep,
            Some("--identity") => &mut id,
            _ => return Err(format!("unknown argument {a:?}")),
        };
        *slot = Some(args.next().ok_or_else(|| format!("{a:?} needs a value"))?);
    }
    let need =
        |v: Option<std::ffi::OsString>, name: &str| v.ok_or_else(|| format!("missing {name}"));
    Ok(Options {
        cache_root: need(root, "--cache-root")?.into(),
        namespace: need(ns, "--namespace")?
            .into_string()
            .map_err(|_| "namespace is not UTF-8")?,
        endpoint: need(ep, "--endpoint")?.into(),
        identity: need(id, "--identity")?.into(),
        config_files,
        overrides,
    })
}

async fn run(opts: Options) -> Result<(), String> {
    // Defence in depth (the broker checks first): a root anybody else may
    // write is refused before anything is written into it.
    router::check_cache_root(&opts.cache_root).map_err(|e| e.to_string())?;
    create_private_dirs(&opts.cache_root)?;
    let Some(listener) = bind(&opts.endpoint)? else {
        // A live daemon already serves this endpoint.
        return Ok(());
    };
    let identity = publish_identity(&opts)?;
    eprintln!(
        "zccache-daemon: pid {} serving {} ({})",
        std::process::id(),
        opts.cache_root.display(),
        opts.namespace
    );

    let mut config = config::DaemonConfig::new(opts.config_files.clone(), opts.overrides.clone());
    let settings = config.load();
    for e in &settings.errors {
        eprintln!("zccache-daemon: {e}");
    }
    let store = store::Store::open(&opts.cache_root, settings.number("max_size"))
        .map_err(|e| format!("cannot open the store: {e}"))?;
    let stats_path = opts
        .cache_root
        .join(format!("stats-{}.json", opts.namespace));
    let stats = stats::Stats::load(&stats_path);
    // Private depfiles live in the runtime directory, not the cache root:
    // a cache root that is full, read-only or deleted must never make a
    // compile fail (the wrapper also creates each first, see
    // `Miss.private_paths`).
    let runtime = opts
        .endpoint
        .parent()
        .ok_or("the endpoint has no directory")?;
    let private = private_dir(&runtime.join("private"));
    let journal = journal::Journal::new(&opts.cache_root, &opts.namespace);
    let engine = engine::Engine::new(store, stats, private).with_journal(journal);
    let remote_at_start = remote_settings(&settings);
    let engine = Arc::new(match start_remote(&settings) {
        Some(remote) => engine.with_remote(remote),
        None => engine,
    });

    let mut status_base = serde_json::Map::new();
    status_base.insert("version".into(), frame::PACKAGE_VERSION.into());
    status_base.insert("protocol_version".into(), frame::PROTOCOL_VERSION.into());
    status_base.insert("pid".into(), std::process::id().into());
    status_base.insert(
        "endpoint".into(),
        opts.endpoint.display().to_string().into(),
    );
    status_base.insert(
        "cache_root".into(),
        opts.cache_root.display().to_string().into(),
    );
    status_base.insert("namespace".into(), opts.namespace.clone().into());
    // The broker sends our stderr to the log beside the endpoint
    // (router::daemon_paths); status names it so nobody has to guess.
    status_base.insert(
        "log".into(),
        opts.endpoint
            .with_extension("log")
            .display()
            .to_string()
            .into(),
    );
    let server = Arc::new(server::Server {
        engine: engine.clone(),
        identity_json: identity.to_json(),
        status_base,
        settings_status: std::sync::Mutex::new(config::status_fields(&settings)),
        started: Instant::now(),
        last_activity: AtomicU64::new(0),
        open_connections: Default::default(),
        shutdown: tokio::sync::Notify::new(),
        cache_root: opts.cache_root.clone(),
        retire: {
            let (engine, endpoint, identity_file, pid, stats_path) = (
                engine.clone(),
                opts.endpoint.clone(),
                opts.identity.clone(),
                identity.pid,
                stats_path.clone(),
            );
            Box::new(move || {
                remove_if_ours(&endpoint, &identity_file, pid);
                engine.core.stats.save_if_dirty(&stats_path);
            })
        },
        retired: std::sync::Once::new(),
        lookup_profile: Default::default(),
    });
    let accept = tokio::spawn(server.clone().accept_loop(listener));

    let root_at_start = dir_identity(&opts.cache_root);
    let mut idle = Duration::from_secs(settings.number("idle_timeout"));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = server.shutdown.notified() => break,
            _ = tick.tick() => {
                engine.core.stats.save_if_dirty(&stats_path);
                if config.changed() {
                    idle = apply_settings(&config, &server, &remote_at_start);
                }
                if !idle.is_zero() && server.idle_for() >= idle {
                    eprintln!("zccache-daemon: idle for {}s, exiting", idle.as_secs());
                    break;
                }
                if let Some(why) = root_sickness(&opts.cache_root, root_at_start) {
                    // Misses never depend on the root (private depfiles
                    // live in the runtime dir), so builds went on; leaving
                    // lets the broker start a daemon on whatever is there
                    // now, or bypass a root that cannot be served.
                    eprintln!(
                        "zccache-daemon: cache root {} {why}, exiting",
                        opts.cache_root.display()
                    );
                    break;
                }
            }
        }
    }
    // Stop accepting first, so a client arriving now gets a refused connect
    // (and retries through the broker) rather than a half-served request.
    accept.abort();
    server.retire_once();
    Ok(())
}

/// The (device, inode) of a directory, `None` when it cannot be read.
fn dir_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Why this daemon can no longer serve its cache root, if it cannot: the
/// root was removed or replaced since start, or its file system turned
/// read-only.
fn root_sickness(root: &Path, at_start: Option<(u64, u64)>) -> Option<&'static str> {
    let now = dir_identity(root);
    if now.is_none() || now != at_start {
        Some("was removed or replaced")
    } else if os::is_read_only_fs(root).unwrap_or(false) {
        Some("is on a read-only file system")
    } else {
        None
    }
}

/// Creates the directories a daemon keeps in its root
/// (`router::CACHE_ROOT_DIRS`) with mode 0700 where missing, so a root we
/// fill is ours alone whatever the umask; existing ones were just checked.
fn create_private_dirs(root: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    for dir in router::CACHE_ROOT_DIRS {
        let path = root.join(dir);
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
        }
    }
    Ok(())
}

/// Bind the endpoint (`sys::bind_endpoint`: a socket file is unlinked
/// only when a connect to it is refused); a live daemon there means we are
/// not needed (`None`).
fn bind(endpoint: &Path) -> Result<Option<UnixListener>, String> {
    let bound = sys::bind_endpoint(endpoint)
        .and_then(|listener| {
            listener
                .map(|l| {
                    l.set_nonblocking(true)?;
                    UnixListener::from_std(l)
                })
                .transpose()
        })
        .map_err(|e| format!("cannot bind {}: {e}", endpoint.display()))?;
    Ok(bound)
}

fn publish_identity(opts: &Options) -> Result<router::Identity, String> {
    let pid = std::process::id();
    let exe = std::env::current_exe().map_err(|e| format!("cannot find our executable: {e}"))?;
    let identity = router::Identity {
        pid,
        start_time: router::process_start_time(pid).unwrap_or(0),
        boot_id: router::current_boot_id().unwrap_or_default(),
        exe_blake3: router::file_blake3(&exe).unwrap_or_default(),
        exe_path: exe,
        package_version: frame::PACKAGE_VERSION.into(),
        protocol_version: frame::PROTOCOL_VERSION,
        endpoint: opts.endpoint.clone(),
        cache_root: opts.cache_root.clone(),
        namespace: opts.namespace.clone(),
        started_at_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    };
    let dir = opts
        .identity
        .parent()
        .ok_or("identity file has no directory")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = opts.identity.with_extension(format!("json.tmp-{pid}"));
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        // Owner-only whatever the umask: a broker trusts an identity file
        // only when nobody else may write it.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&identity.to_json())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &opts.identity)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| format!("cannot publish identity {}: {e}", opts.identity.display()))?;
    Ok(identity)
}

/// This daemon's own directory for the private depfiles it adds to miss
/// argvs, under `parent`. Tokens restart at 1 in every daemon, and a compile
/// handed a Miss by a daemon that has since died (or by a daemon of another
/// namespace on this root) may still be writing its depfile: in a shared
/// directory that file would land under a token of ours and record another
/// source's include set. Directories are never removed at exit, for the same
/// reason; the next daemon sweeps those of dead daemons once they are old.
fn private_dir(parent: &Path) -> PathBuf {
    const GRACE: Duration = Duration::from_secs(24 * 60 * 60);
    if let Ok(listing) = std::fs::read_dir(parent) {
        for entry in listing.flatten() {
            let name = entry.file_name();
            let owner = name
                .to_str()
                .and_then(|n| n.split_once('-'))
                .and_then(|(pid, _)| pid.parse::<u32>().ok());
            if owner.is_some_and(|pid| Path::new("/proc").join(pid.to_string()).exists()) {
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= GRACE);
            if old {
                let path = entry.path();
                let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
            }
        }
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    parent.join(format!("{}-{nanos}", std::process::id()))
}

/// On exit, remove the endpoint and identity only if they are still ours
/// (a successor may already have replaced them).
fn remove_if_ours(endpoint: &Path, identity_file: &Path, pid: u32) {
    if let Ok(id) = router::read_identity(identity_file) {
        if id.pid == pid {
            let _ = std::fs::remove_file(identity_file);
            let _ = std::fs::remove_file(endpoint);
        }
    }
}

/// The remote tier the settings ask for, started. A configuration that
/// cannot be used is logged and the daemon runs without the tier: a second
/// tier never stops the first from serving. A remote that is down is no
/// error here (it connects lazily and its breakers handle it).
fn start_remote(settings: &settings::Settings) -> Option<remote::Remote> {
    let started = remote::RemoteConfig::from_settings(settings)
        .and_then(|config| config.map(remote::Remote::start).transpose());
    match started {
        Ok(Some(remote)) => {
            eprintln!("zccache-daemon: remote tier {}", remote.describe());
            Some(remote)
        }
        Ok(None) => None,
        Err(e) => {
            eprintln!("zccache-daemon: {e}; running without the remote tier");
            None
        }
    }
}

/// The `remote*` settings, to notice an edit that needs a restart.
fn remote_settings(settings: &settings::Settings) -> Vec<(&'static str, String)> {
    settings
        .iter()
        .filter(|s| s.spec.key.starts_with("remote"))
        .map(|s| (s.spec.key, s.value.raw()))
        .collect()
}

/// Re-reads the config after a file changed and applies it: the store's
/// size limit at once (evicting down to it), the idle timeout returned.
/// The remote tier keeps the settings it started with: an edit of them is
/// logged as taking effect at the next start (`zccache stop`).
fn apply_settings(
    config: &config::DaemonConfig,
    server: &server::Server,
    remote_at_start: &[(&'static str, String)],
) -> Duration {
    let settings = config.load();
    for e in &settings.errors {
        eprintln!("zccache-daemon: {e}");
    }
    if remote_settings(&settings) != remote_at_start {
        eprintln!(
            "zccache-daemon: config changed: the remote settings apply when the daemon restarts (zccache stop)"
        );
    }
    let max_size = settings.number("max_size");
    let evicted = server.engine.core.store.set_max_size(max_size);
    eprintln!("zccache-daemon: config changed: max_size {max_size} ({evicted} entries evicted)");
    *server
        .settings_status
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = config::status_fields(&settings);
    Duration::from_secs(settings.number("idle_timeout"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_dirs_of_dead_daemons_are_swept_once_old() {
        let parent = std::env::temp_dir().join(format!("zccache-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&parent);
        let age = |name: &str, old: bool| {
            let p = parent.join(name);
            std::fs::create_dir_all(&p).unwrap();
            if old {
                let t = SystemTime::now() - Duration::from_secs(2 * 24 * 60 * 60);
                std::fs::File::open(&p).unwrap().set_modified(t).unwrap();
            }
            p
        };
        // Pid 0 is never a daemon's; our own pid is alive.
        let dead_old = age("0-1", true);
        let dead_new = age("0-2", false);
        let live_old = age(&format!("{}-3", std::process::id()), true);
        let mine = private_dir(&parent);
        assert!(!dead_old.exists());
        assert!(dead_new.exists() && live_old.exists());
        assert_ne!(mine, live_old);
        assert!(mine.starts_with(&parent));
        std::fs::remove_dir_all(&parent).unwrap();
    }
}
