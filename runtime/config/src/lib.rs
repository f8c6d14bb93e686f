//! Where a wflow store and its records are, and opening them: the one place that maps a store
//! `type` (`local`, `s3`) to its constructor, shared by the `wflow` CLI and the Python package.
//!
//! A store is chosen by a table with a `type` tag and that type's serde config, resolved from, in
//! order of precedence:
//!
//! 1. `--store DIR` or `--store s3://BUCKET/PREFIX` (or `$WFLOW_STORE`), and for S3 the
//!    `--s3-endpoint`, `--s3-region`, `--s3-path-style`, `--s3-profile`, `--s3-checksums` flags
//!    (or `$WFLOW_S3_ENDPOINT`, `$WFLOW_S3_REGION`, `$WFLOW_S3_PATH_STYLE`, `$WFLOW_S3_PROFILE`,
//!    `$WFLOW_S3_CHECKSUMS`) — the fields of [`StoreArgs`];
//! 2. the `[store]` table of the config file: `$WFLOW_CONFIG`, else
//!    `$XDG_CONFIG_HOME/wflow/config.toml` (`~/.config/wflow/config.toml`);
//! 3. the default: `{ type = "local", path = ".wflow" }`.
//!
//! ```toml
//! [store]
//! type = "s3"                        # or "local", with `path = "DIR"`
//! url = "s3://team-data/wflow"
//! endpoint = "http://127.0.0.1:9000" # an S3-compatible server; AWS when absent
//! region = "us-east-1"
//! path_style = true
//! profile = "team"                   # credentials: the standard AWS chain, never this file
//! ```
//!
//! The records follow the store: an SQLite file inside a local store, objects under
//! `records-v1/` in an S3 store (see `wflow_metadata::ObjectMetadata`) — unless a team metadata
//! service is named (`--metadata URL`, `$WFLOW_METADATA`, or `url` in the config file's
//! `[metadata]` table, with the token from `$WFLOW_TOKEN` or `token` there): then every record
//! goes to that `wflow server` and only artifacts, logs and components go to the store.
//!
//! ```toml
//! [metadata]
//! url = "http://wflow.internal:8742"
//! token = "wf_…"                      # or WFLOW_TOKEN
//! ```
#![deny(missing_docs)]
// Errors carry the store's and the metadata service's own errors; opening is not a hot path.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use wflow_metadata::{Metadata, MetadataError, MetadataStore};
use wflow_store::{BlobStore, LocalDisk, StoreError};

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The settings themselves are wrong (a flag, a variable, the config file).
    #[error("{0}")]
    Settings(String),
    /// The store named could not be used.
    #[error("cannot use {place} as the store")]
    Store {
        /// Its directory or URL.
        place: String,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// The metadata service did not answer, or refused the token.
    #[error("cannot record runs on the metadata service {url}")]
    Service {
        /// Its URL.
        url: String,
        /// Why.
        #[source]
        source: MetadataError,
    },
    /// The records could not be opened.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

/// What the caller gives explicitly (the CLI's global flags; the Python package's arguments):
/// each `None` falls back to the config file, then to the defaults.
#[derive(Clone, Debug, Default)]
pub struct StoreArgs {
    /// `DIR` or `s3://BUCKET/PREFIX`.
    pub store: Option<String>,
    /// S3 endpoint URL.
    pub s3_endpoint: Option<String>,
    /// S3 region.
    pub s3_region: Option<String>,
    /// Path-style S3 addressing.
    pub s3_path_style: Option<bool>,
    /// `when_supported` or `when_required`.
    pub s3_checksums: Option<String>,
    /// AWS profile.
    pub s3_profile: Option<String>,
    /// The metadata service URL.
    pub metadata: Option<String>,
}

impl StoreArgs {
    /// The `WFLOW_*` variables the CLI reads for its flags (`WFLOW_STORE`, `WFLOW_S3_ENDPOINT`,
    /// `WFLOW_S3_REGION`, `WFLOW_S3_PATH_STYLE`, `WFLOW_S3_CHECKSUMS`, `WFLOW_S3_PROFILE`,
    /// `WFLOW_METADATA`); an empty variable counts as unset.
    pub fn from_env() -> Result<StoreArgs, ConfigError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let path_style = match var("WFLOW_S3_PATH_STYLE").as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(ConfigError::Settings(format!(
                    "$WFLOW_S3_PATH_STYLE is `{other}`: expected true or false"
                )));
            }
        };
        Ok(StoreArgs {
            store: var("WFLOW_STORE"),
            s3_endpoint: var("WFLOW_S3_ENDPOINT"),
            s3_region: var("WFLOW_S3_REGION"),
            s3_path_style: path_style,
            s3_checksums: var("WFLOW_S3_CHECKSUMS"),
            s3_profile: var("WFLOW_S3_PROFILE"),
            metadata: var("WFLOW_METADATA"),
        })
    }
}

/// The store and records resolved from [`StoreArgs`], the config file and the defaults.
#[derive(Clone, Debug)]
pub struct StoreSettings {
    /// This machine's directory for the store: the store itself when it is local; with an S3
    /// store, a working directory for live logs and files waiting for upload.
    pub store: PathBuf,
    /// The store's `[store]` table, `type` included, or why it could not be resolved.
    pub backend: Result<Map<String, Value>, String>,
    /// The metadata service the records go to instead of the store, or why it could not be
    /// resolved.
    pub metadata: Result<Option<MetadataSettings>, String>,
    /// Where compiled components (and an S3 store's local files) are cached.
    pub cache_dir: PathBuf,
}

impl StoreSettings {
    /// Resolves `args` against the config file and the defaults. Errors are kept, to be
    /// reported by whatever needs the store.
    pub fn resolve(args: &StoreArgs) -> StoreSettings {
        let cache_dir = cache_dir();
        let backend = resolve(args);
        let store = match &backend {
            Ok(table) => local_dir(table, &cache_dir),
            Err(_) => PathBuf::from(".wflow"),
        };
        StoreSettings {
            store,
            backend,
            metadata: resolve_metadata(args),
            cache_dir,
        }
    }

    /// Where the store is, for messages: its URL, or its directory.
    pub fn label(&self) -> String {
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
pub fn cache_dir() -> PathBuf {
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

/// An open store: its blobs and its records.
pub struct Backend {
    /// Artifact values, manifests, logs and components.
    pub blobs: Arc<dyn BlobStore>,
    /// Runs, tasks and attempts.
    pub records: Arc<dyn MetadataStore>,
}

impl Backend {
    /// One line saying where data goes.
    pub fn summary(&self) -> String {
        self.blobs.summary()
    }
}

/// What a constructor gets besides its config.
struct Ctx<'a> {
    local_dir: &'a Path,
    existing: bool,
    records: Option<Arc<dyn MetadataStore>>,
}

/// A kind of store: a `type` tag, a serde config, a constructor.
trait MakeBackend {
    const TYPE: &'static str;
    type Config: DeserializeOwned;
    /// Opens the store (`None`: `ctx.existing` and there is nothing there yet).
    fn make(config: Self::Config, ctx: &Ctx<'_>) -> Result<Option<Backend>, ConfigError>;
}

/// The local directory store with its SQLite records.
struct Local;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalConfig {
    path: PathBuf,
}

impl MakeBackend for Local {
    const TYPE: &'static str = "local";
    type Config = LocalConfig;

    fn make(config: LocalConfig, ctx: &Ctx<'_>) -> Result<Option<Backend>, ConfigError> {
        let meta = config.path.join("metadata.sqlite");
        if ctx.existing && ctx.records.is_none() && !meta.exists() {
            return Ok(None);
        }
        let disk = LocalDisk::open(&config.path).map_err(|source| ConfigError::Store {
            place: config.path.display().to_string(),
            source,
        })?;
        if !ctx.existing {
            // Scratch files of writers that died (kill -9 during a large write) would stay
            // forever; a file untouched for a minute that no live process holds is removed.
            let _ = disk.clean_scratch(std::time::Duration::from_secs(60));
        }
        let records = match &ctx.records {
            Some(records) => records.clone(),
            None => Arc::new(Metadata::open(&meta)?),
        };
        Ok(Some(Backend {
            blobs: Arc::new(disk),
            records,
        }))
    }
}

/// A bucket on S3 or an S3-compatible server, with the records as objects in it.
#[cfg(feature = "s3")]
struct S3;

#[cfg(feature = "s3")]
impl MakeBackend for S3 {
    const TYPE: &'static str = "s3";
    type Config = wflow_store_s3::S3Config;

    fn make(mut config: Self::Config, ctx: &Ctx<'_>) -> Result<Option<Backend>, ConfigError> {
        config
            .scratch_dir
            .get_or_insert_with(|| ctx.local_dir.join("tmp"));
        let store =
            wflow_store_s3::S3Store::open(&config).map_err(|source| ConfigError::Store {
                place: config.url.to_string(),
                source,
            })?;
        let location = store.url_of(wflow_metadata::RECORDS_PREFIX);
        let store: Arc<dyn BlobStore> = Arc::new(store);
        let records: Arc<dyn MetadataStore> = match &ctx.records {
            Some(records) => records.clone(),
            None => Arc::new(wflow_metadata::ObjectMetadata::new(store.clone(), location)),
        };
        Ok(Some(Backend {
            blobs: store,
            records,
        }))
    }
}

/// Opens the store the settings name. With `existing`, a store without records yet gives `None`
/// and nothing is created.
pub fn open(settings: &StoreSettings, existing: bool) -> Result<Option<Backend>, ConfigError> {
    let records: Option<Arc<dyn MetadataStore>> =
        match settings.metadata.clone().map_err(ConfigError::Settings)? {
            Some(m) => {
                let service = wflow_server::HttpMetadata::new(&m.url, m.token);
                // Before anything is written or started: the service answers, speaks this
                // protocol and takes the token.
                if !existing {
                    service.whoami().map_err(|source| ConfigError::Service {
                        url: m.url.clone(),
                        source,
                    })?;
                }
                Some(Arc::new(service))
            }
            None => None,
        };
    open_with(settings, existing, records)
}

/// The blobs of the store the settings name, whatever holds the records (`wflow server --ui`
/// reads records through its own API with each caller's token). `None`: no store there.
pub fn open_blobs(settings: &StoreSettings) -> Result<Option<Arc<dyn BlobStore>>, ConfigError> {
    let elsewhere: Arc<dyn MetadataStore> =
        Arc::new(wflow_server::HttpMetadata::new("http://127.0.0.1:0", None));
    Ok(open_with(settings, true, Some(elsewhere))?.map(|b| b.blobs))
}

fn open_with(
    settings: &StoreSettings,
    existing: bool,
    records: Option<Arc<dyn MetadataStore>>,
) -> Result<Option<Backend>, ConfigError> {
    let mut table = settings.backend.clone().map_err(ConfigError::Settings)?;
    let ty = match table.remove("type") {
        Some(Value::String(t)) => t,
        _ => {
            return Err(ConfigError::Settings(
                "the [store] table needs a `type` (local or s3)".into(),
            ));
        }
    };
    let ctx = Ctx {
        local_dir: &settings.store,
        existing,
        records,
    };
    match ty.as_str() {
        Local::TYPE => make::<Local>(table, &ctx),
        #[cfg(feature = "s3")]
        S3::TYPE => make::<S3>(table, &ctx),
        #[cfg(not(feature = "s3"))]
        "s3" => Err(ConfigError::Settings(
            "this wflow was built without S3 support (feature `s3`)".into(),
        )),
        other => Err(ConfigError::Settings(format!(
            "unknown store type `{other}`: expected local or s3"
        ))),
    }
}

fn make<M: MakeBackend>(
    table: Map<String, Value>,
    ctx: &Ctx<'_>,
) -> Result<Option<Backend>, ConfigError> {
    let config: M::Config = serde_json::from_value(Value::Object(table))
        .map_err(|e| ConfigError::Settings(format!("the `{}` store's settings: {e}", M::TYPE)))?;
    M::make(config, ctx)
}

/// The `[store]` table from `args`, the config file and the defaults (see the crate docs).
pub fn resolve(args: &StoreArgs) -> Result<Map<String, Value>, String> {
    let mut table = config_file_table("store")?.unwrap_or_default();
    match args.store.as_deref() {
        Some(url) if url.starts_with("s3://") => {
            if table.get("type").and_then(Value::as_str) != Some("s3") {
                table = Map::new();
            }
            table.insert("type".into(), "s3".into());
            table.insert("url".into(), url.into());
        }
        Some(dir) => {
            table = Map::new();
            table.insert("type".into(), "local".into());
            table.insert("path".into(), dir.into());
        }
        None if table.is_empty() => {
            table.insert("type".into(), "local".into());
            table.insert("path".into(), ".wflow".into());
        }
        None => {}
    }
    if table.get("type").and_then(Value::as_str) == Some("s3") {
        let mut set = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                table.insert(k.into(), v);
            }
        };
        set("endpoint", args.s3_endpoint.clone().map(Value::from));
        set("region", args.s3_region.clone().map(Value::from));
        set("path_style", args.s3_path_style.map(Value::from));
        set("profile", args.s3_profile.clone().map(Value::from));
        set("checksums", args.s3_checksums.clone().map(Value::from));
    }
    Ok(table)
}

/// This machine's directory for a store: the store itself when local; for S3, a folder under the
/// cache directory named after the bucket and prefix (live logs, files waiting for upload).
pub fn local_dir(table: &Map<String, Value>, cache_dir: &Path) -> PathBuf {
    let text = |k: &str| table.get(k).and_then(Value::as_str).unwrap_or("");
    match text("type") {
        "s3" => {
            let place: String = text("url")
                .trim_start_matches("s3://")
                .trim_end_matches('/')
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            cache_dir.join("s3").join(place)
        }
        _ if !text("path").is_empty() => PathBuf::from(text("path")),
        _ => PathBuf::from(".wflow"),
    }
}

/// `$WFLOW_CONFIG`, else `$XDG_CONFIG_HOME/wflow/config.toml`, else `~/.config/wflow/config.toml`.
pub fn config_file() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("WFLOW_CONFIG").or_else(|| {
        let dir = env("XDG_CONFIG_HOME").or_else(|| env("HOME").map(|h| h.join(".config")))?;
        Some(dir.join("wflow").join("config.toml"))
    })
}

/// Where the records go when not in the store: a metadata service and its token.
#[derive(Clone, Debug)]
pub struct MetadataSettings {
    /// `http://host:port`.
    pub url: String,
    /// The bearer token, if any.
    pub token: Option<String>,
}

/// The metadata service from `args.metadata`, else the config file's `[metadata] url`; its
/// token from `$WFLOW_TOKEN`, else `[metadata] token`. `None`: the records stay with the store.
pub fn resolve_metadata(args: &StoreArgs) -> Result<Option<MetadataSettings>, String> {
    let table = config_file_table("metadata")?.unwrap_or_default();
    let text = |k: &str| -> Result<Option<String>, String> {
        match table.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!(
                "the config file's [metadata] `{k}` must be a string"
            )),
        }
    };
    for key in table.keys() {
        if !["url", "token"].contains(&key.as_str()) {
            return Err(format!(
                "the config file's [metadata] table has an unknown key `{key}` (expected url, token)"
            ));
        }
    }
    let url = match args.metadata.clone().filter(|u| !u.is_empty()) {
        Some(u) => Some(u),
        None => text("url")?,
    };
    let Some(url) = url else {
        return Ok(None);
    };
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(format!(
            "`{url}` is not a metadata service URL: expected http://HOST:PORT (wflow server)"
        ));
    }
    let token = match std::env::var("WFLOW_TOKEN").ok().filter(|t| !t.is_empty()) {
        Some(t) => Some(t),
        None => text("token")?,
    };
    Ok(Some(MetadataSettings { url, token }))
}

/// A table of the config file (`store`, `metadata`, `batch`), if the file exists and has it.
pub fn config_file_table(name: &str) -> Result<Option<Map<String, Value>>, String> {
    let Some(path) = config_file() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::env::var_os("WFLOW_CONFIG").is_some_and(|v| !v.is_empty()) {
                return Err(format!(
                    "config file {} (from $WFLOW_CONFIG) does not exist",
                    path.display()
                ));
            }
            return Ok(None);
        }
        Err(e) => return Err(format!("cannot read config file {}: {e}", path.display())),
    };
    let file: Value = toml::from_str(&text)
        .map_err(|e| format!("config file {} is not valid TOML: {e}", path.display()))?;
    match file.get(name) {
        None => Ok(None),
        Some(Value::Object(t)) => Ok(Some(t.clone())),
        Some(_) => Err(format!(
            "config file {}: `{name}` must be a table",
            path.display()
        )),
    }
}
