use std::sync::Barrier;

use super::*;

fn store() -> (tempfile::TempDir, LocalDisk) {
    let dir = tempfile::tempdir().unwrap();
    let disk = LocalDisk::open(&dir.path().join("store")).unwrap();
    (dir, disk)
}

/// Files left in the scratch directory.
fn scratch_files(disk: &LocalDisk) -> Vec<PathBuf> {
    fs::read_dir(disk.scratch_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn open_creates_missing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a/b/.wflow");
    let disk = LocalDisk::open(&root).unwrap();
    assert!(root.is_dir() && root.join(SCRATCH_DIR).is_dir());
    assert_eq!(disk.root(), root);
    assert_eq!(disk.scratch_dir(), root.join("tmp"));
    assert_eq!(
        disk.summary(),
        format!("local directory {}", root.display())
    );
    assert!(scratch_files(&disk).is_empty(), "the probe file is removed");
    // Opening again is fine and keeps what is there.
    disk.put_if_absent("k", b"v").unwrap();
    let again = LocalDisk::open(&root).unwrap();
    assert_eq!(again.get("k").unwrap().unwrap(), b"v");
}

#[test]
fn open_makes_relative_roots_absolute() {
    let dir = tempfile::tempdir().unwrap();
    // The same directory, spelled relative to the current one: up to `/`, then down.
    let cwd = std::env::current_dir().unwrap();
    let mut relative = PathBuf::new();
    for _ in cwd.ancestors().skip(1) {
        relative.push("..");
    }
    relative.push(dir.path().strip_prefix("/").unwrap());
    relative.push("store");
    assert!(relative.is_relative());
    let disk = LocalDisk::open(&relative).unwrap();
    assert!(disk.root().is_absolute());
    assert!(disk.root().join("tmp").is_dir());
    assert!(dir.path().join("store/tmp").is_dir());
}

#[test]
fn root_that_is_a_file_is_not_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    fs::write(&file, b"x").unwrap();
    let err = LocalDisk::open(&file).unwrap_err();
    assert!(
        matches!(&err, StoreError::NotADirectory { path } if *path == file),
        "{err}"
    );
    assert!(err.to_string().contains(&file.display().to_string()));

    // Under a file: the file in the way is named.
    let err = LocalDisk::open(&file.join("sub/store")).unwrap_err();
    assert!(
        matches!(&err, StoreError::NotADirectory { path } if *path == file),
        "{err}"
    );

    // A file where the scratch directory belongs.
    let root = dir.path().join("store");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("tmp"), b"x").unwrap();
    let err = LocalDisk::open(&root).unwrap_err();
    assert!(matches!(&err, StoreError::NotADirectory { path } if *path == root.join("tmp")));
}

#[cfg(unix)]
#[test]
fn unwritable_root_is_reported() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("readonly");
    fs::create_dir(&root).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o555)).unwrap();
    // Root (CAP_DAC_OVERRIDE) ignores permission bits: find out whether they bind us.
    let privileged = File::create(root.join("canary")).is_ok();
    if !privileged {
        let err = LocalDisk::open(&root).unwrap_err();
        assert!(
            matches!(&err, StoreError::NotWritable { path, .. } if *path == root),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("cannot create or write to the store directory"),
            "{err}"
        );

        // A scratch directory that exists but is read-only fails the probe.
        let root2 = dir.path().join("ro-tmp");
        fs::create_dir_all(root2.join("tmp")).unwrap();
        fs::set_permissions(root2.join("tmp"), fs::Permissions::from_mode(0o555)).unwrap();
        let err = LocalDisk::open(&root2).unwrap_err();
        let tmp = root2.join("tmp");
        assert!(
            matches!(&err, StoreError::NotWritable { path, .. } if *path == tmp),
            "{err}"
        );
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).unwrap();
    } else {
        // Permission bits do not stop us; /proc refuses new entries even to root.
        assert!(
            Path::new("/proc").is_dir(),
            "no way to test an unwritable store here"
        );
        let err = LocalDisk::open(Path::new("/proc")).unwrap_err();
        assert!(
            matches!(&err, StoreError::NotWritable { path, .. } if path == Path::new("/proc")),
            "{err}"
        );
        let err = LocalDisk::open(Path::new("/proc/wflow-store-test/x")).unwrap_err();
        assert!(matches!(&err, StoreError::NotWritable { .. }), "{err}");
    }
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn put_get_open_exists() {
    let (_dir, disk) = store();
    assert_eq!(disk.get("a/b/c").unwrap(), None);
    assert!(disk.open("a/b/c").unwrap().is_none());
    assert!(!disk.exists("a/b/c").unwrap());

    assert!(disk.put_if_absent("a/b/c", b"hello").unwrap());
    assert!(disk.root().join("a/b/c").is_file());
    assert!(disk.exists("a/b/c").unwrap());
    assert_eq!(disk.get("a/b/c").unwrap().unwrap(), b"hello");
    let mut text = String::new();
    disk.open("a/b/c")
        .unwrap()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "hello");

    // Written once: a second put neither writes nor replaces.
    assert!(!disk.put_if_absent("a/b/c", b"other").unwrap());
    assert_eq!(disk.get("a/b/c").unwrap().unwrap(), b"hello");

    // A directory is not an object; neither is a path through a file.
    assert!(!disk.exists("a/b").unwrap());
    assert_eq!(disk.get("a/b").unwrap(), None);
    assert!(disk.open("a/b").unwrap().is_none());
    assert_eq!(disk.get("a/b/c/d").unwrap(), None);
    let err = disk.put_if_absent("a/b", b"x").unwrap_err();
    assert!(
        err.to_string()
            .contains("a directory already has this name"),
        "{err}"
    );

    assert!(disk.put_if_absent("empty", b"").unwrap());
    assert_eq!(disk.get("empty").unwrap().unwrap(), b"");
    assert!(
        scratch_files(&disk).is_empty(),
        "no temporary file is left behind"
    );
}

#[test]
fn bad_and_reserved_keys_are_refused() {
    let (_dir, disk) = store();
    for key in ["../escape", "/etc/passwd", "a//b", "tmp/x", "tmp", ""] {
        let err = disk.put_if_absent(key, b"x").unwrap_err();
        assert!(matches!(err, StoreError::InvalidKey { .. }), "{key}: {err}");
        assert!(disk.get(key).is_err() && disk.exists(key).is_err());
    }
    assert!(disk.list("../").is_err());
}

#[test]
fn put_file_moves_the_file_in() {
    let (dir, disk) = store();
    let outside = dir.path().join("value.bin");
    fs::write(&outside, b"from a file").unwrap();
    assert!(disk.put_file_if_absent("files/one", &outside).unwrap());
    assert!(!outside.exists(), "the file is taken over");
    assert_eq!(disk.get("files/one").unwrap().unwrap(), b"from a file");

    // Present already: the file is still consumed, the object unchanged.
    fs::write(&outside, b"something else").unwrap();
    assert!(!disk.put_file_if_absent("files/one", &outside).unwrap());
    assert!(!outside.exists());
    assert_eq!(disk.get("files/one").unwrap().unwrap(), b"from a file");

    let missing = dir.path().join("missing");
    let err = disk.put_file_if_absent("files/two", &missing).unwrap_err();
    assert!(
        matches!(err, StoreError::Io { ref path, .. } if path.ends_with("missing")),
        "{err}"
    );
    assert!(!disk.exists("files/two").unwrap());
}

#[cfg(target_os = "linux")]
#[test]
fn put_file_from_another_filesystem_is_copied() {
    use std::os::unix::fs::MetadataExt;
    let (dir, disk) = store();
    let shm = Path::new("/dev/shm");
    let other_fs =
        shm.is_dir() && fs::metadata(shm).unwrap().dev() != fs::metadata(dir.path()).unwrap().dev();
    // Without a second filesystem this checks the same-filesystem path again, which is still right.
    let src_dir = if other_fs {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let src = src_dir.path().join("v");
    fs::write(&src, vec![9u8; 100_000]).unwrap();
    assert!(disk.put_file_if_absent("x/y", &src).unwrap());
    assert!(!src.exists());
    assert_eq!(disk.get("x/y").unwrap().unwrap(), vec![9u8; 100_000]);
    assert!(scratch_files(&disk).is_empty());
}

#[test]
fn get_with_passes_every_byte_in_order() {
    let (_dir, disk) = store();
    let value: Vec<u8> = (0..3 * read::PIECE + 7).map(|i| (i % 251) as u8).collect();
    disk.put_if_absent("big", &value).unwrap();
    let mut seen = Vec::new();
    let mut calls = 0;
    let got = disk
        .get_with("big", &mut |piece| {
            seen.extend_from_slice(piece);
            calls += 1;
        })
        .unwrap()
        .unwrap();
    assert_eq!(got, value);
    assert_eq!(seen, value);
    assert!(calls >= 4, "read in pieces, got {calls}");
    assert_eq!(
        disk.get_with("absent", &mut |_| panic!("nothing to see"))
            .unwrap(),
        None
    );
}

#[test]
fn list_by_prefix() {
    let (_dir, disk) = store();
    let keys = ["a/b/1", "a/b/2", "a/bc/3", "a/d", "ab", "z/z/z/z"];
    for key in keys.iter().rev() {
        disk.put_if_absent(key, key.as_bytes()).unwrap();
    }
    fs::write(disk.scratch_dir().join("junk.tmp"), b"").unwrap();
    assert_eq!(disk.list("").unwrap(), keys, "everything but tmp/, sorted");
    assert_eq!(
        disk.list("a/").unwrap(),
        ["a/b/1", "a/b/2", "a/bc/3", "a/d"]
    );
    assert_eq!(disk.list("a/b").unwrap(), ["a/b/1", "a/b/2", "a/bc/3"]);
    assert_eq!(disk.list("a/b/").unwrap(), ["a/b/1", "a/b/2"]);
    assert_eq!(
        disk.list("a").unwrap(),
        ["a/b/1", "a/b/2", "a/bc/3", "a/d", "ab"]
    );
    assert_eq!(disk.list("a/b/2").unwrap(), ["a/b/2"]);
    assert_eq!(disk.list("z/z/").unwrap(), ["z/z/z/z"]);
    assert!(disk.list("nothing/").unwrap().is_empty());
    assert!(disk.list("a/b/1/").unwrap().is_empty());
    assert!(disk.list("tm").unwrap().is_empty());
}

#[test]
fn concurrent_puts_of_one_key_write_once() {
    let (_dir, disk) = store();
    let value = vec![5u8; 1 << 20];
    let barrier = Barrier::new(8);
    let wrote: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    disk.put_if_absent("same/key", &value).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(wrote.iter().filter(|w| **w).count(), 1, "{wrote:?}");
    assert_eq!(disk.get("same/key").unwrap().unwrap(), value);
    assert!(scratch_files(&disk).is_empty());

    // Different keys under shared, not yet existing directories.
    std::thread::scope(|s| {
        for t in 0..8u8 {
            let disk = &disk;
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                for i in 0..20u8 {
                    let key = format!("many/{}/{t}-{i}", i % 3);
                    assert!(disk.put_if_absent(&key, &[t, i]).unwrap());
                }
            });
        }
    });
    let keys = disk.list("many/").unwrap();
    assert_eq!(keys.len(), 160);
    assert_eq!(disk.get("many/2/7-5").unwrap().unwrap(), [7, 5]);
}

#[test]
fn sync_mode_round_trips() {
    let (dir, disk) = store();
    let disk = disk.with_sync(true);
    assert!(disk.put_if_absent("s/1", b"durable").unwrap());
    let file = dir.path().join("f");
    fs::write(&file, b"durable file").unwrap();
    assert!(disk.put_file_if_absent("s/2", &file).unwrap());
    assert_eq!(disk.get("s/1").unwrap().unwrap(), b"durable");
    assert_eq!(disk.get("s/2").unwrap().unwrap(), b"durable file");
}

#[test]
fn clean_scratch_removes_old_temporary_files() {
    let (_dir, disk) = store();
    let leftover = disk.scratch_dir().join("put-crashed.tmp");
    fs::write(&leftover, b"partial").unwrap();
    let other = disk.scratch_dir().join("not-ours");
    fs::write(&other, b"keep").unwrap();
    assert_eq!(
        disk.clean_scratch(Duration::from_secs(3600)).unwrap(),
        0,
        "too young"
    );
    assert_eq!(disk.clean_scratch(Duration::ZERO).unwrap(), 1);
    assert!(!leftover.exists() && other.exists());
}

#[test]
fn clean_scratch_keeps_the_files_of_live_writers() {
    let (_dir, disk) = store();
    // A writer in progress: its scratch file is locked while it is open.
    let (mut live, live_path) = disk.temp("write").unwrap();
    live.write_all(b"in progress").unwrap();
    // A dead writer's file: nobody holds it.
    let dead = disk.scratch_dir().join("put-0000000000000000-999999-0.tmp");
    fs::write(&dead, b"left by kill -9").unwrap();
    assert_eq!(disk.clean_scratch(Duration::ZERO).unwrap(), 1);
    assert!(!dead.exists());
    assert!(live_path.path().exists(), "the live writer's file is kept");
    drop(live);
    // Once its writer is gone (as after kill -9), it goes too.
    assert_eq!(disk.clean_scratch(Duration::ZERO).unwrap(), 1);
    assert!(!live_path.path().exists());
}
