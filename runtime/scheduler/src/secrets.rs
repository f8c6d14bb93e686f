//! Reading the values of a task's secrets where the task runs (see `docs/policy.md`): this
//! machine for a local run, the container for AWS Batch and deployed runs. The values go only
//! into the task's [`Secrets`]; nothing here writes them anywhere, and an error names the secret
//! and its source, never a value.

use wflow_core::{SecretGrant, SecretSource};
use wflow_engine::{Secrets, TaskFailure};

/// The values of `grants`, or the first that cannot be read.
pub fn read_secrets(grants: &[SecretGrant]) -> Result<Secrets, TaskFailure> {
    let mut out = Secrets::default();
    for g in grants {
        let value = read(&g.source).map_err(|why| {
            TaskFailure::Secret(format!(
                "secret `{}` could not be read from {} where the task runs: {why}",
                wflow_core::names::shown(&g.name),
                g.source
            ))
        })?;
        out.0.insert(g.name.clone(), value);
    }
    Ok(out)
}

fn read(source: &SecretSource) -> Result<Vec<u8>, String> {
    match source {
        SecretSource::Env { var } => match std::env::var_os(var) {
            Some(v) => Ok(v.into_encoded_bytes()),
            None => Err("it is not set".into()),
        },
        SecretSource::File { path } => std::fs::read(path).map_err(|e| e.to_string()),
        SecretSource::Aws {
            id,
            key,
            region,
            endpoint,
        } => {
            let settings = wflow_aws::Settings {
                profile: None,
                region: region.clone(),
                endpoint: endpoint.clone(),
            };
            // On a thread of its own: this is called from blocking threads of a runtime, where
            // a runtime may not be entered again.
            std::thread::scope(|s| {
                s.spawn(|| {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| format!("starting a runtime: {e}"))?;
                    rt.block_on(wflow_aws::secrets::get_secret(
                        &settings,
                        id,
                        key.as_deref(),
                    ))
                    .map_err(|e| e.to_string())
                })
                .join()
                .unwrap_or_else(|_| Err("the thread reading it panicked".into()))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_and_file_sources_and_their_errors_name_the_secret_and_source() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, b"from-a-file").unwrap();
        let grant = |name: &str, source| SecretGrant {
            name: name.into(),
            source,
        };
        let got = read_secrets(&[
            grant("a", SecretSource::Env { var: "PATH".into() }),
            grant(
                "b",
                SecretSource::File {
                    path: file.display().to_string(),
                },
            ),
        ])
        .unwrap();
        assert_eq!(
            got.get("a").unwrap(),
            &std::env::var_os("PATH").unwrap().into_encoded_bytes()
        );
        assert_eq!(got.get("b").unwrap(), b"from-a-file");

        let err = read_secrets(&[grant(
            "c",
            SecretSource::Env {
                var: "WFLOW_TEST_SECRET_UNSET".into(),
            },
        )])
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "secret `c` could not be read from environment variable `WFLOW_TEST_SECRET_UNSET` \
             where the task runs: it is not set"
        );
        let missing = dir.path().join("nope");
        let err = read_secrets(&[grant(
            "d",
            SecretSource::File {
                path: missing.display().to_string(),
            },
        )])
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(&format!(
                "secret `d` could not be read from file `{}`",
                missing.display()
            )),
            "{err}"
        );
    }
}
