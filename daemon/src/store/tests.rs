//! Tests of the store against real directories under the system temp dir:
//! round trips, corruption and quarantine, hostile destinations, eviction,
//! races with eviction and clear, crafted entries and the debris sweep. Does
//! not test against devices or as root-only cases; `/dev/null` is only
//! inspected, never delivered to.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::format::{self, ENTRY_MAGIC};
use super::*;

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    const fn send<T: Send>() {}
    send_sync::<Store>();
    send::<EntryWriter>();
};

/// What a client does with a hit's output: the store checks the blob, the
/// bytes land at `dest` (written here by the test, as the wrapper would).
fn deliver(store: &Store, e: &Entry, index: usize, dest: &Path) -> Result<(), DeliverError> {
    store.check_output(e, index)?;
    let mut blob = store.open_output(e, index)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut blob, &mut bytes).unwrap();
    fs::write(dest, bytes).unwrap();
    Ok(())
}

/// A fresh directory per test, removed afterwards.
struct TestDir(PathBuf);

impl TestDir {
    fn new(name: &str) -> TestDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("zccache-store-{}-{n}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TestDir(path)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    fn open(&self, max_size: u64) -> Store {
        Store::open(&self.path("cache"), max_size).unwrap()
    }

    fn out_dir(&self) -> PathBuf {
        let p = self.path("out");
        fs::create_dir_all(&p).unwrap();
        p
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn key(n: u8) -> Key {
    Key(*blake3::hash(&[n]).as_bytes())
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Commits an entry whose output 0 is `object` and, if given, output 1 is `depfile`.
fn put(store: &Store, k: &Key, object: &[u8], depfile: Option<&[u8]>) -> Committed {
    let mut w = store.begin_entry().unwrap();
    w.add_output_bytes("object", object).unwrap();
    if let Some(d) = depfile {
        w.add_output_bytes("depfile", d).unwrap();
    }
    w.commit(k, 0, b"stdout", b"stderr", b"extra").unwrap()
}

fn entry_dir(t: &TestDir, k: &Key) -> PathBuf {
    let hex = k.to_hex();
    t.path("cache/v1/entries").join(&hex[..2]).join(hex)
}

/// Overwrites bytes in a stored (read-only) file without changing its size.
fn flip(path: &Path, at: usize, n: usize) {
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = fs::read(path).unwrap();
    for b in &mut bytes[at..at + n] {
        *b ^= 0x5a;
    }
    let mut f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all(&bytes).unwrap();
}

fn truncate(path: &Path, len: u64) {
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

#[track_caller]
fn assert_no_temps(dir: &Path) {
    let temps: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".zccache-tmp-"))
        .collect();
    assert!(
        temps.is_empty(),
        "temporary files left in {}: {temps:?}",
        dir.display()
    );
}

#[track_caller]
fn assert_tmp_empty(t: &TestDir) {
    let left: Vec<_> = fs::read_dir(t.path("cache/v1/tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "debris in v1/tmp: {left:?}");
}

#[test]
fn round_trip() {
    let t = TestDir::new("round-trip");
    let store = t.open(1 << 30);
    let src = t.path("a.o");
    let object = pattern(300_000, 1);
    fs::write(&src, &object).unwrap();

    let mut w = store.begin_entry().unwrap();
    w.add_output_from_file("object", &src).unwrap();
    w.add_output_bytes("depfile", b"a.o: a.c\n").unwrap();
    assert_eq!(w.outputs()[0].digest, *blake3::hash(&object).as_bytes());
    let k = key(1);
    let c = w.commit(&k, 3, b"out", b"warning", b"tmpl").unwrap();
    assert_eq!(
        c,
        Committed {
            already_present: false,
            evicted: 0
        }
    );
    assert_tmp_empty(&t);

    let e = store.get(&k).unwrap().unwrap();
    assert_eq!(
        (e.exit_code, &e.stdout[..], &e.stderr[..], &e.extra[..]),
        (3, &b"out"[..], &b"warning"[..], &b"tmpl"[..])
    );
    assert_eq!(e.key(), &k);
    assert_eq!(
        e.outputs
            .iter()
            .map(|o| o.role.as_str())
            .collect::<Vec<_>>(),
        ["object", "depfile"]
    );
    assert_eq!(e.outputs[0].size, object.len() as u64);

    let out = t.out_dir();
    deliver(&store, &e, 0, &out.join("a.o")).unwrap();
    assert_eq!(fs::read(out.join("a.o")).unwrap(), object);
    assert_eq!(store.deliver_bytes(&e, 1).unwrap(), b"a.o: a.c\n");
    let err = deliver(&store, &e, 2, &out.join("x")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "deliver output 2 of an entry with 2 outputs"
    );

    assert!(store.get(&key(2)).unwrap().is_none());
    let stats = store.stats();
    assert_eq!(
        (stats.entries, stats.corrupt_detected, stats.evictions),
        (1, 0, 0)
    );
    let record_len = fs::metadata(entry_dir(&t, &k).join("entry")).unwrap().len();
    assert_eq!(stats.bytes, record_len + object.len() as u64 + 9);

    drop(store);
    let reopened = t.open(1 << 30);
    assert_eq!(
        reopened.stats(),
        stats,
        "the scan sees the same sizes the commit counted"
    );
    assert_eq!(reopened.get(&k).unwrap().unwrap().outputs, e.outputs);
}

#[test]
fn concurrent_writers_one_wins() {
    let t = TestDir::new("two-writers");
    let store = t.open(1 << 30);
    let k = key(1);
    let mut first = store.begin_entry().unwrap();
    let mut second = store.begin_entry().unwrap();
    first.add_output_bytes("object", b"one").unwrap();
    second.add_output_bytes("object", b"one").unwrap();
    assert!(!first.commit(&k, 0, b"", b"", b"").unwrap().already_present);
    assert!(second.commit(&k, 0, b"", b"", b"").unwrap().already_present);
    assert_tmp_empty(&t);
    assert_eq!(store.stats().entries, 1);
    assert!(store.get(&k).unwrap().is_some());
}

#[test]
fn dropped_writer_publishes_nothing() {
    let t = TestDir::new("drop-writer");
    let store = t.open(1 << 30);
    let mut w = store.begin_entry().unwrap();
    w.add_output_bytes("object", b"x").unwrap();
    drop(w);
    assert_tmp_empty(&t);
    assert_eq!(store.stats().entries, 0);
    assert_eq!(fs::read_dir(t.path("cache/v1/entries")).unwrap().count(), 0);
}

#[test]
fn writer_refuses_bad_roles_and_sources() {
    let t = TestDir::new("writer-refuses");
    let store = t.open(1 << 30);
    let mut w = store.begin_entry().unwrap();
    for role in ["../x", "a/b", "", ".."] {
        let e = w.add_output_bytes(role, b"x").unwrap_err();
        assert!(matches!(e, StoreError::InvalidRole { .. }), "{role:?}: {e}");
    }
    let target = t.path("target");
    fs::write(&target, b"t").unwrap();
    std::os::unix::fs::symlink(&target, t.path("link")).unwrap();
    let fifo = t.path("fifo");
    mkfifo(&fifo);
    for src in [t.path("link"), t.path(""), fifo] {
        let e = w.add_output_from_file("object", &src).unwrap_err();
        assert!(e.is_not_regular(), "{}: {e}", src.display());
    }
    let e = w
        .add_output_from_file("object", &t.path("absent"))
        .unwrap_err();
    assert!(
        !e.is_not_regular() && e.to_string().starts_with("inspect output"),
        "{e}"
    );
    assert!(w.outputs().is_empty());
    for _ in 0..64 {
        w.add_output_bytes("o", b"").unwrap();
    }
    assert!(matches!(
        w.add_output_bytes("o", b""),
        Err(StoreError::TooManyOutputs)
    ));
    let too_big = vec![0; 65 << 20];
    let e = w.commit(&key(1), 0, &too_big, b"", b"").unwrap_err();
    assert!(matches!(e, StoreError::TooLarge { .. }), "{e}");
    assert_tmp_empty(&t);
}

/// The entry record truncated or flipped in place: never served, quarantined,
/// counted, and a fresh commit for the key works afterwards.
#[track_caller]
fn check_damaged_record(name: &str, damage: impl Fn(&Path, u64)) {
    let t = TestDir::new(name);
    let store = t.open(1 << 30);
    let k = key(7);
    put(&store, &k, b"object bytes", None);
    let record = entry_dir(&t, &k).join("entry");
    damage(&record, fs::metadata(&record).unwrap().len());
    assert!(store.get(&k).unwrap().is_none());
    assert!(!entry_dir(&t, &k).exists(), "quarantined entry removed");
    let stats = store.stats();
    assert_eq!(
        (stats.corrupt_detected, stats.entries, stats.bytes),
        (1, 0, 0)
    );
    assert_tmp_empty(&t);
    assert!(!put(&store, &k, b"object bytes", None).already_present);
    let e = store.get(&k).unwrap().unwrap();
    assert_eq!(store.deliver_bytes(&e, 0).unwrap(), b"object bytes");
}

#[test]
fn truncated_record_is_a_miss() {
    check_damaged_record("trunc-0", |p, _| truncate(p, 0));
    check_damaged_record("trunc-half", |p, len| truncate(p, len / 2));
    check_damaged_record("trunc-n-1", |p, len| truncate(p, len - 1));
}

#[test]
fn flipped_record_is_a_miss() {
    check_damaged_record("flip-magic", |p, _| flip(p, 0, 3));
    check_damaged_record("flip-payload", |p, len| flip(p, len as usize / 2, 3));
    check_damaged_record("flip-checksum", |p, len| flip(p, len as usize - 3, 3));
    check_damaged_record("record-removed", |p, _| fs::remove_file(p).unwrap());
}

/// A blob damaged in place: `get` still succeeds (it reads only the record)
/// but both delivery paths refuse, quarantine, and leave nothing behind.
#[track_caller]
fn check_damaged_blob(name: &str, damage: impl Fn(&Path, u64), missing: bool) {
    let t = TestDir::new(name);
    let store = t.open(1 << 30);
    let out = t.out_dir();
    let k = key(9);
    let object = pattern(10_000, 3);
    put(&store, &k, &object, None);
    let e = store.get(&k).unwrap().unwrap();
    damage(&entry_dir(&t, &k).join("out-0"), object.len() as u64);

    let dest = out.join("a.o");
    fs::write(&dest, b"previous").unwrap();
    let err: DeliverError = deliver(&store, &e, 0, &dest).unwrap_err();
    assert_eq!(
        (err.is_corrupt(), err.is_missing()),
        (!missing, missing),
        "{err}"
    );
    assert_eq!(
        fs::read(&dest).unwrap(),
        b"previous",
        "destination unchanged"
    );
    assert_no_temps(&out);
    assert!(!entry_dir(&t, &k).exists(), "entry quarantined");
    assert_eq!(store.stats().corrupt_detected, 1);
    assert!(store.get(&k).unwrap().is_none());

    assert!(!put(&store, &k, &object, None).already_present);
    let e = store.get(&k).unwrap().unwrap();
    deliver(&store, &e, 0, &dest).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), object);

    damage(&entry_dir(&t, &k).join("out-0"), object.len() as u64);
    let err = store.deliver_bytes(&e, 0).unwrap_err();
    assert_eq!(
        (err.is_corrupt(), err.is_missing()),
        (!missing, missing),
        "{err}"
    );
    assert_eq!(store.stats().corrupt_detected, 2);
    assert_tmp_empty(&t);
}

#[test]
fn damaged_blob_is_not_served() {
    check_damaged_blob("blob-flip", |p, len| flip(p, len as usize / 2, 3), false);
    check_damaged_blob("blob-flip-start", |p, _| flip(p, 0, 3), false);
    check_damaged_blob("blob-trunc-0", |p, _| truncate(p, 0), false);
    check_damaged_blob("blob-trunc-half", |p, len| truncate(p, len / 2), false);
    check_damaged_blob("blob-trunc-n-1", |p, len| truncate(p, len - 1), false);
    check_damaged_blob("blob-removed", |p, _| fs::remove_file(p).unwrap(), true);
}

#[test]
fn entry_removed_after_get_is_a_miss() {
    let t = TestDir::new("rm-rf");
    let store = t.open(1 << 30);
    let out = t.out_dir();
    let k = key(1);
    put(&store, &k, b"obj", None);
    let e = store.get(&k).unwrap().unwrap();
    fs::remove_dir_all(entry_dir(&t, &k)).unwrap();
    assert!(deliver(&store, &e, 0, &out.join("a.o"))
        .unwrap_err()
        .is_missing());
    assert!(store.deliver_bytes(&e, 0).unwrap_err().is_missing());
    assert!(!out.join("a.o").exists());
    assert_no_temps(&out);

    // Stored again in between with other bytes (a nondeterministic
    // compiler): the record in hand never serves the new blob.
    put(&store, &k, b"other", None);
    let err = deliver(&store, &e, 0, &out.join("a.o")).unwrap_err();
    assert!(err.is_missing() || err.is_corrupt(), "{err}");
    assert!(!out.join("a.o").exists());
    put(&store, &k, b"other", None);
    let fresh = store.get(&k).unwrap().unwrap();
    deliver(&store, &fresh, 0, &out.join("a.o")).unwrap();
    assert_eq!(fs::read(out.join("a.o")).unwrap(), b"other");
    assert_no_temps(&out);
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn dev_null_is_recognised() {
    assert!(is_dev_null(Path::new("/dev/null")));
    assert!(!is_dev_null(Path::new("/dev/../dev/null")));
    assert!(!is_dev_null(Path::new("/dev/zero")));
    let t = TestDir::new("dev-null");
    let fake = t.path("null");
    fs::write(&fake, b"").unwrap();
    assert!(!is_dev_null(&fake));
}

#[test]
fn eviction_is_least_recently_used_first() {
    let t = TestDir::new("evict");
    let blob = 10_000;
    // Room for three entries: each is its blob plus a record of about 200 bytes.
    let store = t.open(3 * blob + 1_000);
    let keys: Vec<Key> = (0..5).map(key).collect();
    for k in &keys[..3] {
        assert_eq!(put(&store, k, &pattern(blob as usize, 0), None).evicted, 0);
    }
    store.get(&keys[0]).unwrap().unwrap();
    assert_eq!(
        put(&store, &keys[3], &pattern(blob as usize, 0), None).evicted,
        1
    );
    assert!(
        store.get(&keys[1]).unwrap().is_none(),
        "the least recently used went first"
    );
    assert!(!entry_dir(&t, &keys[1]).exists());
    put(&store, &keys[4], &pattern(blob as usize, 0), None);
    assert!(store.get(&keys[2]).unwrap().is_none());
    for k in [&keys[0], &keys[3], &keys[4]] {
        assert!(store.get(k).unwrap().is_some());
    }
    let stats = store.stats();
    assert!(stats.bytes <= 3 * blob + 1_000, "{stats:?}");
    assert_eq!((stats.entries, stats.evictions), (3, 2));
    assert_tmp_empty(&t);

    // A single entry larger than the limit is kept: it was just stored.
    let c = put(&store, &key(9), &pattern(5 * blob as usize, 0), None);
    assert_eq!(c.evicted, 3);
    assert!(store.get(&key(9)).unwrap().is_some());
}

#[test]
fn reopen_evicts_by_directory_mtime() {
    let t = TestDir::new("evict-reopen");
    let store = t.open(1 << 30);
    let keys: Vec<Key> = (0..4).map(key).collect();
    for k in &keys {
        put(&store, k, &pattern(10_000, 0), None);
    }
    let size_of_one = store.stats().bytes / 4;
    drop(store);
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    // Oldest to newest: 2, 0, 3, 1.
    for (age, i) in [(0, 2), (1, 0), (2, 3), (3, 1)] {
        let dir = File::open(entry_dir(&t, &keys[i])).unwrap();
        dir.set_modified(base + Duration::from_secs(age)).unwrap();
    }
    let store = t.open(2 * size_of_one);
    assert_eq!(store.stats().evictions, 2);
    assert!(store.get(&keys[2]).unwrap().is_none());
    assert!(store.get(&keys[0]).unwrap().is_none());
    assert!(store.get(&keys[3]).unwrap().is_some());
    assert!(store.get(&keys[1]).unwrap().is_some());
}

#[test]
fn clear_removes_everything() {
    let t = TestDir::new("clear");
    let store = t.open(1 << 30);
    for n in 0..10 {
        put(&store, &key(n), b"obj", Some(b"dep"));
    }
    store.put_manifest(&key(100), b"manifest").unwrap();
    let e = store.get(&key(3)).unwrap().unwrap();
    store.clear().unwrap();
    let stats = store.stats();
    assert_eq!((stats.entries, stats.bytes), (0, 0));
    assert!(store.get(&key(3)).unwrap().is_none());
    assert!(store.get_manifest(&key(100)).unwrap().is_none());
    let out = t.out_dir();
    assert!(deliver(&store, &e, 0, &out.join("a.o"))
        .unwrap_err()
        .is_missing());
    assert_tmp_empty(&t);
    put(&store, &key(3), b"obj", None);
    assert!(store.get(&key(3)).unwrap().is_some());
    assert_eq!(store.stats().entries, 1);
}

#[test]
fn manifests() {
    let t = TestDir::new("manifests");
    let store = t.open(1 << 30);
    let k = key(1);
    assert_eq!(store.get_manifest(&k).unwrap(), None);
    store.put_manifest(&k, b"first").unwrap();
    store.put_manifest(&k, b"second").unwrap();
    assert_eq!(
        store.get_manifest(&k).unwrap().as_deref(),
        Some(&b"second"[..])
    );
    assert_tmp_empty(&t);

    let hex = k.to_hex();
    let path = t.path("cache/v1/manifests").join(&hex[..2]).join(&hex);
    flip(&path, 12, 3);
    assert_eq!(store.get_manifest(&k).unwrap(), None);
    assert!(!path.exists());
    assert_eq!(store.stats().corrupt_detected, 1);

    // A manifest copied under another key does not verify either.
    store.put_manifest(&key(2), b"other").unwrap();
    let other = key(2).to_hex();
    fs::copy(
        t.path("cache/v1/manifests").join(&other[..2]).join(&other),
        &path,
    )
    .unwrap();
    assert_eq!(store.get_manifest(&k).unwrap(), None);
    assert_eq!(store.stats().corrupt_detected, 2);
    store.put_manifest(&k, b"third").unwrap();
    assert_eq!(
        store.get_manifest(&k).unwrap().as_deref(),
        Some(&b"third"[..])
    );
}

/// Writes `payload` as a correctly framed record for `k` with `blobs` output files.
fn plant_entry(t: &TestDir, k: &Key, payload: &[u8], blobs: usize) {
    let dir = entry_dir(t, k);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("entry"), format::frame(ENTRY_MAGIC, payload)).unwrap();
    for i in 0..blobs {
        fs::write(dir.join(format!("out-{i}")), b"x").unwrap();
    }
}

fn crafted_payload(k: &Key, roles: &[&str]) -> Vec<u8> {
    let mut p = k.0.to_vec();
    p.extend_from_slice(&0i32.to_le_bytes());
    p.extend_from_slice(&0u32.to_le_bytes());
    p.extend_from_slice(&0u32.to_le_bytes());
    p.extend_from_slice(&(roles.len() as u16).to_le_bytes());
    for role in roles {
        p.push(role.len() as u8);
        p.extend_from_slice(role.as_bytes());
        p.extend_from_slice(&1u64.to_le_bytes());
        p.extend_from_slice(blake3::hash(b"x").as_bytes());
    }
    p.extend_from_slice(&0u32.to_le_bytes());
    p
}

#[track_caller]
fn check_crafted(name: &str, roles: &[&str], blobs: usize, served: bool) {
    let t = TestDir::new(name);
    let store = t.open(1 << 30);
    let k = key(5);
    plant_entry(&t, &k, &crafted_payload(&k, roles), blobs);
    let got = store.get(&k).unwrap();
    assert_eq!(got.is_some(), served, "{roles:?}");
    assert_eq!(entry_dir(&t, &k).exists(), served);
    assert_eq!(store.stats().corrupt_detected, u64::from(!served));
    assert!(!t.path("x").exists() && !t.path("cache/v1/x").exists());
}

#[test]
fn crafted_entries_are_corrupt() {
    check_crafted("crafted-ok", &["object"], 1, true);
    check_crafted("crafted-dotdot", &["../x"], 1, false);
    check_crafted("crafted-deep", &["../../x"], 1, false);
    check_crafted("crafted-abs", &["/x"], 1, false);
    check_crafted("crafted-slash", &["a/b"], 1, false);
    let many = vec!["object"; 1000];
    check_crafted("crafted-many", &many, 0, false);

    // A valid record filed under another key.
    let t = TestDir::new("crafted-wrong-key");
    let store = t.open(1 << 30);
    plant_entry(&t, &key(5), &crafted_payload(&key(6), &["object"]), 1);
    assert!(store.get(&key(5)).unwrap().is_none());
    assert_eq!(store.stats().corrupt_detected, 1);

    // A blob that is a symlink to something else, even with the right bytes.
    let t = TestDir::new("crafted-symlink-blob");
    let store = t.open(1 << 30);
    let k = key(5);
    plant_entry(&t, &k, &crafted_payload(&k, &["object"]), 0);
    let elsewhere = t.path("elsewhere");
    fs::write(&elsewhere, b"x").unwrap();
    std::os::unix::fs::symlink(&elsewhere, entry_dir(&t, &k).join("out-0")).unwrap();
    let e = store.get(&k).unwrap().unwrap();
    let out = t.out_dir();
    let err = deliver(&store, &e, 0, &out.join("a.o")).unwrap_err();
    assert!(err.is_corrupt(), "{err}");
    assert!(!out.join("a.o").exists());
    assert_no_temps(&out);
    assert_eq!(fs::read(&elsewhere).unwrap(), b"x");
}

#[test]
fn open_sweeps_debris_and_broken_entries() {
    let t = TestDir::new("sweep");
    let store = t.open(1 << 30);
    put(&store, &key(1), b"good", None);
    put(&store, &key(2), b"lost its record", None);
    drop(store);

    let tmp = t.path("cache/v1/tmp");
    let dead_pid = {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    };
    let dead = tmp.join(format!("{dead_pid}-3-00000000deadbeef.staging"));
    fs::create_dir(&dead).unwrap();
    fs::write(dead.join("out-0"), b"half").unwrap();
    fs::create_dir_all(tmp.join("garbage/nested")).unwrap();
    fs::write(tmp.join("0-1-2.manifest"), b"partial").unwrap();
    let ours = tmp.join(format!("{}-9-00000000cafef00d.staging", std::process::id()));
    fs::create_dir(&ours).unwrap();

    fs::remove_file(entry_dir(&t, &key(2)).join("entry")).unwrap();
    let stray = entry_dir(&t, &key(3));
    fs::create_dir_all(&stray).unwrap();
    fs::write(stray.join("entry"), b"").unwrap();
    fs::write(stray.join("notes.txt"), b"").unwrap();
    fs::write(t.path("cache/v1/entries/zz"), b"").unwrap();

    let store = t.open(1 << 30);
    let left: Vec<_> = fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        left,
        std::slice::from_ref(&ours),
        "only a live process's recent work survives"
    );
    assert!(!entry_dir(&t, &key(2)).exists() && !stray.exists());
    assert!(!t.path("cache/v1/entries/zz").exists());
    let stats = store.stats();
    assert_eq!((stats.entries, stats.corrupt_detected), (1, 2));
    assert!(store.get(&key(1)).unwrap().is_some());
    fs::remove_dir(ours).unwrap();
}

/// Deliveries racing with eviction and clear either write the complete
/// bytes or report a miss; never a partial or wrong file, never a stray
/// temporary file.
#[test]
fn deliveries_race_with_eviction_and_clear() {
    let t = TestDir::new("race");
    let size = 256 << 10;
    // Room for about two entries, so every commit evicts.
    let store = t.open(2 * size + 4096);
    let hot = key(0);
    let object = Arc::new(pattern(size as usize, 42));
    put(&store, &hot, &object, None);
    let stop = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));

    let readers: Vec<_> = (0..8)
        .map(|i| {
            let (store, object, stop, delivered) = (
                store.clone(),
                object.clone(),
                stop.clone(),
                delivered.clone(),
            );
            let out = t.path(&format!("out-{i}"));
            fs::create_dir_all(&out).unwrap();
            std::thread::spawn(move || {
                let dest = out.join("a.o");
                while !stop.load(Ordering::Relaxed) {
                    let Some(e) = store.get(&hot).unwrap() else {
                        continue;
                    };
                    let _ = fs::remove_file(&dest);
                    match deliver(&store, &e, 0, &dest) {
                        Ok(()) => {
                            assert!(
                                fs::read(&dest).unwrap() == *object,
                                "partial or wrong output"
                            );
                            delivered.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(err) if err.is_missing() => assert!(!dest.exists()),
                        Err(err) => panic!("unexpected delivery error: {err}"),
                    }
                    match store.deliver_bytes(&e, 0) {
                        Ok(bytes) => assert!(bytes == *object, "partial or wrong bytes"),
                        Err(err) => assert!(err.is_missing(), "unexpected error: {err}"),
                    }
                }
                assert_no_temps(&out);
            })
        })
        .collect();

    for round in 0u8..40 {
        put(&store, &hot, &object, None);
        std::thread::sleep(Duration::from_millis(2));
        // Two fresh entries push the hot one out unless a reader just used it.
        put(
            &store,
            &key(round.wrapping_add(1)),
            &pattern(size as usize, round),
            None,
        );
        put(
            &store,
            &key(round.wrapping_add(100)),
            &pattern(size as usize, round),
            None,
        );
        put(&store, &hot, &object, None);
        std::thread::sleep(Duration::from_millis(2));
        if round % 4 == 3 {
            store.clear().unwrap();
        }
    }
    // Let the readers see a stable entry for a moment.
    put(&store, &hot, &object, None);
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert!(
        delivered.load(Ordering::Relaxed) > 0,
        "no delivery succeeded at all"
    );
    let stats = store.stats();
    assert_eq!(
        stats.corrupt_detected, 0,
        "races are misses, not corruption"
    );
    assert!(stats.evictions > 0);
    assert_tmp_empty(&t);
}

/// An entry with two outputs, exported from one store and imported into
/// another, reads back identical; importing it twice is harmless.
#[test]
fn export_import_round_trip() {
    let t = TestDir::new("export");
    let a = t.open(1 << 30);
    let b = Store::open(&t.path("other"), 1 << 30).unwrap();
    let k = key(1);
    put(&a, &k, &pattern(300_000, 1), Some(b"dep: a.c\n"));
    let blob = a.export_entry(&k).unwrap().expect("exported");
    assert_eq!(a.export_entry(&key(2)).unwrap(), None, "missing entry");
    b.import_entry(&k, &blob).unwrap();
    b.import_entry(&k, &blob).unwrap();
    let (ea, eb) = (a.get(&k).unwrap().unwrap(), b.get(&k).unwrap().unwrap());
    assert_eq!(
        (&ea.outputs, ea.exit_code, &ea.stdout, &ea.stderr, &ea.extra),
        (&eb.outputs, eb.exit_code, &eb.stdout, &eb.stderr, &eb.extra)
    );
    for i in 0..2 {
        assert_eq!(
            b.deliver_bytes(&eb, i).unwrap(),
            a.deliver_bytes(&ea, i).unwrap()
        );
    }
    assert_eq!(b.export_entry(&k).unwrap().unwrap(), blob);
    assert_eq!(b.stats().entries, 1);
}

/// Every single flipped byte and every truncation of an export is refused
/// with `BadImport`, and nothing appears in the store.
#[test]
fn damaged_exports_are_refused() {
    let t = TestDir::new("export-damage");
    let a = t.open(1 << 30);
    let b = Store::open(&t.path("other"), 1 << 30).unwrap();
    let k = key(3);
    put(&a, &k, &pattern(700, 3), Some(b"d"));
    let blob = a.export_entry(&k).unwrap().unwrap();
    let refused = |bytes: &[u8], what: &str| {
        let e = b.import_entry(&k, bytes).unwrap_err();
        assert!(e.is_bad_import(), "{what}: {e}");
    };
    for i in 0..blob.len() {
        let mut g = blob.clone();
        g[i] ^= 0x01;
        refused(&g, &format!("flip at {i}"));
    }
    for n in 0..blob.len() {
        refused(&blob[..n], &format!("prefix of {n}"));
    }
    assert!(b.get(&k).unwrap().is_none());
    assert_eq!(b.stats().entries, 0);
    let debris = fs::read_dir(t.path("other/v1/tmp")).unwrap().count();
    assert_eq!(debris, 0, "a refused import left staging debris");
    b.import_entry(&k, &blob).unwrap();
    assert!(b.get(&k).unwrap().is_some(), "the intact blob imports");
}

/// A blob whose frame and record are valid but whose output bytes are not
/// those the record names (a forger who recomputed the outer checksum) is
/// refused; so is an export filed under another key.
#[test]
fn forged_exports_are_refused() {
    let t = TestDir::new("export-forged");
    let a = t.open(1 << 30);
    let k = key(4);
    put(&a, &k, b"real object", None);
    let blob = a.export_entry(&k).unwrap().unwrap();
    let payload = &blob[10..blob.len() - 32];
    let mut forged = payload.to_vec();
    let at = forged.len() - 3;
    forged[at] ^= 0xff;
    let forged = format::frame(format::EXPORT_MAGIC, &forged);
    let e = a.import_entry(&key(5), &blob).unwrap_err();
    assert!(e.is_bad_import(), "{e}");
    a.clear().unwrap();
    let e = a.import_entry(&k, &forged).unwrap_err();
    assert_eq!(e.to_string(), "import an entry: output digest mismatch");
    assert!(a.get(&k).unwrap().is_none());
}
