//! Resolution order, file errors with lines, and in-place edits.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::*;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("zccache-settings-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
    let map: BTreeMap<String, OsString> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn defaults_files_and_environment_layer_in_order() {
    let d = dir("layers");
    let user = d.join("user.toml");
    let root = d.join(ROOT_FILE);
    std::fs::write(
        &user,
        "max_size = \"1G\"\nidle_timeout = 60\nlog = \"debug\"\n",
    )
    .unwrap();
    std::fs::write(&root, "# the root's own\nmax_size = \"2G\"\n").unwrap();
    let s = Settings::resolve(
        &env(&[("ZCCACHE_IDLE_TIMEOUT", "7")]),
        &[user.clone(), root.clone()],
    );
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(s.number("max_size"), 2 << 30);
    assert_eq!(
        s.get("max_size").origin,
        Origin::File {
            path: root,
            line: 2
        }
    );
    assert_eq!(s.number("idle_timeout"), 7);
    assert_eq!(
        s.get("idle_timeout").origin,
        Origin::Env("ZCCACHE_IDLE_TIMEOUT")
    );
    assert_eq!(s.text("log"), Some("debug"));
    assert_eq!(s.number("request_timeout_ms"), 5000);
    assert_eq!(s.get("request_timeout_ms").origin, Origin::Default);
    assert!(!s.flag("disable"));
}

#[test]
fn a_bad_value_or_unknown_key_names_file_line_and_key_and_keeps_the_lower_layer() {
    let d = dir("bad");
    let user = d.join("user.toml");
    let root = d.join(ROOT_FILE);
    std::fs::write(&user, "max_size = \"3G\"\n").unwrap();
    std::fs::write(
        &root,
        "max_size = \"lots\"\n\nmax_sise = \"1G\"\ncache_dir = \"/x\"\n",
    )
    .unwrap();
    let s = Settings::resolve(
        &env(&[("ZCCACHE_DISABLE", "perhaps")]),
        &[user, root.clone()],
    );
    assert_eq!(s.number("max_size"), 3 << 30, "the user file's value stays");
    assert!(!s.flag("disable"));
    let shown: Vec<String> = s.errors.iter().map(|e| e.to_string()).collect();
    let r = root.display();
    assert_eq!(
        shown,
        [
            format!("{r}:1: max_size: \"lots\" is not a size (like 500M, 20G, 1TiB)"),
            format!("{r}:3: max_sise: unknown key"),
            format!("{r}:4: cache_dir: has no effect in the cache root's own config file"),
            "environment: ZCCACHE_DISABLE: \"perhaps\" is not a yes or no (true/false, 1/0)"
                .to_owned(),
        ]
    );
}

#[test]
fn a_file_that_does_not_parse_is_one_error_with_its_line() {
    let d = dir("syntax");
    let f = d.join("c.toml");
    std::fs::write(&f, "log = \"warn\"\nmax_size = [\n").unwrap();
    let s = Settings::resolve(&env(&[]), std::slice::from_ref(&f));
    assert_eq!(s.errors.len(), 1);
    assert_eq!(s.errors[0].line, Some(2));
    assert_eq!(
        s.text("log"),
        Some("off"),
        "nothing of a broken file applies"
    );
    let missing = Settings::resolve(&env(&[]), &[d.join("absent.toml")]);
    assert!(missing.errors.is_empty());
}

#[test]
fn where_the_files_are() {
    let root = Path::new("/c");
    let files = files_for(&env(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")]), root);
    assert_eq!(
        files,
        [
            PathBuf::from("/x/zccache/config.toml"),
            root.join(ROOT_FILE)
        ]
    );
    let files = files_for(&env(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "rel")]), root);
    assert_eq!(files[0], PathBuf::from("/h/.config/zccache/config.toml"));
    let one = env(&[("ZCCACHE_CONFIG", "/etc/z.toml"), ("HOME", "/h")]);
    assert_eq!(files_for(&one, root), [PathBuf::from("/etc/z.toml")]);
    assert_eq!(writable_file(&one, root), PathBuf::from("/etc/z.toml"));
    assert_eq!(writable_file(&env(&[]), root), root.join(ROOT_FILE));
}

#[test]
fn sizes() {
    for (raw, bytes) in [
        ("1024", 1024),
        ("20G", 20 << 30),
        ("20 GiB", 20 << 30),
        ("500m", 500 << 20),
        ("1.5G", 3 << 29),
        ("64KiB", 64 << 10),
        ("2TB", 2 << 40),
    ] {
        assert_eq!(parse_size(raw), Ok(bytes), "{raw}");
    }
    for raw in ["", "G", "-1G", "20X", "1e3"] {
        assert!(parse_size(raw).is_err(), "{raw}");
    }
    assert_eq!(show_size(20 << 30), "20.0 GiB");
    assert_eq!(show_size(10), "10 B");
}

#[test]
fn set_in_file_replaces_the_key_and_keeps_the_rest() {
    let d = dir("edit");
    let f = d.join(ROOT_FILE);
    set_in_file(&f, "max_size", "1G").unwrap();
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "max_size = \"1G\"\n");
    std::fs::write(&f, "# mine\nlog = \"warn\"\nmax_size = \"1G\" # old\n").unwrap();
    set_in_file(&f, "max_size", "20G").unwrap();
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "# mine\nlog = \"warn\"\nmax_size = \"20G\"\n"
    );
    let err = set_in_file(&f, "max_size", "huge").unwrap_err();
    assert!(err.to_string().contains("not a size"), "{err}");
    assert!(set_in_file(&f, "nope", "1").is_err());
    let s = Settings::resolve(&env(&[]), std::slice::from_ref(&f));
    assert_eq!(s.number("max_size"), 20 << 30);
}

#[test]
fn every_setting_has_a_distinct_key_and_variable_and_a_default_that_parses() {
    let s = Settings::defaults();
    assert_eq!(s.iter().count(), SPECS.len());
    for (i, a) in SPECS.iter().enumerate() {
        assert!(a.env.starts_with("ZCCACHE_"), "{}", a.key);
        for b in &SPECS[i + 1..] {
            assert_ne!(a.key, b.key);
            assert_ne!(a.env, b.env);
        }
    }
}

#[test]
fn the_readme_lists_every_key_and_variable() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    for spec in SPECS {
        assert!(
            readme.contains(&format!("`{}`", spec.key)),
            "README.md does not list the key {}",
            spec.key
        );
        assert!(
            readme.contains(spec.env),
            "README.md does not list {}",
            spec.env
        );
    }
}

#[test]
fn secrets_show_as_set_and_url_passwords_are_masked() {
    let s = Settings::resolve(
        &env(&[
            ("ZCCACHE_REMOTE_KEY", "hunter2"),
            ("ZCCACHE_REMOTE", "redis://ci:hunter3@cache:6379/0"),
        ]),
        &[],
    );
    assert_eq!(s.get("remote_key").shown(), "(set)");
    assert_eq!(s.get("remote").shown(), "redis://ci:***@cache:6379/0");
    // Unset secrets show as unset; other values as they are.
    assert_eq!(Settings::defaults().get("remote_key").shown(), "");
    assert_eq!(s.get("max_size").shown(), "10.0 GiB");
    for (url, masked) in [
        ("redis://pw@h:1", "redis://***@h:1"),
        (
            "redis+cluster://u:p@a:1,b:2",
            "redis+cluster://u:***@a:1,b:2",
        ),
        ("redis://h:1/0", "redis://h:1/0"),
        ("file:///srv/x", "file:///srv/x"),
        ("a@b", "a@b"),
    ] {
        assert_eq!(mask_url_password(url), masked, "{url}");
    }
    let secret: Vec<&str> = SPECS.iter().filter(|s| s.secret).map(|s| s.key).collect();
    assert_eq!(secret, ["remote_key"]);
}
