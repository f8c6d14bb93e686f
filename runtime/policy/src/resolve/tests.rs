use std::path::Path;
use std::time::Duration;

use wflow_core::{Capabilities, DirGrant, FlowSpec, Sandbox, StepSpec, Transition};

use crate::file::Policy;
use crate::target::Target;

fn flow(steps: Vec<StepSpec>) -> FlowSpec {
    FlowSpec {
        name: "F".into(),
        doc: String::new(),
        parameters: vec![],
        steps,
    }
}

fn step_with(caps: Capabilities) -> StepSpec {
    let mut s = StepSpec::new("fetch", Transition::End);
    s.capabilities = caps;
    s
}

#[test]
fn empty_policy_denies_every_capability_and_names_each() {
    let p = Policy::parse("", "test").unwrap();
    let caps = Capabilities {
        env: vec!["HOME".into()],
        network: vec!["example.com:443".into()],
        clock: true,
        random: true,
        ..Default::default()
    };
    let err = p
        .resolve(&flow(vec![step_with(caps)]), Path::new("/"))
        .unwrap_err();
    let text = err.to_string();
    assert_eq!(err.list.len(), 4, "{text}");
    assert!(
        text.contains("step `fetch`: environment variable `HOME` is not allowed"),
        "{text}"
    );
    assert!(
        text.contains("network destination `example.com:443`"),
        "{text}"
    );
    assert!(
        text.contains("wall clock") && text.contains("random numbers"),
        "{text}"
    );
}

#[test]
fn huge_memory_saturates_instead_of_wrapping() {
    // Found by the policy fuzzer: 18446744073709 MiB << 20 wrapped to a few MiB.
    let p = Policy::parse(
        "[defaults]\nmemory_mb = 18446744073709\n[limits]\nmax_memory_mb = 18446744073709551615\n",
        "test",
    )
    .unwrap();
    let sb = p
        .resolve(
            &flow(vec![step_with(Capabilities::default())]),
            Path::new("/"),
        )
        .unwrap();
    assert_eq!(sb["fetch"].memory_bytes, u64::MAX);
}

#[test]
fn grants_per_flow_and_wildcards() {
    let p = Policy::parse(
        r#"
        [grants]
        env = ["AWS_*"]
        network = ["*.example.com:443"]
        [flows.F]
        digests = ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]
        [flows.F.grants]
        network = ["db.internal:*"]
        clock = true
        "#,
        "test",
    )
    .unwrap();
    let caps = Capabilities {
        env: vec!["AWS_REGION".into()],
        network: vec!["api.example.com:443".into(), "db.internal:5432".into()],
        clock: true,
        ..Default::default()
    };
    let f = flow(vec![step_with(caps.clone())]);
    let pinned = Target::new(Path::new("/")).with_component(&f, &"A".repeat(64));
    let sb = p.resolve_for(&f, &pinned).unwrap();
    assert!(sb["fetch"].clock);
    let mut other = flow(vec![step_with(caps)]);
    other.name = "G".into();
    let err = p.resolve_for(&other, &pinned).unwrap_err();
    assert_eq!(err.list.len(), 2, "flow G lacks F's extra grants: {err}");
}

#[test]
fn a_flow_taking_another_flows_name_gets_only_the_global_grants() {
    // Issue 20, item 1: grants were looked up by the name the guest's spec() returns.
    let p = Policy::parse(
        &format!(
            "[flows.F]\ndigests = [\"{}\"]\n[flows.F.grants]\nenv = [\"SECRET\"]\n",
            "a".repeat(64)
        ),
        "test",
    )
    .unwrap();
    let caps = Capabilities {
        env: vec!["SECRET".into()],
        ..Default::default()
    };
    let impostor = flow(vec![step_with(caps)]);
    for target in [
        Target::new(Path::new("/")),
        Target::new(Path::new("/")).with_component(&impostor, &"b".repeat(64)),
    ] {
        let err = p.resolve_for(&impostor, &target).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("environment variable `SECRET` is not allowed"),
            "{text}"
        );
        assert!(
            text.contains("note: the policy's grants for flow `F` apply only"),
            "{text}"
        );
    }
    let target = Target::new(Path::new("/")).with_component(&impostor, &"b".repeat(64));
    let text = p.resolve_for(&impostor, &target).unwrap_err().to_string();
    assert!(
        text.contains(&format!("add \"{}\" to that list", "b".repeat(64))),
        "names the digest to pin: {text}"
    );
    // Per step: in a polyglot flow only the steps of the pinned component get the grants.
    let mut two = impostor.clone();
    two.steps.push(StepSpec {
        name: "other".into(),
        ..two.steps[0].clone()
    });
    let mut target = Target::new(Path::new("/")).with_component(&two, &"a".repeat(64));
    target.components.insert("other".into(), "c".repeat(64));
    let err = p.resolve_for(&two, &target).unwrap_err();
    assert_eq!(err.list.len(), 1, "{err}");
    assert_eq!(err.list[0].step, "other");
}

#[test]
fn a_users_policy_only_narrows_the_organisations() {
    // Issue 20, item 7: `--policy permissive.toml` used to replace the administrator's.
    let org = Policy::parse("[limits]\nmax_memory_mb = 512\nmax_retries = 2\n", "org").unwrap();
    let user = Policy::parse(
        "[defaults]\nmemory_mb = 256\n[limits]\nmax_memory_mb = 65536\nmax_retries = 100\n[grants]\nnetwork = [\"*:*\"]\nenv = [\"*\"]\n",
        "user",
    )
    .unwrap();
    let p = org.narrowed_by(user);
    let mut asks = step_with(Capabilities {
        network: vec!["example.com:443".into()],
        ..Default::default()
    });
    asks.memory_mb = Some(1024);
    asks.retries = 5;
    let err = p.resolve(&flow(vec![asks]), Path::new("/")).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("(org)"), "{text}");
    assert!(
        text.contains("network destination `example.com:443` is not allowed"),
        "{text}"
    );
    assert!(
        text.contains("memory 1024 MiB is above the policy's ceiling of 512 MiB"),
        "{text}"
    );
    assert!(
        text.contains("retries 5 is above the policy's ceiling of 2"),
        "{text}"
    );
    let sb = p
        .resolve(
            &flow(vec![step_with(Capabilities::default())]),
            Path::new("/"),
        )
        .unwrap();
    assert_eq!(
        sb["fetch"].memory_bytes,
        256 << 20,
        "the user's smaller default"
    );
    // The other way round: a user may narrow.
    let narrow = Policy::parse("[limits]\nmax_memory_mb = 128\n", "user").unwrap();
    let p = Policy::default().narrowed_by(narrow);
    let mut big = step_with(Capabilities::default());
    big.memory_mb = Some(1024);
    assert!(p.resolve(&flow(vec![big]), Path::new("/")).is_err());
}

#[test]
fn retries_and_total_task_time_have_ceilings() {
    let mut s = step_with(Capabilities::default());
    s.retries = u32::MAX;
    let err = Policy::default()
        .resolve(&flow(vec![s]), Path::new("/"))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("retries 4294967295 is above the policy's ceiling of 10"),
        "{err}"
    );
    let p = Policy::parse("[limits]\nmax_task_secs = 600\n", "test").unwrap();
    let mut s = step_with(Capabilities::default());
    s.retries = 3;
    let sb = p.resolve(&flow(vec![s.clone()]), Path::new("/")).unwrap();
    assert_eq!(
        sb["fetch"].timeout,
        Some(Duration::from_secs(150)),
        "600 s over 4 attempts"
    );
    s.timeout_secs = Some(300);
    let err = p.resolve(&flow(vec![s]), Path::new("/")).unwrap_err();
    assert!(err.to_string().contains("4 attempt(s) of 300 s"), "{err}");
}

#[test]
fn the_store_records_logs_and_caches_are_never_mountable() {
    // Issue 20, item 2: the personal policy granted the project directory, `.wflow` included.
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    for d in ["data", ".wflow/blobs", "cache"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::os::unix::fs::symlink(root.join(".wflow"), root.join("data/store-link")).unwrap();
    let p = Policy::parse(
        &format!(
            "[grants]\ndirs = [{{ path = \"{}\", writable = true }}]\n",
            root.display()
        ),
        "test",
    )
    .unwrap();
    let target = Target::new(root)
        .protect(Path::new(".wflow"), "the store")
        .protect(Path::new("cache"), "the compiled-code cache")
        .protect(Path::new("not-yet/cache"), "the build cache");
    let mount = |path: &str| Capabilities {
        dirs: vec![DirGrant {
            host_path: path.into(),
            guest_path: "/x".into(),
            writable: false,
        }],
        ..Default::default()
    };
    for (path, what) in [
        (".", "the store"),
        (".wflow", "the store"),
        (".wflow/blobs", "the store"),
        ("data/store-link", "the store"),
        ("data/../cache", "the compiled-code cache"),
    ] {
        let err = p
            .resolve_for(&flow(vec![step_with(mount(path))]), &target)
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("directory `{path}`"))
                && text.contains(&format!("overlaps {what}")),
            "{path}: {text}"
        );
    }
    p.resolve_for(&flow(vec![step_with(mount("data"))]), &target)
        .expect("a folder beside them is fine");
    std::fs::create_dir_all(root.join("not-yet")).unwrap();
    assert!(
        p.resolve_for(&flow(vec![step_with(mount("not-yet"))]), &target)
            .is_err(),
        "a parent of a path that does not exist yet overlaps too"
    );
}

#[test]
fn the_builtin_policy_grants_little() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("out")).unwrap();
    let p = Policy::builtin(root.path());
    let caps = Capabilities {
        env: vec!["HOME".into()],
        dirs: vec![DirGrant {
            host_path: "out".into(),
            guest_path: "/out".into(),
            writable: true,
        }],
        network: vec!["127.0.0.1:80".into()],
        clock: true,
        random: true,
        secrets: vec!["db_password".into()],
    };
    let err = p
        .resolve(&flow(vec![step_with(caps)]), root.path())
        .unwrap_err();
    assert_eq!(
        err.list.len(),
        4,
        "env, the writable mount, the network and the secret: {err}"
    );
    assert!(err.to_string().contains("secret `db_password`"), "{err}");
}

#[test]
fn a_worker_admits_only_sandboxes_its_policy_allows() {
    let p = Policy::parse(
        "[limits]\nmax_memory_mb = 512\nmax_timeout_secs = 60\n[grants]\nclock = true\n",
        "worker",
    )
    .unwrap();
    let fine = p
        .resolve(
            &flow(vec![step_with(Capabilities {
                clock: true,
                ..Default::default()
            })]),
            Path::new("/"),
        )
        .unwrap()
        .remove("fetch")
        .unwrap();
    let target = Target::new(Path::new("/"));
    p.admits("F", "fetch", "aa", &fine, &target).unwrap();
    let forged = [
        Sandbox {
            network: vec!["10.0.0.1:22".into()],
            ..fine.clone()
        },
        Sandbox {
            env: vec![("HOME".into(), "/root".into())],
            ..fine.clone()
        },
        Sandbox {
            memory_bytes: 4 << 30,
            ..fine.clone()
        },
        Sandbox {
            timeout: None,
            ..fine.clone()
        },
        Sandbox {
            max_log_bytes: usize::MAX,
            ..fine.clone()
        },
        Sandbox {
            random: true,
            ..fine.clone()
        },
        Sandbox {
            dirs: vec![DirGrant {
                host_path: "/".into(),
                guest_path: "/".into(),
                writable: true,
            }],
            ..fine.clone()
        },
    ];
    for sb in forged {
        let err = p.admits("F", "fetch", "aa", &sb, &target).unwrap_err();
        assert!(err.to_string().contains("step `fetch`: "), "{err}");
    }
}

#[test]
fn ceilings_and_defaults() {
    let p = Policy::parse(
        "[defaults]\nmemory_mb = 256\n[limits]\nmax_memory_mb = 512\nmax_timeout_secs = 60\nmax_cpu = 2\n",
        "test",
    )
    .unwrap();
    let mut big = StepSpec::new("big", Transition::End);
    big.memory_mb = Some(1024);
    big.timeout_secs = Some(120);
    big.cpu = Some(4);
    let err = p.resolve(&flow(vec![big]), Path::new("/")).unwrap_err();
    assert_eq!(err.list.len(), 3, "{err}");
    let sb = p
        .resolve(
            &flow(vec![StepSpec::new("small", Transition::End)]),
            Path::new("/"),
        )
        .unwrap();
    assert_eq!(sb["small"].memory_bytes, 256 << 20);
    assert_eq!(
        sb["small"].timeout,
        Some(Duration::from_secs(60)),
        "the ceiling is the default timeout"
    );
}

#[test]
fn directories_must_be_under_a_granted_root_and_exist() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("data")).unwrap();
    let p = Policy::builtin(root.path());
    let ok = Capabilities {
        dirs: vec![DirGrant {
            host_path: "data".into(),
            guest_path: "/data".into(),
            writable: false,
        }],
        ..Default::default()
    };
    let sb = p.resolve(&flow(vec![step_with(ok)]), root.path()).unwrap();
    assert_eq!(sb["fetch"].dirs.len(), 1);
    for (path, needle) in [
        ("/etc", "not allowed"),
        ("missing", "does not exist"),
        ("data/../..", "not allowed"),
    ] {
        let bad = Capabilities {
            dirs: vec![DirGrant {
                host_path: path.into(),
                guest_path: "/x".into(),
                writable: false,
            }],
            ..Default::default()
        };
        let err = p
            .resolve(&flow(vec![step_with(bad)]), root.path())
            .unwrap_err();
        assert!(err.to_string().contains(needle), "{path}: {err}");
    }
}

#[test]
fn flow_grants_must_pin_well_formed_digests() {
    for (text, needle) in [
        (
            "[flows.F]\ndigests = [\"zz\"]\n",
            "`zz` is not a component digest",
        ),
        (
            "[flows.F.grants]\nclock = true\n",
            "[flows.F] has grants but pins no component",
        ),
    ] {
        let err = Policy::parse(text, "policy.toml").unwrap_err().to_string();
        assert!(err.contains("policy.toml") && err.contains(needle), "{err}");
    }
}

#[test]
fn unknown_keys_are_errors_with_their_place() {
    let err = Policy::parse("[limits]\nmax_memroy_mb = 5\n", "policy.toml").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("policy.toml") && text.contains("max_memroy_mb"),
        "{text}"
    );
}
