//! Settings resolved from flags and `WFLOW_*` variables, apart from the raw arguments.

use std::path::PathBuf;

use crate::cli::GlobalArgs;

/// Resolved settings every command uses.
pub struct Settings {
    /// This machine's directory for the store: the store itself when it is local; with an S3
    /// store, a working directory for live logs and files waiting for upload.
    pub store: PathBuf,
    /// The store's `[store]` table, `type` included (opened by [`crate::backends::open`]), or
    /// why it could not be resolved.
    pub backend: Result<serde_json::Map<String, serde_json::Value>, String>,
    /// The metadata service the records go to instead of the store, or why it could not be
    /// resolved.
    pub metadata: Result<Option<crate::backends::MetadataSettings>, String>,
    /// Where compiled components are cached.
    pub cache_dir: PathBuf,
    /// The policy file given, if any.
    pub policy_file: Option<PathBuf>,
}

impl Settings {
    pub fn resolve(global: &GlobalArgs) -> Settings {
        let cache_dir = cache_dir();
        let backend = crate::backends::resolve(global);
        let store = match &backend {
            Ok(table) => crate::backends::local_dir(table, &cache_dir),
            Err(_) => PathBuf::from(".wflow"),
        };
        Settings {
            store,
            backend,
            metadata: crate::backends::resolve_metadata(global),
            cache_dir,
            policy_file: global.policy.clone(),
        }
    }

    /// The administrator's policy: the file given, else `/etc/wflow/policy.toml`, else the
    /// built-in personal policy for the current directory.
    pub fn policy(&self) -> anyhow::Result<wflow_policy::Policy> {
        let system = PathBuf::from("/etc/wflow/policy.toml");
        let file = self
            .policy_file
            .clone()
            .or_else(|| system.exists().then_some(system));
        Ok(match file {
            Some(f) => wflow_policy::Policy::load(&f)?,
            None => wflow_policy::Policy::builtin(&std::env::current_dir()?),
        })
    }

    /// Where the store is, for messages: its URL, or its directory.
    pub fn store_label(&self) -> String {
        match &self.backend {
            Ok(t) if t.get("type").and_then(|v| v.as_str()) == Some("s3") => t
                .get("url")
                .and_then(|v| v.as_str())
                .unwrap_or("S3")
                .to_string(),
            _ => self.store.display().to_string(),
        }
    }
}

/// `$WFLOW_CACHE_DIR`, else `$XDG_CACHE_HOME/wflow`, else `~/.cache/wflow`, else `.wflow-cache`.
fn cache_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("WFLOW_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("wflow")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("wflow")))
        .unwrap_or_else(|| PathBuf::from(".wflow-cache"))
}

/// The user name recorded with runs.
pub fn user() -> String {
    std::env::var("WFLOW_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".to_string())
}
