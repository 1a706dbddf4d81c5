//! The cache roots this broker has served, kept in memory and in the runtime directory's roots file so a later broker can find their daemons; it never looks inside a cache root beyond listing identity file names.
//!
//! Roots file grammar (router's `BrokerPaths::registry`):
//!
//! ```text
//! file = *( root LF )
//! root = absolute path bytes, no LF     ; other lines are ignored
//! ```
//!
//! Appended to, never rewritten; duplicates are harmless and ignored.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::os;

pub(crate) struct Registry {
    file: PathBuf,
    roots: Mutex<BTreeSet<PathBuf>>,
}

impl Registry {
    pub(crate) fn load(file: PathBuf) -> Registry {
        let roots = parse(&std::fs::read(&file).unwrap_or_default());
        Registry {
            file,
            roots: Mutex::new(roots),
        }
    }

    /// Records `root`, appending it to the file the first time.
    pub(crate) fn remember(&self, root: &Path) {
        let mut roots = self.roots.lock().unwrap_or_else(|e| e.into_inner());
        if roots.contains(root) || root.as_os_str().as_bytes().contains(&b'\n') {
            return;
        }
        roots.insert(root.to_path_buf());
        let mut line = root.as_os_str().as_bytes().to_vec();
        line.push(b'\n');
        // One write on an O_APPEND file, so lines of two brokers never mix.
        let written = os::open_append(&self.file).and_then(|mut f| f.write_all(&line));
        if let Err(e) = written {
            eprintln!("cannot record cache root in {}: {e}", self.file.display());
        }
    }

    /// Every root known here or recorded by any broker before.
    pub(crate) fn roots(&self) -> BTreeSet<PathBuf> {
        let mut all = parse(&std::fs::read(&self.file).unwrap_or_default());
        all.extend(
            self.roots
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned(),
        );
        all
    }
}

/// The namespaces with an identity file for `protocol` under `root`.
pub(crate) fn namespaces(root: &Path, protocol: u32) -> Vec<String> {
    let suffix = format!(".p{protocol}.json");
    let Ok(entries) = std::fs::read_dir(router::identity_dir(root)) else {
        return vec![];
    };
    let mut found: Vec<String> = entries
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(&suffix)
                .map(str::to_owned)
        })
        .filter(|ns| router::sanitize_namespace(Some(OsStr::new(ns))).as_deref() == Ok(ns.as_str()))
        .collect();
    found.sort();
    found
}

fn parse(text: &[u8]) -> BTreeSet<PathBuf> {
    text.split(|&b| b == b'\n')
        .filter(|line| line.first() == Some(&b'/'))
        .map(|line| PathBuf::from(OsStr::from_bytes(line)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keeps_absolute_lines() {
        let got = parse(b"/a\nrelative\n\n/b c\n/a\n/tail");
        let want: BTreeSet<PathBuf> = ["/a", "/b c", "/tail"]
            .into_iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn remember_appends_once() {
        let dir = std::env::temp_dir().join(format!("zccache-registry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("roots");
        let registry = Registry::load(file.clone());
        registry.remember(Path::new("/x/cache"));
        registry.remember(Path::new("/x/cache"));
        registry.remember(Path::new("/bad\nroot"));
        let again = Registry::load(file.clone());
        again.remember(Path::new("/y"));
        assert_eq!(std::fs::read(&file).unwrap(), b"/x/cache\n/y\n");
        assert_eq!(registry.roots().len(), 2);
    }

    #[test]
    fn namespaces_come_from_identity_files() {
        let root = std::env::temp_dir().join(format!("zccache-ns-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = router::identity_dir(&root);
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "default.p1.json",
            "ci.p1.json",
            "old.p0.json",
            "notes.txt",
            "b@d.p1.json",
        ] {
            std::fs::write(dir.join(name), "{}").unwrap();
        }
        assert_eq!(
            namespaces(&root, 1),
            vec!["ci".to_owned(), "default".to_owned()]
        );
        assert!(namespaces(&root.join("absent"), 1).is_empty());
    }
}
