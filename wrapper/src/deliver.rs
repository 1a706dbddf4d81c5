//! Writes a hit's outputs with the caller's own rights, umask and view of the file system, exactly as the compiler would open them (`WriteMode`), checking every byte against the digest while it copies; it never decides whether to compile, only reports why it could not write.
//!
//! The daemon hands each output over as inline bytes or as a read-only
//! descriptor of the stored blob. The wrapper hashes what it copies (it
//! reads the bytes anyway, so the check costs no extra pass), and only
//! renames a temporary file over the name once the digest matched; what it
//! writes through a symlink it verifies in memory before opening the name.
//! New files get mode 0666 (a linker's output: 0777) less our umask from
//! the kernel, as a compiler's outputs do; nothing here ever sets a mode,
//! so no set-id bit is ever given.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use frame::v1::{Output, WriteMode};

use crate::os;

/// Largest output written through a symlink: its bytes are checked in
/// memory before the name is opened.
const MAX_IN_MEMORY: u64 = 256 << 20;
/// Keeps temporary names within NAME_MAX however long the output's is.
const MAX_STEM: usize = 100;
const COPY_BUF: usize = 256 << 10;

/// Why a hit's outputs were not (all) written. The caller compiles instead.
#[derive(Debug)]
pub(crate) enum Undeliverable {
    /// An output goes to a device, FIFO, socket or directory, or under
    /// `/dev`: only the compiler knows how it writes there.
    Device(PathBuf),
    /// The content did not match its digest or size: the stored entry is
    /// damaged.
    Corrupt(PathBuf),
    /// The daemon's answer is not usable (a descriptor it did not send).
    BadAnswer(&'static str),
    /// Writing failed (read-only directory, no space, permissions): the
    /// compiler fails or succeeds the same way on its own.
    Write { path: PathBuf, source: io::Error },
}

impl Undeliverable {
    /// The counter name the daemon files the unwritten hit under.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Undeliverable::Device(_) => "output_to_device",
            Undeliverable::Corrupt(_) => "corrupt_output",
            Undeliverable::BadAnswer(_) => "bad_hit_answer",
            Undeliverable::Write { .. } => "output_not_writable",
        }
    }
}

impl std::fmt::Display for Undeliverable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undeliverable::Device(p) => write!(f, "output {} is not a regular file", p.display()),
            Undeliverable::Corrupt(p) => {
                write!(
                    f,
                    "cached output for {} failed its digest check",
                    p.display()
                )
            }
            Undeliverable::BadAnswer(what) => write!(f, "unusable hit: {what}"),
            Undeliverable::Write { path, source } => {
                write!(f, "cannot write {}: {source}", path.display())
            }
        }
    }
}

/// Whether every output can be written by us at all: none is under `/dev`
/// or leads to anything but a regular file (or nothing yet). Checked for
/// all outputs before any is written.
pub(crate) fn preflight(outputs: &[Output]) -> Result<(), Undeliverable> {
    for out in outputs {
        let path = path_of(out);
        if path.starts_with("/dev") {
            return Err(Undeliverable::Device(path));
        }
        match fs::metadata(&path) {
            // A character device, FIFO, socket or directory.
            Ok(m) if !m.is_file() => return Err(Undeliverable::Device(path)),
            // Absent, a dangling symlink, or not ours to see: writing
            // decides.
            _ => {}
        }
    }
    Ok(())
}

/// Writes every output, in order. `fds` are the descriptors that came with
/// the answer; each is used by at most one output.
pub(crate) fn write_all(
    outputs: &[Output],
    fds: &mut [Option<OwnedFd>],
) -> Result<(), Undeliverable> {
    for out in outputs {
        let content = match out.descriptor {
            0 => Content::Inline(&out.content),
            n => {
                let slot = fds.get_mut(n as usize - 1).ok_or(Undeliverable::BadAnswer(
                    "a descriptor the daemon did not send",
                ))?;
                let fd = slot
                    .take()
                    .ok_or(Undeliverable::BadAnswer("a descriptor named twice"))?;
                Content::Blob(File::from(fd))
            }
        };
        write_one(out, content)?;
    }
    Ok(())
}

enum Content<'a> {
    Inline(&'a [u8]),
    Blob(File),
}

fn path_of(out: &Output) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(&out.path))
}

fn write_one(out: &Output, content: Content<'_>) -> Result<(), Undeliverable> {
    let path = path_of(out);
    let digest: [u8; 32] = out
        .digest
        .as_slice()
        .try_into()
        .map_err(|_| Undeliverable::BadAnswer("a digest that is not 32 bytes"))?;
    let mode = WriteMode::try_from(out.write)
        .map_err(|_| Undeliverable::BadAnswer("an unknown write mode"))?;
    let through = match mode {
        WriteMode::WriteThrough => true,
        WriteMode::Replace => false,
        // gcc's assembler writes through a symlink whose target is missing.
        WriteMode::ReplaceUnlessDangling => is_dangling_symlink(&path),
        WriteMode::ReplaceExecutable => false,
    };
    // A linker creates its output 0777 less the umask; every other
    // compiler output is 0666 less the umask.
    let create_mode = if mode == WriteMode::ReplaceExecutable {
        0o777
    } else {
        0o666
    };
    let wanted = (out.size, digest);
    if through {
        let bytes = match content {
            Content::Inline(b) => b.to_vec(),
            Content::Blob(f) => read_checked(&f, out.size).map_err(|e| write_err(&path, e))?,
        };
        if (bytes.len() as u64, *blake3::hash(&bytes).as_bytes()) != wanted {
            return Err(Undeliverable::Corrupt(path));
        }
        return write_through(&path, &bytes).map_err(|e| write_err(&path, e));
    }
    let mut tmp = TempFile::beside(&path, create_mode).map_err(|e| write_err(&path, e))?;
    let got = match content {
        Content::Inline(b) => {
            tmp.file.write_all(b).map_err(|e| write_err(&tmp.path, e))?;
            (b.len() as u64, *blake3::hash(b).as_bytes())
        }
        Content::Blob(f) => {
            copy_blob(&f, &mut tmp.file, out.size).map_err(|e| write_err(&tmp.path, e))?
        }
    };
    if got != wanted {
        return Err(Undeliverable::Corrupt(path));
    }
    tmp.rename_over(&path).map_err(|e| write_err(&path, e))
}

fn write_err(path: &Path, source: io::Error) -> Undeliverable {
    Undeliverable::Write {
        path: path.to_owned(),
        source,
    }
}

fn is_dangling_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        && fs::metadata(path).is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
}

/// Opens `path` the way a compiler writes a depfile (`O_WRONLY | O_CREAT |
/// O_TRUNC`, mode 0666 less the umask, following a symlink) and writes.
fn write_through(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o666)
        .open(path)?;
    f.write_all(bytes)
}

/// Reads at most `size + 1` bytes of a blob from its start (so a blob that
/// grew is seen), refusing one too large to hold.
fn read_checked(blob: &File, size: u64) -> io::Result<Vec<u8>> {
    if size > MAX_IN_MEMORY {
        return Err(io::Error::other("output too large to check in memory"));
    }
    let mut bytes = vec![0; size as usize + 1];
    let mut got = 0;
    while got < bytes.len() {
        match blob.read_at(&mut bytes[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(got);
    Ok(bytes)
}

/// Copies a blob into `dst` and returns the size and digest of what `dst`
/// now holds: a reflink and a read back when the file system can share
/// extents, else a read, hash and write of each buffer.
fn copy_blob(blob: &File, dst: &mut File, size: u64) -> io::Result<(u64, [u8; 32])> {
    if os::reflink(blob, dst) {
        return hash_from_start(dst);
    }
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0; COPY_BUF];
    let mut total = 0u64;
    loop {
        let n = match blob.read_at(&mut buf, total) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n])?;
        total += n as u64;
        if total > size {
            break;
        }
    }
    Ok((total, *hasher.finalize().as_bytes()))
}

fn hash_from_start(f: &File) -> io::Result<(u64, [u8; 32])> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0; COPY_BUF];
    let mut total = 0u64;
    loop {
        match f.read_at(&mut buf, total) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((total, *hasher.finalize().as_bytes()))
}

/// A temporary file beside an output, removed on drop unless renamed over
/// it: an interrupted hit leaves the old output or the new one, never half.
struct TempFile {
    path: PathBuf,
    file: File,
    armed: bool,
}

impl TempFile {
    /// Creates `.<name>.zccache-tmp-<pid>-<n>` exclusively in the output's
    /// directory, `mode` (0666 or 0777) less the umask, as the compiler's
    /// own file.
    fn beside(dest: &Path, mode: u32) -> io::Result<TempFile> {
        let name = dest
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let stem = &name.as_bytes()[..name.len().min(MAX_STEM)];
        let mut last = None;
        for n in 0..8 {
            let mut tmp_name = OsString::from(".");
            tmp_name.push(OsStr::from_bytes(stem));
            tmp_name.push(format!(".zccache-tmp-{}-{n}", std::process::id()));
            let path = dir.join(tmp_name);
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(mode)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
            {
                Ok(file) => {
                    return Ok(TempFile {
                        path,
                        file,
                        armed: true,
                    })
                }
                // Left by an earlier process with our pid; try the next name.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("the loop ran"))
    }

    /// Puts the file under `dest`'s name. Over an existing regular file
    /// the two names are swapped and the old file, now under the
    /// temporary name, removed: ext4 flushes the new file's data to disk
    /// when a rename replaces a file (`auto_da_alloc`), which made a hit
    /// over an existing object cost milliseconds (issue 16); a swap is as
    /// atomic and starts no flush. Anything else at `dest` (nothing, a
    /// symlink) and file systems that cannot swap get the plain rename.
    fn rename_over(mut self, dest: &Path) -> io::Result<()> {
        let replaces_file = fs::symlink_metadata(dest).is_ok_and(|m| m.file_type().is_file());
        if replaces_file && os::exchange(&self.path, dest).is_ok() {
            // The old file sits under our temporary name; `Drop` removes
            // it. Should a directory have been swapped in meanwhile, it
            // goes back and the rename below fails as it would have.
            if fs::symlink_metadata(&self.path).is_ok_and(|m| m.file_type().is_file()) {
                return Ok(());
            }
            os::exchange(&self.path, dest)?;
        }
        fs::rename(&self.path, dest)?;
        self.armed = false;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let d = std::env::temp_dir().join(format!("zc-deliver-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&d);
            fs::create_dir_all(&d).unwrap();
            Dir(d)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn inline(path: &Path, write: WriteMode, bytes: &[u8]) -> Output {
        Output {
            path: path.as_os_str().as_bytes().to_vec(),
            write: write as i32,
            size: bytes.len() as u64,
            digest: blake3::hash(bytes).as_bytes().to_vec(),
            content: bytes.to_vec(),
            descriptor: 0,
        }
    }

    fn no_temps(dir: &Path) {
        for e in fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name();
            assert!(
                !name.to_string_lossy().contains("zccache-tmp"),
                "{name:?} left"
            );
        }
    }

    #[test]
    fn an_existing_output_is_swapped_out_whole() {
        let d = Dir::new("swap");
        let out = d.0.join("a.o");
        fs::write(&out, b"old").unwrap();
        // What held the old output before (a hard link, an open
        // descriptor) keeps the old bytes: the name got a new file.
        let link = d.0.join("old-link");
        fs::hard_link(&out, &link).unwrap();
        let held = File::open(&out).unwrap();
        let old_ino = fs::metadata(&out).unwrap().ino();
        write_all(&[inline(&out, WriteMode::Replace, b"new bytes")], &mut []).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"new bytes");
        assert_ne!(fs::metadata(&out).unwrap().ino(), old_ino);
        assert_eq!(fs::read(&link).unwrap(), b"old");
        let mut s = String::new();
        io::Read::read_to_string(&mut &held, &mut s).unwrap();
        assert_eq!(s, "old");
        // The old file under the temporary name is gone: only the link
        // holds it now.
        assert_eq!(fs::metadata(&link).unwrap().nlink(), 1);
        no_temps(&d.0);
        // Over nothing, the plain rename.
        fs::remove_file(&out).unwrap();
        write_all(&[inline(&out, WriteMode::Replace, b"again")], &mut []).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"again");
        no_temps(&d.0);
    }

    #[test]
    fn exchange_swaps_two_names() {
        let d = Dir::new("exchange");
        let (a, b) = (d.0.join("a"), d.0.join("b"));
        fs::write(&a, b"A").unwrap();
        fs::write(&b, b"B").unwrap();
        os::exchange(&a, &b).unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"B");
        assert_eq!(fs::read(&b).unwrap(), b"A");
        fs::remove_file(&b).unwrap();
        assert!(os::exchange(&a, &b).is_err(), "both names must exist");
    }

    #[test]
    fn symlinks_are_treated_as_the_compiler_treats_them() {
        let d = Dir::new("links");
        let sentinel = d.0.join("sentinel");
        let link = d.0.join("out");
        let dangling_target = d.0.join("target");
        for (mode, existing, link_kept, target_holds) in [
            (WriteMode::Replace, true, false, false),
            (WriteMode::Replace, false, false, false),
            (WriteMode::ReplaceUnlessDangling, true, false, false),
            (WriteMode::ReplaceUnlessDangling, false, true, true),
            (WriteMode::WriteThrough, true, true, true),
            (WriteMode::WriteThrough, false, true, true),
        ] {
            let _ = fs::remove_file(&link);
            let _ = fs::remove_file(&sentinel);
            let _ = fs::remove_file(&dangling_target);
            let target = if existing {
                fs::write(&sentinel, b"sentinel").unwrap();
                &sentinel
            } else {
                &dangling_target
            };
            symlink(target, &link).unwrap();
            write_all(&[inline(&link, mode, b"new bytes")], &mut []).unwrap();
            let what = format!("{mode:?} existing={existing}");
            assert_eq!(
                fs::symlink_metadata(&link)
                    .unwrap()
                    .file_type()
                    .is_symlink(),
                link_kept,
                "{what}"
            );
            assert_eq!(fs::read(&link).unwrap(), b"new bytes", "{what}");
            let held = fs::read(target).ok();
            if target_holds {
                assert_eq!(held.as_deref(), Some(&b"new bytes"[..]), "{what}");
            } else if existing {
                assert_eq!(
                    held.as_deref(),
                    Some(&b"sentinel"[..]),
                    "{what}: target untouched"
                );
            } else {
                assert_eq!(held, None, "{what}: nothing created through the link");
            }
            no_temps(&d.0);
        }
    }

    #[test]
    fn modes_come_from_the_umask_and_digests_are_checked() {
        let d = Dir::new("modes");
        let dest = d.0.join("a.o");
        fs::write(&dest, b"old").unwrap();
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o6755)).unwrap();
        // SAFETY: umask only swaps the process's mask; read back at once.
        let mask = unsafe {
            let m = libc::umask(0o022);
            libc::umask(m);
            m
        } as u32;
        write_all(&[inline(&dest, WriteMode::Replace, b"obj")], &mut []).unwrap();
        let mode = fs::metadata(&dest).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o666 & !mask);
        // A linker's output is executable, as the linker creates it.
        let exe = d.0.join("prog");
        fs::write(&exe, b"old").unwrap();
        write_all(
            &[inline(&exe, WriteMode::ReplaceExecutable, b"elf")],
            &mut [],
        )
        .unwrap();
        let mode = fs::metadata(&exe).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o777 & !mask);
        assert_eq!(fs::read(&exe).unwrap(), b"elf");

        let mut bad = inline(&dest, WriteMode::Replace, b"other");
        bad.content = b"othex".to_vec();
        for write in [WriteMode::Replace, WriteMode::WriteThrough] {
            bad.write = write as i32;
            assert!(matches!(
                write_all(&[bad.clone()], &mut []),
                Err(Undeliverable::Corrupt(_))
            ));
            assert_eq!(
                fs::read(&dest).unwrap(),
                b"obj",
                "nothing written on a mismatch"
            );
        }

        let blob_path = d.0.join("blob");
        fs::write(&blob_path, vec![7u8; 100_000]).unwrap();
        let mut out = inline(&dest, WriteMode::Replace, &vec![7u8; 100_000]);
        out.content.clear();
        out.descriptor = 1;
        let fd = || vec![Some(OwnedFd::from(File::open(&blob_path).unwrap()))];
        write_all(&[out.clone()], &mut fd()).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), vec![7u8; 100_000]);
        out.descriptor = 2;
        assert!(matches!(
            write_all(&[out.clone()], &mut fd()),
            Err(Undeliverable::BadAnswer(_))
        ));
        out.descriptor = 1;
        fs::write(&blob_path, vec![8u8; 100_000]).unwrap();
        assert!(matches!(
            write_all(&[out], &mut fd()),
            Err(Undeliverable::Corrupt(_))
        ));
        no_temps(&d.0);
    }

    #[test]
    fn devices_and_fifos_are_the_compilers_business() {
        let d = Dir::new("devices");
        let link = d.0.join("to-null");
        symlink("/dev/null", &link).unwrap();
        let fifo = d.0.join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: `c` is a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for path in [
            Path::new("/dev/stdout"),
            Path::new("/dev/shm/x.o"),
            &link,
            &fifo,
            &d.0,
        ] {
            let out = inline(path, WriteMode::Replace, b"x");
            assert!(
                matches!(preflight(&[out]), Err(Undeliverable::Device(_))),
                "{}",
                path.display()
            );
        }
        preflight(&[inline(&d.0.join("new.o"), WriteMode::Replace, b"x")]).unwrap();
    }

    #[test]
    fn unwritable_places_are_write_errors() {
        let d = Dir::new("unwritable");
        let out = inline(&d.0.join("no/such/dir/a.o"), WriteMode::Replace, b"x");
        assert!(matches!(
            write_all(&[out], &mut []),
            Err(Undeliverable::Write { .. })
        ));
    }
}
