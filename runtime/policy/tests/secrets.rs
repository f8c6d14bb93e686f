//! Secrets in the policy: sources declared once, names granted globally or per pinned flow,
//! refusals naming the step and the secret, and a worker's check of a sandbox's sources.

use std::path::Path;

use wflow_core::{Capabilities, FlowSpec, SecretGrant, SecretSource, StepSpec, Transition};
use wflow_policy::{Policy, Target};

const DIGEST: &str = "3f9a00000000000000000000000000000000000000000000000000000000c41d";

fn flow(secrets: &[&str]) -> FlowSpec {
    let mut start = StepSpec::new("start", Transition::End);
    start.capabilities = Capabilities {
        secrets: secrets.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    FlowSpec {
        name: "Report".into(),
        doc: String::new(),
        parameters: vec![],
        steps: vec![start],
    }
}

const SOURCES: &str = "[secrets.db_password]\nenv = \"DB_PASSWORD\"\n\
                       [secrets.token]\nfile = \"/etc/wflow/token\"\n\
                       [secrets.warehouse]\naws = \"prod/warehouse\"\nkey = \"password\"\nregion = \"eu-west-1\"\n";

#[test]
fn granted_secrets_carry_their_sources_into_the_sandbox() {
    let p = Policy::parse(&format!("[grants]\nsecrets = [\"*\"]\n{SOURCES}"), "test").unwrap();
    let sb = p
        .resolve(
            &flow(&["db_password", "token", "warehouse"]),
            Path::new("."),
        )
        .unwrap()
        .remove("start")
        .unwrap();
    assert_eq!(
        sb.secrets,
        vec![
            SecretGrant {
                name: "db_password".into(),
                source: SecretSource::Env {
                    var: "DB_PASSWORD".into()
                }
            },
            SecretGrant {
                name: "token".into(),
                source: SecretSource::File {
                    path: "/etc/wflow/token".into()
                }
            },
            SecretGrant {
                name: "warehouse".into(),
                source: SecretSource::Aws {
                    id: "prod/warehouse".into(),
                    key: Some("password".into()),
                    region: Some("eu-west-1".into()),
                    endpoint: None
                }
            },
        ]
    );
    assert!(!sb.grants_nothing(), "a step with a secret is not pure");
    assert_eq!(
        sb.secrets[2].source.to_string(),
        "key `password` of AWS Secrets Manager secret `prod/warehouse`"
    );
}

#[test]
fn refusals_name_the_step_and_the_secret() {
    let p = Policy::parse(
        &format!("[grants]\nsecrets = [\"token\", \"other\"]\n{SOURCES}"),
        "p.toml",
    )
    .unwrap();
    let err = p
        .resolve(&flow(&["db_password", "other"]), Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("step `start`: secret `db_password` is not allowed by the policy (allowed: token, other)"),
        "{err}"
    );
    assert!(
        err.contains("step `start`: secret `other` has no source in the policy: declare where its value comes from under `[secrets.other]`"),
        "{err}"
    );
    // The built-in policy grants none.
    let err = Policy::builtin(Path::new("."))
        .resolve(&flow(&["db_password"]), Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("secret `db_password` is not allowed by the policy (allowed: none)"),
        "{err}"
    );
}

#[test]
fn a_flows_secrets_go_only_to_its_pinned_components() {
    let p = Policy::parse(
        &format!("{SOURCES}[flows.Report]\ndigests = [\"{DIGEST}\"]\n[flows.Report.grants]\nsecrets = [\"warehouse\"]\n"),
        "test",
    )
    .unwrap();
    let pinned = Target::new(Path::new(".")).with_component(&flow(&[]), DIGEST);
    assert!(p.resolve_for(&flow(&["warehouse"]), &pinned).is_ok());
    let err = p
        .resolve(&flow(&["warehouse"]), Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(err.contains("secret `warehouse` is not allowed"), "{err}");
}

#[test]
fn invalid_sources_make_the_policy_invalid() {
    for (text, want) in [
        ("[secrets.a]\n", "[secrets.a] declares no source"),
        (
            "[secrets.a]\nenv = \"A\"\nfile = \"/a\"\n",
            "[secrets.a] declares more than one source",
        ),
        (
            "[secrets.a]\nfile = \"a.txt\"\n",
            "[secrets.a] file `a.txt` must be an absolute path",
        ),
        (
            "[secrets.a]\nenv = \"A\"\nkey = \"k\"\n",
            "[secrets.a] `key`, `region` and `endpoint` go only with `aws`",
        ),
        (
            "[secrets.a]\nenv = \"\"\n",
            "[secrets.a] the source is empty",
        ),
        ("[secrets.a]\nvault = \"x\"\n", "unknown field `vault`"),
    ] {
        let err = Policy::parse(text, "p.toml").unwrap_err().to_string();
        assert!(
            err.contains("the policy p.toml is invalid") && err.contains(want),
            "{want}: {err}"
        );
    }
}

#[test]
fn a_worker_refuses_a_sandbox_whose_source_differs_from_its_policy() {
    let p = Policy::parse(
        &format!("[grants]\nsecrets = [\"*\"]\n{SOURCES}"),
        "worker.toml",
    )
    .unwrap();
    let target = Target::new(Path::new("."));
    let mut sb = p
        .resolve(&flow(&["db_password"]), Path::new("."))
        .unwrap()
        .remove("start")
        .unwrap();
    p.admits("Report", "start", DIGEST, &sb, &target)
        .expect("its own sandbox");
    // Planted by someone who may write to the store: read another variable of the container.
    sb.secrets[0].source = SecretSource::Env {
        var: "AWS_SECRET_ACCESS_KEY".into(),
    };
    let err = p
        .admits("Report", "start", DIGEST, &sb, &target)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("secret `db_password` is to be read from environment variable `AWS_SECRET_ACCESS_KEY`, but this policy declares environment variable `DB_PASSWORD`"),
        "{err}"
    );
    // And a secret this policy does not grant at all.
    let strict = Policy::parse(SOURCES, "strict.toml").unwrap();
    assert!(
        strict
            .admits("Report", "start", DIGEST, &sb, &target)
            .is_err()
    );
}
